package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/dataset"
	"mfn/jobs"
	"mfn/nprand"
	"mfn/sim"

	"mfn/internal/numpytest"
)

// `mfn simulate --npy/--npz` files, loaded by numpy, hold the field whose statistics are
// exactly /simulate's (jobs.Execute), and, for grid 32 × 50 steps with seed 42, exactly
// the reference's field (numerical-core.md §20.1 golden: min, max, mean, std, corners).
func TestSimulateNPYLoadedByNumpy(t *testing.T) {
	py := numpytest.Python(t)
	dir := t.TempDir()
	npy, npz := filepath.Join(dir, "f.npy"), filepath.Join(dir, "h.npz")
	code, stdout, stderr := runMFN(t, "simulate", "--seed", "42", "--grid-size", "32", "--steps", "50",
		"--npy", npy, "--npz", npz, "--every", "20")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, `"growth_events":17`)

	req := jobs.DefaultSimulateRequest()
	req.Seed, req.GridSize, req.Steps = 42, 32, 50
	res, err := jobs.Execute(context.Background(), req)
	require.NoError(t, err)
	sr := res.(jobs.SimulateResult)

	script := `
import sys, numpy as np
f = np.load(sys.argv[1])
z = np.load(sys.argv[2])
h = z['history']
print(f.dtype.str, f.shape, h.shape, z['steps'].tolist(), np.array_equal(h[-1], f), np.array_equal(z['field'], f))
for v in (f.min(), f.max(), np.mean(f), np.std(f), f[0, 0], f[-1, -1]):
    print(repr(float(v)))
for v in (f.min(), f.max(), np.mean(f), np.std(f)):
    print(repr(float(v) * 1000))
`
	out, err := exec.Command(py, "-c", script, npy, npz).CombinedOutput()
	require.NoError(t, err, string(out))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 11)
	require.Equal(t, "<f8 (32, 32) (3, 32, 32) [20, 40, 50] True True", lines[0])
	num := func(i int) float64 {
		v, err := strconv.ParseFloat(lines[i], 64)
		require.NoError(t, err, lines[i])
		return v
	}
	// §20.1, grid 32, steps 50: the reference's own field.
	require.Equal(t, -0.07082453196698339, num(1))
	require.Equal(t, -0.06497201831234893, num(2))
	require.Equal(t, -0.06980622579323571, num(3))
	require.Equal(t, 0.0005802650650273584, num(4))
	require.Equal(t, -0.06760062728892881, num(5))
	require.Equal(t, -0.0689823046869061, num(6))
	// /simulate's numbers are numpy's, to the last bit.
	require.Equal(t, sr.PotMinMV, num(7))
	require.Equal(t, sr.PotMaxMV, num(8))
	require.Equal(t, sr.PotMeanMV, num(9))
	require.Equal(t, sr.PotStdMV, num(10))
}

// `mfn simulate --npz --include activator,inhibitor` adds the Turing arrays: numpy sees
// (K, N, N) <f8 histories whose last frames equal the (N, N) finals, the same field
// members as without --include, and the final activator and inhibitor bit for bit equal
// to the simulator's (sim run directly).
func TestSimulateNPZIncludeLoadedByNumpy(t *testing.T) {
	py := numpytest.Python(t)
	dir := t.TempDir()
	with, plain := filepath.Join(dir, "with.npz"), filepath.Join(dir, "plain.npz")
	common := []string{"simulate", "--seed", "7", "--grid-size", "24", "--steps", "30", "--every", "7"}
	code, _, stderr := runMFN(t, append(common, "--npz", with, "--include", "activator,inhibitor")...)
	require.Equal(t, 0, code, stderr)
	code, _, stderr = runMFN(t, append(common, "--npz", plain)...)
	require.Equal(t, 0, code, stderr)

	p := sim.DefaultParams()
	p.GridSize, p.Steps = 24, 30
	s := sim.New(p, nprand.New(7))
	for range 30 {
		s.Step()
	}

	script := `
import sys, numpy as np
z, plain = np.load(sys.argv[1]), np.load(sys.argv[2])
print(sorted(z.files))
print(z['activator_history'].dtype.str, z['activator_history'].shape, z['inhibitor'].dtype.str, z['inhibitor'].shape)
print(np.array_equal(z['activator_history'][-1], z['activator']), np.array_equal(z['inhibitor_history'][-1], z['inhibitor']))
print(all(np.array_equal(z[k], plain[k]) for k in plain.files))
print(z['activator'].tobytes().hex())
print(z['inhibitor'].tobytes().hex())
`
	out, err := exec.Command(py, "-c", script, with, plain).CombinedOutput()
	require.NoError(t, err, string(out))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 6)
	require.Equal(t, "['activator', 'activator_history', 'field', 'history', 'inhibitor', 'inhibitor_history', 'steps']", lines[0])
	require.Equal(t, "<f8 (5, 24, 24) <f8 (24, 24)", lines[1])
	require.Equal(t, "True True", lines[2])
	require.Equal(t, "True", lines[3])
	require.Equal(t, hex.EncodeToString(leBytes(s.Activator())), lines[4])
	require.Equal(t, hex.EncodeToString(leBytes(s.Inhibitor())), lines[5])
}

// leBytes is xs as numpy's <f8 bytes.
func leBytes(xs []float64) []byte {
	b := make([]byte, 0, 8*len(xs))
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func TestSimulateNPZFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"--every", "0"}, 2, "--every: must be >= 1"},
		{[]string{"--grid-size", "256", "--steps", "1000", "--npz", filepath.Join(dir, "x.npz")}, 2,
			"--every: a history of 1000 frames of 256×256 is 500 MiB, over the 256 MiB limit; use --every 2 or more"},
		{[]string{"--grid-size", "16", "--steps", "5", "--npy", filepath.Join(dir, "missing", "x.npy")}, 1, "--npy:"},
		// 500 frames of 256² are 250 MiB; with the activator and inhibitor 750 MiB.
		{[]string{"--grid-size", "256", "--steps", "1000", "--every", "2", "--include", "activator,inhibitor", "--npz", filepath.Join(dir, "x.npz")}, 2,
			"--every: a history of 500 frames of 256×256 (3 arrays each) is 750 MiB, over the 256 MiB limit; use --every 6 or more"},
		{[]string{"--include", "activator"}, 2, "--include: the activator and inhibitor go into the history: add --npz FILE"},
		{[]string{"--include", "field", "--npz", filepath.Join(dir, "x.npz")}, 2, `--include: unknown array "field"`},
		{[]string{"--include", "inhibitor,inhibitor", "--npz", filepath.Join(dir, "x.npz")}, 2, `--include: "inhibitor" is named twice`},
		{[]string{"--include", "activator", "--turing-enabled=false", "--npz", filepath.Join(dir, "x.npz")}, 2, "--include: with --turing-enabled=false"},
	} {
		code, _, stderr := runMFN(t, append([]string{"simulate"}, tc.args...)...)
		require.Equal(t, tc.code, code, stderr)
		require.Contains(t, stderr, tc.inStderr)
	}
}

// pandas reads `mfn dataset --format csv` with the dtypes the reference's DataFrame has
// (int64, object, float64, bool) and every value exactly (with float_precision=
// "round_trip": pandas' default parser may miss the last bit). Skipped without pandas
// (Debian's python3-pandas).
func TestDatasetCSVReadByPandas(t *testing.T) {
	py := numpytest.Python(t)
	if exec.Command(py, "-c", "import pandas").Run() != nil {
		t.Skip("no pandas (apt-get install -y python3-pandas): pandas read check skipped")
	}
	path := filepath.Join(t.TempDir(), "bench.csv")
	code, _, stderr := runMFN(t, "dataset", "--preset", "benchmark", "--format", "csv", "-o", path)
	require.Equal(t, 0, code, stderr)
	script := `
import sys, pandas as pd
df = pd.read_csv(sys.argv[1], float_precision='round_trip')
print(' '.join(f'{c}:{t}' for c, t in df.dtypes.items()))
for row in df.itertuples(index=False):
    print(' '.join(repr(v.item() if hasattr(v, 'item') else v) for v in row))
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	require.NoError(t, err, string(out))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 6)
	var types []string
	for _, c := range dataset.Columns(true) {
		types = append(types, c.Name+":"+map[reflect.Kind]string{reflect.Int64: "int64", reflect.String: "object",
			reflect.Float64: "float64", reflect.Bool: "bool"}[c.Kind])
	}
	require.Equal(t, strings.Join(types, " "), lines[0])
	p, err := dataset.Preset("benchmark")
	require.NoError(t, err)
	for i, s := range p.Samples() {
		row, err := dataset.RunSample(context.Background(), s)
		require.NoError(t, err)
		var want []string
		for _, v := range row.Values(true) {
			switch x := v.(type) {
			case int64:
				want = append(want, strconv.FormatInt(x, 10))
			case float64:
				want = append(want, string(dataset.AppendPyFloat(nil, x)))
			case bool:
				want = append(want, map[bool]string{true: "True", false: "False"}[x])
			case string:
				want = append(want, "'"+x+"'")
			}
		}
		require.Equal(t, strings.Join(want, " "), lines[i+1], "row %d", i)
	}
}
