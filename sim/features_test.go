package sim

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// §15.5 golden for field (b) of §15.3.
func TestStreamFeaturesGolden(t *testing.T) {
	n := 32
	f := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			f[i*n+j] = -0.070 + float64(0.030*math.Sin(2*math.Pi*float64(i)/32))*math.Cos(2*math.Pi*float64(j)/32)
		}
	}
	got := StreamFeatures(f, n)
	require.InDelta(t, -70.0, got.PotMeanMV, 1e-10)
	require.InEpsilon(t, 15.0, got.PotStdMV, 1e-12)
	require.InEpsilon(t, -100.0, got.PotMinMV, 1e-12)
	require.InEpsilon(t, -40.00000000000001, got.PotMaxMV, 1e-12)
	require.Equal(t, 1024, got.ActiveNodes)
	require.Equal(t, 1.0, got.ActivityRatio)
	require.Equal(t, 2.0, got.FractalDimension)
	require.InEpsilon(t, 5.248000000000001, got.TotalEnergy, 1e-12)
	require.InEpsilon(t, 1.7137489088218732e-05, got.SpatialVariance, 1e-12)

	b, err := json.Marshal(got)
	require.NoError(t, err)
	var keys map[string]any
	require.NoError(t, json.Unmarshal(b, &keys))
	for _, k := range []string{"pot_mean_mV", "pot_std_mV", "pot_min_mV", "pot_max_mV", "active_nodes",
		"activity_ratio", "fractal_dimension", "total_energy", "spatial_variance"} {
		require.Contains(t, keys, k)
	}
	require.Len(t, keys, 9)
}

func TestStreamFractalDimension(t *testing.T) {
	n := 64
	quiet := make([]float64, n*n) // |V| ≤ 0.01 everywhere: all inactive
	require.Equal(t, 0.0, StreamFractalDimension(quiet, n), "[FIX] 0, not NaN")
	single := make([]float64, n*n)
	single[5*n+9] = -0.07
	require.Equal(t, 0.0, StreamFractalDimension(single, n))
	uniform := make([]float64, n*n)
	for k := range uniform {
		uniform[k] = -0.07
	}
	require.Equal(t, 2.0, StreamFractalDimension(uniform, n))
	require.Equal(t, 1.0, StreamFractalDimension([]float64{-0.07, -0.07, -0.07, -0.07}, 2), "one size only")
	// Sizes 2 and 4 on a 4×4 grid with one active 2×2 block: counts 1 and 1 → slope 0.
	block := make([]float64, 16)
	block[0], block[1], block[4], block[5] = -0.07, -0.07, -0.07, -0.07
	require.Equal(t, 0.0, StreamFractalDimension(block, 4))
	f := StreamFeatures(quiet, n)
	require.Equal(t, 0, f.ActiveNodes)
	require.Equal(t, 0.0, f.FractalDimension)
}

func TestStats(t *testing.T) {
	require.Equal(t, 2.5, Median([]float64{4, 1, 3, 2}))
	require.Equal(t, 3.0, Median([]float64{5, 1, 3}))
	require.Equal(t, 1.0, Percentile([]float64{3, 1, 2}, 0))
	require.Equal(t, 3.0, Percentile([]float64{3, 1, 2}, 100))
	require.Equal(t, 1.5, Percentile([]float64{1, 2, 3}, 25))
	require.True(t, math.IsNaN(Median(nil)))
	require.True(t, math.IsNaN(Median([]float64{1, math.NaN()})))
	require.True(t, math.IsNaN(Min([]float64{1, math.NaN(), 0})))
	require.True(t, math.IsNaN(Max([]float64{1, math.NaN(), 2})))
	require.Equal(t, -3.0, Min([]float64{1, -3, 2}))
	require.Equal(t, 2.0, Max([]float64{1, -3, 2}))
	require.Equal(t, 2.0, Mean([]float64{1, 2, 3}))
	require.Equal(t, math.Sqrt(2.0/3), Std([]float64{1, 2, 3}))

	// Pairwise summation differs from a running sum exactly where numpy's does: 1e16
	// followed by ones. A running sum loses every 1; numpy's 8-way blocks keep them.
	x := make([]float64, 17)
	x[0] = 1e16
	for k := 1; k < len(x); k++ {
		x[k] = 1
	}
	run := 0.0
	for _, v := range x {
		run += v
	}
	require.Equal(t, 1e16, run)
	// numpy: r[0..7] = x[0..7], then r[j] += x[8+j] (r0 = 1e16 + 1 rounds back to 1e16,
	// r1..r7 = 2), combined ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then x[16] added.
	r0, one, two := x[0]+x[8], x[1], x[1]+x[9]
	want := ((r0 + two) + (two + two)) + ((two + two) + (two + two))
	want += one
	require.Equal(t, 1e16+16, want)
	require.Equal(t, want, Sum(x))

	// Beyond 8192 elements, chunks are summed separately then added.
	big := make([]float64, 8192+8)
	big[0] = 1e16
	for k := 1; k < len(big); k++ {
		big[k] = 1
	}
	require.Equal(t, Sum(big[:8192])+Sum(big[8192:]), Sum(big))
}

func TestGradientAndLaplacian(t *testing.T) {
	u := []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}
	gy, gx := Gradient(u, 3)
	require.Equal(t, []float64{7, 14, 28, 31.5, 63, 126, 56, 112, 224}, gy)
	require.Equal(t, []float64{1, 1.5, 2, 8, 12, 16, 64, 96, 128}, gx)
	l := Laplacian(u, 3)
	// Cell (1,1): up 2, down 128, left 8, right 32 → 170 − 64.
	require.Equal(t, 106.0, l[4])
	// Periodic corner (0,0): up 64, down 8, left 4, right 2 → 78 − 4.
	require.Equal(t, 74.0, l[0])
}
