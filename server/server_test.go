package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"mfn/jobs"
)

func newTestServer(t *testing.T, cfg Config, pool *jobs.Pool) *Server {
	t.Helper()
	s, err := New(Params{HTTP: cfg, GRPC: DefaultGRPCConfig(), WS: DefaultWSConfig(), Runner: pool,
		Log: zaptest.NewLogger(t), Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	return s
}

// serve runs s on a loopback port; stop cancels it and returns Serve's error.
func serve(t *testing.T, s *Server) (base string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln, nil) }()
	var once bool
	var result error
	stop = func() error {
		if !once {
			once = true
			cancel()
			result = <-errc
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + s.Addr().String(), stop
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openAPIDoc, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))
	var documented, served []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	for _, r := range s.Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	require.Equal(t, documented, served)
}

func TestOnePortServesHTTPGRPCAndWebSocket(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	base, stop := serve(t, s)

	r := call(t, "GET", base+"/health", "")
	require.Equal(t, 200, r.status)
	require.Contains(t, string(call(t, "GET", base+"/", "").body), "<html")

	// gRPC on the same port (grpc-go waits for SETTINGS: PITFALLS §1.1).
	cc, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	hc := healthpb.NewHealthClient(cc)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && res.Status == healthpb.HealthCheckResponse_SERVING
	}, 5*time.Second, 50*time.Millisecond)

	// A WebSocket upgrade on the same port reaches the hub, which answers init.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/simulation_live", nil)
	require.NoError(t, err)
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte(`{"type":"init","payload":{"protocol_version":"1.0"}}`)))
	_, msg, err := ws.Read(ctx)
	require.NoError(t, err)
	require.Contains(t, string(msg), `"type":"init"`)

	// Shutdown closes the WebSocket (going away) and drains cleanly.
	require.NoError(t, stop())
	_, _, err = ws.Read(ctx)
	require.Error(t, err)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	_, err = hc.Check(ctx2, &healthpb.HealthCheckRequest{})
	require.Error(t, err)
}

func TestGracefulShutdownFinishesInFlightRequest(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	base, stop := serve(t, s)
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		res, err := http.Post(base+"/simulate", "application/json", strings.NewReader(`{"grid_size":256,"steps":600}`))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		done <- result{status: res.StatusCode, body: string(b)}
	}()
	// Wait until the request is being served.
	require.Eventually(t, func() bool {
		return strings.Contains(string(call(t, "GET", base+"/metrics", "").body),
			`mfn_http_requests_in_progress{endpoint="/simulate",method="POST"} 1`)
	}, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, stop())
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, 200, r.status, r.body)
	require.Contains(t, r.body, "fractal_dimension")
	// The port is closed now.
	_, err := http.Get(base + "/health")
	require.Error(t, err)
}

func TestSeparateGRPCPort(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln, gln) }()
	require.Equal(t, 200, call(t, "GET", "http://"+s.Addr().String()+"/health", "").status)
	cc, err := grpc.NewClient(gln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	require.Eventually(t, func() bool {
		c, cl := context.WithTimeout(context.Background(), time.Second)
		defer cl()
		res, err := healthpb.NewHealthClient(cc).Check(c, &healthpb.HealthCheckRequest{})
		return err == nil && res.Status == healthpb.HealthCheckResponse_SERVING
	}, 5*time.Second, 50*time.Millisecond)
	cancel()
	require.NoError(t, <-errc)
}
