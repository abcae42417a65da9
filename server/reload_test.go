package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"mfn/jobs"
)

// gatedRunner holds the first job at the door until released, so that a test can change
// the configuration while a request is provably in flight. Later jobs pass straight through.
type gatedRunner struct {
	Runner
	once             sync.Once
	entered, release chan struct{}
}

func (g *gatedRunner) Do(ctx context.Context, req jobs.Request) (jobs.Result, error) {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		<-g.release
	}
	return g.Runner.Do(ctx, req)
}

// TestReloadRotatesKeysWithRequestInFlight: a key rotation applies to the next request on
// every transport's authenticator, without a restart, while a request admitted under the
// old key completes.
func TestReloadRotatesKeysWithRequestInFlight(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Auth = AuthConfig{Required: true, Keys: []string{"old"}}
	run := &gatedRunner{Runner: startPool(t, jobs.PoolConfig{}), entered: make(chan struct{}), release: make(chan struct{})}
	srv, err := New(Params{HTTP: cfg, GRPC: DefaultGRPCConfig(), WS: DefaultWSConfig(), Runner: run,
		Log: zaptest.NewLogger(t), Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	nernst := func(key string) int {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/nernst",
			strings.NewReader(`{"concentration_out_molar":0.005,"concentration_in_molar":0.14}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", key)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	inFlight := make(chan int, 1)
	go func() { inFlight <- nernst("old") }()
	<-run.entered // authenticated with "old", now inside the job

	next := cfg
	next.Auth.Keys = []string{"new"}
	require.NoError(t, srv.Reload(next))

	require.Equal(t, http.StatusUnauthorized, nernst("old"), "the old key is refused at once")
	require.Equal(t, http.StatusOK, nernst("new"))
	live := livePolicy{&srv.front.pol} // what the gRPC interceptors and the WebSocket hub hold
	require.True(t, live.Valid("new"))
	require.False(t, live.Valid("old"))

	close(run.release)
	require.Equal(t, http.StatusOK, <-inFlight, "the request in flight completes")
}

// TestReloadRateLimitCORSAndTrustedProxies: rate limiting switched on, CORS origins
// changed and proxies trusted, all without a restart; an invalid config changes nothing.
func TestReloadRateLimitCORSAndTrustedProxies(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CORS.Origins = nil
	srv, err := New(Params{HTTP: cfg, GRPC: DefaultGRPCConfig(), WS: DefaultWSConfig(),
		Runner: startPool(t, jobs.PoolConfig{}), Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	get := func(origin, xff string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
		req.RemoteAddr = "10.1.2.3:5555"
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	require.Empty(t, get("https://app.example", "").Header().Get("Access-Control-Allow-Origin"))
	for range 3 {
		require.Equal(t, http.StatusOK, get("", "").Code, "rate limiting is off")
	}

	next := cfg
	next.CORS.Origins = []string{"https://app.example"}
	next.RateLimit.Enabled, next.RateLimit.Requests, next.RateLimit.PerPath = true, 1, nil
	next.RateLimit.TrustedProxies = []string{"10.0.0.0/8"}
	require.NoError(t, srv.Reload(next))

	require.Equal(t, "https://app.example", get("https://app.example", "198.51.100.1").Header().Get("Access-Control-Allow-Origin"))
	require.Equal(t, http.StatusTooManyRequests, get("", "198.51.100.1").Code, "one request per window")
	require.Equal(t, http.StatusOK, get("", "198.51.100.2").Code, "another client behind the trusted proxy")

	bad := next
	bad.RateLimit.TrustedProxies = []string{"not-an-address"}
	err = srv.Reload(bad)
	require.ErrorContains(t, err, "trusted_proxies")
	require.Equal(t, http.StatusTooManyRequests, get("", "198.51.100.2").Code, "the running policy (and its buckets) stay")

	// Unchanged limits keep their buckets: a reload is not a way to reset a client's quota.
	same := next
	same.CORS.Origins = []string{"https://other.example"}
	require.NoError(t, srv.Reload(same))
	require.Equal(t, http.StatusTooManyRequests, get("", "198.51.100.2").Code)
}

// TestHealthReportsConfigHash: /health carries the hash once set, and the build version.
func TestHealthReportsConfigHash(t *testing.T) {
	srv, err := New(Params{HTTP: DefaultConfig(), GRPC: DefaultGRPCConfig(), WS: DefaultWSConfig(),
		Runner: startPool(t, jobs.PoolConfig{}), Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	health := func() map[string]any {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
		var m map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
		return m
	}
	m := health()
	require.Equal(t, "4.1.0", m["version"])
	require.NotEmpty(t, m["build_version"])
	require.NotContains(t, m, "config_hash", "no file, no hash")
	srv.SetConfigHash("abc123")
	require.Equal(t, "abc123", health()["config_hash"])
}
