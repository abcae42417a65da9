package sim

import (
	"context"
	"fmt"
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

// setKernel switches the step kernel for the rest of the test.
func setKernel(t *testing.T, name string) {
	t.Helper()
	k, err := selectKernel(name)
	require.NoError(t, err)
	old := kernel
	kernel = k
	t.Cleanup(func() { kernel = old })
}

// wideState fills a state with values in wide ranges, so that every clamp and the
// Turing mask fire somewhere, plus a NaN and an Inf.
func wideState(n int) (v, a, in []float64) {
	rng := nprand.New(uint64(7 + n))
	v, a, in = newState(n)
	for k := range v {
		v[k] = rng.Uniform(-0.2, 0.1)
		a[k] = rng.Uniform(-0.2, 1.2)
		in[k] = rng.Uniform(-0.2, 1.2)
	}
	if n > 4 {
		v[n+2], a[2*n+3], in[3*n+1] = math.NaN(), math.NaN(), math.Inf(1)
	}
	return v, a, in
}

// Every kernel this CPU has gives the reference's bits on every size around its vector
// width (tails of every length, grids just above the vector kernels' minimum, the
// periodic wrap on every edge), with and without the field clamp.
func TestKernelsMatchReference(t *testing.T) {
	sizes := []int{65, 66, 67, 71, 127, 128, 129}
	for n := 1; n <= 40; n++ {
		sizes = append(sizes, n)
	}
	for _, name := range Kernels() {
		t.Run(name, func(t *testing.T) {
			setKernel(t, name)
			for _, n := range sizes {
				for _, clampV := range []bool{true, false} {
					v, a, in := wideState(n)
					wv, wa, wi := refStepTuring(v, a, in, n, 0.6, 0.3, clampV)
					gv, ga, gi := newState(n) // the Simulator's layout
					// Make sure the vector kernel really runs where it exists.
					require.Equal(t, kernel != kernelScalar && n >= vectorMin(kernel),
						vectorStep(gv, ga, gi, v, a, in, n, 0.6, 0.3, clampV, 0, n, 0), "n=%d", n)
					stepTuring(gv, ga, gi, v, a, in, n, 0.6, 0.3, clampV)
					requireSameState(t, wv, wa, wi, gv, ga, gi, "n=%d clamp=%v", n, clampV)
				}
			}
		})
	}
}

// Arrays outside the Simulator's layout take the scalar path and give the same bits.
func TestKernelPlainSlicesMatchReference(t *testing.T) {
	for _, n := range []int{5, 9, 17, 64} {
		v, a, in := wideState(n)
		wv, wa, wi := refStepTuring(v, a, in, n, 0.6, 0.3, true)
		nn := n * n
		gv, ga, gi := make([]float64, nn), make([]float64, nn), make([]float64, nn)
		require.False(t, vectorStep(gv, ga, gi, v, a, in, n, 0.6, 0.3, true, 0, n, 0))
		stepTuring(gv, ga, gi, v, a, in, n, 0.6, 0.3, true)
		requireSameState(t, wv, wa, wi, gv, ga, gi, "n=%d", n)
	}
}

// requireSameState compares three arrays with requireSameBits.
func requireSameState(t *testing.T, wv, wa, wi, gv, ga, gi []float64, msg string, args ...any) {
	t.Helper()
	where := fmt.Sprintf(msg, args...)
	for k := range wv {
		requireSameBits(t, wv[k], gv[k], "V k=%d %s", k, where)
		requireSameBits(t, wa[k], ga[k], "A k=%d %s", k, where)
		requireSameBits(t, wi[k], gi[k], "I k=%d %s", k, where)
	}
}

// vectorMin is the smallest grid kernel k vectorises.
func vectorMin(k int) int {
	if k == kernelScalar {
		return math.MaxInt
	}
	return minVectorN[k]
}

func TestSelectKernel(t *testing.T) {
	best, err := selectKernel("")
	require.NoError(t, err)
	require.Equal(t, kernelNames[best], Kernels()[len(Kernels())-1])
	k, err := selectKernel(" Scalar ")
	require.NoError(t, err)
	require.Equal(t, kernelScalar, k)
	k, err = selectKernel("auto")
	require.NoError(t, err)
	require.Equal(t, best, k)
	k, err = selectKernel("sse9")
	require.ErrorContains(t, err, "MFN_KERNEL")
	require.ErrorContains(t, err, "unknown kernel")
	require.Equal(t, best, k, "a bad value falls back to the best kernel")
	for kk, name := range kernelNames {
		_, err := selectKernel(name)
		if kernelAvailable(kk) {
			require.NoError(t, err)
		} else {
			require.ErrorContains(t, err, "does not support")
		}
	}
	require.NoError(t, KernelError(), "%s in the environment must name a kernel this CPU has", KernelEnv)
	t.Logf("kernel %s; available %v", Kernel(), Kernels())
}

// requireSameBits compares floats bit for bit, except that any NaN equals any NaN
// (payloads depend on operand order and are not part of numpy's contract).
func requireSameBits(t *testing.T, want, got float64, msgAndArgs ...any) {
	t.Helper()
	if math.Float64bits(want) == math.Float64bits(got) || math.IsNaN(want) && math.IsNaN(got) {
		return
	}
	require.Equal(t, math.Float64bits(want), math.Float64bits(got), msgAndArgs...)
}

// The scalar kernel (the only one off amd64) reproduces a whole golden run too.
func TestScalarKernelGolden(t *testing.T) {
	setKernel(t, "scalar")
	f, ev, err := Run(context.Background(), nprand.New(42), DefaultParams(), nil)
	require.NoError(t, err)
	require.Equal(t, 14, ev)
	require.Equal(t, -0.07003076248064738, Mean(f))
	require.Equal(t, 0.0003302476077214526, Std(f))
	require.Equal(t, -0.07024271089420192, f[0])
	require.Equal(t, -0.07024616855196207, f[64*64-1])
}

// The two-row kernel gives the bits of two turingRow calls on every width around its
// vector length (n = 9…40: no interior block, a short tail, tails of every length) and a
// few larger ones, with input rows in ring order or not and output rows adjacent or not,
// on values that fire every clamp and the mask (NaN and Inf included). It writes nothing
// but its two output rows and the input's pad. Other kernels decline it.
func TestRow2MatchesRow(t *testing.T) {
	sizes := []int{64, 65, 127, 128, 129, 1000, 1024}
	for n := 9; n <= 40; n++ {
		sizes = append(sizes, n)
	}
	for _, name := range Kernels() {
		t.Run(name, func(t *testing.T) {
			setKernel(t, name)
			for _, n := range sizes {
				stride := ringSlots*n + bandPad
				rng := nprand.New(uint64(n))
				in := level{blk: make([]float64, 3*stride), stride: stride, pad: ringSlots * n}
				for k := range in.blk {
					in.blk[k] = rng.Uniform(-0.2, 1.2)
					if k%stride < ringSlots*n && k < stride {
						in.blk[k] = rng.Uniform(-0.2, 0.1) // V
					}
				}
				in.blk[n+3], in.blk[stride+2*n+n-1], in.blk[2*stride+4*n] = math.NaN(), math.NaN(), math.Inf(-1)
				for _, slots := range [][6]int{{0, 1, 2, 3, 4, 5}, {4, 5, 2, 3, 0, 1}, {3, 0, 5, 1, 4, 2}} {
					up, m0, m1, down := slots[0]*n, slots[1]*n, slots[2]*n, slots[3]*n
					o0, o1 := slots[4]*n, slots[5]*n
					const alpha, theta = 0.6, 0.3
					want := level{blk: make([]float64, 3*stride), stride: stride}
					got := level{blk: make([]float64, 3*stride), stride: stride}
					for k := range got.blk {
						want.blk[k], got.blk[k] = 7, 7
					}
					rowRef := func(o, u, c, d int) {
						b, w, s := in.blk, want.blk, stride
						turingRow(w[o:o+n], w[o+s:o+s+n], w[o+2*s:o+2*s+n],
							b[u:u+n], b[c:c+n], b[d:d+n], b[u+s:u+s+n], b[c+s:c+s+n], b[d+s:d+s+n],
							b[u+2*s:u+2*s+n], b[c+2*s:c+2*s+n], b[d+2*s:d+2*s+n], alpha, theta, true)
					}
					rowRef(o0, up, m0, m1)
					rowRef(o1, m0, m1, down)
					before := append([]float64(nil), in.blk...)
					ok := vectorRow2(&in, &got, up, m0, m1, down, o0, o1, n, alpha, theta)
					require.Equal(t, kernel == kernelAVX512, ok, "n=%d", n)
					if !ok {
						continue
					}
					for k := range got.blk {
						requireSameBits(t, want.blk[k], got.blk[k], "n=%d slots=%v out k=%d", n, slots, k)
						if k%stride < in.pad {
							requireSameBits(t, before[k], in.blk[k], "n=%d slots=%v input k=%d", n, slots, k)
						}
					}
				}
			}
		})
	}
}
