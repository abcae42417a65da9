package render

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/internal/numpytest"
)

func TestNPYHeader(t *testing.T) {
	for _, tc := range []struct {
		shape []int
		dict  string
	}{
		{[]int{2, 2}, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }"},
		{[]int{3}, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"},
		{[]int{4, 2, 2}, "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2, 2), }"},
	} {
		var buf bytes.Buffer
		n := 1
		for _, d := range tc.shape {
			n *= d
		}
		require.NoError(t, WriteNPY(&buf, Array{Shape: tc.shape, Float64: make([]float64, n)}))
		b := buf.Bytes()
		require.Equal(t, "\x93NUMPY\x01\x00", string(b[:8]))
		hlen := int(binary.LittleEndian.Uint16(b[8:10]))
		require.Zero(t, (10+hlen)%64, "data starts on a 64-byte boundary")
		header := string(b[10 : 10+hlen])
		require.True(t, strings.HasPrefix(header, tc.dict), header)
		require.True(t, strings.HasSuffix(header, "\n"))
		require.Len(t, b, 10+hlen+8*n)
	}
}

func TestNPYErrors(t *testing.T) {
	var buf bytes.Buffer
	require.ErrorIs(t, WriteNPY(&buf, Array{Shape: []int{2, 2}, Float64: make([]float64, 3)}), ErrArray)
	require.ErrorIs(t, WriteNPY(&buf, Array{Shape: []int{-1}}), ErrArray)
	require.ErrorIs(t, WriteNPY(&buf, Array{Shape: []int{1}, Float64: []float64{1}, Int64: []int64{1}}), ErrArray)
	require.ErrorIs(t, WriteNPZ(&buf, []Array{{Name: "a", Shape: []int{0}, Float64: []float64{}}, {Name: "a", Shape: []int{0}, Float64: []float64{}}}), ErrArray)
	require.ErrorIs(t, WriteNPZ(&buf, []Array{{Name: "../x", Shape: []int{0}, Float64: []float64{}}}), ErrArray)
	// A shape whose element count wraps to 0 must not pass as an empty array.
	require.ErrorIs(t, WriteNPY(&buf, Array{Shape: []int{1 << 32, 1 << 32}}), ErrArray)
	// More dimensions than numpy reads (and than the header's length field could hold).
	require.ErrorIs(t, WriteNPY(&buf, Array{Shape: make([]int, maxDims+1)}), ErrArray)
	require.NoError(t, WriteNPY(&buf, Array{Shape: make([]int, maxDims)}))
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestNPYReportsWriteError(t *testing.T) {
	a := Array{Shape: []int{1 << 12}, Float64: make([]float64, 1<<12)}
	require.ErrorContains(t, WriteNPY(failingWriter{}, a), "disk full")
}

func TestNPZIsStoredZip(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteNPZ(&buf, []Array{
		{Name: "field", Shape: []int{2, 2}, Float64: []float64{1, 2, 3, 4}},
		{Name: "steps", Shape: []int{2}, Int64: []int64{5, 10}},
	}))
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	require.Len(t, zr.File, 2)
	require.Equal(t, "field.npy", zr.File[0].Name)
	require.Equal(t, zip.Store, zr.File[0].Method)
	require.Equal(t, "steps.npy", zr.File[1].Name)
}

// np.load reads back every bit, including signed zero, subnormals, ±Inf and NaN.
func TestNPYLoadedByNumpy(t *testing.T) {
	py := numpytest.Python(t)
	dir := t.TempDir()
	vals := []float64{-0.07082453196698339, math.Copysign(0, -1), 5e-324, math.Inf(1), math.Inf(-1), math.NaN(), 1, 0.1}
	var npy, npz bytes.Buffer
	require.NoError(t, WriteNPY(&npy, Array{Shape: []int{2, 4}, Float64: vals}))
	require.NoError(t, WriteNPZ(&npz, []Array{
		{Name: "history", Shape: []int{2, 2, 2}, Float64: vals},
		{Name: "steps", Shape: []int{2}, Int64: []int64{3, 6}},
	}))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.npy"), npy.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.npz"), npz.Bytes(), 0o644))
	script := `
import sys, numpy as np
a = np.load(sys.argv[1])
z = np.load(sys.argv[2])
print(a.dtype.str, a.shape, a.flags['C_CONTIGUOUS'])
print(' '.join(str(x) for x in a.view('<u8').ravel().tolist()))
print(sorted(z.files), z['history'].shape, z['steps'].dtype.str, z['steps'].tolist())
print(np.array_equal(z['history'].ravel(), a.ravel(), equal_nan=True))
`
	out, err := exec.Command(py, "-c", script, filepath.Join(dir, "a.npy"), filepath.Join(dir, "a.npz")).CombinedOutput()
	require.NoError(t, err, string(out))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Equal(t, "<f8 (2, 4) True", lines[0])
	bits := strings.Fields(lines[1])
	require.Len(t, bits, len(vals))
	for i, v := range vals {
		require.Equal(t, strconv.FormatUint(math.Float64bits(v), 10), bits[i], "value %d", i)
	}
	require.Equal(t, "['history', 'steps'] (2, 2, 2) <i8 [3, 6]", lines[2])
	require.Equal(t, "True", lines[3])
}
