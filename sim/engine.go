package sim

import (
	"context"
	"errors"
	"fmt"
	"math"

	"mfn/nprand"
)

// Boundary is the engine's boundary condition (numerical-core.md §3.1).
type Boundary int

// The three boundary conditions of ReactionDiffusionEngine.
const (
	Periodic  Boundary = iota // torus (the default, and the only one of the legacy simulator)
	Neumann                   // zero flux: the ghost cell is the boundary cell itself
	Dirichlet                 // zero ghost values: the field is pulled towards 0 V at the edges
)

// String is the reference's name of the boundary condition.
func (b Boundary) String() string {
	switch b {
	case Periodic:
		return "periodic"
	case Neumann:
		return "neumann"
	case Dirichlet:
		return "dirichlet"
	}
	return fmt.Sprintf("Boundary(%d)", int(b))
}

// Engine limits and the CFL bound (numerical-core.md §5.1).
const (
	EngineGridMin      = 4
	EngineGridMax      = 1024
	MaxStableDiffusion = 0.25
)

// EngineConfig is ReactionDiffusionConfig (numerical-core.md §5.1). Seed replaces the
// reference's optional random_seed: every engine run here is reproducible.
type EngineConfig struct {
	GridSize         int
	DActivator       float64
	DInhibitor       float64
	RActivator       float64
	RInhibitor       float64
	TuringThreshold  float64
	Alpha            float64
	Boundary         Boundary
	QuantumJitter    bool
	JitterVar        float64 // V²
	SpikeProbability float64
	CheckStability   bool
	Seed             uint64
}

// DefaultEngineConfig is the reference's ReactionDiffusionConfig() with seed 0.
func DefaultEngineConfig() EngineConfig {
	return EngineConfig{
		GridSize:         64,
		DActivator:       diffActivator,
		DInhibitor:       diffInhibitor,
		RActivator:       rateActivator,
		RInhibitor:       rateInhibitor,
		TuringThreshold:  0.75,
		Alpha:            0.18,
		Boundary:         Periodic,
		JitterVar:        0.0005,
		SpikeProbability: 0.25,
		CheckStability:   true,
	}
}

// ConfigError names the EngineConfig or FeatureConfig field that is out of range, with the
// reference's message. Stability is true where the reference raises StabilityError (a
// diffusion coefficient above the CFL limit) rather than ValueOutOfRangeError.
type ConfigError struct {
	Field     string // the reference's parameter name, e.g. "alpha"
	Reason    string
	Stability bool
}

func (e *ConfigError) Error() string { return "sim: " + e.Field + ": " + e.Reason }

// Is makes every ConfigError match ErrParams.
func (e *ConfigError) Is(target error) bool { return target == ErrParams }

// Validate checks the reference's rules in the reference's order (§5.1); NaN, which the
// reference lets through every check, is rejected ([FIX]).
func (c EngineConfig) Validate() error {
	if c.GridSize < EngineGridMin || c.GridSize > EngineGridMax {
		return &ConfigError{Field: "grid_size", Reason: fmt.Sprintf("Grid size must be in [%d, %d], got %d", EngineGridMin, EngineGridMax, c.GridSize)}
	}
	for _, d := range []struct {
		name     string
		v, lower float64
	}{{"d_activator", c.DActivator, 0.01}, {"d_inhibitor", c.DInhibitor, 0.01}, {"alpha", c.Alpha, 0.05}} {
		if math.IsNaN(d.v) {
			return &ConfigError{Field: d.name, Reason: "must be a number, got NaN"}
		}
		if d.v >= MaxStableDiffusion {
			return &ConfigError{Field: d.name, Stability: true, Reason: fmt.Sprintf(
				"%s=%v exceeds CFL stability limit of %v. Reduce to maintain numerical stability.", d.name, d.v, MaxStableDiffusion)}
		}
		if d.v < d.lower {
			return &ConfigError{Field: d.name, Reason: fmt.Sprintf("%s must be in [%v, %v)", d.name, d.lower, MaxStableDiffusion)}
		}
	}
	for _, r := range []struct {
		name, why string
		v         float64
	}{{"r_activator", "for stable pattern formation", c.RActivator}, {"r_inhibitor", "for stable damping", c.RInhibitor}} {
		if !(r.v >= 0.001 && r.v <= 0.1) {
			return &ConfigError{Field: r.name, Reason: fmt.Sprintf("%s must be in [0.001, 0.1] %s, got %v", r.name, r.why, r.v)}
		}
	}
	if !(c.TuringThreshold >= 0.5 && c.TuringThreshold <= 0.95) {
		return &ConfigError{Field: "turing_threshold", Reason: fmt.Sprintf("turing_threshold must be in [0.5, 0.95] for pattern activation, got %v", c.TuringThreshold)}
	}
	if !(c.SpikeProbability >= 0 && c.SpikeProbability <= 1) {
		return &ConfigError{Field: "spike_probability", Reason: fmt.Sprintf("Spike probability must be in [0, 1], got %v", c.SpikeProbability)}
	}
	if !(c.JitterVar >= 0 && c.JitterVar <= 0.01) {
		return &ConfigError{Field: "jitter_var", Reason: fmt.Sprintf("jitter_var must be in [0.0, 0.01] for stability, got %v", c.JitterVar)}
	}
	if c.Boundary < Periodic || c.Boundary > Dirichlet {
		return &ConfigError{Field: "boundary_condition", Reason: fmt.Sprintf("unknown boundary condition %d", int(c.Boundary))}
	}
	return nil
}

// EngineMetrics are ReactionDiffusionMetrics after a run (§5.3).
type EngineMetrics struct {
	FieldMinV          float64
	FieldMaxV          float64
	FieldMeanV         float64
	FieldStdV          float64
	ActivatorMean      float64
	InhibitorMean      float64
	StepsComputed      int
	GrowthEvents       int
	TuringActivations  int
	ClampingEvents     int
	NaNDetected        bool
	InfDetected        bool
	StepsToInstability int // −1 when the run stayed finite
}

// InstabilityError is NumericalInstabilityError: a NaN or Inf found after a step when
// CheckStability is on. It matches ErrInstability.
type InstabilityError struct {
	Step  int    // 0-based step after which it was found
	Array string // "field", "activator" or "inhibitor"
	NaN   int    // NaN cells (0 when the error is about Inf)
	Inf   int    // Inf cells (0 when the error is about NaN)
}

// ErrInstability matches every *InstabilityError.
var ErrInstability = errors.New("sim: numerical instability")

func (e *InstabilityError) Error() string {
	what := "NaN"
	if e.NaN == 0 {
		what = "Inf"
	}
	return fmt.Sprintf("%s values detected in %s (step %d)", what, e.Array, e.Step)
}

// Is makes every InstabilityError match ErrInstability.
func (e *InstabilityError) Is(target error) bool { return target == ErrInstability }

// EngineRun is the outcome of Engine.Simulate.
type EngineRun struct {
	Field   []float64 // final V, N×N row-major, volts; owned by the caller
	History []float64 // with keepHistory: the post-step fields, steps×N×N (initial state excluded)
	Metrics EngineMetrics
}

// Engine is ReactionDiffusionEngine. Like the reference, every Simulate starts from
// scratch (reset: metrics zeroed, RNG re-seeded, field re-drawn), so two calls with the
// same arguments return the same run. An Engine belongs to one goroutine.
type Engine struct {
	cfg EngineConfig
	n   int
	// Scratch reused across steps: Laplacians of V, A and I.
	lv, la, li []float64
}

// NewEngine validates cfg and returns an engine for it.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, n: cfg.GridSize}, nil
}

// Config is the engine's configuration.
func (e *Engine) Config() EngineConfig { return e.cfg }

// EngineObserver sees V after each step (0-based). The slice is the engine's buffer, valid
// only during the call. Returning false stops the run early (Simulate returns what it has).
type EngineObserver func(step int, field []float64) bool

// Simulate is simulate(steps, turing_enabled, return_history) (§5.2, §5.3): reset, draw
// V (N² normals), A and I (N² uniforms each, always), then run steps steps. It checks ctx
// between steps. With CheckStability, a NaN or Inf stops the run with an
// *InstabilityError; the returned EngineRun then holds the metrics so far.
func (e *Engine) Simulate(ctx context.Context, steps int, turing, keepHistory bool, obs EngineObserver) (*EngineRun, error) {
	if steps < 1 {
		return nil, &ConfigError{Field: "steps", Reason: fmt.Sprintf("steps must be at least 1, got %d", steps)}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nn := e.n * e.n
	rng := nprand.New(e.cfg.Seed)
	v := make([]float64, nn)
	a := make([]float64, nn)
	in := make([]float64, nn)
	for k := range v {
		v[k] = rng.Normal(RestMeanV, RestStdV)
	}
	for k := range a {
		a[k] = rng.Uniform(0, initialTuringHi)
	}
	for k := range in {
		in[k] = rng.Uniform(0, initialTuringHi)
	}
	if e.lv == nil {
		e.lv, e.la, e.li = make([]float64, nn), make([]float64, nn), make([]float64, nn)
	}
	run := &EngineRun{Metrics: EngineMetrics{StepsToInstability: -1}}
	if keepHistory {
		run.History = make([]float64, 0, steps*nn)
	}
	m := &run.Metrics
	var err error
	for step := 0; step < steps; step++ {
		if step > 0 {
			if err = ctx.Err(); err != nil {
				break
			}
		}
		if err = e.step(rng, step, v, a, in, turing, m); err != nil {
			break
		}
		if keepHistory {
			run.History = append(run.History, v...)
		}
		m.StepsComputed++
		if obs != nil && !obs(step, v[:nn:nn]) {
			break
		}
	}
	run.Field = v
	m.FieldMinV, m.FieldMaxV = Min(v), Max(v)
	m.FieldMeanV, m.FieldStdV = Mean(v), Std(v)
	m.ActivatorMean, m.InhibitorMean = Mean(a), Mean(in)
	return run, err
}

// step is _simulation_step: spike, diffusion, Turing (old A and old I on both right-hand
// sides), jitter, clamp with counting, NaN/Inf check. Expressions keep the reference's
// order of operations; products are wrapped in float64(...) so that no FMA is fused.
func (e *Engine) step(rng *nprand.Generator, step int, v, a, in []float64, turing bool, m *EngineMetrics) error {
	c, n := &e.cfg, e.n
	if rng.Random() < c.SpikeProbability {
		i := rng.Integers(0, int64(n))
		j := rng.Integers(0, int64(n))
		v[int(i)*n+int(j)] += rng.Normal(SpikeMeanV, SpikeStdV)
		m.GrowthEvents++
	}
	if c.Boundary == Periodic {
		// The legacy Turing-off kernel is exactly V + α·L(V) on the torus.
		stepPlainRows(e.lv, v, n, c.Alpha, false, 0, n)
		copy(v, e.lv)
	} else {
		laplacianBC(e.lv, v, n, c.Boundary)
		for k, l := range e.lv {
			v[k] += float64(c.Alpha * l)
		}
	}
	if turing {
		laplacianBC(e.la, a, n, c.Boundary)
		laplacianBC(e.li, in, n, c.Boundary)
		for k := range a {
			ak, ik := a[k], in[k]
			da := float64(c.DActivator*e.la[k]) + float64(c.RActivator*(float64(ak*(1-ak))-ik))
			di := float64(c.DInhibitor*e.li[k]) + float64(c.RInhibitor*(ak-ik))
			na, ni := ak+da, ik+di
			if na > c.TuringThreshold {
				v[k] += TuringBoostV
				m.TuringActivations++
			}
			a[k], in[k] = clamp(na, 0, 1), clamp(ni, 0, 1)
		}
	}
	if c.QuantumJitter {
		sigma := math.Sqrt(c.JitterVar)
		for k := range v {
			v[k] += rng.Normal(0, sigma)
		}
	}
	for k, x := range v {
		if x > FieldMaxV || x < FieldMinV {
			m.ClampingEvents++
			v[k] = clamp(x, FieldMinV, FieldMaxV)
		}
	}
	if !c.CheckStability {
		return nil
	}
	for _, arr := range []struct {
		name string
		x    []float64
	}{{"field", v}, {"activator", a}, {"inhibitor", in}} {
		if allFinite(arr.x) {
			continue
		}
		nan, inf := 0, 0
		for _, x := range arr.x {
			if x != x {
				nan++
			} else if math.IsInf(x, 0) {
				inf++
			}
		}
		// The reference reports NaN before Inf within one array.
		if nan > 0 {
			m.NaNDetected = true
			inf = 0
		} else {
			m.InfDetected = true
		}
		if m.StepsToInstability < 0 {
			m.StepsToInstability = step
		}
		return &InstabilityError{Step: step, Array: arr.name, NaN: nan, Inf: inf}
	}
	return nil
}

// laplacianBC writes the 5-point Laplacian of the n×n field u into dst with the boundary
// condition's neighbours and summation order (§3.1): periodic and Neumann add
// (u[i−1] + u[i+1]) + u[j−1] + u[j+1]; Dirichlet, whose reference variable names are
// swapped, adds (u[i+1] + u[i−1]) + u[j+1] + u[j−1], with 0 outside the grid.
func laplacianBC(dst, u []float64, n int, bc Boundary) {
	if bc == Periodic {
		laplacianPeriodic(dst, u, n)
		return
	}
	for r := 0; r < n; r++ {
		for col := 0; col < n; col++ {
			k := r*n + col
			c := u[k]
			var up, down, left, right float64
			switch bc {
			case Periodic:
				up, down = u[((r-1+n)%n)*n+col], u[((r+1)%n)*n+col]
				left, right = u[r*n+(col-1+n)%n], u[r*n+(col+1)%n]
			case Neumann:
				up, down, left, right = c, c, c, c
				if r > 0 {
					up = u[k-n]
				}
				if r < n-1 {
					down = u[k+n]
				}
				if col > 0 {
					left = u[k-1]
				}
				if col < n-1 {
					right = u[k+1]
				}
			case Dirichlet:
				if r < n-1 {
					up = u[k+n]
				}
				if r > 0 {
					down = u[k-n]
				}
				if col < n-1 {
					left = u[k+1]
				}
				if col > 0 {
					right = u[k-1]
				}
			}
			dst[k] = lap(up, down, left, right, c)
		}
	}
}

// laplacianPeriodic is the periodic case of laplacianBC with the wrap evaluated only at
// the first and last row and column, so the interior loop indexes row slices the
// compiler can prove in bounds (n ≥ 3; the engine's grid is at least 4).
func laplacianPeriodic(dst, u []float64, n int) {
	for r := 0; r < n; r++ {
		up, down := r-1, r+1
		if r == 0 {
			up = n - 1
		}
		if r == n-1 {
			down = 0
		}
		ru, rc, rd := u[up*n:up*n+n], u[r*n:r*n+n], u[down*n:down*n+n]
		o := dst[r*n : r*n+n]
		o[0] = lap(ru[0], rd[0], rc[n-1], rc[1], rc[0])
		o[n-1] = lap(ru[n-1], rd[n-1], rc[n-2], rc[0], rc[n-1])
		m := n - 2
		oi, ui, di := o[1:m+1], ru[1:m+1], rd[1:m+1]
		l, c, rt := rc[:m], rc[1:m+1], rc[2:m+2]
		for j := range oi {
			oi[j] = ((ui[j] + di[j]) + l[j]) + rt[j] - float64(4.0*c[j])
		}
	}
}

// allFinite reports whether no value is NaN or ±Inf: x − x is 0 for every finite x and
// NaN otherwise, one subtraction per cell instead of two classifications.
func allFinite(x []float64) bool {
	for _, v := range x {
		if v-v != 0 {
			return false
		}
	}
	return true
}
