package jobs

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// Goldens: numerical-core.md §20.1 (legacy simulator, default_rng(42)), in volts.
func TestSimulateGoldens(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		grid, steps             int
		turing                  bool
		events                  int
		minV, maxV, meanV, stdV float64
	}{
		{"grid 64 steps 64 (API defaults)", 64, 64, true, 14,
			-0.07070938698488535, -0.06730757873491175, -0.07003076248064738, 0.0003302476077214526},
		{"grid 32 steps 50", 32, 50, true, 17,
			-0.07082453196698339, -0.06497201831234893, -0.06980622579323571, 0.0005802650650273584},
		{"grid 32 steps 50 turing off", 32, 50, false, 9,
			-0.07079189661827061, -0.06765295560310579, -0.0699592559971551, 0.0004234459985145224},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := DefaultSimulateRequest()
			req.GridSize, req.Steps, req.TuringEnabled = tc.grid, tc.steps, tc.turing
			res, err := Execute(context.Background(), req)
			require.NoError(t, err)
			got := res.(SimulateResult)
			require.Equal(t, tc.events, got.GrowthEvents)
			require.Equal(t, tc.minV*1000, got.PotMinMV)
			require.Equal(t, tc.maxV*1000, got.PotMaxMV)
			require.InEpsilon(t, tc.meanV*1000, got.PotMeanMV, 1e-12)
			require.InEpsilon(t, tc.stdV*1000, got.PotStdMV, 1e-12)
			// The -60 mV binarisation gives dimension 0 for default runs (DESIGN.md decision 3).
			require.Equal(t, 0.0, got.FractalDimension)
		})
	}
}

func TestSimulateThresholdChangesDimensionOnly(t *testing.T) {
	req := DefaultSimulateRequest()
	req.GridSize, req.Steps = 32, 20
	base, err := Execute(context.Background(), req)
	require.NoError(t, err)
	req.ThresholdMV = -70 // about half the cells lie above the mean of -70 mV
	low, err := Execute(context.Background(), req)
	require.NoError(t, err)
	b, l := base.(SimulateResult), low.(SimulateResult)
	require.Greater(t, l.FractalDimension, 0.0)
	require.LessOrEqual(t, l.FractalDimension, 2.1)
	l.FractalDimension = b.FractalDimension
	require.Equal(t, b, l)
}

func TestSimulateAlphaOneAccepted(t *testing.T) {
	// §20.1: α = 1.0 is accepted and saturates at the clip bounds with D(V > -60 mV) ≈ 2.034.
	req := DefaultSimulateRequest()
	req.GridSize, req.Steps, req.Alpha = 32, 64, 1.0
	res, err := Execute(context.Background(), req)
	require.NoError(t, err)
	got := res.(SimulateResult)
	require.Equal(t, -95.0, got.PotMinMV)
	require.Equal(t, 40.0, got.PotMaxMV)
	require.InDelta(t, 2.034, got.FractalDimension, 0.001)
}

func TestObservedMatchesPlain(t *testing.T) {
	req := DefaultSimulateRequest()
	req.GridSize, req.Steps = 16, 10
	plain, err := Execute(context.Background(), req)
	require.NoError(t, err)

	for _, tc := range []struct {
		every int
		want  []int
	}{
		{1, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{3, []int{2, 5, 8, 9}},
		{5, []int{4, 9}},
		{50, []int{9}},
	} {
		var steps []int
		var last Snapshot
		obs := ObservedSimulation{SimulateRequest: req, Every: tc.every, Observe: func(s Snapshot) bool {
			steps = append(steps, s.Step)
			require.Equal(t, 10, s.TotalSteps)
			require.Len(t, s.Field, 16*16)
			last = s
			return true
		}}
		res, err := Execute(context.Background(), obs)
		require.NoError(t, err)
		require.Equal(t, plain, res)
		require.Equal(t, tc.want, steps)
		p := plain.(SimulateResult)
		require.Equal(t, p.GrowthEvents, last.GrowthEvents)
		require.Equal(t, p.PotMeanMV, last.PotMeanMV)
		require.Equal(t, p.PotStdMV, last.PotStdMV)
		require.Equal(t, p.PotMinMV, last.PotMinMV)
		require.Equal(t, p.PotMaxMV, last.PotMaxMV)
	}
}

func TestObservedStopAndCancel(t *testing.T) {
	req := DefaultSimulateRequest()
	req.GridSize, req.Steps = 8, 50

	calls := 0
	_, err := Execute(context.Background(), ObservedSimulation{SimulateRequest: req, Every: 1, Observe: func(Snapshot) bool {
		calls++
		return calls < 3
	}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 3, calls)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls = 0
	_, err = Execute(ctx, &ObservedSimulation{SimulateRequest: req, Every: 1, Observe: func(Snapshot) bool {
		calls++
		if calls == 2 {
			cancel()
		}
		return true
	}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 2, calls, "the run stops at the next step boundary")
}

func TestExecuteRejectsInvalid(t *testing.T) {
	_, err := Execute(context.Background(), SimulateRequest{})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "grid_size", ve.Field)
	_, err = Execute(context.Background(), nil)
	require.ErrorAs(t, err, &ve)
}

func TestExecuteRecoversPanic(t *testing.T) {
	req := DefaultSimulateRequest()
	req.GridSize, req.Steps = 8, 2
	_, err := Execute(context.Background(), ObservedSimulation{SimulateRequest: req, Every: 1,
		Observe: func(Snapshot) bool { panic("boom") }})
	require.ErrorIs(t, err, ErrInternal)
	require.Contains(t, err.Error(), "boom")
	require.NotEmpty(t, PanicStack(err))
	require.Nil(t, PanicStack(errors.New("x")))
}

func TestNernstGoldens(t *testing.T) {
	// numerical-core.md §6.4 (mV).
	for _, tc := range []struct {
		z       int
		out, in float64
		tempK   float64
		wantMV  float64
	}{
		{1, 5e-3, 140e-3, 310, -89.01066911987907},
		{1, 145e-3, 12e-3, 310, 66.5623001736488},
		{2, 2e-3, 1e-7, 310, 101.51859103677918}, // clamped at 1e-6 M
		{1, 20e-3, 400e-3, 291.65, -75.28590979344527},
		{3, 0.01, 0.001, 310, 20.502407060852207},
	} {
		req := DefaultNernstRequest()
		req.ZValence, req.ConcentrationOutMolar, req.ConcentrationInMolar, req.TemperatureK = tc.z, fp(tc.out), fp(tc.in), tc.tempK
		res, err := Execute(context.Background(), &req)
		require.NoError(t, err)
		require.InEpsilon(t, tc.wantMV, res.(NernstResult).PotentialMV, 1e-13)
	}
}

func TestFederated(t *testing.T) {
	// numerical-core.md §13.4 B: g_i = (i, i² mod 7), 3 clusters, byzantine 0.2 → (3.6, 2.0).
	g := make([][]float64, 10)
	for i := range g {
		g[i] = []float64{float64(i), float64(i * i % 7)}
	}
	req := DefaultFederatedRequest()
	req.Gradients, req.NumClusters = g, 3
	res, err := Execute(context.Background(), req)
	require.NoError(t, err)
	got := res.(FederatedResult)
	require.Equal(t, 10, got.NumInputGradients)
	require.Len(t, got.AggregatedGradient, 2)
	require.InDelta(t, 3.6, got.AggregatedGradient[0], 1e-6)
	require.Equal(t, 2.0, got.AggregatedGradient[1])
	for _, v := range got.AggregatedGradient {
		require.Equal(t, v, float64(float32(v)), "computed in float32, widened")
	}

	// Widening: a single gradient comes back as its float32 value, 1.1 → 1.100000023841858.
	req = DefaultFederatedRequest()
	req.Gradients = [][]float64{{1.1, -2.5}}
	res, err = Execute(context.Background(), req)
	require.NoError(t, err)
	got = res.(FederatedResult)
	require.InDelta(t, 1.100000023841858, got.AggregatedGradient[0], 3e-7)
	require.NotEqual(t, 1.1, got.AggregatedGradient[0])

	// api-contract §8.6 tests: 4×3 with 2 clusters, 3×2.
	req = DefaultFederatedRequest()
	req.Gradients, req.NumClusters = [][]float64{{1, 2, 3}, {2, 3, 4}, {3, 4, 5}, {100, 100, 100}}, 2
	res, err = Execute(context.Background(), req)
	require.NoError(t, err)
	require.Len(t, res.(FederatedResult).AggregatedGradient, 3)
	require.Equal(t, 4, res.(FederatedResult).NumInputGradients)
	require.False(t, math.IsNaN(res.(FederatedResult).AggregatedGradient[0]))
}

func TestValidateSmall(t *testing.T) {
	// numerical-core.md §14.3, seed 123, grid 32, steps 16.
	req := DefaultValidateRequest()
	req.Seed, req.GridSize, req.Steps = 123, 32, 16
	res, err := Execute(context.Background(), req)
	require.NoError(t, err)
	got := res.(ValidateResult)
	require.Equal(t, -71.72669422619552, got.PotMinMV)
	require.Equal(t, -62.55116905281039, got.PotMaxMV)
	require.Equal(t, 0.0, got.ExampleFractalDim)
	require.Equal(t, 5.0, got.GrowthEvents)
	require.InEpsilon(t, -2.1341392098406486, got.LyapunovExponent, 1e-12)
	require.InEpsilon(t, -89.01066911987905, got.NernstSymbolicMV, 1e-12)
	require.InEpsilon(t, -89.01066911987907, got.NernstNumericMV, 1e-12)
	require.Greater(t, got.LossStart, 0.0)
	require.Greater(t, got.LossFinal, 0.0)
	require.InDelta(t, got.LossStart-got.LossFinal, got.LossDrop, 1e-12)

	again, err := Execute(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, got, again, "deterministic per seed")
}
