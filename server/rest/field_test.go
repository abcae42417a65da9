package rest

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/internal/jobstest"
	"mfn/jobs"
)

// numpyPython returns a Python with numpy (Debian's python3-numpy), or skips: the load
// check needs a real numpy, which CI installs.
func numpyPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import numpy").Run() == nil {
			return py
		}
	}
	t.Skip("no python3 with numpy (apt-get install -y python3-numpy): numpy load checks skipped")
	return ""
}

// POST /simulate/field's .npy and .npz, loaded by numpy, hold the field whose
// min/max/mean/std are exactly /simulate's numbers for the same request.
func TestSimulateFieldLoadedByNumpy(t *testing.T) {
	py := numpyPython(t)
	srv, pool := startImages(t)
	dir := t.TempDir()

	resp, npy := post(t, srv.URL+"/simulate/field", `{"seed":42,"grid_size":32,"steps":50}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(npy))
	require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="field-seed42-n32-steps50.npy"`, resp.Header.Get("Content-Disposition"))
	resp, npz := post(t, srv.URL+"/simulate/field", `{"seed":42,"grid_size":32,"steps":50,"every":20}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(npz))
	require.Equal(t, `attachment; filename="field-seed42-n32-steps50.npz"`, resp.Header.Get("Content-Disposition"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f.npy"), npy, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "h.npz"), npz, 0o600))

	req := jobs.DefaultSimulateRequest()
	req.Seed, req.GridSize, req.Steps = 42, 32, 50
	sr := jobstest.Simulate(t, pool, req)
	var hdr jobs.SimulateResult
	require.NoError(t, json.Unmarshal([]byte(resp.Header.Get("X-MFN-Metrics")), &hdr))
	require.Equal(t, sr, hdr)

	script := `
import sys, numpy as np
f = np.load(sys.argv[1])
z = np.load(sys.argv[2])
h = z['history']
print(f.dtype.str, f.shape, h.shape, z['steps'].tolist(), np.array_equal(h[-1], f), np.array_equal(z['field'], f))
for v in (f.min(), f.max(), np.mean(f), np.std(f)):
    print(repr(float(v) * 1000))
`
	out, err := exec.Command(py, "-c", script, filepath.Join(dir, "f.npy"), filepath.Join(dir, "h.npz")).CombinedOutput()
	require.NoError(t, err, string(out))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 5)
	require.Equal(t, "<f8 (32, 32) (3, 32, 32) [20, 40, 50] True True", lines[0])
	for i, want := range []float64{sr.PotMinMV, sr.PotMaxMV, sr.PotMeanMV, sr.PotStdMV} {
		got, err := strconv.ParseFloat(lines[i+1], 64)
		require.NoError(t, err)
		require.Equal(t, want, got, "statistic %d", i)
	}
}

// Bad options are 422s naming the field; a history over the limit is refused naming
// every before anything runs.
func TestSimulateFieldRefusals(t *testing.T) {
	srv, _ := startImages(t)
	tests := []struct {
		name, body, field string
	}{
		{"unknown_format", `{"format":"csv"}`, "format"},
		{"npy_with_every", `{"format":"npy","every":2}`, "format"},
		{"every_zero", `{"every":0}`, "every"},
		// 256² × 8 bytes × 1000 frames = 500 MiB > the default 128 MiB.
		{"history_too_large", `{"grid_size":256,"steps":1000,"every":1}`, "every"},
		{"grid_size", `{"grid_size":4}`, "grid_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := post(t, srv.URL+"/simulate/field", tt.body)
			require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, string(data))
			require.Contains(t, string(data), `"`+tt.field+`"`)
		})
	}
}
