package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"mfn/crypto"
	"mfn/internal/jobstest"
	"mfn/jobs"
	"mfn/server/rest"
)

// POST /datasets streams the same CSV, byte for byte, as `mfn dataset` writes for the
// same preset or sweep and seed.
func TestDatasetsRESTSameBytesAsCLI(t *testing.T) {
	pool := jobstest.StartPool(t, jobs.PoolConfig{Workers: 2, QueueSize: 8})
	keys, err := crypto.New(crypto.DefaultConfig(), nil)
	require.NoError(t, err)
	api, err := rest.New(rest.Params{Runner: pool, Keys: keys, ClientID: func(*http.Request) string { return "t" }, MaxBodyBytes: 1 << 20})
	require.NoError(t, err)
	e := echo.New()
	api.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name, body string
		args       []string
	}{
		{"preset", `{"preset":"benchmark","seed":7}`, []string{"--preset", "benchmark", "--seed", "7"}},
		{"sweep", `{"sweep":{"grid_sizes":[16],"steps":[8,12],"alpha_values":[0.1],"turing_enabled":[true,false],"seeds_per_config":1},"seed":3}`, nil},
		{"minimal_sweep", `{"sweep":{},"seed":11}`, []string{"--sweep", "minimal", "--seed", "11"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/datasets", "application/json", strings.NewReader(tc.body))
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(got))
			require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
			require.Equal(t, "0", resp.Trailer.Get("X-MFN-Failed-Samples"))
			if tc.args == nil {
				require.Equal(t, 5, strings.Count(string(got), "\n"), "header + 2 steps × 2 turing")
				return
			}
			path := filepath.Join(t.TempDir(), "d.csv")
			code, _, stderr := runMFN(t, append([]string{"dataset", "--format", "csv", "-o", path}, tc.args...)...)
			require.Equal(t, 0, code, stderr)
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))
		})
	}
}
