package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"mfn/jobs"
	"mfn/server/envelope"
)

// The picture routes through the whole server: the limits every pool-backed REST
// route shares.

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
