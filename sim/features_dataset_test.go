package sim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireFeatures compares against a §15.3 golden vector: integers exactly, the rest
// within 1e-9 relative (FE-18's tolerance; 1e-12 absolute for values that are ≈ 0).
func requireFeatures(t *testing.T, want [FeatureCount]float64, got FeatureVector) {
	t.Helper()
	arr := got.Array()
	for i, w := range want {
		switch {
		case w == math.Trunc(w) && math.Abs(w) < 1e6 && (i == 10 || (i >= 13 && i <= 16)):
			require.Equal(t, w, arr[i], FeatureNames[i])
		case math.Abs(w) < 1e-12:
			require.InDelta(t, w, arr[i], 1e-12, FeatureNames[i])
		default:
			require.InEpsilon(t, w, arr[i], 1e-9, FeatureNames[i])
		}
	}
}

// sinField is §15.3 (b)/(c)'s field −0.070 + amp·sin(2πi/32)·cos(2πj/32).
func sinField(amp float64) []float64 {
	f := make([]float64, 32*32)
	for i := 0; i < 32; i++ {
		for j := 0; j < 32; j++ {
			f[i*32+j] = -0.070 + amp*math.Sin(2*math.Pi*float64(i)/32)*math.Cos(2*math.Pi*float64(j)/32)
		}
	}
	return f
}

func TestFeatureGoldens(t *testing.T) {
	cfg := DefaultFeatureConfig()
	t.Run("a_engine_history", func(t *testing.T) {
		run := engineRun(t, nil, 50, true, true)
		f, err := ComputeFeatures(run.History, 50, 32, cfg)
		require.NoError(t, err)
		requireFeatures(t, [FeatureCount]float64{0, 0, -70.82453196698339, -64.97201831234894, -69.80622579323571,
			0.5802650650273583, 1.5739464684123596, 8.283504366176222, 0.0665068353732083, 8.169057149533387,
			50, -989.2320298013447, 0, 0, 0, 0, 0, 0}, f)
		// Values that need no fit are exact to the last bit.
		require.Equal(t, -70.82453196698339, f.VMin)
		require.Equal(t, -64.97201831234894, f.VMax)
		require.Equal(t, -69.80622579323571, f.VMean)
		require.Equal(t, 0.5802650650273583, f.VStd)
		// Skew and kurtosis pass through numpy's x**3 and x**4, whose last bit depends on
		// the machine's pow (SIMD or libm); they agree within a few ulps.
		require.InEpsilon(t, 1.5739464684123596, f.VSkew, 1e-14)
		require.InEpsilon(t, 8.283504366176222, f.VKurt, 1e-14)
		require.Equal(t, 0.0665068353732083, f.DVMean)
		require.Equal(t, 8.169057149533387, f.DVMax)
	})
	t.Run("b_sin_snapshot", func(t *testing.T) {
		f, err := ComputeFeatures(sinField(0.030), 1, 32, cfg)
		require.NoError(t, err)
		requireFeatures(t, [FeatureCount]float64{1.4863417955157219, 0.9802261149239072, -100.0, -40.00000000000001,
			-70.0, 15.0, 0, -0.7500000000000004, 0, 0, 0, 0, 0.267578125, 3, 3, 0, 137, 32.72443871006635}, f)
		require.InDelta(t, 0, f.VSkew, 1e-12)
	})
	t.Run("c_decaying_history", func(t *testing.T) {
		h := make([]float64, 0, 30*32*32)
		for s := 0; s < 30; s++ {
			h = append(h, sinField(0.030*math.Pow(0.9, float64(s)))...)
		}
		f, err := ComputeFeatures(h, 30, 32, cfg)
		require.NoError(t, err)
		requireFeatures(t, [FeatureCount]float64{0, 0, -71.41303860917388, -68.58696139082613, -70.0,
			0.7065193045869375, 0, -0.7499999999999929, 0.39694778309697953, 3.0, 30, -5542.4178549263215,
			0, 0, 0, 0, 0, 0}, f)
	})
}

// FE-03 … FE-11: the reference's analytics tests.
func TestFeatureBehaviour(t *testing.T) {
	cfg := DefaultFeatureConfig()
	constant := func(n int, v float64) []float64 {
		f := make([]float64, n*n)
		for k := range f {
			f[k] = v
		}
		return f
	}
	t.Run("FE-03_constant", func(t *testing.T) {
		f, err := ComputeFeatures(constant(32, -0.070), 1, 32, cfg)
		require.NoError(t, err)
		require.InDelta(t, -70, f.VMean, 0.1)
		require.InDelta(t, 0, f.VStd, 0.01)
		require.Zero(t, f.VSkew)
		require.Zero(t, f.VKurt)
	})
	t.Run("FE-06_identical_frames", func(t *testing.T) {
		h := make([]float64, 0, 50*16*16)
		for s := 0; s < 50; s++ {
			h = append(h, constant(16, -0.070)...)
		}
		c := cfg
		c.StabilityWindow = 5
		f, err := ComputeFeatures(h, 50, 16, c)
		require.NoError(t, err)
		require.Zero(t, f.DVMean)
		require.Equal(t, 1, f.TStable)
	})
	t.Run("FE-05_single_frame", func(t *testing.T) {
		f, err := ComputeFeatures(constant(8, -0.070), 1, 8, cfg)
		require.NoError(t, err)
		require.Zero(t, f.TStable)
		require.Zero(t, f.ETrend)
	})
	t.Run("short_history_T_stable_is_T", func(t *testing.T) {
		h := append(constant(8, -0.070), constant(8, -0.069)...)
		f, err := ComputeFeatures(h, 2, 8, cfg)
		require.NoError(t, err)
		require.Equal(t, 2, f.TStable)
	})
	t.Run("FE-08_block", func(t *testing.T) {
		fl := constant(32, -0.070)
		for i := 10; i < 20; i++ {
			for j := 10; j < 20; j++ {
				fl[i*32+j] = -0.040
			}
		}
		c := cfg
		c.ThresholdLowMV = -50
		f, err := ComputeFeatures(fl, 1, 32, c)
		require.NoError(t, err)
		require.Equal(t, 1, f.NClustersLow)
		require.Equal(t, 100, f.MaxClusterSize)
		require.Zero(t, f.ClusterSizeStd)
	})
	t.Run("FE-10_all_low", func(t *testing.T) {
		f, err := ComputeFeatures(constant(16, -0.090), 1, 16, cfg)
		require.NoError(t, err)
		require.Zero(t, f.NClustersLow+f.NClustersMed+f.NClustersHigh+f.MaxClusterSize)
		require.Zero(t, f.FActive)
	})
	t.Run("FE-11_connectivity", func(t *testing.T) {
		diag := []bool{true, false, false, true}
		n4, _ := clusters(diag, 2, 4)
		n8, _ := clusters(diag, 2, 8)
		require.Equal(t, 2, n4)
		require.Equal(t, 1, n8)
		anti := []bool{false, true, true, false}
		n8, sizes := clusters(anti, 2, 8)
		require.Equal(t, 1, n8)
		require.Equal(t, []int{2}, sizes)
		row := []bool{true, true, true, true, true, false, false, false, false, false,
			false, false, false, false, false, false, false, false, false, false, false, false, false, false, false}
		n, sizes := clusters(row, 5, 4)
		require.Equal(t, 1, n)
		require.Equal(t, []int{5}, sizes)
	})
}

func TestFeatureErrors(t *testing.T) {
	cfg := DefaultFeatureConfig()
	_, err := ComputeFeatures(make([]float64, 10), 1, 3, cfg)
	require.ErrorIs(t, err, ErrShape)
	for _, tc := range []struct {
		mod   func(*FeatureConfig)
		field string
	}{
		{func(c *FeatureConfig) { c.MinBoxSize = 0 }, "min_box_size"},
		{func(c *FeatureConfig) { c.NumScales = 1 }, "num_scales"},
		{func(c *FeatureConfig) { c.Connectivity = 6 }, "connectivity"},
		{func(c *FeatureConfig) { c.StabilityWindow = 0 }, "stability_window"},
		{func(c *FeatureConfig) { c.MaxBoxSize = -1 }, "max_box_size"},
	} {
		c := cfg
		tc.mod(&c)
		_, err := ComputeFeatures(make([]float64, 16), 1, 4, c)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, tc.field, ce.Field)
	}
}

func TestPowCorrectlyRounded(t *testing.T) {
	for _, x := range []float64{0, 1, -1, 2, 1.1, -0.3, 3.7e-3, 12345.678, 1e-100} {
		require.InEpsilon(t, math.Pow(x, 3)+1e-300, pow3(x)+1e-300, 1e-15)
		require.InEpsilon(t, math.Pow(x, 4)+1e-300, pow4(x)+1e-300, 1e-15)
	}
}

// The stream sums |ΔV| in numpy's 8192-element chunks of the materialised array, also
// when a chunk spans frames (48² = 2304 cells do not divide 8192).
func TestFeatureStreamChunksLikeNumpy(t *testing.T) {
	run := engineRun(t, func(c *EngineConfig) { c.GridSize = 48 }, 20, true, true)
	nn := 48 * 48
	diffs := make([]float64, 0, 19*nn)
	for k := nn; k < len(run.History); k++ {
		diffs = append(diffs, math.Abs(run.History[k]*1000.0-run.History[k-nn]*1000.0))
	}
	fs, err := NewFeatureStream(48, DefaultFeatureConfig())
	require.NoError(t, err)
	for s := 0; s < 20; s++ {
		fs.Add(run.History[s*nn : (s+1)*nn])
	}
	f, err := fs.Features()
	require.NoError(t, err)
	require.Equal(t, Mean(diffs), f.DVMean)
	require.Equal(t, Max(diffs), f.DVMax)
	whole, err := ComputeFeatures(run.History, 20, 48, DefaultFeatureConfig())
	require.NoError(t, err)
	require.Equal(t, whole, f)

	empty, err := NewFeatureStream(8, DefaultFeatureConfig())
	require.NoError(t, err)
	_, err = empty.Features()
	require.ErrorIs(t, err, ErrShape)
	empty.Add(make([]float64, 64))
	empty.Add(make([]float64, 3))
	_, err = empty.Features()
	require.ErrorIs(t, err, ErrShape)
}
