package server

import (
	"fmt"
	"mfn/internal/cfgerr"
	"mfn/server/grpcapi"
	"mfn/server/ws"
	"net/netip"
	"reflect"
	"sync/atomic"
)

// policy is everything a reload may change in the server: who may call (auth), how often
// (rate limit and the proxies trusted to name the client), and which browser origins may
// read the answers (CORS). Every request reads the current one with one atomic load, and
// a reload replaces it whole, so a request sees either the old or the new policy, never a
// mix, and requests in flight are not disturbed.
type policy struct {
	auth    *keyAuth
	limiter *tokenLimiter // nil: rate limiting off
	rate    RateLimitConfig
	trusted []netip.Prefix

	corsOn, corsAny bool
	corsOrigins     map[string]bool
}

func newPolicy(cfg Config, auth *keyAuth, lim *tokenLimiter) (*policy, error) {
	trusted, err := parseTrusted(cfg.RateLimit.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("rate_limit.trusted_proxies: %w", err)
	}
	p := &policy{auth: auth, limiter: lim, rate: cfg.RateLimit, trusted: trusted, corsOrigins: map[string]bool{}}
	for _, o := range cfg.CORS.Origins {
		p.corsOn = true
		if o == "*" {
			p.corsAny = true
		}
		p.corsOrigins[o] = true
	}
	return p, nil
}

// Reload applies the keys of c that take effect without a restart: server.auth.*,
// server.rate_limit.* and server.cors.*. The other fields of c are ignored (the caller
// decides what needs a restart). Buckets survive a reload that leaves the rate limits
// as they were; changed limits start every client with a full bucket of the new size.
// On error nothing changes.
func (s *Server) Reload(c Config) error {
	if err := c.Validate(); err != nil {
		return cfgerr.Prefix("server.", err)
	}
	cur := s.front.pol.Load()
	lim := cur.limiter
	if !reflect.DeepEqual(c.RateLimit, cur.rate) {
		lim = nil
		if c.RateLimit.Enabled {
			lim = newTokenLimiter(c.RateLimit, nil)
		}
	}
	p, err := newPolicy(c, newKeyAuth(c.Auth), lim)
	if err != nil {
		return fmt.Errorf("server.%w", err)
	}
	s.front.pol.Store(p)
	return nil
}

// SetConfigHash sets the config_hash /health reports: which configuration file this
// process runs, so that an operator can tell whether an edit has been picked up.
func (s *Server) SetConfigHash(h string) { s.front.configHash.Store(&h) }

// livePolicy hands the current policy to the transports built once at start (gRPC
// interceptors, the WebSocket hub), which hold an Authenticator and a Limiter.
type livePolicy struct{ p *atomic.Pointer[policy] }

var (
	_ grpcapi.Authenticator = livePolicy{}
	_ grpcapi.Limiter       = livePolicy{}
	_ ws.Authenticator      = livePolicy{}
)

func (l livePolicy) Required() bool        { return l.p.Load().auth.Required() }
func (l livePolicy) Valid(key string) bool { return l.p.Load().auth.Valid(key) }
func (l livePolicy) Enabled() bool         { return l.p.Load().limiter != nil }
func (l livePolicy) Allow(key string) bool {
	lim := l.p.Load().limiter
	return lim == nil || lim.Allow(key)
}
