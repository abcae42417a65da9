package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"mfn/internal/cfgerr"
	"mfn/server/envelope"
	"mfn/server/requestid"
)

// Backpressure strategies of the per-connection send queue (websocket-protocol.md §10.3).
const (
	BackpressureDropOldest = "drop_oldest"
	BackpressureDropNewest = "drop_newest"
	BackpressureCompress   = "compress"
)

// Config tunes the WebSocket streams. Durations decode from strings such as "30s".
type Config struct {
	// MaxConnections caps open sockets over both endpoints; further upgrades get 503.
	// With auth required, a socket counts here only once it has authenticated, so that
	// unauthenticated sockets cannot crowd out clients with a key.
	MaxConnections int `mapstructure:"max_connections"`
	// MaxUnauthenticated caps the sockets (auth required) that have not authenticated
	// yet, over both endpoints; MaxUnauthenticatedPerAddr is one TCP peer address's share.
	// Further upgrades get 503. Each such socket is closed after AuthTimeout.
	MaxUnauthenticated        int `mapstructure:"max_unauthenticated"`
	MaxUnauthenticatedPerAddr int `mapstructure:"max_unauthenticated_per_addr"`
	// MaxMessageBytes caps one inbound message; a larger one closes the socket with 1009.
	MaxMessageBytes int64 `mapstructure:"max_message_bytes"`
	// QueueSize caps the messages waiting to be written on one connection.
	QueueSize int `mapstructure:"queue_size"`
	// QueueBytes caps the bytes waiting on one connection (full-state frames are large).
	QueueBytes int64 `mapstructure:"queue_bytes"`
	// Backpressure is what a full queue does to droppable data messages:
	// drop_oldest, drop_newest or compress.
	Backpressure string `mapstructure:"backpressure"`
	// HeartbeatInterval is the period of server heartbeat messages.
	HeartbeatInterval time.Duration `mapstructure:"heartbeat_interval"`
	// HeartbeatTimeout closes a connection that sent nothing for this long.
	HeartbeatTimeout time.Duration `mapstructure:"heartbeat_timeout"`
	// WriteTimeout bounds one socket write; a client that stalls longer is closed.
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// AuthTimeout closes a connection not authenticated this long after connect (0: never).
	AuthTimeout time.Duration `mapstructure:"auth_timeout"`
	// MaxAuthFailures closes a connection after this many failed auths in a row (0: never).
	MaxAuthFailures int `mapstructure:"max_auth_failures"`
	// MaxSubscriptions caps the streams running at once on one connection.
	MaxSubscriptions int `mapstructure:"max_subscriptions"`
	// FeatureChunkSteps is how many steps of the feature stream's simulation one job
	// computes before it gives its worker back.
	FeatureChunkSteps int `mapstructure:"feature_chunk_steps"`
	// FeatureRunSteps is the length of one feature-stream run; the stream then starts a
	// new run with the next seed.
	FeatureRunSteps int `mapstructure:"feature_run_steps"`
	// StrictStreamType answers SUBSCRIBE_ERROR when stream_type does not match the
	// endpoint; the reference accepts it (and so do we by default).
	StrictStreamType bool `mapstructure:"strict_stream_type"`
	// OriginPatterns are extra browser origins allowed to connect (the page's own host
	// always is); see coder/websocket AcceptOptions.
	OriginPatterns []string `mapstructure:"origin_patterns"`
}

// DefaultConfig returns the WebSocket defaults: the reference's 1000-message
// drop_oldest queue and 30 s / 60 s heartbeat, plus the limits of the protocol's fixes
// (500 connections, 64 KiB messages, 10 s to authenticate, 5 failed auths, 128 sockets
// waiting to authenticate, 32 of them per address).
func DefaultConfig() Config {
	return Config{
		MaxConnections:    500,
		MaxMessageBytes:   64 << 10,
		QueueSize:         1000,
		QueueBytes:        16 << 20,
		Backpressure:      BackpressureDropOldest,
		HeartbeatInterval: 30 * time.Second,
		HeartbeatTimeout:  60 * time.Second,
		WriteTimeout:      10 * time.Second,
		AuthTimeout:       10 * time.Second,
		MaxAuthFailures:   5,
		MaxSubscriptions:  8,
		FeatureChunkSteps: 100,
		FeatureRunSteps:   1000,

		MaxUnauthenticated:        128,
		MaxUnauthenticatedPerAddr: 32,
	}
}

// Validate names the bad key.
func (c Config) Validate() error {
	bad := func(key, why string) error { return cfgerr.New(key, "%s", why) }
	switch {
	case c.MaxConnections < 1:
		return bad("max_connections", "must be at least 1")
	case c.MaxUnauthenticated < 1:
		return bad("max_unauthenticated", "must be at least 1")
	case c.MaxUnauthenticatedPerAddr < 1 || c.MaxUnauthenticatedPerAddr > c.MaxUnauthenticated:
		return bad("max_unauthenticated_per_addr", "must be between 1 and max_unauthenticated")
	case c.MaxMessageBytes < 256:
		return bad("max_message_bytes", "must be at least 256")
	case c.QueueSize < 1:
		return bad("queue_size", "must be at least 1")
	case c.QueueBytes < 1024:
		return bad("queue_bytes", "must be at least 1024")
	case c.HeartbeatInterval <= 0:
		return bad("heartbeat_interval", "must be positive")
	case c.HeartbeatTimeout <= 0:
		return bad("heartbeat_timeout", "must be positive")
	case c.WriteTimeout <= 0:
		return bad("write_timeout", "must be positive")
	case c.AuthTimeout < 0:
		return bad("auth_timeout", "must not be negative (0 disables it)")
	case c.MaxAuthFailures < 0:
		return bad("max_auth_failures", "must not be negative (0 disables it)")
	case c.MaxSubscriptions < 1:
		return bad("max_subscriptions", "must be at least 1")
	case c.FeatureChunkSteps < 1 || c.FeatureChunkSteps > 1000:
		return bad("feature_chunk_steps", "must be between 1 and 1000")
	case c.FeatureRunSteps < c.FeatureChunkSteps || c.FeatureRunSteps > 1000:
		return bad("feature_run_steps", "must be between feature_chunk_steps and 1000")
	}
	switch c.Backpressure {
	case BackpressureDropOldest, BackpressureDropNewest, BackpressureCompress:
	default:
		return bad("backpressure", fmt.Sprintf("%q is not drop_oldest, drop_newest or compress", c.Backpressure))
	}
	return nil
}

// Endpoint names, also the stream_type values and the metrics' endpoint label.
const (
	epSimulationLive = "simulation_live"
	epStreamFeatures = "stream_features"
)

// Hub serves /ws/simulation_live and /ws/stream_features and owns every connection.
//
// Per connection it runs three goroutines besides the handler's own read loop: one
// writer (the only goroutine that writes data frames, fed by a bounded queue), one
// liveness ticker, and one per running stream. The handler waits for all of them, and
// Shutdown waits for every handler.
type Hub struct {
	cfg  Config
	run  Runner
	auth Authenticator // nil: auth not required (the timestamp window still applies)
	log  *zap.Logger
	m    *wsMetrics
	now  func() time.Time // injected so that tests can pin the auth clock

	// base outlives every request: connection contexts derive from it, never from
	// r.Context() (PITFALLS §6.6).
	base       context.Context
	cancelBase context.CancelFunc

	active atomic.Int64 // slots of MaxConnections: authenticated sockets, or every socket when auth is off

	// Sockets waiting to authenticate (auth required), under mu.
	unauth       int
	unauthByAddr map[netip.Addr]int

	mu     sync.Mutex
	closed bool
	conns  map[*wsConn]struct{}
	wg     sync.WaitGroup // one per live handler
}

// NewHub allocates the hub; auth may be nil (auth off).
func NewHub(cfg Config, run Runner, auth Authenticator, log *zap.Logger, reg prometheus.Registerer) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, cfgerr.Prefix("server.ws.", err) // the section's place in mfn.yaml
	}
	if run == nil {
		return nil, fmt.Errorf("server: stream hub needs a runner")
	}
	if log == nil {
		log = zap.NewNop()
	}
	m, err := newWSMetrics(reg)
	if err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.Background())
	return &Hub{
		cfg: cfg, run: run, auth: auth, log: log.With(zap.String("component", "ws")), m: m,
		now: time.Now, base: base, cancelBase: cancel, conns: make(map[*wsConn]struct{}),
		unauthByAddr: make(map[netip.Addr]int),
	}, nil
}

// SimulationLive upgrades and serves /ws/simulation_live.
func (h *Hub) SimulationLive(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, epSimulationLive)
}

// StreamFeatures upgrades and serves /ws/stream_features.
func (h *Hub) StreamFeatures(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, epStreamFeatures)
}

// reject answers a refused upgrade with 503 before any WebSocket exists, in the REST
// envelope's shape so that a client library shows something readable.
// The request id is the one the REST middleware put on the response.
func reject(w http.ResponseWriter, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	b, _ := json.Marshal(envelope.New(code, msg, requestid.FromHeader(h)))
	_, _ = w.Write(b)
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request, endpoint string) {
	// Reserve the slot before the upgrade so that a burst cannot overshoot the cap.
	slot, reason := h.admit(r)
	if reason != "" {
		h.m.rejected.WithLabelValues(reason).Inc()
		reject(w, "TOO_MANY_CONNECTIONS", "too many WebSocket connections")
		return
	}
	defer slot.release()

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.m.rejected.WithLabelValues("shutting_down").Inc()
		reject(w, "SERVICE_UNAVAILABLE", "server shutting down")
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns})
	if err != nil {
		// Accept has answered the request (400/403/426); nothing else to do.
		h.log.Debug("websocket upgrade refused", zap.String("endpoint", endpoint), zap.Error(err))
		return
	}
	defer func() { _ = c.CloseNow() }() // safety net; the normal paths closed already
	c.SetReadLimit(h.cfg.MaxMessageBytes)

	cn := newWSConn(h, c, endpoint)
	cn.slot = slot
	cn.trace = trace.SpanContextFromContext(r.Context()) // the upgrade request's span: parent of the subscriptions
	if rid := requestid.FromHeader(w.Header()); rid != "" {
		// Every line of the session names the upgrade request it came from.
		cn.log = cn.log.With(zap.String("request_id", rid))
	}
	h.mu.Lock()
	if h.closed {
		// Shutdown began while this upgrade was in flight and did not see the connection.
		h.mu.Unlock()
		_ = c.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	h.conns[cn] = struct{}{}
	h.mu.Unlock()
	h.m.connections.WithLabelValues(endpoint).Inc()
	start := time.Now()
	cn.log.Debug("websocket connected", zap.String("remote", r.RemoteAddr))

	cn.serve()

	h.mu.Lock()
	delete(h.conns, cn)
	h.mu.Unlock()
	h.m.connections.WithLabelValues(endpoint).Dec()
	cn.log.Debug("websocket closed", zap.Duration("duration", time.Since(start)),
		zap.Int64("dropped", cn.q.droppedTotal()))
}

// wsSlot is a socket's place in one of the two budgets: pending (auth required and not
// yet authenticated: MaxUnauthenticated, per address too) or main (MaxConnections). The
// handler's goroutine takes it and releases it; only the read loop promotes it, so its
// fields need no lock.
type wsSlot struct {
	h       *Hub
	addr    netip.Addr
	pending bool
}

// admit reserves the slot of a new socket or names the budget that is full.
func (h *Hub) admit(r *http.Request) (*wsSlot, string) {
	// A valid X-API-Key on the upgrade itself (clients that can set headers; browsers
	// cannot) skips the pending budget, so a flood of silent sockets from many addresses
	// cannot keep a keyed client out. The socket still authenticates in-band as the
	// protocol says; the header only decides which budget admits it.
	if h.auth == nil || !h.auth.Required() || h.auth.Valid(r.Header.Get("X-API-Key")) {
		if h.active.Add(1) > int64(h.cfg.MaxConnections) {
			h.active.Add(-1)
			return nil, "too_many_connections"
		}
		return &wsSlot{h: h}, ""
	}
	// The share is the TCP peer's, like the listener's: a forwarded-for header is only
	// trusted for rate limits, after a key has been checked.
	var addr netip.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		addr = ap.Addr().Unmap()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.unauth >= h.cfg.MaxUnauthenticated:
		return nil, "too_many_unauthenticated"
	case h.unauthByAddr[addr] >= h.cfg.MaxUnauthenticatedPerAddr:
		return nil, "too_many_unauthenticated_per_addr"
	}
	h.unauth++
	h.unauthByAddr[addr]++
	return &wsSlot{h: h, addr: addr, pending: true}, ""
}

// promote moves an authenticated socket to the main budget; false when it is full (the
// socket then keeps its pending slot).
func (s *wsSlot) promote() bool {
	if !s.pending {
		return true
	}
	if s.h.active.Add(1) > int64(s.h.cfg.MaxConnections) {
		s.h.active.Add(-1)
		return false
	}
	s.releasePending()
	s.pending = false
	return true
}

func (s *wsSlot) releasePending() {
	h := s.h
	h.mu.Lock()
	h.unauth--
	if n := h.unauthByAddr[s.addr] - 1; n > 0 {
		h.unauthByAddr[s.addr] = n
	} else {
		delete(h.unauthByAddr, s.addr)
	}
	h.mu.Unlock()
}

func (s *wsSlot) release() {
	if s.pending {
		s.releasePending()
		return
	}
	s.h.active.Add(-1)
}

// Shutdown closes every connection with StatusGoingAway and waits for their goroutines.
// New upgrades get 503 from the first call on. When ctx ends first, the remaining
// sockets are dropped without a handshake and ctx's error is returned.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	conns := make([]*wsConn, 0, len(h.conns))
	for cn := range h.conns {
		conns = append(conns, cn)
	}
	h.mu.Unlock()

	// Close in parallel: one handshake can take seconds (PITFALLS §6.5).
	for _, cn := range conns {
		go cn.goAway()
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		h.cancelBase()
		return nil
	case <-ctx.Done():
		h.cancelBase() // cancels every connection and stream context
		for _, cn := range conns {
			_ = cn.c.CloseNow()
		}
		<-done
		return fmt.Errorf("websocket shutdown: %w", ctx.Err())
	}
}

// Stats is a snapshot of the hub's admission counters.
type Stats struct {
	Active          int64 // sockets holding a max_connections slot
	Unauthenticated int   // sockets still waiting to authenticate (auth required)
}

// Stats reports the admission counters, for tests and debugging.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Active: h.active.Load(), Unauthenticated: h.unauth}
}

// connCount is the number of registered connections (for tests and logs).
func (h *Hub) connCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}
