package sim

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

// refStepTuring is the reference step written the obvious way (modulo wrap, one cell at
// a time, §4.2 order) to check the row/vector kernels against.
func refStepTuring(v, a, in []float64, n int, alpha, theta float64, clampV bool) (nv, na, ni []float64) {
	nv, na, ni = make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
	at := func(u []float64, r, c int) float64 { return u[((r+n)%n)*n+(c+n)%n] }
	L := func(u []float64, r, c int) float64 {
		return ((at(u, r-1, c) + at(u, r+1, c)) + at(u, r, c-1)) + at(u, r, c+1) - float64(4.0*at(u, r, c))
	}
	for r := 0; r < n; r++ {
		for c := 0; c < n; c++ {
			k := r*n + c
			nv[k] = v[k] + float64(alpha*L(v, r, c))
			t1 := float64(0.1 * L(a, r, c))
			t2 := float64(a[k] * (1 - a[k]))
			t4 := float64(0.01 * (t2 - in[k]))
			na[k] = a[k] + (t1 + t4)
			ni[k] = in[k] + (float64(0.05*L(in, r, c)) + float64(0.02*(na[k]-in[k])))
			if na[k] > theta {
				nv[k] += 0.005
			}
		}
	}
	for k := range nv {
		if clampV {
			nv[k] = clamp(nv[k], -0.095, 0.04)
		}
		na[k] = clamp(na[k], 0, 1)
		ni[k] = clamp(ni[k], 0, 1)
	}
	return nv, na, ni
}

func TestKernelMatchesReferenceStep(t *testing.T) {
	for _, scalar := range []bool{false, true} {
		for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 33, 64} {
			for _, clampV := range []bool{true, false} {
				rng := nprand.New(uint64(7 + n))
				nn := n * n
				v, a, in := newState(nn)
				for k := range v {
					// Wide ranges so that every clamp and the Turing mask fire somewhere.
					v[k] = rng.Uniform(-0.2, 0.1)
					a[k] = rng.Uniform(-0.2, 1.2)
					in[k] = rng.Uniform(-0.2, 1.2)
				}
				if n > 4 {
					v[n+2], a[2*n+3], in[3*n+1] = math.NaN(), math.NaN(), math.Inf(1)
				}
				wv, wa, wi := refStepTuring(v, a, in, n, 0.6, 0.3, clampV)
				gv, ga, gi := newState(nn) // the Simulator's layout
				if scalar {
					gv, ga, gi = make([]float64, nn), make([]float64, nn), make([]float64, nn)
				}
				scalarOnly = scalar
				// Make sure the vector kernel really runs where it exists.
				require.Equal(t, useAVX && !scalar && n >= 6, vectorStep(gv, ga, gi, v, a, in, n, 0.6, 0.3, clampV))
				stepTuring(gv, ga, gi, v, a, in, n, 0.6, 0.3, clampV)
				scalarOnly = false
				for k := range wv {
					requireSameBits(t, wv[k], gv[k], "V n=%d k=%d scalar=%v", n, k, scalar)
					requireSameBits(t, wa[k], ga[k], "A n=%d k=%d scalar=%v", n, k, scalar)
					requireSameBits(t, wi[k], gi[k], "I n=%d k=%d scalar=%v", n, k, scalar)
				}
			}
		}
	}
}

// requireSameBits compares floats bit for bit, except that any NaN equals any NaN
// (payloads depend on operand order and are not part of numpy's contract).
func requireSameBits(t *testing.T, want, got float64, msgAndArgs ...any) {
	t.Helper()
	if math.IsNaN(want) && math.IsNaN(got) {
		return
	}
	require.Equal(t, math.Float64bits(want), math.Float64bits(got), msgAndArgs...)
}

// The scalar kernel (the only one off amd64) reproduces a whole golden run too.
func TestScalarKernelGolden(t *testing.T) {
	scalarOnly = true
	defer func() { scalarOnly = false }()
	f, ev, err := Run(context.Background(), nprand.New(42), DefaultParams(), nil)
	require.NoError(t, err)
	require.Equal(t, 14, ev)
	require.Equal(t, -0.07003076248064738, Mean(f))
	require.Equal(t, 0.0003302476077214526, Std(f))
	require.Equal(t, -0.07024271089420192, f[0])
	require.Equal(t, -0.07024616855196207, f[64*64-1])
}
