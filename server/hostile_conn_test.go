package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"mfn/jobs"
)

// Attacks on the connection layer (issue 9, items 3, 4, 5, 7), each against a real
// server on loopback with its limits set small. Every test also checks that a fresh
// client gets /health within 1 s while the attack runs.

// hostileServer serves cfg (and ws) on 127.0.0.1 with a quiet logger.
func hostileServer(t *testing.T, cfg Config, ws WSConfig) (*Server, string) {
	t.Helper()
	return hostileServerOn(t, cfg, ws, prometheus.NewRegistry())
}

// hostileServerOn is hostileServer with its metrics on reg.
func hostileServerOn(t *testing.T, cfg Config, ws WSConfig, reg *prometheus.Registry) (*Server, string) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s, err := New(Params{HTTP: cfg, GRPC: DefaultGRPCConfig(), WS: ws, Runner: startPool(t, jobs.PoolConfig{}),
		Log: zap.NewNop(), Registry: reg})
	require.NoError(t, err)
	base, _ := serve(t, s)
	return s, strings.TrimPrefix(base, "http://")
}

// counterValue is the value of the counter name whose label has value, as reg exposes it.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// requireHealthy asserts that a new connection from 127.0.0.1 gets /health 200 within 1 s.
func requireHealthy(t *testing.T, addr string) {
	t.Helper()
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	res, err := c.Get("http://" + addr + "/health")
	require.NoError(t, err, "/health during the attack")
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Less(t, time.Since(start), time.Second)
}

// dialFrom opens a TCP connection to addr from the loopback address src (127.0.0.x).
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	return d.Dial("tcp", addr)
}

// heapPeak samples the heap until stop is called and returns the peak growth over the
// heap at the start (after a GC).
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base && ms.HeapAlloc-base > peak.Load() {
				peak.Store(ms.HeapAlloc - base)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// hpackHugeLiteral starts a literal header field whose value claims n bytes and sends
// none of them: a decoder without a string cap buffers what follows, waiting for them.
func hpackHugeLiteral(n uint64) []byte {
	b := []byte{0x00, 0x01, 'x', 0x7f} // literal without indexing, new name "x"; 7-bit prefix full
	for n -= 0x7f; n >= 0x80; n >>= 7 {
		b = append(b, byte(n&0x7f)|0x80)
	}
	return append(b, byte(n))
}

// TestHostileHTTP2FloodWhileSniffing (issue 9.3): the HTTP/2 preface, SETTINGS and then
// endless DATA, CONTINUATION (carrying an HPACK literal that claims 1 GiB) or PING frames
// while the protocol is still being sniffed, on 16 connections at once. The sniff timeout
// is long, so only the byte cap can end it: each connection must be closed after about
// sniff_bytes, and the server's heap must not grow with what was sent.
func TestHostileHTTP2FloodWhileSniffing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SniffTimeout = time.Minute
	_, addr := hostileServer(t, cfg, DefaultWSConfig())
	const (
		conns  = 16
		budget = 16 << 20 // per connection: what the attacker may send before the test calls it a failure
	)
	chunk := bytes.Repeat([]byte{'a'}, 16<<10)

	flood := func(kind string) (sent int, err error) {
		conn, err := dialFrom("127.0.0.2", addr)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(8 * time.Second))
		go func() { _, _ = io.Copy(io.Discard, conn) }() // take the server's SETTINGS
		fr := http2.NewFramer(conn, nil)
		if _, err = conn.Write([]byte(http2.ClientPreface)); err != nil {
			return 0, err
		}
		if err = fr.WriteSettings(); err != nil {
			return 0, err
		}
		if kind == "continuation" {
			if err = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hpackHugeLiteral(1 << 30)}); err != nil {
				return 0, err
			}
		}
		for sent < budget {
			switch kind {
			case "data":
				err, sent = fr.WriteData(1, false, chunk), sent+9+len(chunk)
			case "continuation":
				err, sent = fr.WriteContinuation(1, false, chunk), sent+9+len(chunk)
			case "ping":
				err, sent = fr.WritePing(false, [8]byte{1}), sent+17
			}
			if err != nil {
				return sent, err
			}
		}
		return sent, nil
	}

	for _, kind := range []string{"data", "continuation", "ping"} {
		t.Run(kind, func(t *testing.T) {
			peak := heapPeak()
			var wg sync.WaitGroup
			sent := make([]int, conns)
			errs := make([]error, conns)
			for i := range conns {
				wg.Go(func() { sent[i], errs[i] = flood(kind) })
			}
			requireHealthy(t, addr)
			wg.Wait()
			grown := peak()
			total := 0
			for i := range conns {
				total += sent[i]
			}
			t.Logf("%s flood on %d connections: %d KiB written in all; server heap peak +%d KiB", kind, conns, total>>10, grown>>10)
			for i := range conns {
				require.Error(t, errs[i], "the server kept reading %d bytes of an unidentified protocol", sent[i])
				var ne net.Error
				require.False(t, errors.As(errs[i], &ne) && ne.Timeout(), "the server did not close the connection: %v", errs[i])
			}
			require.Less(t, grown, uint64(8<<20), "heap grew with the flood")
			requireHealthy(t, addr)
		})
	}
}

// TestHostileSlowBody (issue 9.4): a body sent at a byte a second gets 408 once
// body_read_timeout has passed since its headers, with a key, and the connection is
// closed without a key (401 at once); meanwhile /health answers.
func TestHostileSlowBody(t *testing.T) {
	cfg := authCfg()
	cfg.BodyReadTimeout = time.Second
	_, addr := hostileServer(t, cfg, DefaultWSConfig())

	for _, tc := range []struct {
		name, key  string
		wantStatus string
	}{
		{"with key", "X-API-Key: test-valid-key-12345\r\n", "408"},
		{"without key", "", "401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := dialFrom("127.0.0.3", addr)
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
			_, err = fmt.Fprintf(conn, "POST /nernst HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%sContent-Length: 100\r\n\r\n", tc.key)
			require.NoError(t, err)
			start := time.Now()
			stopDrip := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { // one byte a second, until the server gives up or the test ends
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for {
					if _, err := conn.Write([]byte{' '}); err != nil {
						return
					}
					select {
					case <-stopDrip:
						return
					case <-tick.C:
					}
				}
			})
			defer func() { close(stopDrip); wg.Wait() }()
			requireHealthy(t, addr)
			br := bufio.NewReader(conn)
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			require.Contains(t, line, " "+tc.wantStatus+" ")
			res, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(line), br)), nil)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
			}
			// Either way the connection is closed by the deadline, not kept for the drip.
			_, err = br.ReadByte()
			require.Error(t, err)
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "connection still open after %s", time.Since(start))
			require.Less(t, time.Since(start), 4*time.Second)
		})
	}
}

// TestHostileSilentAndSlowClients (issue 9.4): silent sockets and slow-header clients from
// several addresses fill their addresses' shares and the rest is closed at once; a fresh
// client from another address still gets /health within 1 s.
func TestHostileSilentAndSlowClients(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SniffTimeout = time.Minute
	cfg.ReadHeaderTimeout = time.Minute
	cfg.MaxConnections = 64
	cfg.MaxConnectionsPerAddr = 8
	s, addr := hostileServer(t, cfg, DefaultWSConfig())

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i, src := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		for range 20 {
			c, err := dialFrom(src, addr)
			require.NoError(t, err)
			conns = append(conns, c)
			if i%2 == 1 { // slow headers: identified as HTTP/1, then nothing more
				_, _ = c.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\n"))
			}
		}
	}
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(s.connM.rejected.WithLabelValues("max_connections_per_addr")) == 4*12
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, 32.0, testutil.ToFloat64(s.connM.open))
	requireHealthy(t, addr)

	// The refused ones were closed at once: a read sees the close, not a timeout.
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				closed++
			}
		}
	}
	require.Equal(t, 4*12, closed)
}

// TestHostileTotalConnectionCap: beyond max_connections every new connection is closed
// at once, whatever its address; a closed one gives its slot back.
func TestHostileTotalConnectionCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SniffTimeout = time.Minute
	cfg.MaxConnections = 6
	cfg.MaxConnectionsPerAddr = 6
	s, addr := hostileServer(t, cfg, DefaultWSConfig())
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for _, src := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		for range 3 {
			c, err := dialFrom(src, addr)
			require.NoError(t, err)
			conns = append(conns, c)
		}
	}
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(s.connM.rejected.WithLabelValues("max_connections")) == 3
	}, 5*time.Second, 5*time.Millisecond)
	// Full: a health check is refused too, until a silent socket goes.
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	_, err := c.Get("http://" + addr + "/health")
	require.Error(t, err)
	for _, c := range conns {
		_ = c.Close()
	}
	conns = nil
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.connM.open) == 0 }, 5*time.Second, 5*time.Millisecond)
	requireHealthy(t, addr)
}

// TestHostileEarlyAnswerIsReadable (issue 9.7): a client that writes its whole body
// before reading (Python requests, http.client) reads the 413 (or 401) status line, not a
// connection reset.
func TestHostileEarlyAnswerIsReadable(t *testing.T) {
	cfg := authCfg()
	cfg.MaxBodyBytes = 64 << 10
	_, addr := hostileServer(t, cfg, DefaultWSConfig())
	body := bytes.Repeat([]byte{' '}, 8<<20) // well beyond loopback's socket buffers

	for _, tc := range []struct{ name, key, want string }{
		{"413 over max_body_bytes", "X-API-Key: test-valid-key-12345\r\n", "413"},
		{"401 without key", "", "401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := dialFrom("127.0.0.2", addr)
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(8*time.Second)))
			_, err = fmt.Fprintf(conn, "POST /nernst HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n", tc.key, len(body))
			require.NoError(t, err)
			_, err = conn.Write(body)
			require.NoError(t, err, "the server reset the connection while the body was being sent")
			requireHealthy(t, addr)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			_ = res.Body.Close()
			require.Equal(t, tc.want, fmt.Sprint(res.StatusCode))
		})
	}
}

// TestHostileUnauthenticatedWebSocketFlood (issue 9.5): silent unauthenticated sockets
// from a few addresses fill only their own budget; a client with a valid key still
// connects, authenticates and subscribes.
func TestHostileUnauthenticatedWebSocketFlood(t *testing.T) {
	ws := DefaultWSConfig()
	ws.MaxConnections = 4
	ws.MaxUnauthenticated = 32
	ws.MaxUnauthenticatedPerAddr = 4
	reg := prometheus.NewRegistry()
	s, addr := hostileServerOn(t, authCfg(), ws, reg)

	dial := func(src string) (*websocket.Conn, int, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, res, err := websocket.Dial(ctx, "ws://"+addr+"/ws/simulation_live", &websocket.DialOptions{HTTPClient: hc})
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		return c, status, err
	}
	var silent []*websocket.Conn
	defer func() {
		for _, c := range silent {
			_ = c.CloseNow()
		}
	}()
	refused := 0
	for _, src := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		for range 20 {
			c, status, err := dial(src)
			if err != nil {
				require.Equal(t, http.StatusServiceUnavailable, status)
				refused++
				continue
			}
			silent = append(silent, c)
		}
	}
	require.Len(t, silent, 3*4)
	require.Equal(t, 3*16, refused)
	require.Equal(t, float64(refused), counterValue(t, reg, "mfn_ws_connections_rejected_total", "reason", "too_many_unauthenticated_per_addr"))
	requireHealthy(t, addr)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	authed := func() (*websocket.Conn, string) {
		c, _, err := dial("127.0.0.1")
		require.NoError(t, err)
		msg := fmt.Sprintf(`{"type":"auth","payload":{"api_key":"test-valid-key-12345","timestamp":%d}}`, time.Now().UnixMilli())
		require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(msg)))
		_, data, err := c.Read(ctx)
		require.NoError(t, err)
		return c, string(data)
	}
	// Keyed clients fill the main budget; each leaves the pending one as it authenticates.
	for i := range ws.MaxConnections {
		c, reply := authed()
		defer c.CloseNow()
		require.Contains(t, reply, `"auth_success"`)
		st := s.hub.Stats()
		require.Equal(t, int64(i+1), st.Active)
		require.Equal(t, 12, st.Unauthenticated)
	}
	// Beyond it a valid key is told to come back later (1013), and its slot is freed.
	c, reply := authed()
	defer c.CloseNow()
	require.Contains(t, reply, `"TOO_MANY_CONNECTIONS"`)
	_, _, err := c.Read(ctx)
	require.Equal(t, websocket.StatusTryAgainLater, websocket.CloseStatus(err))
	require.Eventually(t, func() bool { return s.hub.Stats().Unauthenticated == 12 }, 5*time.Second, 5*time.Millisecond)
}

// faultListener returns EMFILE for its first n Accepts, then accepts for real.
type faultListener struct {
	net.Listener
	n atomic.Int32
}

func (l *faultListener) Accept() (net.Conn, error) {
	if l.n.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: &osSyscallError{syscall.EMFILE}}
	}
	return l.Listener.Accept()
}

// osSyscallError wraps an errno the way the runtime does (os.SyscallError).
type osSyscallError struct{ errno syscall.Errno }

func (e *osSyscallError) Error() string { return "accept4: " + e.errno.Error() }
func (e *osSyscallError) Unwrap() error { return e.errno }

// TestGuardListenerBacksOffOnEMFILE (issue 9.4, PITFALLS §9.2): at the fd limit Accept
// waits 5 ms, doubling to 1 s (each within the policy's ±20 % jitter), instead of
// spinning, then serves again; Close ends a wait.
func TestGuardListenerBacksOffOnEMFILE(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fl := &faultListener{Listener: ln}
	fl.n.Store(10)
	m, err := newConnMetrics(nil)
	require.NoError(t, err)
	b := newConnBudget(10, 10, m)
	g := newGuardListener(fl, b, zap.NewNop())
	defer g.Close()
	var waits []time.Duration
	g.sleep = func(d time.Duration, _ <-chan struct{}) bool { waits = append(waits, d); return true }

	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1))
		}
	}()
	c, err := g.Accept()
	require.NoError(t, err)
	ms := time.Millisecond
	nominal := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}
	require.Len(t, waits, len(nominal))
	for i, d := range waits {
		lo, hi := time.Duration(float64(nominal[i])*0.8), time.Duration(float64(nominal[i])*1.2)
		require.True(t, d >= lo && d <= hi, "wait %d: %v outside %v ±20%%", i, d, nominal[i])
	}
	require.Equal(t, 10.0, testutil.ToFloat64(m.acceptEr))
	require.Equal(t, 1, b.open())
	require.NoError(t, c.Close())
	_ = c.Close() // the slot is given back once
	require.Equal(t, 0, b.open())

	// Close wakes an Accept that is waiting out a backoff.
	fl.n.Store(1 << 30)
	g.sleep = sleepOrClosed
	errc := make(chan error, 1)
	go func() { _, err := g.Accept(); errc <- err }()
	require.NoError(t, g.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}

func TestConnCapsStayBelowTheFDLimit(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		max, perAddr         int
		nofile               uint64
		wantMax, wantPerAddr int
	}{
		{"unknown limit", 4096, 1024, 0, 4096, 1024},
		{"room enough", 4096, 1024, 1 << 20, 4096, 1024},
		{"exactly 3/4", 768, 200, 1024, 768, 200},
		{"docker's 1024", 4096, 1024, 1024, 768, 192},
		{"tiny", 4096, 1, 64, 48, 1},
		{"one fd", 10, 5, 1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, p := connCaps(tc.max, tc.perAddr, tc.nofile, zap.NewNop())
			require.Equal(t, tc.wantMax, m)
			require.Equal(t, tc.wantPerAddr, p)
		})
	}
}

// TestHostileGRPCHugeMetadata: a call whose metadata is beyond grpc.max_header_list_bytes
// is refused before it runs (by the server's limit, or by a client that honours the
// server's SETTINGS), and the port keeps serving.
func TestHostileGRPCHugeMetadata(t *testing.T) {
	_, addr := hostileServer(t, DefaultConfig(), DefaultWSConfig())
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	hc := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	big := metadata.AppendToOutgoingContext(ctx, "x-big", strings.Repeat("a", 40<<10))
	_, err = hc.Check(big, &healthpb.HealthCheckRequest{})
	require.Error(t, err) // grpc-go's framer ends the connection: one value beyond the list size
	requireHealthy(t, addr)
	_, err = hc.Check(ctx, &healthpb.HealthCheckRequest{}) // a new connection
	require.NoError(t, err)

	// Metadata under the limit but spread over HEADERS and CONTINUATION frames, as the
	// first call of a connection, still passes the sniffing matcher.
	cc2, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc2.Close()
	var mixed strings.Builder
	for i := range 28 << 10 {
		mixed.WriteByte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"[i*7919%64])
	}
	_, err = healthpb.NewHealthClient(cc2).Check(metadata.AppendToOutgoingContext(ctx, "x-big", mixed.String()), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
}

// TestHostileHugeHeaders: HTTP/1 headers beyond max_header_bytes get 431 and a close,
// before any handler, key check or body.
func TestHostileHugeHeaders(t *testing.T) {
	cfg := authCfg()
	cfg.MaxHeaderBytes = 8 << 10
	_, addr := hostileServer(t, cfg, DefaultWSConfig())
	conn, err := dialFrom("127.0.0.2", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = fmt.Fprintf(conn, "GET /health HTTP/1.1\r\nHost: x\r\nX-Junk: %s\r\n\r\n", strings.Repeat("a", 64<<10))
	require.NoError(t, err)
	requireHealthy(t, addr)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, res.StatusCode)
}

// TestHostileWebSocketPendingBudgetFullKeyedUpgrade: silent sockets from enough addresses
// fill the whole pending budget; a client that puts its key on the upgrade still gets in
// (and authenticates in-band as usual), while one without it is refused.
func TestHostileWebSocketPendingBudgetFullKeyedUpgrade(t *testing.T) {
	ws := DefaultWSConfig()
	ws.MaxUnauthenticated = 8
	ws.MaxUnauthenticatedPerAddr = 4
	s, addr := hostileServer(t, authCfg(), ws)

	dial := func(src string, hdr http.Header) (*websocket.Conn, int, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, res, err := websocket.Dial(ctx, "ws://"+addr+"/ws/simulation_live", &websocket.DialOptions{HTTPClient: hc, HTTPHeader: hdr})
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		return c, status, err
	}
	for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
		for range 4 {
			c, _, err := dial(src, nil)
			require.NoError(t, err)
			defer c.CloseNow()
		}
	}
	_, status, err := dial("127.0.0.4", nil)
	require.Error(t, err)
	require.Equal(t, http.StatusServiceUnavailable, status)
	requireHealthy(t, addr)

	_, status, err = dial("127.0.0.4", http.Header{"X-API-Key": {"wrong-key"}})
	require.Error(t, err, "an invalid key on the upgrade does not skip the pending budget")
	require.Equal(t, http.StatusServiceUnavailable, status)

	c, _, err := dial("127.0.0.4", http.Header{"X-API-Key": {"test-valid-key-12345"}})
	require.NoError(t, err)
	defer c.CloseNow()
	require.Equal(t, int64(1), s.hub.Stats().Active)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg := fmt.Sprintf(`{"type":"auth","payload":{"api_key":"test-valid-key-12345","timestamp":%d}}`, time.Now().UnixMilli())
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(msg)))
	_, data, err := c.Read(ctx)
	require.NoError(t, err)
	require.Contains(t, string(data), `"auth_success"`)
	require.Equal(t, int64(1), s.hub.Stats().Active, "authenticating in-band does not take a second slot")
}
