package sim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

// §8.1 goldens (fresh default_rng(42)) and I-01…I-05.
func TestIFSGoldens(t *testing.T) {
	tests := []struct {
		points   int
		lambda   float64
		last     [2]float64
		maxCoord float64
	}{
		{1000, -2.3317039324074043, [2]float64{0.3389624228443474, 0.2085928343786767}, 1.0448220101518477},
		{5000, -2.335119297405669, [2]float64{0.19940416055960963, -0.6921895633283296}, 1.0520201601539985},
		{10000, -2.342536694280626, [2]float64{0.6124875745885996, 0.6248358180222747}, 1.0520201601539985},
	}
	for _, tc := range tests {
		pts, lambda := IFS(nprand.New(42), tc.points, 4)
		require.Len(t, pts, tc.points)
		require.InEpsilon(t, tc.lambda, lambda, 1e-12)
		// The first point is (e, f) of the first chosen transform: pure draws, exact.
		require.Equal(t, [2]float64{0.7171958398227649, 0.3947360581187278}, pts[0])
		require.InDelta(t, tc.last[0], pts[tc.points-1][0], 1e-12)
		require.InDelta(t, tc.last[1], pts[tc.points-1][1], 1e-12)
		m := 0.0
		for _, p := range pts {
			m = max(m, math.Abs(p[0]), math.Abs(p[1]))
		}
		require.InEpsilon(t, tc.maxCoord, m, 1e-12)
	}
}

// I-03 determinism; I-04 ★ seeds 0–9 with 5000 points: mean −2.220, min −2.496, max −1.770;
// λ always in [2 ln 0.2, 2 ln 0.5].
func TestIFSSeeds(t *testing.T) {
	a, la := IFS(nprand.New(123), 100, 4)
	b, lb := IFS(nprand.New(123), 100, 4)
	require.Equal(t, a, b)
	require.Equal(t, la, lb)

	var ls []float64
	for seed := uint64(0); seed < 10; seed++ {
		_, l := IFS(nprand.New(seed), 5000, 4)
		require.GreaterOrEqual(t, l, 2*math.Log(0.2))
		require.LessOrEqual(t, l, 2*math.Log(0.5))
		ls = append(ls, l)
	}
	require.InDelta(t, -2.220, Mean(ls), 0.0005)
	require.InDelta(t, -2.496, Min(ls), 0.0005)
	require.InDelta(t, -1.770, Max(ls), 0.0005)
}

func TestIFSInvalid(t *testing.T) {
	pts, l := IFS(nprand.New(1), 0, 4)
	require.Empty(t, pts)
	require.True(t, math.IsNaN(l))
	pts, l = IFS(nprand.New(1), 10, 0)
	require.Empty(t, pts)
	require.True(t, math.IsNaN(l))
}
