package server

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"mfn/internal/cfgerr"
	"mfn/server/grpcapi"
	"mfn/server/ws"
	"mfn/web"
)

// Params is what New needs. Registry is the process's private registry: the HTTP,
// gRPC and WebSocket metrics are registered on it and /metrics serves it.
type Params struct {
	HTTP     Config
	GRPC     GRPCConfig
	WS       WSConfig
	Runner   Runner
	Checks   []ReadyCheck // readiness conditions besides the server's own
	Log      *zap.Logger
	Registry *prometheus.Registry
}

// Server is the one-port server: cmux → gRPC | HTTP/1.1 (echo REST + WebSocket).
type Server struct {
	cfg    Config
	log    *zap.Logger
	front  *front
	http   *http.Server
	grpc   *grpc.Server
	health *health.Server
	hub    *ws.Hub
	connM  *connMetrics

	served atomic.Bool
	mu     sync.Mutex
	addr   net.Addr
	listen chan struct{}
}

// New validates the configuration and builds every transport; it starts nothing.
func New(p Params) (*Server, error) {
	if err := p.HTTP.Validate(); err != nil {
		return nil, cfgerr.Prefix("server.", err)
	}
	if err := p.GRPC.Validate(); err != nil {
		return nil, cfgerr.Prefix("grpc.", err)
	}
	if err := p.WS.Validate(); err != nil {
		return nil, cfgerr.Prefix("server.ws.", err)
	}
	if p.Runner == nil {
		return nil, errors.New("server: nil Runner")
	}
	log := p.Log
	if log == nil {
		log = zap.NewNop()
	}
	auth := newKeyAuth(p.HTTP.Auth)
	var lim *tokenLimiter
	if p.HTTP.RateLimit.Enabled {
		lim = newTokenLimiter(p.HTTP.RateLimit, nil)
	}
	var reg prometheus.Registerer
	if p.Registry != nil {
		reg = p.Registry
	}

	// 1. REST: everything this file's owner serves.
	r, err := newFront(p.HTTP, p.Runner, auth, lim, p.Checks, log.With(zap.String("component", "http")), p.Registry)
	if err != nil {
		return nil, err
	}
	// 2. The other transports, built by their own constructors on the same
	// Authenticator and Limiter: REST's live policy, so that Reload reaches them too.
	live := livePolicy{&r.pol}
	gs, hs, err := grpcapi.New(p.GRPC, p.Runner, live, live, log, reg)
	if err != nil {
		return nil, err
	}
	hub, err := ws.NewHub(p.WS, p.Runner, live, log, reg)
	if err != nil {
		gs.Stop() // ends grpc-go's stream workers
		return nil, err
	}
	connM, err := newConnMetrics(reg)
	if err != nil {
		gs.Stop()
		return nil, err
	}
	r.mount(hub, web.Handler())
	// NOT_SERVING until Serve has checked readiness (PITFALLS §2.4).
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus(grpcapi.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)

	return &Server{
		cfg:   p.HTTP,
		log:   log,
		front: r,
		connM: connM,
		http: &http.Server{
			Handler:           bodyDeadline(p.HTTP.BodyReadTimeout, r.e),
			ConnContext:       connContext,
			ReadHeaderTimeout: p.HTTP.ReadHeaderTimeout,
			MaxHeaderBytes:    p.HTTP.MaxHeaderBytes,
			IdleTimeout:       p.HTTP.IdleTimeout,
			// No ReadTimeout/WriteTimeout: they would cut WebSockets and streamed
			// responses (PITFALLS §1.14); bodies get BodyReadTimeout, jobs RequestTimeout.
			ErrorLog: zap.NewStdLog(log.With(zap.String("component", "net/http"))),
		},
		grpc:   gs,
		health: hs,
		hub:    hub,
		listen: make(chan struct{}),
	}, nil
}

// Handler is the HTTP side (REST, WebSocket, page) as a plain http.Handler.
func (s *Server) Handler() http.Handler { return s.front.e }

// Routes lists the HTTP routes served (method and path), for documentation checks.
func (s *Server) Routes() []*echo.Route { return s.front.e.Routes() }

func (s *Server) setAddr(a net.Addr) {
	s.mu.Lock()
	s.addr = a
	s.mu.Unlock()
	close(s.listen)
}

// Addr blocks until the server listens and returns the address (port 0 resolved).
func (s *Server) Addr() net.Addr {
	<-s.listen
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}
