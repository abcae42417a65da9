package sim

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

func run(t *testing.T, seed uint64, mod func(*Params)) ([]float64, int) {
	t.Helper()
	p := DefaultParams()
	mod(&p)
	f, ev, err := Run(context.Background(), nprand.New(seed), p, nil)
	require.NoError(t, err)
	return f, ev
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for k := range a {
		m = max(m, math.Abs(a[k]-b[k]))
	}
	return m
}

func TestDefaultParams(t *testing.T) {
	require.Equal(t, Params{64, 64, 0.18, 0.25, true, 0.75, false, 0.0005, 0}, DefaultParams())
}

// S-03, S-05, S-28 ★ growth event counts (64×100, seed 42) and S-04 (p = 0).
func TestGrowthEvents(t *testing.T) {
	for _, tc := range []struct {
		p    float64
		want int
	}{{0, 0}, {0.1, 10}, {0.2, 19}, {0.25, 25}, {0.3, 29}, {0.4, 33}, {0.8, 87}} {
		_, ev := run(t, 42, func(p *Params) { p.Steps, p.SpikeProbability = 100, tc.p })
		require.Equal(t, tc.want, ev, "p=%v", tc.p)
	}
}

// S-01: Turing on vs off differ (only through RNG consumption, W-1): 64×200 → 2.22 mV.
func TestTuringOnOffDiffer(t *testing.T) {
	on, _ := run(t, 42, func(p *Params) { p.GridSize, p.Steps = 32, 50 })
	off, _ := run(t, 42, func(p *Params) { p.GridSize, p.Steps, p.TuringEnabled = 32, 50, false })
	require.Greater(t, maxAbsDiff(on, off), 1e-6)
	on, _ = run(t, 42, func(p *Params) { p.Steps = 200 })
	off, _ = run(t, 42, func(p *Params) { p.Steps, p.TuringEnabled = 200, false })
	require.InDelta(t, 2.22e-3, maxAbsDiff(on, off), 0.005e-3)
}

// W-1: with the default parameters the activator never reaches the threshold; a low
// threshold makes the mask fire and changes the field.
func TestTuringMask(t *testing.T) {
	p := DefaultParams()
	p.GridSize, p.Steps = 32, 64
	s := New(p, nprand.New(42))
	for s.Steps() < p.Steps {
		s.Step()
		require.Less(t, Max(s.Activator()), 0.5)
	}
	for _, x := range s.Activator() {
		require.True(t, x >= 0 && x <= 1)
	}
	for _, x := range s.Inhibitor() {
		require.True(t, x >= 0 && x <= 1)
	}
	hi, _ := run(t, 42, func(p *Params) { p.GridSize, p.Steps = 32, 5 })
	lo, _ := run(t, 42, func(p *Params) { p.GridSize, p.Steps, p.TuringThreshold = 32, 5, 0.01 })
	require.Greater(t, Mean(lo), Mean(hi)+0.004) // most cells got +5 mV per step
}

// S-02, S-11, S-19, S-27: the clamp holds exactly with jitter; the jittered field
// saturates (W-9).
func TestClampBounds(t *testing.T) {
	f, _ := run(t, 42, func(p *Params) { p.Steps, p.QuantumJitter = 100, true })
	require.Equal(t, FieldMinV, Min(f))
	require.Equal(t, FieldMaxV, Max(f))
	f, ev := run(t, 42, func(p *Params) { p.GridSize, p.Steps, p.SpikeProbability, p.QuantumJitter = 32, 1000, 0.8, true })
	require.GreaterOrEqual(t, Min(f), FieldMinV)
	require.LessOrEqual(t, Max(f), FieldMaxV)
	require.Positive(t, ev)
	// Unsafe α (W-6): checkerboard saturating at the clamps, D(V > −60 mV) = 2.034.
	f, _ = run(t, 42, func(p *Params) { p.GridSize, p.Alpha = 32, 0.5 })
	require.Equal(t, FieldMinV, Min(f))
	require.Equal(t, FieldMaxV, Max(f))
	require.InDelta(t, 0.065, Std(f), 0.002)
	require.InDelta(t, 2.034, FractalDimension(f, 32, -0.060), 0.0005)
	// α = 0.25 stays smooth in [−70.66, −63.82] mV; α = 0 does not diffuse: [−88.2, −35.9].
	f, _ = run(t, 42, func(p *Params) { p.GridSize, p.Alpha = 32, 0.25 })
	require.InDelta(t, -0.07066, Min(f), 0.000005)
	require.InDelta(t, -0.06382, Max(f), 0.000005)
	f, _ = run(t, 42, func(p *Params) { p.GridSize, p.Alpha = 32, 0 })
	require.InDelta(t, -0.0882, Min(f), 0.00005)
	require.InDelta(t, -0.0359, Max(f), 0.00005)
}

// S-25 ★: 32×100, p 0.5, Turing off: 50 events, V ∈ [−69.9, −66.7] mV.
func TestTuringOffHighSpikeRate(t *testing.T) {
	f, ev := run(t, 42, func(p *Params) { p.GridSize, p.Steps, p.SpikeProbability, p.TuringEnabled = 32, 100, 0.5, false })
	require.Equal(t, 50, ev)
	require.InDelta(t, -0.0699, Min(f), 0.00005)
	require.InDelta(t, -0.0667, Max(f), 0.00005)
}

// S-14, S-15 ★, S-16, S-18: smooth field near −70 mV with high neighbour correlation.
func TestFieldStructure(t *testing.T) {
	f, _ := run(t, 42, func(p *Params) { p.Steps = 100 })
	n := 64
	var a, b, c, d []float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if j < n-1 {
				a, b = append(a, f[i*n+j]), append(b, f[i*n+j+1])
			}
			if i < n-1 {
				c, d = append(c, f[i*n+j]), append(d, f[(i+1)*n+j])
			}
		}
	}
	require.InDelta(t, 0.93884, pearson(a, b), 0.000005)
	require.InDelta(t, 0.93881, pearson(c, d), 0.000005)
	f200, _ := run(t, 42, func(p *Params) { p.Steps = 200 })
	require.InDelta(t, 0.643, Std(f200)/Std(f), 0.0005)
}

func pearson(x, y []float64) float64 {
	mx, my := Mean(x), Mean(y)
	var sxy, sxx, syy float64
	for k := range x {
		sxy += (x[k] - mx) * (y[k] - my)
		sxx += (x[k] - mx) * (x[k] - mx)
		syy += (y[k] - my) * (y[k] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

// S-23, S-24 ★: manual pure diffusion with the package's Laplacian and clamp.
func TestManualDiffusion(t *testing.T) {
	for _, tc := range []struct {
		scale      float64
		steps      int
		std0, stdN float64
	}{{0.01, 200, math.Sqrt(9.67e-05), math.Sqrt(3.21e-08)}, {0.02, 100, 0.019666, 0.000828}} {
		rng := nprand.New(42)
		v := make([]float64, 32*32)
		for k := range v {
			v[k] = rng.Normal(-0.07, tc.scale)
		}
		require.InEpsilon(t, tc.std0, Std(v), 0.001)
		for s := 0; s < tc.steps; s++ {
			l := Laplacian(v, 32)
			for k := range v {
				v[k] = clamp(v[k]+float64(0.18*l[k]), FieldMinV, FieldMaxV)
			}
		}
		require.InEpsilon(t, tc.stdN, Std(v), 0.002)
	}
}

// Torus conservation: without spikes and Turing, diffusion keeps the total.
func TestDiffusionConservesSum(t *testing.T) {
	p := DefaultParams()
	p.GridSize, p.SpikeProbability, p.TuringEnabled = 16, 0, false
	s := New(p, nprand.New(5))
	before := Sum(s.Field())
	for s.Steps() < 500 {
		s.Step()
	}
	require.Equal(t, 0, s.GrowthEvents())
	require.InEpsilon(t, before, Sum(s.Field()), 1e-12)
}

// S-21, S-22, S-38: determinism; seeds and jitter change the field.
func TestDeterminism(t *testing.T) {
	a, ea := run(t, 123, func(p *Params) { p.GridSize, p.Steps = 32, 50 })
	b, eb := run(t, 123, func(p *Params) { p.GridSize, p.Steps = 32, 50 })
	require.Equal(t, a, b)
	require.Equal(t, ea, eb)
	c, _ := run(t, 42, func(p *Params) { p.GridSize, p.Steps = 32, 50 })
	require.Greater(t, maxAbsDiff(a, c), 1e-6)
	j, _ := run(t, 42, func(p *Params) { p.GridSize, p.Steps, p.QuantumJitter = 32, 50, true })
	require.Greater(t, maxAbsDiff(c, j), 1e-6)
}

// Steps = 0 returns the initial field: N² normal(−0.07, 0.005) draws (§2.6 goldens).
func TestZeroSteps(t *testing.T) {
	f, ev := run(t, 42, func(p *Params) { p.GridSize, p.Steps = 8, 0 })
	require.Equal(t, 0, ev)
	require.Equal(t, []float64{-0.06847641460122784, -0.07519992053120249, -0.06624774402096772}, f[:3])
}

// Grids 1 and 2 (every neighbour wraps onto itself or its twin) still run.
func TestTinyGrids(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		f, _ := run(t, 42, func(p *Params) { p.GridSize, p.Steps, p.SpikeProbability = n, 20, 1 })
		require.Len(t, f, n*n)
		for _, v := range f {
			require.True(t, v >= FieldMinV && v <= FieldMaxV)
		}
	}
}

func TestRunObserverAndContext(t *testing.T) {
	p := DefaultParams()
	p.GridSize, p.Steps = 16, 30
	want, wantEv, err := Run(context.Background(), nprand.New(7), p, nil)
	require.NoError(t, err)

	var steps []int
	var last []float64
	var lastEv int
	got, ev, err := Run(context.Background(), nprand.New(7), p, func(step int, s *Simulator) bool {
		steps = append(steps, step)
		last, lastEv = append(last[:0], s.Field()...), s.GrowthEvents()
		return true
	})
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, wantEv, ev)
	require.Equal(t, want, last)
	require.Equal(t, wantEv, lastEv)
	require.Len(t, steps, 30)
	require.Equal(t, 0, steps[0])
	require.Equal(t, 29, steps[29])

	calls := 0
	_, _, err = Run(context.Background(), nprand.New(7), p, func(step int, _ *Simulator) bool {
		calls++
		return step < 4
	})
	require.NoError(t, err)
	require.Equal(t, 5, calls)

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	f, _, err := Run(ctx, nprand.New(7), p, func(step int, _ *Simulator) bool {
		calls++
		if step == 2 {
			cancel()
		}
		return true
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 3, calls)
	require.Len(t, f, 256)

	_, _, err = Run(context.Background(), nprand.New(7), Params{GridSize: 0}, nil)
	require.True(t, errors.Is(err, ErrParams))
	_, _, err = Run(context.Background(), nprand.New(7), Params{GridSize: 4, Steps: -1}, nil)
	require.ErrorIs(t, err, ErrParams)
}

// Field's, Activator's and Inhibitor's capacities end at N², so appending to one cannot
// touch the next array of the state block.
func TestFieldCapacity(t *testing.T) {
	p := DefaultParams()
	p.GridSize = 8
	s := New(p, nprand.New(1))
	require.Equal(t, 64, cap(s.Field()))
	a := append([]float64(nil), s.Activator()...)
	in := append([]float64(nil), s.Inhibitor()...)
	_ = append(s.Field(), 1, 2, 3)
	_ = append(s.Activator(), 1, 2, 3)
	require.Equal(t, a, s.Activator())
	require.Equal(t, in, s.Inhibitor())
	require.Equal(t, 64, cap(s.Activator()))
	require.Equal(t, 64, cap(s.Inhibitor()))
	p.TuringEnabled = false
	off := New(p, nprand.New(1))
	require.Nil(t, off.Activator(), "the legacy simulator has no A or I with Turing off")
	require.Nil(t, off.Inhibitor())
}

func TestStepAllocatesNothing(t *testing.T) {
	for _, jitter := range []bool{false, true} {
		for _, turing := range []bool{false, true} {
			p := DefaultParams()
			p.GridSize, p.QuantumJitter, p.TuringEnabled = 32, jitter, turing
			s := New(p, nprand.New(1))
			require.Zero(t, testing.AllocsPerRun(20, s.Step))
		}
	}
}

// TestRunReusesPoisonedStates fills the state pool of a grid size with blocks of 1.0 and
// checks that simulators that take them, stepped as an unobserved Run steps (temporal
// blocks from 128² on, bands with two workers), end with the bits of a simulator on fresh
// states in V, A and I: nothing of a recycled block is read before it is written. The
// grid sizes are this test's own, so the reference (run first) gets fresh states.
func TestRunReusesPoisonedStates(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{61, 1}, {131, 1}, {133, 2}} {
		p := DefaultParams()
		p.GridSize, p.Steps, p.Workers = tc.n, 19, tc.workers
		advance := func() (v, a, in []uint64) {
			s := New(p, nprand.New(3))
			for done := 0; done < p.Steps; {
				done += s.Advance(p.Steps - done)
			}
			v, a, in = bitsOf(s.Field()), bitsOf(s.Activator()), bitsOf(s.Inhibitor())
			s.recycle()
			return v, a, in
		}
		wantV, wantA, wantI := advance()

		pool, _ := statePools.Load(tc.n)
		for range 4 {
			block := make([]float64, 3*(tc.n*tc.n+statePad(tc.n)))
			for k := range block {
				block[k] = 1
			}
			pool.(*sync.Pool).Put(&block)
		}
		for range 3 {
			v, a, in := advance()
			require.Equal(t, wantV, v, "V, n=%d workers=%d", tc.n, tc.workers)
			require.Equal(t, wantA, a, "A, n=%d workers=%d", tc.n, tc.workers)
			require.Equal(t, wantI, in, "I, n=%d workers=%d", tc.n, tc.workers)
			got, _, err := Run(context.Background(), nprand.New(3), p, nil)
			require.NoError(t, err)
			require.Equal(t, wantV, bitsOf(got), "Run, n=%d workers=%d", tc.n, tc.workers)
		}
	}
}

func bitsOf(x []float64) []uint64 {
	b := make([]uint64, len(x))
	for k, v := range x {
		b[k] = math.Float64bits(v)
	}
	return b
}

// TestStdMatchesMaterialisedSquares checks Std against numpy's recipe written out: the
// squares (x − mean)² materialised, summed pairwise per 8192-element chunk.
func TestStdMatchesMaterialisedSquares(t *testing.T) {
	rng := nprand.New(9)
	for _, n := range []int{1, 2, 7, 8, 9, 127, 128, 129, 136, 255, 1000, 4096, 8192, 8193, 20000} {
		x := make([]float64, n)
		for k := range x {
			x[k] = rng.Normal(-0.07, 0.005)
		}
		m := Mean(x)
		acc := 0.0
		for rest := x; len(rest) > 0; {
			k := min(len(rest), npChunk)
			sq := make([]float64, k)
			for i, v := range rest[:k] {
				d := v - m
				sq[i] = d * d
			}
			acc += pairwiseSum(sq)
			rest = rest[k:]
		}
		want := math.Sqrt(acc / float64(n))
		require.Equal(t, math.Float64bits(want), math.Float64bits(Std(x)), "n=%d", n)
	}
}

// TestFusedStatsMatch checks MinMax and MeanStd against Min, Max, Mean and Std, bit for
// bit, on random fields, signed zeros, NaN anywhere, and empty input.
func TestFusedStatsMatch(t *testing.T) {
	rng := nprand.New(5)
	cases := [][]float64{nil, {0, math.Copysign(0, -1)}, {math.Copysign(0, -1), 0}, {1}, {3, math.NaN(), -2}, {math.NaN()}, {-1, 2, math.NaN()}}
	for _, n := range []int{2, 100, 4096, 9000} {
		x := make([]float64, n)
		for k := range x {
			x[k] = rng.Normal(-0.07, 0.01)
		}
		cases = append(cases, x)
	}
	for i, x := range cases {
		lo, hi := MinMax(x)
		mean, std := MeanStd(x)
		require.Equal(t, math.Float64bits(Min(x)), math.Float64bits(lo), "case %d min", i)
		require.Equal(t, math.Float64bits(Max(x)), math.Float64bits(hi), "case %d max", i)
		require.Equal(t, math.Float64bits(Mean(x)), math.Float64bits(mean), "case %d mean", i)
		require.Equal(t, math.Float64bits(Std(x)), math.Float64bits(std), "case %d std", i)
	}
}
