package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"mfn/jobs"
)

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// TestAdminListener: metrics, pprof and the config view on the admin port; a clean stop.
func TestAdminListener(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "mfn_admin_test_total", Help: "x"})
	reg.MustRegister(c)
	a := NewAdmin(AdminParams{Gatherer: reg, Config: func() any { return map[string]any{"server.auth.keys": "<1 redacted>"} }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	base := "http://" + a.Addr().String()

	tests := []struct {
		path, contains string
		status         int
	}{
		{"/metrics", "mfn_admin_test_total 0", 200},
		{"/debug/pprof/", "goroutine", 200},
		{"/debug/pprof/heap?debug=1", "heap profile", 200},
		{"/debug/pprof/cmdline", "", 200},
		{"/config", `"server.auth.keys": "\u003c1 redacted\u003e"`, 200},
		{"/nernst", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body := getStatus(t, base+tt.path)
			require.Equal(t, tt.status, code)
			require.Contains(t, body, tt.contains)
		})
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("admin listener did not stop")
	}
}

// TestMetricsMainPortSwitch: /metrics leaves the main port with metrics.main_port: false;
// pprof is never there.
func TestMetricsMainPortSwitch(t *testing.T) {
	for _, mainPort := range []bool{true, false} {
		pool, err := jobs.NewPool(jobs.DefaultPoolConfig(), nil)
		require.NoError(t, err)
		cfg := DefaultConfig()
		cfg.Metrics.MainPort = mainPort
		s, err := New(Params{HTTP: cfg, GRPC: DefaultGRPCConfig(), WS: DefaultWSConfig(), Runner: pool, Registry: prometheus.NewRegistry()})
		require.NoError(t, err)
		ts := httptest.NewServer(s.Handler())
		code, _ := getStatus(t, ts.URL+"/metrics")
		require.Equal(t, map[bool]int{true: 200, false: 404}[mainPort], code, "main_port %t", mainPort)
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/config"} {
			code, _ = getStatus(t, ts.URL+p)
			require.Equal(t, 404, code, p)
		}
		ts.Close()
	}
}
