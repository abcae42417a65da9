package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"mfn/crypto"
	"mfn/internal/jobstest"
	"mfn/jobs"
	"mfn/server/envelope"
)

// startPool runs a real jobs.Pool for the test's lifetime.
func startPool(t testing.TB, cfg jobs.PoolConfig) *jobs.Pool { return jobstest.StartPool(t, cfg) }

// testREST serves the REST side (no hooks) on a real loopback listener.
func testREST(t testing.TB, cfg Config, run Runner) (*front, *httptest.Server) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	var lim *tokenLimiter
	if cfg.RateLimit.Enabled {
		lim = newTokenLimiter(cfg.RateLimit, nil)
	}
	var log = zaptest.NewLogger(t)
	if _, ok := t.(*testing.B); ok {
		log = nil
	}
	r, err := newFront(cfg, run, newKeyAuth(cfg.Auth), lim, nil, log, prometheus.NewRegistry())
	require.NoError(t, err)
	srv := httptest.NewServer(r.e)
	t.Cleanup(srv.Close)
	return r, srv
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), string(r.body))
	return m
}

func call(t testing.TB, method, url, body string, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(t, req, hdr...)
}

// send sets the header pairs hdr (name, value, …) on req, sends it and reads the answer.
func send(t testing.TB, req *http.Request, hdr ...string) resp {
	t.Helper()
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return resp{res.StatusCode, res.Header, b}
}

// requireEnvelope checks the §7.4 fields every error carries.
func requireEnvelope(t *testing.T, r resp, status int, code string) map[string]any {
	t.Helper()
	require.Equal(t, status, r.status, string(r.body))
	m := r.json(t)
	require.Equal(t, code, m["error_code"], string(r.body))
	require.NotEmpty(t, m["message"])
	require.NotNil(t, m["detail"])
	require.Equal(t, r.header.Get("X-Request-ID"), m["request_id"])
	require.NotEmpty(t, m["request_id"])
	_, err := time.Parse(time.RFC3339Nano, m["timestamp"].(string))
	require.NoError(t, err)
	return m
}

func TestHealth(t *testing.T) {
	_, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	r := call(t, "GET", srv.URL+"/health", "")
	require.Equal(t, 200, r.status)
	m := r.json(t)
	require.Equal(t, "healthy", m["status"])
	require.Equal(t, "4.1.0", m["version"])
	require.GreaterOrEqual(t, m["uptime_seconds"], 0.0)
	id := r.header.Get("X-Request-ID")
	require.Len(t, id, 36)
	require.Equal(t, 4, strings.Count(id, "-"))
	require.NotEqual(t, id, call(t, "GET", srv.URL+"/health", "").header.Get("X-Request-ID"))
	// A sane client id is echoed; an unsafe one is replaced.
	require.Equal(t, "custom-request-id-12345", call(t, "GET", srv.URL+"/health", "", "X-Request-ID", "custom-request-id-12345").header.Get("X-Request-ID"))
	require.Len(t, call(t, "GET", srv.URL+"/health", "", "X-Request-ID", "bad id\twith space").header.Get("X-Request-ID"), 36)
}

func TestNernst(t *testing.T) {
	_, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	r := call(t, "POST", srv.URL+"/nernst", `{"z_valence":1,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310.0}`)
	require.Equal(t, 200, r.status, string(r.body))
	require.InDelta(t, -89.01066911987907, r.json(t)["potential_mV"], 1e-9)
	// Defaults: z = 1 and 310 K when absent; unknown fields are ignored.
	r = call(t, "POST", srv.URL+"/nernst", `{"concentration_out_molar":0.005,"concentration_in_molar":0.14,"extra":"x"}`)
	require.Equal(t, 200, r.status, string(r.body))
	require.InDelta(t, -89.0107, r.json(t)["potential_mV"], 1e-4)
}

func TestSimulateMatchesDirectRun(t *testing.T) {
	_, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	for _, body := range []string{`{}`, `{"seed":42,"grid_size":32,"steps":32}`} {
		req := jobs.DefaultSimulateRequest()
		require.NoError(t, json.Unmarshal([]byte(body), &req))
		want, err := jobs.Execute(context.Background(), req)
		require.NoError(t, err)
		wantJSON, err := json.Marshal(want)
		require.NoError(t, err)
		r := call(t, "POST", srv.URL+"/simulate", body)
		require.Equal(t, 200, r.status, string(r.body))
		require.JSONEq(t, string(wantJSON), string(r.body))
		m := r.json(t)
		require.GreaterOrEqual(t, m["pot_min_mV"], -95.0)
		require.LessOrEqual(t, m["pot_max_mV"], 40.0)
	}
}

func TestValidateMatchesDirectRun(t *testing.T) {
	_, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	body := `{"seed":7,"epochs":1,"batch_size":4,"grid_size":16,"steps":8}`
	req := jobs.DefaultValidateRequest()
	require.NoError(t, json.Unmarshal([]byte(body), &req))
	want, err := jobs.Execute(context.Background(), req)
	require.NoError(t, err)
	wantJSON, _ := json.Marshal(want)
	r := call(t, "POST", srv.URL+"/validate", body)
	require.Equal(t, 200, r.status, string(r.body))
	require.JSONEq(t, string(wantJSON), string(r.body))
	require.InDelta(t, -89.0107, r.json(t)["nernst_numeric_mV"], 1e-3)
}

func TestFederated(t *testing.T) {
	_, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	r := call(t, "POST", srv.URL+"/federated/aggregate", `{"gradients":[[1,2,3],[1.1,2.1,3.1],[1.2,2.2,3.2],[10,10,10]],"num_clusters":2}`)
	require.Equal(t, 200, r.status, string(r.body))
	m := r.json(t)
	require.Equal(t, 4.0, m["num_input_gradients"])
	require.Len(t, m["aggregated_gradient"], 3)

	m = requireEnvelope(t, call(t, "POST", srv.URL+"/federated/aggregate", `{"gradients":[]}`), 400, envelope.CodeInvalid)
	require.Equal(t, "No gradients provided", m["detail"])
	m = requireEnvelope(t, call(t, "POST", srv.URL+"/federated/aggregate", `{"gradients":[[1,2],[1]]}`), 400, envelope.CodeInvalid)
	require.Contains(t, m["detail"], "same length")
	requireEnvelope(t, call(t, "POST", srv.URL+"/federated/aggregate", `{"gradients":[[1,2]],"byzantine_fraction":0.5}`), 400, envelope.CodeInvalid)
	m = requireEnvelope(t, call(t, "POST", srv.URL+"/federated/aggregate", `{}`), 422, envelope.CodeValidation)
	require.Equal(t, []any{"body", "gradients"}, m["detail"].([]any)[0].(map[string]any)["loc"])
}

func TestValidationErrors(t *testing.T) {
	_, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	cases := []struct {
		name, path, body string
		wantType         string
		wantLoc          []any
		wantItems        int
	}{
		{"A3 both missing", "/nernst", `{}`, "missing", []any{"body", "concentration_out_molar"}, 2},
		{"A4 grid too small", "/simulate", `{"grid_size":4}`, "greater_than_equal", []any{"body", "grid_size"}, 1},
		{"steps too big", "/simulate", `{"steps":1001}`, "less_than_equal", []any{"body", "steps"}, 1},
		{"alpha out of range", "/simulate", `{"alpha":1.5}`, "less_than_equal", []any{"body", "alpha"}, 1},
		{"negative seed", "/validate", `{"seed":-1}`, "greater_than_equal", []any{"body", "seed"}, 1},
		{"temperature", "/nernst", `{"concentration_out_molar":1,"concentration_in_molar":1,"temperature_k":400}`, "less_than_equal", []any{"body", "temperature_k"}, 1},
		{"zero concentration", "/nernst", `{"concentration_out_molar":0,"concentration_in_molar":1}`, "greater_than", []any{"body", "concentration_out_molar"}, 1},
		{"string for int", "/simulate", `{"grid_size":"64"}`, "int_type", []any{"body", "grid_size"}, 1},
		{"fraction for int", "/simulate", `{"steps":3.5}`, "int_from_float", []any{"body", "steps"}, 1},
		{"string for bool", "/simulate", `{"turing_enabled":"yes"}`, "bool_type", []any{"body", "turing_enabled"}, 1},
		{"null for int", "/simulate", `{"grid_size":null}`, "int_type", []any{"body", "grid_size"}, 1},
		{"null in gradients", "/federated/aggregate", `{"gradients":[[1,null]]}`, "float_type", []any{"body", "gradients", 0.0, 1.0}, 1},
		{"bad json", "/simulate", `{"grid_size":`, "json_invalid", nil, 1},
		{"trailing data", "/simulate", `{} x`, "json_invalid", nil, 1},
		{"NaN token", "/simulate", `{"alpha":NaN}`, "json_invalid", nil, 1},
		{"array body", "/simulate", `[1,2]`, "model_attributes_type", []any{"body"}, 1},
		{"empty body", "/simulate", ``, "missing", []any{"body"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := requireEnvelope(t, call(t, "POST", srv.URL+tc.path, tc.body), 422, envelope.CodeValidation)
			items := m["detail"].([]any)
			require.Len(t, items, tc.wantItems)
			it := items[0].(map[string]any)
			require.Equal(t, tc.wantType, it["type"])
			require.NotEmpty(t, it["msg"])
			if tc.wantLoc != nil {
				require.Equal(t, tc.wantLoc, it["loc"])
			}
			require.Equal(t, fmt.Sprintf("Validation failed: %d error(s)", tc.wantItems), m["message"])
		})
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	_, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	m := requireEnvelope(t, call(t, "GET", srv.URL+"/nope", ""), 404, envelope.CodeNotFound)
	require.Equal(t, "Not Found", m["detail"])
	m = requireEnvelope(t, call(t, "GET", srv.URL+"/nernst", ""), 405, envelope.CodeMethod)
	require.Equal(t, "Method Not Allowed", m["detail"])
	requireEnvelope(t, call(t, "POST", srv.URL+"/health", "{}"), 405, envelope.CodeMethod)
}

func authCfg() Config {
	cfg := DefaultConfig()
	cfg.Auth = AuthConfig{Required: true, Keys: []string{"test-valid-key-12345", "key2", "key3"}}
	return cfg
}

func TestAuth(t *testing.T) {
	_, srv := testREST(t, authCfg(), startPool(t, jobs.PoolConfig{}))
	body := `{"concentration_out_molar":0.005,"concentration_in_molar":0.14}`
	for _, p := range []string{"/nernst", "/simulate", "/validate", "/federated/aggregate", "/api/sign"} {
		r := call(t, "POST", srv.URL+p, body)
		m := requireEnvelope(t, r, 401, envelope.CodeAuth)
		require.Equal(t, "Invalid or missing API key", m["detail"])
		require.Equal(t, `API-Key header="X-API-Key"`, r.header.Get("WWW-Authenticate"))
	}
	requireEnvelope(t, call(t, "POST", srv.URL+"/nernst", body, "X-API-Key", "wrong"), 401, envelope.CodeAuth)
	requireEnvelope(t, call(t, "POST", srv.URL+"/nernst", body, "X-API-Key", ""), 401, envelope.CodeAuth)
	for _, k := range []string{"test-valid-key-12345", "key2", "key3"} {
		require.Equal(t, 200, call(t, "POST", srv.URL+"/nernst", body, "X-API-Key", k).status)
	}
	for _, p := range []string{"/health", "/metrics", "/openapi.json", "/ready"} {
		require.Equal(t, 200, call(t, "GET", srv.URL+p, "").status, p)
	}
	// Exact matching: look-alikes of public paths are protected, and so are unknown paths.
	for _, p := range []string{"/healthz", "/health/", "/metrics/x", "/nope"} {
		requireEnvelope(t, call(t, "GET", srv.URL+p, ""), 401, envelope.CodeAuth)
	}
}

func TestKeyAuthFailsClosed(t *testing.T) {
	a := newKeyAuth(AuthConfig{Required: true})
	require.False(t, a.Valid(""))
	require.False(t, a.Valid("anything"))
	b := newKeyAuth(AuthConfig{Keys: []string{"k"}})
	require.True(t, b.Valid("k"))
	require.False(t, b.Valid("k "))
	require.False(t, b.Valid(""))
}

func TestRateLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit.Enabled = true
	cfg.RateLimit.Requests = 2
	_, srv := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
	for i := 0; i < 2; i++ {
		r := call(t, "GET", srv.URL+"/openapi.json", "")
		require.Equal(t, 200, r.status)
		require.Equal(t, "2", r.header.Get("X-RateLimit-Limit"))
		require.Equal(t, fmt.Sprint(1-i), r.header.Get("X-RateLimit-Remaining"))
	}
	// X-Forwarded-For from an untrusted peer does not change the identity.
	r := call(t, "GET", srv.URL+"/openapi.json", "", "X-Forwarded-For", "203.0.113.9")
	m := requireEnvelope(t, r, 429, envelope.CodeRateLimit)
	require.Equal(t, "Rate limit exceeded", m["detail"])
	require.Equal(t, "0", r.header.Get("X-RateLimit-Remaining"))
	require.Equal(t, "2", r.header.Get("X-RateLimit-Limit"))
	// 2 tokens per 60 s: an empty bucket refills one token in 30 s → floor(30)+1, minus
	// the sliver that has refilled since.
	require.InDelta(t, 30, m["retry_after"], 1)
	require.Equal(t, fmt.Sprint(m["retry_after"]), r.header.Get("Retry-After"))
	// Per-path limits: /health has its own bucket of 1000.
	r = call(t, "GET", srv.URL+"/health", "")
	require.Equal(t, 200, r.status)
	require.Equal(t, "1000", r.header.Get("X-RateLimit-Limit"))
}

func TestRateLimitTrustedProxy(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit.Enabled = true
	cfg.RateLimit.Requests = 1
	cfg.RateLimit.TrustedProxies = []string{"127.0.0.0/8", "::1"}
	_, srv := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
	require.Equal(t, 200, call(t, "GET", srv.URL+"/openapi.json", "", "X-Forwarded-For", "203.0.113.1").status)
	require.Equal(t, 429, call(t, "GET", srv.URL+"/openapi.json", "", "X-Forwarded-For", "203.0.113.1").status)
	// Another client behind the same proxy has its own bucket.
	require.Equal(t, 200, call(t, "GET", srv.URL+"/openapi.json", "", "X-Forwarded-For", "198.51.100.7, 127.0.0.1").status)
}

func TestTokenLimiterEvictsIdleBuckets(t *testing.T) {
	now := time.Unix(1000, 0)
	cfg := DefaultConfig().RateLimit
	cfg.Requests, cfg.IdleEvict = 5, time.Minute
	l := newTokenLimiter(cfg, func() time.Time { return now })
	for i := 0; i < 5; i++ {
		ok, rem, _ := l.take("a", 5)
		require.True(t, ok)
		require.Equal(t, 4-i, rem)
	}
	ok, _, retry := l.take("a", 5)
	require.False(t, ok)
	require.Equal(t, 13, retry) // limit 5, window 60, empty bucket (api-contract §6)
	now = now.Add(2 * time.Minute)
	ok, _, _ = l.take("b", 5)
	require.True(t, ok)
	require.Equal(t, 1, l.size())
}

func TestBodyLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 1024
	_, srv := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
	big := `{"gradients":[[` + strings.Repeat("1,", 1000) + `1]]}`
	requireEnvelope(t, call(t, "POST", srv.URL+"/federated/aggregate", big), 413, envelope.CodeTooLarge)
	// Chunked (no Content-Length) is cut at the limit too.
	req, _ := http.NewRequest("POST", srv.URL+"/federated/aggregate", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 413, res.StatusCode)
}

// busyPool keeps a 1-worker, 1-slot pool full of long simulations until cancel.
func busyPool(url string) (cancel func()) {
	ctx, cancelFn := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "POST", url+"/simulate", strings.NewReader(`{"grid_size":256,"steps":1000}`))
				req.Header.Set("Content-Type", "application/json")
				if res, err := http.DefaultClient.Do(req); err == nil {
					res.Body.Close()
				}
			}
		})
	}
	return func() { cancelFn(); wg.Wait() }
}

func TestBusyPool(t *testing.T) {
	_, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{Workers: 1, QueueSize: 1}))
	stop := busyPool(srv.URL)
	defer stop()
	// A probe that lands in a moment when a slot is free waits behind a simulation:
	// give up on it quickly and probe again.
	// The probe is as costly as the jobs filling the pool: cheap jobs have their own lane
	// and are not refused because costly ones fill the queue (checked below).
	quick := &http.Client{Timeout: 300 * time.Millisecond}
	var r resp
	require.Eventually(t, func() bool {
		res, err := quick.Post(srv.URL+"/simulate", "application/json",
			strings.NewReader(`{"grid_size":256,"steps":1000}`))
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		r = resp{res.StatusCode, res.Header, b}
		return r.status == 503
	}, 20*time.Second, 5*time.Millisecond)
	requireEnvelope(t, r, 503, envelope.CodeUnavailable)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.Equal(t, 200, call(t, "POST", srv.URL+"/nernst", `{"concentration_out_molar":0.005,"concentration_in_molar":0.14}`).status)
	// Health and metrics never go through the pool: they answer while it is full.
	require.Equal(t, 200, call(t, "GET", srv.URL+"/health", "").status)
	require.Equal(t, 200, call(t, "GET", srv.URL+"/metrics", "").status)
}

func TestPanicIsConfinedToItsRequest(t *testing.T) {
	r, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	r.e.GET("/test-panic", func(echo.Context) error { panic("secret internal detail") })
	res := call(t, "GET", srv.URL+"/test-panic", "")
	m := requireEnvelope(t, res, 500, envelope.CodeInternal)
	require.NotContains(t, string(res.body), "secret")
	require.Equal(t, envelope.MsgInternal, m["detail"])
	require.Equal(t, 200, call(t, "GET", srv.URL+"/health", "").status)
}

func TestCORS(t *testing.T) {
	_, srv := testREST(t, authCfg(), startPool(t, jobs.PoolConfig{}))
	// Preflight to a protected path is answered before auth.
	r := call(t, "OPTIONS", srv.URL+"/nernst", "", "Origin", "http://localhost:3000",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "X-API-Key, Content-Type")
	require.Equal(t, 200, r.status)
	require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.header.Get("Access-Control-Allow-Methods"), "POST")
	require.Equal(t, "X-API-Key, Content-Type", r.header.Get("Access-Control-Allow-Headers"))
	require.Equal(t, "600", r.header.Get("Access-Control-Max-Age"))
	// Even a 401 carries CORS headers and the request id.
	r = call(t, "POST", srv.URL+"/nernst", "{}", "Origin", "http://localhost:3000")
	require.Equal(t, 401, r.status)
	require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.header.Get("Access-Control-Expose-Headers"), "X-Request-ID")

	cfg := DefaultConfig()
	cfg.CORS.Origins = []string{"http://localhost:3000"}
	_, srv2 := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
	r = call(t, "GET", srv2.URL+"/health", "", "Origin", "http://localhost:3000")
	require.Equal(t, "http://localhost:3000", r.header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "true", r.header.Get("Access-Control-Allow-Credentials"))
	r = call(t, "OPTIONS", srv2.URL+"/health", "", "Origin", "http://evil.example", "Access-Control-Request-Method", "GET")
	require.Equal(t, 400, r.status)
	require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))

	cfg.CORS.Origins = nil // prod: no CORS at all
	_, srv3 := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
	r = call(t, "GET", srv3.URL+"/health", "", "Origin", "http://localhost:3000")
	require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
}

func TestMetricsCountEveryResponse(t *testing.T) {
	_, srv := testREST(t, authCfg(), startPool(t, jobs.PoolConfig{}))
	call(t, "POST", srv.URL+"/nernst", `{}`)                      // 401
	call(t, "POST", srv.URL+"/api/sign", `{}`)                    // 401
	call(t, "GET", srv.URL+"/whatever", ``, "X-API-Key", "key2")  // 404
	call(t, "POST", srv.URL+"/nernst", `{}`, "X-API-Key", "key2") // 422
	r := call(t, "GET", srv.URL+"/metrics", "")
	require.Contains(t, r.header.Get("Content-Type"), "text/plain")
	body := string(r.body)
	for _, want := range []string{
		`mfn_http_requests_total{endpoint="/nernst",method="POST",status="401"} 1`,
		`mfn_http_requests_total{endpoint="/api/sign",method="POST",status="401"} 1`,
		`mfn_http_requests_total{endpoint="/other",method="GET",status="404"} 1`,
		`mfn_http_requests_total{endpoint="/nernst",method="POST",status="422"} 1`,
		`mfn_http_request_duration_seconds_bucket{endpoint="/nernst",method="POST",le="0.005"}`,
		`mfn_http_requests_in_progress{endpoint="/metrics",method="GET"} 1`,
	} {
		require.Contains(t, body, want)
	}
}

func TestEndpointLabel(t *testing.T) {
	for in, want := range map[string]string{
		"/health": "/health", "/health/x": "/health", "/healthz": "/other", "/api/encrypt": "/api/encrypt",
		"/": "/", "/x": "/other", "/federated/aggregate": "/federated/aggregate",
	} {
		require.Equal(t, want, endpointLabel(in), in)
	}
}

func TestReady(t *testing.T) {
	failing := fmt.Errorf("broker unreachable")
	var mu sync.Mutex
	cfg := DefaultConfig()
	r, err := newFront(cfg, startPool(t, jobs.PoolConfig{}), newKeyAuth(cfg.Auth), nil, []ReadyCheck{{Name: "pipelines", Check: func() error {
		mu.Lock()
		defer mu.Unlock()
		return failing
	}}}, zaptest.NewLogger(t), prometheus.NewRegistry())
	require.NoError(t, err)
	srv := httptest.NewServer(r.e)
	defer srv.Close()
	m := requireEnvelope(t, call(t, "GET", srv.URL+"/ready", ""), 503, envelope.CodeUnavailable)
	require.Contains(t, m["detail"], "pipelines")
	require.Equal(t, "broker unreachable", m["checks"].(map[string]any)["pipelines"])
	mu.Lock()
	failing = nil
	mu.Unlock()
	require.Equal(t, 200, call(t, "GET", srv.URL+"/ready", "").status)
	r.draining.Store(true)
	requireEnvelope(t, call(t, "GET", srv.URL+"/ready", ""), 503, envelope.CodeUnavailable)
}

func TestConfigValidate(t *testing.T) {
	key32 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	cases := []struct {
		name   string
		mutate func(*Config)
		errSub string
	}{
		{"default ok", func(*Config) {}, ""},
		{"bad addr", func(c *Config) { c.Addr = "nope" }, "addr:"},
		{"bad port", func(c *Config) { c.Addr = ":70000" }, "addr:"},
		{"auth without keys", func(c *Config) { c.Auth.Required = true }, "auth.keys"},
		{"zero requests", func(c *Config) { c.RateLimit.Requests = 0 }, "rate_limit.requests: must be > 0"},
		{"zero window", func(c *Config) { c.RateLimit.WindowSeconds = 0 }, "rate_limit.window_seconds"},
		{"bad proxy", func(c *Config) { c.RateLimit.TrustedProxies = []string{"x"} }, "rate_limit.trusted_proxies"},
		{"body limit", func(c *Config) { c.MaxBodyBytes = 0 }, "max_body_bytes"},
		{"cors origin", func(c *Config) { c.CORS.Origins = []string{"localhost"} }, "cors.origins[0]"},
		{"chacha", func(c *Config) { c.Crypto.Algorithm = "ChaCha20-Poly1305" }, "crypto.algorithm"},
		{"ecdsa", func(c *Config) { c.Crypto.SignatureAlgorithm = "ECDSA" }, "crypto.signature_algorithm"},
		{"key size", func(c *Config) { c.Crypto.KeySizeBits = 100 }, "crypto.key_size_bits"},
		{"aes key ok", func(c *Config) {
			c.Crypto.Keys = []crypto.Key{{ID: "k1", Type: "aes", Key: key32}}
			c.Crypto.DefaultEncryptionKey = "k1"
		}, ""},
		{"aes key short", func(c *Config) { c.Crypto.Keys = []crypto.Key{{ID: "k1", Type: "aes", Key: "AAAA"}} }, "crypto.keys[0].key"},
		{"default sig not loaded", func(c *Config) { c.Crypto.DefaultSignatureKey = "x" }, "crypto.default_signature_key"},
		{"no key quota", func(c *Config) { c.Crypto.MaxKeysPerClient = 0 }, "crypto.max_keys_per_client"},
		{"key quota above store", func(c *Config) { c.Crypto.MaxKeysPerClient = c.Crypto.MaxKeys + 1 }, "crypto.max_keys_per_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.errSub == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.errSub)
		})
	}
}

// TestReadyHidesReasonsWithoutKey: with auth on, an anonymous prober (the kubelet) sees
// which checks fail but not their text, which may name brokers; a keyed caller sees it.
func TestReadyHidesReasonsWithoutKey(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Auth.Required, cfg.Auth.Keys = true, []string{"k"}
	r, err := newFront(cfg, startPool(t, jobs.PoolConfig{}), newKeyAuth(cfg.Auth), nil, []ReadyCheck{{Name: "pipelines",
		Check: func() error { return fmt.Errorf("kafka 10.0.0.7:9092 unreachable") }}}, zaptest.NewLogger(t), prometheus.NewRegistry())
	require.NoError(t, err)
	srv := httptest.NewServer(r.e)
	defer srv.Close()

	m := requireEnvelope(t, call(t, "GET", srv.URL+"/ready", ""), 503, envelope.CodeUnavailable)
	require.Contains(t, m["detail"], "pipelines")
	require.Equal(t, "failing", m["checks"].(map[string]any)["pipelines"])
	require.NotContains(t, fmt.Sprint(m), "10.0.0.7")

	m = requireEnvelope(t, call(t, "GET", srv.URL+"/ready", "", "X-API-Key", "k"), 503, envelope.CodeUnavailable)
	require.Equal(t, "kafka 10.0.0.7:9092 unreachable", m["checks"].(map[string]any)["pipelines"])
}
