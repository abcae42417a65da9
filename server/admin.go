package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Admin is the admin listener (server.admin_addr): /metrics, /debug/pprof/* and /config.
// It is the only place pprof is served, so that profiles, goroutine dumps and the
// configuration never reach the main port's clients or its Ingress. It has no auth of
// its own: its address is the access control (loopback, or a port only the scraper and
// the operator reach).
type Admin struct {
	addr   string
	grace  time.Duration
	srv    *http.Server
	log    *zap.Logger
	mu     sync.Mutex
	bound  net.Addr
	listen chan struct{}
}

// AdminParams is what NewAdmin needs. Config returns the effective configuration with
// its secrets already redacted (config.Redacted); it is called on every GET /config, so
// a reload shows.
type AdminParams struct {
	Addr     string
	Gatherer prometheus.Gatherer
	Config   func() any
	Log      *zap.Logger
	// ShutdownGrace bounds the drain of in-flight admin requests (a running CPU
	// profile is cut at it).
	ShutdownGrace time.Duration
}

// adminHeaderTimeout and adminMaxHeaderBytes bound a slow or oversized request on the
// admin port the same way the main port is bounded; pprof's own ?seconds= is the
// longest legal request, so there is no write timeout.
const (
	adminHeaderTimeout  = 10 * time.Second
	adminMaxHeaderBytes = 64 << 10
)

// NewAdmin builds the admin server; it listens only in Run or Serve.
func NewAdmin(p AdminParams) *Admin {
	log := p.Log
	if log == nil {
		log = zap.NewNop()
	}
	if p.ShutdownGrace <= 0 {
		p.ShutdownGrace = 5 * time.Second
	}
	mux := http.NewServeMux()
	if p.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(p.Gatherer, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	}
	// pprof's handlers by hand: importing net/http/pprof for its side effect would put
	// them on http.DefaultServeMux, which nothing here serves but which is a global.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if p.Config != nil {
		mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(p.Config())
		})
	}
	return &Admin{
		addr:  p.Addr,
		grace: p.ShutdownGrace,
		log:   log.With(zap.String("component", "admin")),
		srv: &http.Server{
			Handler: mux, ReadHeaderTimeout: adminHeaderTimeout, MaxHeaderBytes: adminMaxHeaderBytes,
			IdleTimeout: 2 * time.Minute,
			ErrorLog:    zap.NewStdLog(log.With(zap.String("component", "admin/net/http"))),
		},
		listen: make(chan struct{}),
	}
}

// Handler is the admin mux (tests).
func (a *Admin) Handler() http.Handler { return a.srv.Handler }

// Run listens on the configured address and serves until ctx is done; see Serve.
func (a *Admin) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down within the grace; it owns ln.
func (a *Admin) Serve(ctx context.Context, ln net.Listener) error {
	a.mu.Lock()
	a.bound = ln.Addr()
	a.mu.Unlock()
	close(a.listen)
	a.log.Info("admin listener serving", zap.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.grace)
	defer cancel()
	err := a.srv.Shutdown(sctx)
	if err != nil {
		_ = a.srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// Addr blocks until the admin server listens and returns its address.
func (a *Admin) Addr() net.Addr {
	<-a.listen
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bound
}
