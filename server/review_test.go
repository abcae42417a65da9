package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"mfn/jobs"
	"mfn/server/envelope"
)

// The picture routes are pool-backed REST endpoints like /simulate: they must obey the
// same body limit (Content-Length and chunked) as every other POST.
func TestImageRoutesEnforceBodyLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 1024
	s := newTestServer(t, cfg, startPool(t, jobs.PoolConfig{}))
	base, _ := serve(t, s)
	big := `{"seed":1,"grid_size":16,"steps":4` + strings.Repeat(" ", 4096) + `}`
	for _, p := range []string{"/simulate/image", "/simulate/animation"} {
		t.Run(p, func(t *testing.T) {
			requireEnvelope(t, call(t, "POST", base+p, big), 413, envelope.CodeTooLarge)
			req, err := http.NewRequest("POST", base+p, io.MultiReader(strings.NewReader(big)))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.ContentLength = -1 // chunked
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			require.Equal(t, 413, res.StatusCode)
		})
	}
}

// server.request_timeout bounds every pool-backed REST job, pictures included.
func TestImageRoutesHonourRequestTimeout(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RequestTimeout = 20 * time.Millisecond
	s := newTestServer(t, cfg, startPool(t, jobs.PoolConfig{}))
	base, _ := serve(t, s)
	body := `{"grid_size":256,"steps":1000,"every":20,"size":64}`
	for _, p := range []string{"/simulate", "/simulate/image", "/simulate/animation"} {
		t.Run(p, func(t *testing.T) {
			requireEnvelope(t, call(t, "POST", base+p, body), 504, envelope.CodeTimeout)
		})
	}
}

// A full pool answers 503 with Retry-After on the picture routes as on /simulate.
func TestImageRoutesBusy(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{Workers: 1, QueueSize: 1}))
	base, _ := serve(t, s)
	stop := busyPool(base)
	defer stop()
	quick := &http.Client{Timeout: 300 * time.Millisecond}
	for _, p := range []string{"/simulate/image", "/simulate/animation"} {
		var r resp
		require.Eventually(t, func() bool {
			// As costly as the jobs filling the pool: cheap jobs have their own lane.
			res, err := quick.Post(base+p, "application/json", strings.NewReader(`{"grid_size":256,"steps":1000,"every":500,"size":64}`))
			if err != nil {
				return false
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			r = resp{res.StatusCode, res.Header, b}
			return r.status == 503
		}, 20*time.Second, 5*time.Millisecond, p)
		requireEnvelope(t, r, 503, envelope.CodeUnavailable)
		require.Equal(t, "1", r.header.Get("Retry-After"))
	}
}

// The WebSocket session logs carry the upgrade request's id, and a refused upgrade's
// envelope carries it too, like every other log line and error body.
func TestWSRequestIDInLogsAndRejection(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ws := DefaultWSConfig()
	ws.MaxConnections = 1
	s, err := New(Params{HTTP: DefaultConfig(), GRPC: DefaultGRPCConfig(), WS: ws,
		Runner: startPool(t, jobs.PoolConfig{}), Log: zap.New(core), Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	base, stop := serve(t, s)
	url := "ws" + strings.TrimPrefix(base, "http") + "/ws/simulation_live"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"X-Request-ID": {"ws-rid-1"}}})
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"init","payload":{"protocol_version":"1.0"}}`)))
	_, _, err = c.Read(ctx)
	require.NoError(t, err)
	go func() { // keep reading so that the shutdown's close handshake completes
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()

	// The one slot is taken: the second upgrade is refused with the envelope.
	r := call(t, "GET", base+"/ws/simulation_live", "", "X-Request-ID", "ws-rid-2", "Connection", "Upgrade",
		"Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	require.Equal(t, 503, r.status)
	require.Equal(t, "ws-rid-2", r.json(t)["request_id"])

	require.NoError(t, stop())
	connected := logs.FilterMessage("websocket connected").All()
	require.Len(t, connected, 1)
	require.Equal(t, "ws-rid-1", connected[0].ContextMap()["request_id"])
	for _, e := range logs.All() {
		if strings.HasPrefix(e.Message, "websocket") && e.Message != "websocket upgrade refused" {
			require.Equal(t, "ws-rid-1", e.ContextMap()["request_id"], e.Message)
		}
	}
}

// A body the client garbles (bad chunked framing) is the client's error: 400 with the
// envelope, not a 500 logged as an internal failure.
func TestUnreadableBodyIs400(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	base, _ := serve(t, s)
	for _, p := range []string{"/nernst", "/simulate", "/validate", "/federated/aggregate", "/api/sign", "/simulate/image", "/simulate/animation"} {
		t.Run(p, func(t *testing.T) {
			c, err := net.Dial("tcp", s.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", p)
			require.NoError(t, err)
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err)
			b, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			requireEnvelope(t, resp{res.StatusCode, res.Header, b}, 400, envelope.CodeInvalid)
		})
	}
	_ = base
}
