package server

import (
	"context"
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
)

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
