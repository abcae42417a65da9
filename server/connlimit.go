package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"mfn/internal/retry"
)

// Connection-level limits, enforced before a byte of a request is parsed and before any
// key is checked: an unauthenticated peer costs at most one slot of the caps below, the
// sniff bytes (listen.go) and the header/body deadlines of the HTTP server.

// connMetrics count what the connection guard refused; the rest of the traffic is in the
// HTTP, gRPC and WebSocket metrics.
type connMetrics struct {
	open     prometheus.Gauge
	rejected *prometheus.CounterVec // reason: max_connections, max_connections_per_addr, not_matched
	acceptEr prometheus.Counter
}

func newConnMetrics(reg prometheus.Registerer) (*connMetrics, error) {
	m := &connMetrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mfn_connections_open", Help: "Open TCP connections on the main port (all protocols).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mfn_connections_rejected_total", Help: "TCP connections closed by the connection guard before any request was read.",
		}, []string{"reason"}),
		acceptEr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mfn_accept_errors_total", Help: "Temporary accept errors (e.g. EMFILE) retried after a backoff.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.open, m.rejected, m.acceptEr} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// acceptBackoff is net/http's schedule: a listener at the fd limit is retried after 5 ms,
// doubling to 1 s, instead of at once (cmux retries at once and burns a core, PITFALLS
// §9.2). The jitter keeps processes that ran out of descriptors together (ENFILE is
// system-wide) from retrying in lockstep.
var acceptBackoff = retry.Policy{Initial: 5 * time.Millisecond, Max: time.Second, Jitter: 0.2}

// connBudget is the connection caps of the process's listeners: MaxConnections in all,
// and one TCP peer address's share of it. The share applies to the TCP peer: behind a
// proxy every client shares the proxy's address, which is why the default share is large.
type connBudget struct {
	max, perAddr int
	m            *connMetrics

	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int
}

func newConnBudget(maxConns, perAddr int, m *connMetrics) *connBudget {
	return &connBudget{max: maxConns, perAddr: perAddr, m: m, byAddr: make(map[netip.Addr]int)}
}

// guardListener sits between a TCP listener and its server (cmux on the main port). It
// backs off on temporary accept errors, and closes at once a connection beyond its
// budget, so that the process stays below its fd limit and one address cannot take
// every slot.
type guardListener struct {
	net.Listener
	b     *connBudget
	log   *zap.Logger
	sleep func(time.Duration, <-chan struct{}) bool // injected by tests to count backoffs

	closeOnce sync.Once
	closed    chan struct{}
}

func newGuardListener(ln net.Listener, b *connBudget, log *zap.Logger) *guardListener {
	return &guardListener{Listener: ln, b: b, log: log, sleep: sleepOrClosed, closed: make(chan struct{})}
}

// sleepOrClosed waits d unless done is closed first; it reports whether d elapsed.
func sleepOrClosed(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// temporaryAccept reports the accept errors worth retrying: out of descriptors or
// buffers. net.Error.Temporary is deprecated, so the errnos are named.
func temporaryAccept(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Accept returns the next admitted connection. Refused connections are closed here and
// never reach cmux.
func (l *guardListener) Accept() (net.Conn, error) {
	// Made at the first failure only, so that an accept that succeeds allocates nothing.
	var bo *retry.Backoff
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !temporaryAccept(err) {
				return nil, err
			}
			if bo == nil {
				bo = acceptBackoff.New()
			}
			delay := bo.Next(0)
			l.b.m.acceptEr.Inc()
			l.log.Warn("accept failed; retrying after a backoff", zap.Duration("backoff", delay), zap.Error(err))
			if !l.sleep(delay, l.closed) {
				return nil, net.ErrClosed
			}
			continue
		}
		bo = nil // the next failure starts over at 5 ms
		addr := peerAddr(c.RemoteAddr())
		if reason := l.b.admit(addr); reason != "" {
			_ = c.Close()
			l.b.m.rejected.WithLabelValues(reason).Inc()
			continue
		}
		return &guardedConn{Conn: c, b: l.b, addr: addr}, nil
	}
}

// admit takes a slot for addr, or names the cap that refuses it.
func (b *connBudget) admit(addr netip.Addr) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.total >= b.max:
		return "max_connections"
	case b.byAddr[addr] >= b.perAddr:
		return "max_connections_per_addr"
	}
	b.total++
	b.byAddr[addr]++
	b.m.open.Inc()
	return ""
}

func (b *connBudget) release(addr netip.Addr) {
	b.mu.Lock()
	b.total--
	if n := b.byAddr[addr] - 1; n > 0 {
		b.byAddr[addr] = n
	} else {
		delete(b.byAddr, addr) // the map holds only addresses with open connections
	}
	b.mu.Unlock()
	b.m.open.Dec()
}

// Close stops Accept, including one sleeping in a backoff.
func (l *guardListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// open is the number of connections holding a slot (tests).
func (b *connBudget) open() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// peerAddr is the IP of a TCP peer (IPv4-mapped IPv6 unmapped, so one client is one key).
func peerAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// guardedConn gives its slot back on the first Close.
type guardedConn struct {
	net.Conn
	b    *connBudget
	addr netip.Addr
	once sync.Once
}

func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.b.release(c.addr) })
	return err
}

// CloseWrite half-closes the TCP connection (the FIN follows the answer already written).
func (c *guardedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// lingerListener wraps the HTTP/1 side of cmux so that an early answer (413, 401, 408)
// reaches a client that sends its whole body before it reads (Python requests,
// http.client). net/http answers without reading a large body and then, only when the
// connection has CloseWrite, half-closes and waits 500 ms before closing; cmux's MuxConn
// hides CloseWrite, and 500 ms is too short for a client still sending: the close with
// unread data makes the kernel send RST, and the client's kernel drops the answer. Like
// nginx's lingering close, lingerConn exposes CloseWrite and, when net/http used it,
// keeps reading and discarding for up to LingerTimeout / LingerBytes before closing.
type lingerListener struct {
	net.Listener
	timeout  time.Duration
	maxBytes int64
	wg       sync.WaitGroup // one per connection lingering
}

func (l *lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c, l: l}, nil
}

// wait returns once every lingering connection is closed (each within l.timeout).
func (l *lingerListener) wait() { l.wg.Wait() }

type lingerConn struct {
	net.Conn // *cmux.MuxConn: reads replay the sniffed bytes first
	l        *lingerListener
	linger   atomic.Bool
	once     sync.Once

	// The armed body deadline (bodyDeadline). armed is read by every Read without
	// the lock; mu orders arming, applying and lifting between the handler's body
	// reads and net/http's own deadlines.
	armed   atomic.Bool
	mu      sync.Mutex
	bodyDue time.Time
	applied bool // bodyDue is on the socket
}

// armBody arms the body deadline: the next Read that reaches the socket sets it there.
func (c *lingerConn) armBody(due time.Time) {
	c.mu.Lock()
	c.bodyDue, c.applied = due, false
	c.armed.Store(true)
	c.mu.Unlock()
}

func (c *lingerConn) Read(p []byte) (int, error) {
	if c.armed.Load() {
		c.mu.Lock()
		if c.armed.Load() && !c.applied {
			c.applied = true
			_ = c.Conn.SetReadDeadline(c.bodyDue)
		}
		c.mu.Unlock()
	}
	return c.Conn.Read(p)
}

// SetReadDeadline disarms the body deadline: a deadline net/http sets (the clear when
// the body has been read, the next request's idle and header timeouts) replaces it.
func (c *lingerConn) SetReadDeadline(t time.Time) error {
	c.disarm()
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline disarms the body deadline as SetReadDeadline does.
func (c *lingerConn) SetDeadline(t time.Time) error {
	c.disarm()
	return c.Conn.SetDeadline(t)
}

func (c *lingerConn) disarm() {
	if c.armed.Load() {
		c.mu.Lock()
		c.armed.Store(false)
		c.mu.Unlock()
	}
}

// CloseWrite half-closes the TCP connection under cmux's wrapper and marks this
// connection for a lingering close.
func (c *lingerConn) CloseWrite() error {
	tcp := tcpOf(c.Conn)
	if tcp == nil {
		return nil
	}
	c.linger.Store(true)
	return tcp.CloseWrite()
}

// Close closes at once, or, after CloseWrite, in the background once the client has
// stopped sending (EOF), LingerBytes were discarded, or LingerTimeout passed. The
// connection keeps its slot in the guard until then, so lingering is capped too.
func (c *lingerConn) Close() error {
	if !c.linger.Load() {
		return c.Conn.Close()
	}
	c.once.Do(func() {
		c.l.wg.Go(func() {
			_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.timeout))
			_, _ = io.CopyN(io.Discard, c.Conn, c.l.maxBytes)
			_ = c.Conn.Close()
		})
	})
	return nil
}

// bodyDeadline gives every request body a read deadline of d from the end of its headers,
// with or without a key (nginx's client_body_timeout, but for the whole body, so that a
// client sending a byte a second cannot keep a connection either): a body still arriving
// then fails its read, and the handler answers 408. Only the body is covered: a hijacked
// WebSocket (a GET without body) and streamed responses are not (http.Server.ReadTimeout
// would cut them, PITFALLS §1.14).
//
// The deadline is armed on the connection (lingerConn, found through ConnContext) and
// reaches the socket only if a body read has to wait for the network: a small body
// comes in the segment of its headers, and setting and lifting a socket deadline for it
// (with the request copy that carried the lift) cost a few per cent of a /nernst
// request's CPU. It is lifted by the next deadline net/http sets
// itself, the first being the one it clears when the body has been read to its end, so
// that a long job after the body and net/http's background read (which cancels the
// request context on a read error) are not cut; a handler that leaves the body unread
// leaves it armed for net/http's discard of the rest after the answer.
func bodyDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			if c, ok := r.Context().Value(lingerConnKey{}).(*lingerConn); ok {
				c.armBody(time.Now().Add(d))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// lingerConnKey is the request context key of the request's *lingerConn.
type lingerConnKey struct{}

// connContext puts an HTTP/1 connection's *lingerConn in the context of its requests
// (http.Server.ConnContext: once per connection).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(*lingerConn); ok {
		return context.WithValue(ctx, lingerConnKey{}, lc)
	}
	return ctx
}
