package server

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"mfn/crypto"
	"mfn/internal/version"
	"mfn/server/envelope"
	"mfn/server/rest"
	"mfn/server/ws"
)

// ReadyCheck is one readiness condition of GET /ready and the gRPC health status.
// Check returns nil when ready; its error text names what is missing.
type ReadyCheck struct {
	Name  string
	Check func() error
}

// front is the HTTP/1.1 side of the port: one echo instance with the middleware every
// HTTP route shares, the error handler, the probes (/health, /ready, /metrics), the REST
// API (server/rest), and, once built, the WebSocket endpoints and the page.
type front struct {
	cfg      Config
	e        *echo.Echo
	pol      atomic.Pointer[policy] // auth, rate limit, CORS: swapped whole by Reload
	metrics  *httpMetrics
	log      *zap.Logger
	checks   []ReadyCheck
	started  time.Time
	draining atomic.Bool
	keys     *crypto.Store

	configHash atomic.Pointer[string] // shown by /health; nil: not set
}

// newFront builds the echo instance with the middleware, the probes and every REST
// route; the WebSocket and page routes are added by mount once their builders have run.
func newFront(cfg Config, run Runner, auth *keyAuth, lim *tokenLimiter, checks []ReadyCheck,
	log *zap.Logger, reg *prometheus.Registry) (*front, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if run == nil {
		return nil, errors.New("server: nil Runner")
	}
	var registerer prometheus.Registerer
	var gatherer prometheus.Gatherer = prometheus.NewRegistry()
	if reg != nil {
		registerer, gatherer = reg, reg
	}
	m, err := newHTTPMetrics(registerer, cfg.Metrics.Enabled)
	if err != nil {
		return nil, err
	}
	pol, err := newPolicy(cfg, auth, lim)
	if err != nil {
		return nil, err
	}
	keys, err := crypto.New(cfg.Crypto, log)
	if err != nil {
		return nil, err
	}
	s := &front{cfg: cfg, metrics: m, log: log, checks: checks, started: time.Now(), keys: keys}
	s.pol.Store(pol)
	api, err := rest.New(rest.Params{Runner: run, Keys: keys, ClientID: s.clientID,
		MaxBodyBytes: cfg.MaxBodyBytes, RequestTimeout: cfg.RequestTimeout, Log: log})
	if err != nil {
		return nil, err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.chain)

	e.GET("/health", s.health)
	e.GET("/ready", s.ready)
	if cfg.Metrics.MainPort {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})))
	}
	api.Register(e)
	s.e = e
	return s, nil
}

// mount adds the WebSocket endpoints and the page.
func (s *front) mount(hub *ws.Hub, page http.Handler) {
	s.e.GET("/ws/simulation_live", echo.WrapHandler(http.HandlerFunc(hub.SimulationLive)))
	s.e.GET("/ws/stream_features", echo.WrapHandler(http.HandlerFunc(hub.StreamFeatures)))
	s.e.GET("/", echo.WrapHandler(page))
}

func (s *front) health(c echo.Context) error {
	up := int64(time.Since(s.started).Seconds())
	b := make([]byte, 0, 80)
	b = append(b, `{"status":"healthy","version":"`+version.API+`","uptime_seconds":`...)
	b = strconv.AppendInt(b, up, 10)
	// Additive fields (§8.1 allows them): which build answers, and which config it runs.
	b = append(b, `,"build_version":`...)
	b = strconv.AppendQuote(b, version.Build())
	if h := s.configHash.Load(); h != nil {
		b = append(b, `,"config_hash":`...)
		b = strconv.AppendQuote(b, *h)
	}
	b = append(b, '}')
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}

// ready is the Kubernetes readiness probe: 503 naming each failing check while any
// fails, and from the moment shutdown begins (so the endpoint is taken out of rotation).
// With auth on, the reasons are shown only to a caller with a valid key.
func (s *front) ready(c echo.Context) error {
	failed := s.failingChecks()
	if len(failed) == 0 {
		return c.JSON(http.StatusOK, map[string]any{"status": "ready"})
	}
	names := make([]string, 0, len(failed))
	for n := range failed {
		names = append(names, n)
	}
	sort.Strings(names)
	msg := "not ready: " + strings.Join(names, ", ")
	// /ready is public (kubelet probes carry no key), but the reasons can hold broker
	// addresses and the like: only a caller who may see them gets them.
	if auth := s.pol.Load().auth; auth.Required() && !auth.Valid(c.Request().Header.Get("X-API-Key")) {
		for n := range failed {
			failed[n] = "failing"
		}
	}
	return &envelope.Error{Status: http.StatusServiceUnavailable, Code: envelope.CodeUnavailable, Message: msg, Checks: failed}
}

// failingChecks maps each failing check to its reason.
func (s *front) failingChecks() map[string]any {
	failed := map[string]any{}
	if s.draining.Load() {
		failed["server"] = "shutting down"
	}
	for _, ch := range s.checks {
		if err := ch.Check(); err != nil {
			failed[ch.Name] = err.Error()
		}
	}
	return failed
}
