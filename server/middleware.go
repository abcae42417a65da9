package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"mfn/server/envelope"
	"mfn/server/requestid"
	"mfn/telemetry"
)

// The REST middleware, outermost first (api-contract §3.3): observe (request id, panic
// recovery, access log, metrics — so every response, 401/429/404/500 included, carries
// X-Request-ID and is logged and counted) → CORS (preflights answered before auth) →
// rate limit (before auth, so key guessing is throttled) → auth → handler.

// chain is the one echo middleware: echo applies middleware anew on every request, so
// each of the four as its own echo.MiddlewareFunc would allocate a closure per request;
// here each stage calls the next one directly, in the order above.
func (s *front) chain(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error { return s.observe(c, next) }
}

// requestID returns the id observe put in the response header.
func requestID(c echo.Context) string { return requestid.FromHeader(c.Response().Header()) }

// observe is the outermost middleware. It renders errors itself (c.Error) so that the
// status it logs and counts is the one the client gets.
func (s *front) observe(c echo.Context, next echo.HandlerFunc) (err error) {
	start := time.Now()
	req := c.Request()
	rid := requestid.Or(req.Header.Get(requestid.Header))
	c.Response().Header()[requestid.Header] = []string{rid}
	endpoint, method := endpointLabel(req.URL.Path), knownMethod(req.Method)
	var span trace.Span
	if telemetry.Enabled() {
		var ctx context.Context
		ctx, span = startHTTPSpan(req, endpoint)
		c.SetRequest(req.WithContext(ctx))
	}
	var ms *metricSet
	if s.metrics.enabled {
		ms = s.metrics.set(endpoint, method)
		ms.inProgress.Inc()
	}
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("handler panicked", zap.String("request_id", rid), zap.String("method", req.Method),
				zap.String("endpoint", req.URL.Path), zap.String("panic", fmt.Sprint(r)), zap.Stack("stack"))
			if !c.Response().Committed {
				envelope.Write(c, &envelope.Error{Status: http.StatusInternalServerError, Code: envelope.CodeInternal, Message: envelope.MsgInternal}, rid)
			}
			err = nil
		}
		status := c.Response().Status
		d := time.Since(start)
		if ms != nil {
			ms.inProgress.Dec()
			observe(span, ms.duration, d.Seconds())
			ms.count(s.metrics, endpoint, method, status)
		}
		if ce := s.log.Check(accessLevel(status), "request completed"); ce != nil {
			fields := []zap.Field{zap.String("request_id", rid), zap.String("method", req.Method),
				zap.String("endpoint", req.URL.Path), zap.Int("status", status),
				zap.Float64("duration_ms", float64(d.Microseconds())/1000), zap.String("client_ip", s.clientIP(req))}
			ce.Write(append(fields, traceFields(span)...)...)
		}
		if span != nil {
			endHTTPSpan(span, rid, status)
		}
	}()
	if err := s.cors(c, next); err != nil {
		c.Error(err)
	}
	return nil
}

func accessLevel(status int) zapcore.Level {
	if status >= 500 {
		return zapcore.ErrorLevel
	}
	return zapcore.InfoLevel
}

// cors answers preflights and decorates responses per api-contract §4.5 [GO]: same
// origin rules and header sets, but before auth and on every response.
func (s *front) cors(c echo.Context, next echo.HandlerFunc) error {
	req := c.Request()
	origin := req.Header.Get("Origin")
	p := s.pol.Load()
	if origin == "" || !p.corsOn {
		return s.rateLimit(c, next)
	}
	h := c.Response().Header()
	allowed := p.corsAny || p.corsOrigins[origin]
	if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
		if !allowed {
			return &envelope.Error{Status: http.StatusBadRequest, Code: envelope.CodeInvalid, Message: "Disallowed CORS origin"}
		}
		switch req.Header.Get("Access-Control-Request-Method") {
		case http.MethodGet, http.MethodPost, http.MethodOptions:
		default:
			return &envelope.Error{Status: http.StatusBadRequest, Code: envelope.CodeInvalid, Message: "Disallowed CORS method"}
		}
		p.setAllowOrigin(h, origin)
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if rh := req.Header.Get("Access-Control-Request-Headers"); rh != "" {
			h.Set("Access-Control-Allow-Headers", rh)
		} else {
			h.Set("Access-Control-Allow-Headers", "X-API-Key")
		}
		h.Set("Access-Control-Max-Age", "600")
		return c.String(http.StatusOK, "OK")
	}
	if allowed {
		p.setAllowOrigin(h, origin)
		h.Set("Access-Control-Expose-Headers", "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining")
	}
	return s.rateLimit(c, next)
}

func (p *policy) setAllowOrigin(h http.Header, origin string) {
	if p.corsAny {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Credentials", "true")
}

// rateLimit applies the token buckets; the identity is a valid API key when one is
// presented, otherwise the client address (X-Forwarded-For only via trusted proxies).
func (s *front) rateLimit(c echo.Context, next echo.HandlerFunc) error {
	lim := s.pol.Load().limiter
	if lim == nil {
		return s.authenticate(c, next)
	}
	req := c.Request()
	route := c.Path() // the route template: unknown paths share one bucket per client
	if route == "" || route == "/*" {
		route = "/other"
	}
	limit := lim.limitFor(req.URL.Path)
	ok, remaining, retry := lim.take(s.clientID(req)+" "+route, limit)
	h := c.Response().Header()
	h["X-Ratelimit-Limit"] = []string{strconv.Itoa(limit)}
	h["X-Ratelimit-Remaining"] = []string{strconv.Itoa(remaining)}
	if !ok {
		return &envelope.Error{Status: http.StatusTooManyRequests, Code: envelope.CodeRateLimit, Message: msgRateLimit, RetryAfter: retry}
	}
	return s.authenticate(c, next)
}

// clientID is who a request counts against (rate buckets, crypto key quota): its API
// key when valid, else its address, so that made-up keys gain nothing.
func (s *front) clientID(req *http.Request) string {
	if k := req.Header.Get("X-API-Key"); k != "" && s.pol.Load().auth.Valid(k) {
		return "k:" + k
	}
	return "ip:" + s.clientIP(req)
}

// authenticate enforces X-API-Key on every non-public path, unknown paths included
// (fail closed, and no route enumeration without a key).
func (s *front) authenticate(c echo.Context, next echo.HandlerFunc) error {
	auth := s.pol.Load().auth
	if !auth.Required() || publicPaths[c.Request().URL.Path] || auth.Valid(c.Request().Header.Get("X-API-Key")) {
		return next(c)
	}
	return &envelope.Error{Status: http.StatusUnauthorized, Code: envelope.CodeAuth, Message: msgAuth,
		Header: http.Header{"Www-Authenticate": []string{wwwAuthenticate}}}
}

// clientIP is the peer address, or, when the peer is a trusted proxy, the right-most
// X-Forwarded-For entry that is not itself a trusted proxy.
func (s *front) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	trusted := s.pol.Load().trusted
	if len(trusted) == 0 {
		return host
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(trusted, peer.Unmap()) {
		return host
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			p := strings.TrimSpace(parts[j])
			a, err := netip.ParseAddr(p)
			if err != nil {
				return host // garbage in the chain: do not trust anything beyond it
			}
			if !isTrusted(trusted, a.Unmap()) {
				return a.Unmap().String()
			}
		}
	}
	return host
}

func isTrusted(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
