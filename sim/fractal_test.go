package sim

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

func TestBoxSizes(t *testing.T) {
	tests := []struct {
		min, max, num int
		want          []int
	}{
		{2, 32, 5, []int{2, 4, 7, 16, 32}}, // the default list at n ≥ 64 (not powers of two)
		{2, 3, 5, []int{2, 3}},
		{2, 2, 5, []int{2}},
		{2, 4, 5, []int{2, 3, 4}},
		{2, 8, 5, []int{2, 3, 5, 8}}, // k2 = 3 instead of 4 (numpy quirk)
		{2, 16, 5, []int{2, 3, 5, 9, 16}},
		{2, 8, 8, []int{2, 3, 4, 5, 6, 8}},
		{2, 64, 8, []int{2, 3, 5, 8, 14, 23, 39, 64}},
		{2, 256, 8, []int{2, 4, 7, 16, 32, 64, 127, 256}},
		{2, 1, 1, []int{2}},
		{1, 64, 3, []int{1, 7, 64}},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, BoxSizes(tc.min, tc.max, tc.num), "geomspace(%d, %d, %d)", tc.min, tc.max, tc.num)
	}
}

// The default size lists of §7.2 as BoxCountingDimension derives them from n.
func TestDefaultSizeLists(t *testing.T) {
	auto := func(n, scales int) []int {
		mx := 2 << (scales - 1)
		if n >= 4 {
			mx = min(mx, n/2)
		} else {
			mx = min(mx, n)
		}
		return BoxSizes(2, max(mx, 2), scales)
	}
	require.Equal(t, []int{2, 3}, auto(3, 5))
	require.Equal(t, []int{2}, auto(4, 5))
	require.Equal(t, []int{2, 3, 4}, auto(8, 5))
	require.Equal(t, []int{2, 3, 5, 8}, auto(16, 5))
	require.Equal(t, []int{2, 3, 5, 9, 16}, auto(32, 5))
	require.Equal(t, []int{2, 4, 7, 16, 32}, auto(64, 5))
	require.Equal(t, []int{2, 4, 6, 9, 14, 21, 32}, auto(64, 8))
	require.Equal(t, []int{2, 3, 5, 8, 14, 23, 39, 64}, auto(128, 8))
	require.Equal(t, []int{2, 3, 6, 11, 21, 39, 70, 128}, auto(256, 8))
	require.Equal(t, []int{2, 4, 7, 16, 32, 64, 127, 256}, auto(512, 8))
	require.Equal(t, []int{2, 3, 4, 6, 8, 11, 16}, auto(32, 8))
}

func randomMask(seed uint64, n int, thr float64) []bool {
	rng := nprand.New(seed)
	b := make([]bool, n*n)
	for k := range b {
		b[k] = rng.Random() > thr
	}
	return b
}

func fullMask(n int) []bool {
	b := make([]bool, n*n)
	for k := range b {
		b[k] = true
	}
	return b
}

// §7.3 worked counts and §17.3 F-01…F-06, F-17 (★ rows exact to 1e-12).
func TestBoxCountingGoldens(t *testing.T) {
	row32 := make([]bool, 64*64)
	diag := make([]bool, 64*64)
	single := make([]bool, 64*64)
	for j := 0; j < 64; j++ {
		row32[32*64+j] = true
		diag[j*64+j] = true
	}
	single[10*64+20] = true
	tests := []struct {
		name   string
		mask   []bool
		n      int
		wantD  float64
		wantR2 float64 // NaN: not checked
	}{
		{"full64", fullMask(64), 64, 1.9993017672867235, 0.9999589209849034},
		{"random_gt_0.5", randomMask(42, 64, 0.5), 64, 1.9813864357391142, 0.999918093295569},
		{"random_gt_0.7", randomMask(42, 64, 0.7), 64, 1.9196096005918173, 0.998464014448916},
		{"row32", row32, 64, 0.9996508836433617, math.NaN()},
		{"diagonal", diag, 64, 0.9996508836433617, math.NaN()},
		{"empty", make([]bool, 64*64), 64, 0, 0},
		{"single", single, 64, 0, 0},
		{"full16", fullMask(16), 16, 1.9961871574052799, math.NaN()},
		{"full8", fullMask(8), 8, 2.0931372330166638, math.NaN()},
		{"full4", fullMask(4), 4, 0, 0},
		{"full3", fullMask(3), 3, 0, 0},
		{"full128", fullMask(128), 128, 1.9993017672867237, math.NaN()},
		{"random256_gt_0.5", randomMask(42, 256, 0.5), 256, 1.9827045201268887, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, r2, err := BoxCountingDimension(tc.mask, tc.n, 2, 0, 5)
			require.NoError(t, err)
			require.InEpsilon(t, 1+tc.wantD, 1+d, 1e-12)
			if !math.IsNaN(tc.wantR2) {
				require.InDelta(t, tc.wantR2, r2, 1e-12)
			}
		})
	}
}

func TestBoxCountingErrors(t *testing.T) {
	_, _, err := BoxCountingDimension(make([]bool, 10), 3, 2, 0, 5)
	require.ErrorIs(t, err, ErrShape)
	_, _, err = BoxCountingDimension(make([]bool, 9), 3, 2, 0, 0)
	require.ErrorIs(t, err, ErrScales)
}

// Explicit max box sizes are not capped by n (sizes beyond n are skipped).
func TestBoxCountingExplicitMax(t *testing.T) {
	d, _, err := BoxCountingDimension(fullMask(16), 16, 2, 64, 5)
	require.NoError(t, err)
	// sizes [2, 4, 11, 26, 64] → 26 and 64 do not fit: counts 64, 16, 1.
	x := []float64{math.Log(1.0 / 2), math.Log(1.0 / 4), math.Log(1.0 / 11)}
	y := []float64{math.Log(64), math.Log(16), math.Log(1)}
	want, _ := fitLine(x, y)
	require.Equal(t, []int{2, 4, 11, 26, 64}, BoxSizes(2, 64, 5))
	require.InDelta(t, want, d, 1e-15)
}

// §20.1 / §4.4: the −60 mV binarisation of a default field is empty, so D = 0 (W-5);
// F-10: thresholding at the median gives ★ 1.757933141801126.
func TestFractalDimensionOfSimulatedField(t *testing.T) {
	p := DefaultParams()
	p.Steps = 100
	s := New(p, nprand.New(42))
	for s.Steps() < p.Steps {
		s.Step()
	}
	f := s.Field()
	require.Equal(t, 0.0, FractalDimension(f, 64, -0.060))
	med := Median(f)
	require.Equal(t, -0.06998800051127005, med)
	require.InEpsilon(t, 1.757933141801126, FractalDimension(f, 64, med), 1e-12)
	// F-16: V > −70 mV → 1.778 (2148 cells).
	cells := 0
	for _, v := range f {
		if v > -0.070 {
			cells++
		}
	}
	require.Equal(t, 2148, cells)
	require.InDelta(t, 1.778, FractalDimension(f, 64, -0.070), 0.0005)
}

// F-11 ★: seeds 100–109, 64×100, median threshold: D = 1.767 ± 0.010.
func TestFractalDimensionAcrossSeeds(t *testing.T) {
	var ds []float64
	for seed := uint64(100); seed < 110; seed++ {
		p := DefaultParams()
		p.Steps = 100
		s := New(p, nprand.New(seed))
		for s.Steps() < p.Steps {
			s.Step()
		}
		ds = append(ds, FractalDimension(s.Field(), 64, Median(s.Field())))
	}
	require.InDelta(t, 1.767, Mean(ds), 0.0005)
	require.InDelta(t, 0.010, Std(ds), 0.0005)
}

// F-15 ★: four regimes × seeds 0, 100, …, 400 (64×100, median threshold): the spread of
// D and of the field std (mV) across the 20 runs is 0.0822 and 12.2250.
func TestRegimeSpread(t *testing.T) {
	regimes := []func(*Params){
		func(p *Params) { p.TuringEnabled, p.SpikeProbability = false, 0 },
		func(p *Params) { p.TuringEnabled, p.SpikeProbability = false, 0.5 },
		func(p *Params) { p.TuringEnabled, p.SpikeProbability = true, 0.25 },
		func(p *Params) { p.TuringEnabled, p.SpikeProbability, p.QuantumJitter = true, 0.25, true },
	}
	var ds, stds []float64
	for _, mod := range regimes {
		for seed := uint64(0); seed <= 400; seed += 100 {
			p := DefaultParams()
			p.Steps = 100
			mod(&p)
			f, _, err := Run(context.Background(), nprand.New(seed), p, nil)
			require.NoError(t, err)
			ds = append(ds, FractalDimension(f, 64, Median(f)))
			stds = append(stds, Std(f)*1000)
		}
	}
	require.InDelta(t, 0.0822, Std(ds), 0.00005)
	require.InDelta(t, 12.2250, Std(stds), 0.00005)
}

// boxesNaive counts the s×s boxes of the k×k tiling holding a true cell, cell by cell:
// the definition countBoxes' bitset form must agree with.
func boxesNaive(binary []bool, n, s, k int) int {
	count := 0
	for bi := range k {
		for bj := range k {
			hit := false
			for r := bi * s; r < bi*s+s; r++ {
				for c := bj * s; c < bj*s+s; c++ {
					hit = hit || binary[r*n+c]
				}
			}
			if hit {
				count++
			}
		}
	}
	return count
}

// TestCountBoxesMatchesNaive checks the bitset box count against the cell-by-cell one for
// sizes around the 64-bit word edges, densities from empty to full, and every box size.
func TestCountBoxesMatchesNaive(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 63, 64, 65, 100, 128, 129, 200} {
		for _, density := range []float64{0, 0.001, 0.05, 0.5, 1} {
			binary := randomMask(uint64(n), n, 1-density)
			m := maskOf(binary, n)
			for s := 1; s <= n; s++ {
				k := n / s
				if got, want := countBoxes(m, s, k), boxesNaive(binary, n, s, k); got != want {
					t.Fatalf("n=%d density=%g s=%d: %d boxes, want %d", n, density, s, got, want)
				}
			}
		}
	}
}

// TestMaskAboveMatchesThreshold checks that FractalDimension's mask is the thresholded field.
func TestMaskAboveMatchesThreshold(t *testing.T) {
	for _, n := range []int{5, 64, 70} {
		field := make([]float64, n*n)
		rng := nprand.New(uint64(n))
		binary := make([]bool, n*n)
		for k := range field {
			field[k] = rng.Normal(-0.07, 0.02)
			binary[k] = field[k] > -0.06
		}
		require.Equal(t, maskOf(binary, n), maskAbove(field, n, -0.06))
	}
}
