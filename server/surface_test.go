package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"mfn/crypto"
	"mfn/jobs"
	"mfn/server/envelope"
)

// The request surface of issue 9 (item 6 and the smaller defects of item 9), each
// against a real server on a loopback port with real clients.

// countingRunner counts the jobs that reach the real pool.
type countingRunner struct {
	Runner
	n atomic.Int64
}

func (c *countingRunner) Do(ctx context.Context, req jobs.Request) (jobs.Result, error) {
	c.n.Add(1)
	return c.Runner.Do(ctx, req)
}

// surfaceServer serves the whole port (REST, images, WebSocket, gRPC) over a real pool
// wrapped in a counting Runner.
func surfaceServer(t *testing.T, cfg Config) (string, *countingRunner) {
	t.Helper()
	run := &countingRunner{Runner: startPool(t, jobs.PoolConfig{})}
	s, err := New(Params{HTTP: cfg, GRPC: DefaultGRPCConfig(), WS: DefaultWSConfig(), Runner: run,
		Log: zaptest.NewLogger(t), Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	base, _ := serve(t, s)
	return base, run
}

// post sends body with the given Content-Type ("" sends none) and extra headers.
func postCT(t *testing.T, url, contentType, body string, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return send(t, req, hdr...)
}

// A browser's cross-site "simple request" (text/plain, form types, or an untyped Blob
// with no Content-Type at all) must not run a job, even with auth off (dev).
// Before: 200, the simulation ran. After: 415 UNSUPPORTED_MEDIA_TYPE, no job.
func TestCrossSiteSimpleRequestRunsNoJob(t *testing.T) {
	base, run := surfaceServer(t, DefaultConfig())
	const body = `{"seed":1,"grid_size":16,"steps":4}`
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "", "application/jsonx", "application/json-seq", "json", "application/",
		"text/json", "application/xml", "application/json; charset=utf-8; =bad"} {
		t.Run(ct, func(t *testing.T) {
			for _, p := range []string{"/simulate", "/validate", "/nernst", "/federated/aggregate", "/simulate/image",
				"/simulate/animation", "/api/encrypt", "/api/decrypt", "/api/sign", "/api/verify", "/api/keypair"} {
				m := requireEnvelope(t, postCT(t, base+p, ct, body), http.StatusUnsupportedMediaType, envelope.CodeMediaType)
				require.Contains(t, m["detail"], "Content-Type must be application/json", p)
			}
		})
	}
	require.Zero(t, run.n.Load(), "a refused request reached the pool")

	// JSON types with parameters, any case, and +json types are JSON.
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON",
		"application/vnd.mfn+json", "application/merge-patch+json; charset=UTF-8"} {
		r := postCT(t, base+"/simulate", ct, body)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", ct, r.body)
	}
	require.EqualValues(t, 5, run.n.Load())
	// A POST without a body keeps the reference's 422 "Field required", Content-Type or not.
	for _, ct := range []string{"", "text/plain"} {
		m := requireEnvelope(t, postCT(t, base+"/simulate", ct, ""), http.StatusUnprocessableEntity, envelope.CodeValidation)
		require.Equal(t, "missing", m["detail"].([]any)[0].(map[string]any)["type"])
	}
	// GET routes need no Content-Type.
	require.Equal(t, http.StatusOK, call(t, "GET", base+"/health", "").status)
	require.Equal(t, http.StatusOK, call(t, "GET", base+"/openapi.json", "").status)
	require.EqualValues(t, 5, run.n.Load())
}

// JSON keys match exactly, as in the reference (unknown keys are ignored): "STEPS",
// "Steps" and "ſteps" (U+017F folds to s) are not steps. Before: encoding/json folded
// them onto steps, so {"STEPS":0} was a 422 on steps and {"STEPS":5} ran 5 steps.
// After: ignored.
func TestJSONKeysMatchExactly(t *testing.T) {
	base, _ := surfaceServer(t, DefaultConfig())
	for _, body := range []string{`{"STEPS":0}`, `{"Steps":0}`, `{"ſteps":0}`, `{"ſteps":0,"xalpha":[1]}`,
		`{"GRID_SIZE":4}`, `{"grid_ſize":4}`, `{"threshold_mv":1000}`, `{"Seed":-1}`, `{"steps":2,"sTeps":"x"}`} {
		r := call(t, "POST", base+"/simulate", body)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", body, r.body)
	}
	// An escaped key that spells a field exactly is that field.
	m := requireEnvelope(t, call(t, "POST", base+"/simulate", `{"st\u0065ps":0}`), 422, envelope.CodeValidation)
	require.Equal(t, []any{"body", "steps"}, m["detail"].([]any)[0].(map[string]any)["loc"])
	// The decoded values: an inexact key never changes a field, an exact one does.
	for _, tc := range []struct {
		body string
		want func(*jobs.SimulateRequest)
	}{
		{`{"STEPS":5}`, func(*jobs.SimulateRequest) {}},
		{`{"ſteps":5,"Turing_Enabled":false,"gradients":[[1]]}`, func(*jobs.SimulateRequest) {}},
		{`{"steps":5,"STEPS":6}`, func(r *jobs.SimulateRequest) { r.Steps = 5 }},
		{`{"Steps":6,"steps":5,"x":{"steps":7}}`, func(r *jobs.SimulateRequest) { r.Steps = 5 }},
		{`{"threshold_mv":1,"threshold_mV":-61}`, func(r *jobs.SimulateRequest) { r.ThresholdMV = -61 }},
	} {
		got, want := jobs.DefaultSimulateRequest(), jobs.DefaultSimulateRequest()
		tc.want(&want)
		require.NoError(t, jobs.Decode([]byte(tc.body), &got), tc.body)
		require.Equal(t, want, got, tc.body)
	}
	// The crypto bodies too: "Key_ID" is not key_id, so no 404 for an unknown key.
	r := call(t, "POST", base+"/api/encrypt", `{"plaintext":"AAAA","Key_ID":"nope"}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
}

// {"seed": 2^63} is out of range, not a fraction. Before: 422 int_from_float "got a
// number with a fractional part". After: 422 less_than_equal naming seed and the bound.
func TestSeedBeyondInt64IsARangeError(t *testing.T) {
	base, run := surfaceServer(t, DefaultConfig())
	for _, p := range []string{"/simulate", "/validate", "/simulate/image", "/simulate/animation"} {
		m := requireEnvelope(t, call(t, "POST", base+p, `{"seed":9223372036854775808}`), 422, envelope.CodeValidation)
		it := m["detail"].([]any)[0].(map[string]any)
		require.Equal(t, "less_than_equal", it["type"], p)
		require.Equal(t, []any{"body", "seed"}, it["loc"], p)
		require.Equal(t, "Input should be less than or equal to 9223372036854775807", it["msg"], p)
		require.Equal(t, map[string]any{"le": 9223372036854775807.0}, it["ctx"], p)
		require.Equal(t, 9223372036854775808.0, it["input"], p)
	}
	m := requireEnvelope(t, call(t, "POST", base+"/simulate", `{"seed":-99999999999999999999}`), 422, envelope.CodeValidation)
	require.Equal(t, "greater_than_equal", m["detail"].([]any)[0].(map[string]any)["type"])
	m = requireEnvelope(t, call(t, "POST", base+"/simulate", `{"seed":1.5}`), 422, envelope.CodeValidation)
	require.Equal(t, "int_from_float", m["detail"].([]any)[0].(map[string]any)["type"])
	require.Zero(t, run.n.Load())
}

// /simulate/image and /simulate/animation decode with /simulate's decoder. Before: the
// image routes had their own, which took {"steps":null} as the default and reported type
// errors differently. After: the same 422 items on all three routes.
func TestImageRoutesShareTheSimulateDecoder(t *testing.T) {
	base, _ := surfaceServer(t, DefaultConfig())
	for _, body := range []string{`{"steps":null}`, `{"steps":"5"}`, `{"steps":1.5}`, `{"seed":9223372036854775808}`,
		`{"grid_size":[64]}`, `{"turing_enabled":1}`, `{"alpha":null,"steps":null}`, `[]`, `null`, ``, `{"steps":5} x`,
		`{"grid_size":4}`} {
		want := requireEnvelope(t, call(t, "POST", base+"/simulate", body), 422, envelope.CodeValidation)["detail"]
		for _, p := range []string{"/simulate/image", "/simulate/animation"} {
			got := requireEnvelope(t, call(t, "POST", base+p, body), 422, envelope.CodeValidation)["detail"]
			require.Equal(t, want, got, "%s %s", p, body)
		}
	}
	// The picture's own fields go through it too: null and type errors name them.
	for _, body := range []string{`{"size":null}`, `{"every":"2"}`, `{"delay_ms":1.5}`, `{"min_mV":null}`} {
		m := requireEnvelope(t, call(t, "POST", base+"/simulate/animation", body), 422, envelope.CodeValidation)
		field := strings.Trim(strings.SplitN(body[1:], ":", 2)[0], `"`)
		require.Equal(t, []any{"body", field}, m["detail"].([]any)[0].(map[string]any)["loc"], body)
	}
}

// The picture routes cost a /simulate and more, so their buckets are smaller than its
// 50. Before: the default 100/min. After: /simulate/image 20, /simulate/animation 10.
func TestImageRoutesHaveSmallerRateBuckets(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit.Enabled = true
	base, _ := surfaceServer(t, cfg)
	for p, n := range map[string]int{"/simulate/image": 20, "/simulate/animation": 10} {
		require.LessOrEqual(t, n, DefaultPerPathLimits()["/simulate"])
		require.Equal(t, n, DefaultPerPathLimits()[p])
		for i := 0; i < n; i++ {
			r := call(t, "POST", base+p, `{"grid_size":4}`) // a 422 still takes a token, and runs nothing
			require.Equal(t, 422, r.status, p)
			require.Equal(t, fmt.Sprint(n), r.header.Get("X-RateLimit-Limit"), p)
		}
		requireEnvelope(t, call(t, "POST", base+p, `{"grid_size":4}`), 429, envelope.CodeRateLimit)
	}
}

// One client cannot fill the key store for everyone. Before: 1000 /api/keypair calls
// filled it for good, and from then on every client got 507, /api/encrypt without
// key_id included. After: a client beyond max_keys_per_client recycles its own least
// recently used keys, a full store evicts the least recently used generated key, and
// configured and default keys stay.
func TestCryptoStoreCannotBeFilled(t *testing.T) {
	t.Run("one client", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Auth = AuthConfig{Required: true, Keys: []string{"attacker", "victim"}}
		cfg.Crypto.MaxKeys, cfg.Crypto.MaxKeysPerClient = 20, 5
		cfg.Crypto.Keys = []crypto.Key{{ID: "conf", Type: "aes", Key: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))}}
		r, srv := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
		victim := func(path, body string) resp { return call(t, "POST", srv.URL+path, body, "X-API-Key", "victim") }
		require.Equal(t, 200, victim("/api/keypair", `{"key_id":"v-sign"}`).status) // becomes the default signing key
		require.Equal(t, 200, victim("/api/keypair", `{"key_id":"v-kx","algorithm":"ECDH"}`).status)
		enc := victim("/api/encrypt", fmt.Sprintf(`{"plaintext":%q}`, b64s("hi"))) // creates the default AES key
		require.Equal(t, 200, enc.status)
		for i := 0; i < 200; i++ {
			a := call(t, "POST", srv.URL+"/api/keypair", `{}`, "X-API-Key", "attacker")
			require.Equal(t, 200, a.status, "keypair %d: %s", i, a.body)
		}
		require.Equal(t, 5, r.keys.OwnedBy("k:attacker"))
		require.LessOrEqual(t, r.keys.Stats().Keys, 20)
		require.True(t, r.keys.Has("v-kx"), "the victim's key was evicted by another client's quota")
		sig := victim("/api/sign", fmt.Sprintf(`{"message":%q}`, b64s("m")))
		require.Equal(t, "v-sign", sig.json(t)["key_id"])
		dec := victim("/api/decrypt", fmt.Sprintf(`{"ciphertext":%q}`, enc.json(t)["ciphertext"]))
		require.Equal(t, 200, dec.status, string(dec.body))
		require.Equal(t, 200, victim("/api/encrypt", `{"plaintext":"AAAA","key_id":"conf"}`).status)
	})
	t.Run("many clients", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.RateLimit.TrustedProxies = []string{"127.0.0.1"} // each X-Forwarded-For is a client
		cfg.Crypto.MaxKeys, cfg.Crypto.MaxKeysPerClient = 20, 5
		r, srv := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
		for c := 0; c < 30; c++ {
			for i := 0; i < 5; i++ {
				a := call(t, "POST", srv.URL+"/api/keypair", `{"algorithm":"ECDH"}`, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", c))
				require.Equal(t, 200, a.status, string(a.body))
			}
		}
		// A newcomer without key_id still gets a key: the store evicts, it does not refuse.
		e := call(t, "POST", srv.URL+"/api/encrypt", `{"plaintext":"AAAA"}`, "X-Forwarded-For", "203.0.113.1")
		require.Equal(t, 200, e.status, string(e.body))
		require.Equal(t, crypto.Stats{Keys: 20, Generated: 20}, r.keys.Stats())
	})
}

// A recently used key survives eviction; the least recently used goes first; the
// default key never does.
func TestCryptoEvictsLeastRecentlyUsed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Crypto.MaxKeys, cfg.Crypto.MaxKeysPerClient = 4, 4
	_, srv := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
	sign := func(id string) int {
		return call(t, "POST", srv.URL+"/api/sign", fmt.Sprintf(`{"message":"AAAA","key_id":%q}`, id)).status
	}
	for _, id := range []string{"s0", "s1", "s2", "s3"} { // s0 becomes the default signing key
		require.Equal(t, 200, call(t, "POST", srv.URL+"/api/keypair", fmt.Sprintf(`{"key_id":%q}`, id)).status)
	}
	require.Equal(t, 200, sign("s1")) // s2 is now the least recently used
	require.Equal(t, 200, call(t, "POST", srv.URL+"/api/keypair", `{"key_id":"s4"}`).status)
	require.Equal(t, 404, sign("s2"))
	for _, id := range []string{"s0", "s1", "s3", "s4"} {
		require.Equal(t, 200, sign(id), id)
	}
}

// The 422 items of the new rules encode (a broken item would turn into a 500).
func TestSurfaceItemsEncode(t *testing.T) {
	for _, body := range []string{`{"seed":9223372036854775808}`, `{"seed":-9223372036854775809}`} {
		req := jobs.DefaultSimulateRequest()
		err := jobs.Decode([]byte(body), &req)
		require.Error(t, err)
		_, jerr := json.Marshal(err.(*jobs.BodyError).Items)
		require.NoError(t, jerr)
	}
}
