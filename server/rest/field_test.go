package rest

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
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
	"mfn/nprand"
	"mfn/sim"

	"mfn/internal/numpytest"
)

// POST /simulate/field's .npy and .npz, loaded by numpy, hold the field whose
// min/max/mean/std are exactly /simulate's numbers for the same request.
func TestSimulateFieldLoadedByNumpy(t *testing.T) {
	py := numpytest.Python(t)
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

// include adds the activator and inhibitor histories and final arrays to the .npz:
// numpy sees the member names, (K, N, N) and (N, N) <f8 arrays whose bytes are the
// simulator's own A and I after steps 20, 40 and 50 (run here directly on sim), the last
// history frame equal to the final array, and the field members unchanged.
func TestSimulateFieldIncludeLoadedByNumpy(t *testing.T) {
	py := numpytest.Python(t)
	srv, _ := startImages(t)
	dir := t.TempDir()
	const body = `{"seed":42,"grid_size":32,"steps":50,"every":20,"include":["inhibitor","activator"]}`
	resp, npz := post(t, srv.URL+"/simulate/field", body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(npz))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "h.npz"), npz, 0o600))
	_, plain := post(t, srv.URL+"/simulate/field", `{"seed":42,"grid_size":32,"steps":50,"every":20}`)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plain.npz"), plain, 0o600))

	p := sim.DefaultParams()
	p.GridSize, p.Steps = 32, 50
	s := sim.New(p, nprand.New(42))
	var wantA, wantI []byte
	for step := 1; step <= 50; step++ {
		s.Step()
		if step%20 == 0 || step == 50 {
			wantA, wantI = appendLE(wantA, s.Activator()), appendLE(wantI, s.Inhibitor())
		}
	}

	script := `
import sys, numpy as np
z, plain = np.load(sys.argv[1]), np.load(sys.argv[2])
print(sorted(z.files))
for k in ('activator_history', 'activator', 'inhibitor_history', 'inhibitor'):
    print(k, z[k].dtype.str, z[k].shape)
print(np.array_equal(z['activator_history'][-1], z['activator']), np.array_equal(z['inhibitor_history'][-1], z['inhibitor']))
print(all(np.array_equal(z[k], plain[k]) for k in plain.files))
print(z['activator_history'].tobytes().hex())
print(z['inhibitor_history'].tobytes().hex())
`
	out, err := exec.Command(py, "-c", script, filepath.Join(dir, "h.npz"), filepath.Join(dir, "plain.npz")).CombinedOutput()
	require.NoError(t, err, string(out))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 9)
	require.Equal(t, "['activator', 'activator_history', 'field', 'history', 'inhibitor', 'inhibitor_history', 'steps']", lines[0])
	require.Equal(t, "activator_history <f8 (3, 32, 32)", lines[1])
	require.Equal(t, "activator <f8 (32, 32)", lines[2])
	require.Equal(t, "inhibitor_history <f8 (3, 32, 32)", lines[3])
	require.Equal(t, "inhibitor <f8 (32, 32)", lines[4])
	require.Equal(t, "True True", lines[5])
	require.Equal(t, "True", lines[6], "the field members are the same with include")
	require.Equal(t, hex.EncodeToString(wantA), lines[7], "activator history bits")
	require.Equal(t, hex.EncodeToString(wantI), lines[8], "inhibitor history bits")
}

// appendLE appends xs as little-endian float64 bytes, numpy's <f8.
func appendLE(b []byte, xs []float64) []byte {
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
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
		{"include_unknown", `{"every":2,"include":["field"]}`, "include"},
		{"include_twice", `{"every":2,"include":["activator","activator"]}`, "include"},
		{"include_without_npz", `{"include":["activator"]}`, "include"},
		{"include_into_npy", `{"format":"npy","include":["inhibitor"]}`, "include"},
		{"include_turing_off", `{"every":2,"turing_enabled":false,"include":["activator"]}`, "include"},
		{"include_not_a_list", `{"every":2,"include":"activator"}`, "include"},
		// 200 frames of 256² are 100 MiB, under the default 128 MiB; with the activator
		// and inhibitor 300 MiB, over it.
		{"include_history_too_large", `{"grid_size":256,"steps":1000,"every":5,"include":["activator","inhibitor"]}`, "every"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := post(t, srv.URL+"/simulate/field", tt.body)
			require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, string(data))
			require.Contains(t, string(data), `"`+tt.field+`"`)
		})
	}
}
