package sim

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

func engineRun(t *testing.T, mod func(*EngineConfig), steps int, turing, history bool) *EngineRun {
	t.Helper()
	cfg := DefaultEngineConfig()
	cfg.GridSize, cfg.Seed = 32, 42
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewEngine(cfg)
	require.NoError(t, err)
	run, err := e.Simulate(context.Background(), steps, turing, history, nil)
	require.NoError(t, err)
	return run
}

// Goldens of numerical-core.md §15.3 (a) and §20.1 (engine paragraph):
// ReactionDiffusionEngine(grid 32, seed 42), defaults, Turing on.
func TestEngineGoldens(t *testing.T) {
	tests := []struct {
		name                    string
		steps                   int
		growth                  int
		minV, maxV, meanV, stdV float64 // NaN: not in the spec
		actMean, inhMean        float64
	}{
		{"steps50_15.3a", 50, 17, -0.07082453196698339, -0.06497201831234893, -0.06980622579323571, 0.0005802650650273584,
			0.049293825589986164, 0.049853632917373},
		{"steps64_20.1", 64, 21, -0.07069347293847145, -0.06424574293447027, -0.06972884760703857, 0.0005513681036154303,
			math.NaN(), math.NaN()},
		{"steps1000_20.1", 1000, 249, math.NaN(), math.NaN(), -0.06532336852663265, math.NaN(),
			0.02511355327554172, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := engineRun(t, nil, tc.steps, true, false)
			m := run.Metrics
			require.Equal(t, tc.growth, m.GrowthEvents)
			require.Zero(t, m.TuringActivations)
			require.Zero(t, m.ClampingEvents)
			require.Equal(t, tc.steps, m.StepsComputed)
			require.Equal(t, -1, m.StepsToInstability)
			for _, c := range []struct {
				name      string
				want, got float64
			}{
				{"field_min_v", tc.minV, m.FieldMinV}, {"field_max_v", tc.maxV, m.FieldMaxV},
				{"field_mean_v", tc.meanV, m.FieldMeanV}, {"field_std_v", tc.stdV, m.FieldStdV},
				{"activator_mean", tc.actMean, m.ActivatorMean}, {"inhibitor_mean", tc.inhMean, m.InhibitorMean},
			} {
				if !math.IsNaN(c.want) {
					require.Equal(t, c.want, c.got, c.name)
				}
			}
		})
	}
}

// §5.4: with Turing on and the default threshold the engine's field is bit-identical to
// the legacy simulator's (the mask never fires, so V does not depend on A and I).
func TestEngineMatchesLegacyField(t *testing.T) {
	for _, tc := range []struct {
		grid, steps int
		alpha       float64
		seed        uint64
	}{{32, 50, 0.18, 42}, {32, 32, 0.15, 46}, {64, 100, 0.10, 7}, {16, 200, 0.24, 123}} {
		cfg := DefaultEngineConfig()
		cfg.GridSize, cfg.Alpha, cfg.Seed = tc.grid, tc.alpha, tc.seed
		e, err := NewEngine(cfg)
		require.NoError(t, err)
		run, err := e.Simulate(context.Background(), tc.steps, true, true, nil)
		require.NoError(t, err)
		p := DefaultParams()
		p.GridSize, p.Steps, p.Alpha = tc.grid, tc.steps, tc.alpha
		legacy, events, err := Run(context.Background(), nprand.New(tc.seed), p, nil)
		require.NoError(t, err)
		require.Equal(t, legacy, run.Field)
		require.Equal(t, events, run.Metrics.GrowthEvents)
		nn := tc.grid * tc.grid
		require.Len(t, run.History, tc.steps*nn)
		require.Equal(t, run.Field, run.History[(tc.steps-1)*nn:], "history[-1] == field")
	}
}

// Reset semantics (§5.2): every Simulate restarts from the seed, so calls repeat exactly.
func TestEngineResetsEachSimulate(t *testing.T) {
	cfg := DefaultEngineConfig()
	cfg.GridSize, cfg.Seed = 16, 9
	e, err := NewEngine(cfg)
	require.NoError(t, err)
	a, err := e.Simulate(context.Background(), 1, true, false, nil)
	require.NoError(t, err)
	b, err := e.Simulate(context.Background(), 1, true, false, nil)
	require.NoError(t, err)
	require.Equal(t, a.Field, b.Field)
	require.Equal(t, a.Metrics, b.Metrics)
}

// §5.4: the engine draws A and I even with Turing off, so its stream differs from the
// legacy Turing-off stream; and turning Turing off still changes nothing else.
func TestEngineTuringOffDrawsAI(t *testing.T) {
	run := engineRun(t, nil, 50, false, false)
	p := DefaultParams()
	p.GridSize, p.Steps, p.TuringEnabled = 32, 50, false
	legacyOff, _, err := Run(context.Background(), nprand.New(42), p, nil)
	require.NoError(t, err)
	require.NotEqual(t, legacyOff, run.Field)
	maxDiff := 0.0
	for k := range legacyOff {
		maxDiff = max(maxDiff, math.Abs(legacyOff[k]-run.Field[k]))
	}
	require.Greater(t, maxDiff, 1e-6)
	require.Less(t, maxDiff, 0.0046+1e-4, "§5.4: up to 4.6 mV for 32×32×50")
	// A and I are untouched with Turing off: their means are those of the initial draws.
	require.InDelta(t, 0.05, run.Metrics.ActivatorMean, 0.005)
}

// A pure Neumann or Dirichlet Laplacian against hand-derived values on a 4×4 ramp.
func TestLaplacianBoundaries(t *testing.T) {
	n := 4
	u := make([]float64, n*n)
	for k := range u {
		u[k] = float64(k + 1) // row r, col c → 4r + c + 1
	}
	dst := make([]float64, n*n)
	laplacianBC(dst, u, n, Neumann)
	// Corner (0,0) = 1: up=1 (itself), down=5, left=1 (itself), right=2 → 1+5+1+2−4 = 5.
	require.Equal(t, 5.0, dst[0])
	// Interior (1,1) = 6: 2 + 10 + 5 + 7 − 24 = 0.
	require.Equal(t, 0.0, dst[5])
	laplacianBC(dst, u, n, Dirichlet)
	// Corner (0,0) = 1: zero ghosts above and left → 5 + 2 − 4 = 3.
	require.Equal(t, 3.0, dst[0])
	// Corner (3,3) = 16: 12 + 15 − 64 = −37.
	require.Equal(t, -37.0, dst[15])
	laplacianBC(dst, u, n, Periodic)
	require.Equal(t, Laplacian(u, n), dst)
}

// S-36, S-39: every boundary runs finite; jitter on a long run stays finite and clamps.
func TestEngineBoundariesAndJitter(t *testing.T) {
	for _, bc := range []Boundary{Periodic, Neumann, Dirichlet} {
		run := engineRun(t, func(c *EngineConfig) { c.GridSize, c.Boundary = 16, bc }, 50, true, false)
		for _, v := range run.Field {
			require.False(t, math.IsNaN(v) || math.IsInf(v, 0))
			require.True(t, v >= FieldMinV && v <= FieldMaxV)
		}
	}
	dir := engineRun(t, func(c *EngineConfig) { c.GridSize, c.Boundary = 16, Dirichlet }, 50, true, false)
	per := engineRun(t, func(c *EngineConfig) { c.GridSize = 16 }, 50, true, false)
	require.Greater(t, dir.Metrics.FieldMaxV, per.Metrics.FieldMaxV, "zero ghosts pull the edges towards 0 V")
	jit := engineRun(t, func(c *EngineConfig) { c.QuantumJitter = true }, 200, true, false)
	require.Positive(t, jit.Metrics.ClampingEvents)
	require.False(t, jit.Metrics.NaNDetected || jit.Metrics.InfDetected)
	require.Equal(t, FieldMinV, jit.Metrics.FieldMinV)
	require.Equal(t, FieldMaxV, jit.Metrics.FieldMaxV)
}

// S-29, S-30: the reference's validation rules, in its order, naming the parameter.
func TestEngineConfigValidate(t *testing.T) {
	tests := []struct {
		name      string
		mod       func(*EngineConfig)
		field     string
		stability bool
	}{
		{"defaults", func(c *EngineConfig) {}, "", false},
		{"edges_accepted", func(c *EngineConfig) {
			c.GridSize, c.DActivator, c.DInhibitor, c.RActivator, c.RInhibitor = 4, 0.01, 0.01, 0.001, 0.1
			c.TuringThreshold, c.Alpha, c.JitterVar = 0.95, 0.24, 0.01
		}, "", false},
		{"grid3", func(c *EngineConfig) { c.GridSize = 3 }, "grid_size", false},
		{"grid1025", func(c *EngineConfig) { c.GridSize = 1025 }, "grid_size", false},
		{"alpha_cfl", func(c *EngineConfig) { c.Alpha = 0.25 }, "alpha", true},
		{"d_activator_cfl", func(c *EngineConfig) { c.DActivator = 0.30 }, "d_activator", true},
		{"d_inhibitor_cfl", func(c *EngineConfig) { c.DInhibitor = 0.25 }, "d_inhibitor", true},
		{"alpha_negative", func(c *EngineConfig) { c.Alpha = -0.1 }, "alpha", false},
		{"alpha_nan", func(c *EngineConfig) { c.Alpha = math.NaN() }, "alpha", false},
		{"r_activator_low", func(c *EngineConfig) { c.RActivator = 0.0005 }, "r_activator", false},
		{"r_inhibitor_high", func(c *EngineConfig) { c.RInhibitor = 0.2 }, "r_inhibitor", false},
		{"threshold_0.4", func(c *EngineConfig) { c.TuringThreshold = 0.4 }, "turing_threshold", false},
		{"threshold_nan", func(c *EngineConfig) { c.TuringThreshold = math.NaN() }, "turing_threshold", false},
		{"probability", func(c *EngineConfig) { c.SpikeProbability = 1.5 }, "spike_probability", false},
		{"jitter", func(c *EngineConfig) { c.JitterVar = 0.02 }, "jitter_var", false},
		{"boundary", func(c *EngineConfig) { c.Boundary = 7 }, "boundary_condition", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultEngineConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.field, ce.Field)
			require.Equal(t, tc.stability, ce.Stability)
			require.ErrorIs(t, err, ErrParams)
		})
	}
}

func TestEngineStepsAndContext(t *testing.T) {
	e, err := NewEngine(DefaultEngineConfig())
	require.NoError(t, err)
	_, err = e.Simulate(context.Background(), 0, true, false, nil)
	require.ErrorIs(t, err, ErrParams)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	run, err := e.Simulate(ctx, 100, true, false, func(step int, field []float64) bool {
		calls++
		if step == 4 {
			cancel()
		}
		return true
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 5, calls)
	require.Equal(t, 5, run.Metrics.StepsComputed)
}

func TestInstabilityError(t *testing.T) {
	// A NaN cannot arise from valid parameters, so put one in the field directly.
	e, err := NewEngine(func() EngineConfig { c := DefaultEngineConfig(); c.GridSize = 8; return c }())
	require.NoError(t, err)
	rng := nprand.New(1)
	v, a, in := make([]float64, 64), make([]float64, 64), make([]float64, 64)
	e.lv, e.la, e.li = make([]float64, 64), make([]float64, 64), make([]float64, 64)
	v[3] = math.NaN()
	in[5] = math.Inf(1)
	m := EngineMetrics{StepsToInstability: -1}
	err = e.step(rng, 7, v, a, in, true, &m)
	var ie *InstabilityError
	require.True(t, errors.As(err, &ie))
	require.ErrorIs(t, err, ErrInstability)
	require.Equal(t, "field", ie.Array)
	require.Positive(t, ie.NaN)
	require.Equal(t, 7, m.StepsToInstability)
	require.True(t, m.NaNDetected)
	require.Contains(t, err.Error(), "NaN values detected in field")
}

func TestBoundaryString(t *testing.T) {
	require.Equal(t, "periodic", Periodic.String())
	require.Equal(t, "neumann", Neumann.String())
	require.Equal(t, "dirichlet", Dirichlet.String())
	require.Equal(t, "Boundary(9)", Boundary(9).String())
}
