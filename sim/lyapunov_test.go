package sim

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

func constHistory(t, n int, val func(t int) float64) [][]float64 {
	h := make([][]float64, t)
	for i := range h {
		h[i] = make([]float64, n*n)
		for k := range h[i] {
			h[i][k] = val(i)
		}
	}
	return h
}

// L-01, L-02, L-07, and NaN tolerance (L-03).
func TestLyapunovFromHistory(t *testing.T) {
	half := constHistory(10, 8, func(t int) float64 { return math.Pow(0.5, float64(t)) })
	require.InDelta(t, -math.Log(4), LyapunovFromHistory(half, 1), 1e-15)
	require.InDelta(t, -math.Log(2), LyapunovFromHistory(half, 2), 1e-15)
	require.Equal(t, 0.0, LyapunovFromHistory(constHistory(5, 4, func(int) float64 { return 3 }), 1))
	require.Equal(t, 0.0, LyapunovFromHistory(half[:1], 1))
	require.Equal(t, 0.0, LyapunovFromHistory(nil, 1))
	withNaN := constHistory(6, 4, func(t int) float64 { return float64(t) })
	withNaN[3][5] = math.NaN()
	l := LyapunovFromHistory(withNaN, 1)
	require.False(t, math.IsNaN(l))
	// L-04: dt scales the value.
	rng := nprand.New(3)
	rnd := constHistory(20, 8, func(int) float64 { return 0 })
	for _, f := range rnd {
		for k := range f {
			f[k] = rng.Random()
		}
	}
	require.NotEqual(t, LyapunovFromHistory(rnd, 1), LyapunovFromHistory(rnd, 0.1))
}

func TestIsStable(t *testing.T) {
	for _, l := range []float64{-2.1, -0.001, -100} {
		require.True(t, IsStable(l, 0), l)
	}
	for _, l := range []float64{0.1, 2.5, 100, 0} {
		require.False(t, IsStable(l, 0), l)
	}
	require.True(t, IsStable(0.3, 0.5))
	require.False(t, IsStable(0.6, 0.5))
	require.True(t, IsStable(-0.5, -0.1))
	require.False(t, IsStable(0, -0.1))
	require.False(t, IsStable(-0.05, -0.1))
}

// M-02…M-09.
func TestStabilityMetrics(t *testing.T) {
	b, err := json.Marshal(StabilityMetrics(nil, 1))
	require.NoError(t, err)
	var keys map[string]any
	require.NoError(t, json.Unmarshal(b, &keys))
	require.Len(t, keys, 5)
	for _, k := range []string{"lyapunov_exponent", "is_stable", "mean_change_rate", "max_change_rate", "final_std"} {
		require.Contains(t, keys, k)
	}

	ramp := constHistory(10, 4, func(t int) float64 { return 0.1 * float64(t) })
	m := StabilityMetrics(ramp, 1)
	require.InDelta(t, 0.1, m.MeanChangeRate, 0.01)
	require.InDelta(t, 0.1, m.MaxChangeRate, 0.01)

	lin := constHistory(10, 4, func(t int) float64 { return float64(t) })
	require.InEpsilon(t, StabilityMetrics(lin, 1).MeanChangeRate, 2*StabilityMetrics(lin, 2).MeanChangeRate, 0.01)

	one := StabilityMetrics(lin[:1], 1)
	require.Equal(t, 0.0, one.MeanChangeRate)
	require.Equal(t, 0.0, one.MaxChangeRate)
	require.Equal(t, 0.0, one.FinalStd)

	step := constHistory(2, 4, func(t int) float64 { return float64(t) })
	m = StabilityMetrics(step, 1)
	require.Equal(t, 1.0, m.MeanChangeRate)
	require.Equal(t, 1.0, m.MaxChangeRate)

	m = StabilityMetrics(constHistory(50, 8, func(int) float64 { return 5 }), 1)
	require.Equal(t, Stability{}, m)

	rng := nprand.New(9)
	decay := constHistory(100, 16, func(int) float64 { return 0 })
	for i, f := range decay {
		for k := range f {
			f[k] = rng.StandardNormal() * math.Pow(0.95, float64(i))
		}
	}
	m = StabilityMetrics(decay, 1)
	require.Less(t, m.FinalStd, Std(decay[0]))
	require.Equal(t, m.LyapunovExponent < 0, m.IsStable == 1) // M-08: flag mirrors IsStable(λ)
	for _, v := range []float64{m.LyapunovExponent, m.MeanChangeRate, m.MaxChangeRate, m.FinalStd} {
		require.False(t, math.IsNaN(v) || math.IsInf(v, 0))
	}
}
