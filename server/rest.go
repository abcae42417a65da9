package server

import (
	"context"
	_ "embed"
	"encoding/json"
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

	"mfn/internal/version"
	"mfn/jobs"
	"mfn/server/envelope"
	"mfn/server/ws"
)

//go:embed openapi.json
var openAPIDoc []byte

// ReadyCheck is one readiness condition of GET /ready and the gRPC health status.
// Check returns nil when ready; its error text names what is missing.
type ReadyCheck struct {
	Name  string
	Check func() error
}

// rest is the echo side of the port: REST endpoints, their middleware and the routes
// that lead to the other transports' handlers.
type rest struct {
	cfg      Config
	e        *echo.Echo
	run      Runner
	pol      atomic.Pointer[policy] // auth, rate limit, CORS: swapped whole by Reload
	metrics  *httpMetrics
	log      *zap.Logger
	checks   []ReadyCheck
	started  time.Time
	draining atomic.Bool
	crypto   *cryptoService
	body     jsonBody

	configHash atomic.Pointer[string] // shown by /health; nil: not set
}

// newREST builds the echo instance with every REST route; the WebSocket, image and page
// routes are added by mountTransports once their builders have run.
func newREST(cfg Config, run Runner, auth *keyAuth, lim *tokenLimiter, checks []ReadyCheck,
	log *zap.Logger, reg *prometheus.Registry) (*rest, error) {
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
	cs, err := newCryptoService(cfg.Crypto, log)
	if err != nil {
		return nil, err
	}
	s := &rest{cfg: cfg, run: run, metrics: m, log: log, checks: checks,
		started: time.Now(), crypto: cs, body: jsonBody{maxBytes: cfg.MaxBodyBytes}}
	s.pol.Store(pol)
	cs.r = s

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe, s.cors, s.rateLimit, s.authenticate)

	e.GET("/health", s.health)
	e.GET("/ready", s.ready)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})))
	e.GET("/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
	})
	e.POST("/validate", s.validate)
	e.POST("/simulate", s.simulate)
	e.POST("/nernst", s.nernst)
	e.POST("/federated/aggregate", s.federated)
	api := e.Group("/api")
	api.POST("/encrypt", s.crypto.encrypt)
	api.POST("/decrypt", s.crypto.decrypt)
	api.POST("/sign", s.crypto.sign)
	api.POST("/verify", s.crypto.verify)
	api.POST("/keypair", s.crypto.keypair)
	s.e = e
	return s, nil
}

// mountTransports adds the routes served by the other parts of the package and the page.
func (s *rest) mountTransports(hub *ws.Hub, page http.Handler) {
	s.e.GET("/ws/simulation_live", echo.WrapHandler(http.HandlerFunc(hub.SimulationLive)))
	s.e.GET("/ws/stream_features", echo.WrapHandler(http.HandlerFunc(hub.StreamFeatures)))
	registerImageRoutes(s.e.Group(""), s.run, s.body, s.cfg.RequestTimeout)
	s.e.GET("/", echo.WrapHandler(page))
}

func (s *rest) health(c echo.Context) error {
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
func (s *rest) ready(c echo.Context) error {
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
func (s *rest) failingChecks() map[string]any {
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

// do runs one job on the Runner under the request's context and deadline.
func (s *rest) do(c echo.Context, req jobs.Request) error {
	ctx := c.Request().Context()
	// A Nernst job takes microseconds: a deadline timer would cost more than the job.
	if s.cfg.RequestTimeout > 0 && req.Kind() != jobs.KindNernst {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
	}
	res, err := s.run.Do(ctx, req)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, res)
}

func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err // e.g. a non-finite float: a defect, answered 500 without details
	}
	return c.Blob(status, echo.MIMEApplicationJSON, b)
}

func (s *rest) validate(c echo.Context) error {
	req := jobs.DefaultValidateRequest()
	if err := s.body.bind(c, &req); err != nil {
		return err
	}
	return s.do(c, req)
}

func (s *rest) simulate(c echo.Context) error {
	req := jobs.DefaultSimulateRequest()
	if err := s.body.bind(c, &req); err != nil {
		return err
	}
	return s.do(c, req)
}

func (s *rest) nernst(c echo.Context) error {
	buf, err := s.body.read(c)
	if err != nil {
		return err
	}
	defer release(buf)
	req := jobs.DefaultNernstRequest()
	if err := jobs.Decode(buf.Bytes(), &req); err != nil {
		return err
	}
	var missing []string
	if req.ConcentrationOutMolar == nil {
		missing = append(missing, "concentration_out_molar")
	}
	if req.ConcentrationInMolar == nil {
		missing = append(missing, "concentration_in_molar")
	}
	if len(missing) > 0 {
		return jobs.Missing(buf.Bytes(), missing...)
	}
	return s.do(c, req)
}

func (s *rest) federated(c echo.Context) error {
	buf, err := s.body.read(c)
	if err != nil {
		return err
	}
	defer release(buf)
	req := jobs.DefaultFederatedRequest()
	if err := jobs.Decode(buf.Bytes(), &req); err != nil {
		return err
	}
	if req.Gradients == nil {
		return jobs.Missing(buf.Bytes(), "gradients")
	}
	return s.do(c, req)
}
