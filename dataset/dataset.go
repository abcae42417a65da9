package dataset

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"mfn/sim"
)

// DefaultSeed is the reference's base seed.
const DefaultSeed = 42

// Scenario limits of the reference's ScenarioConfig (pipelines/scenarios.py).
const (
	MinGrid  = 8
	MaxGrid  = 256
	MinSteps = 1
	MaxSteps = 1000
	// MaxSamples is the reference DatasetConfig's num_samples limit (integration-ops.md §10).
	MaxSamples = 100_000
)

// ErrInvalid matches every invalid scenario, sweep or sample.
var ErrInvalid = errors.New("dataset: invalid parameters")

// FieldError names the parameter that is wrong and why; it matches ErrInvalid.
type FieldError struct {
	Field  string // the reference's parameter name, e.g. "grid_size"
	Reason string
}

func (e *FieldError) Error() string { return "dataset: " + e.Field + ": " + e.Reason }

// Is makes every FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Sample is one simulation of a dataset: the row's parameter columns.
type Sample struct {
	SimID         int
	ScenarioName  string // preset mode only; empty in sweep mode
	GridSize      int
	Steps         int
	Alpha         float64
	TuringEnabled bool
	RandomSeed    int64
}

// Validate checks a sample against the scenario limits (grid 8–256, steps 1–1000, a
// finite alpha in (0, 0.25), seed ≥ 0). The engine's own rule (alpha ≥ 0.05) is not
// checked here: as in the reference, such a sample fails in RunSample and is skipped.
func (s Sample) Validate() error {
	switch {
	case s.SimID < 0:
		return invalid("sim_id", "must be >= 0, got %d", s.SimID)
	case s.GridSize < MinGrid || s.GridSize > MaxGrid:
		return invalid("grid_size", "must be in [%d, %d], got %d", MinGrid, MaxGrid, s.GridSize)
	case s.Steps < MinSteps || s.Steps > MaxSteps:
		return invalid("steps", "must be in [%d, %d], got %d", MinSteps, MaxSteps, s.Steps)
	case !(s.Alpha > 0 && s.Alpha < sim.MaxStableDiffusion):
		return invalid("alpha", "must be in (0, 0.25) for CFL stability, got %v", s.Alpha)
	case s.RandomSeed < 0:
		return invalid("random_seed", "must be >= 0, got %d", s.RandomSeed)
	}
	return nil
}

// Row is one dataset row: the sample, its 18 features and the engine's counters.
type Row struct {
	Sample
	Features          sim.FeatureVector
	GrowthEvents      int
	TuringActivations int
	ClampingEvents    int
}

// RunSample runs the sample's engine (grid, alpha and seed set, every other parameter
// the default, no jitter) for Steps steps and extracts the features of its history with
// the default FeatureConfig, as _run_single_simulation and compute_features do. It
// needs about 12 fields of memory (12 × 8 × N² bytes: 6 MiB at N = 256), whatever Steps is.
func RunSample(ctx context.Context, s Sample) (Row, error) {
	if err := s.Validate(); err != nil {
		return Row{}, err
	}
	cfg := sim.DefaultEngineConfig()
	cfg.GridSize, cfg.Alpha, cfg.Seed = s.GridSize, s.Alpha, uint64(s.RandomSeed) // #nosec G115 -- Validate checked RandomSeed >= 0
	eng, err := sim.NewEngine(cfg)
	if err != nil {
		return Row{}, fmt.Errorf("sample %d: %w", s.SimID, err)
	}
	// The features are computed as the frames come, so a sample holds a few fields, not
	// its whole history (the reference materialises steps × N² values).
	fs, err := sim.NewFeatureStream(s.GridSize, sim.DefaultFeatureConfig())
	if err != nil {
		return Row{}, err
	}
	run, err := eng.Simulate(ctx, s.Steps, s.TuringEnabled, false, func(_ int, field []float64) bool {
		fs.Add(field)
		return true
	})
	if err != nil {
		return Row{}, fmt.Errorf("sample %d: %w", s.SimID, err)
	}
	f, err := fs.Features()
	if err != nil {
		return Row{}, fmt.Errorf("sample %d features: %w", s.SimID, err)
	}
	return Row{Sample: s, Features: f, GrowthEvents: run.Metrics.GrowthEvents,
		TuringActivations: run.Metrics.TuringActivations, ClampingEvents: run.Metrics.ClampingEvents}, nil
}

// Scenario is ScenarioConfig: one grid and step count, alphas cycled with
// SeedsPerConfig seeds each until NumSamples samples.
type Scenario struct {
	Name           string // the preset's scenario name, e.g. "benchmark_small"
	Dir            string // output directory under the data root, e.g. "scenarios/benchmark_small"
	Description    string
	GridSize       int
	Steps          int
	NumSamples     int
	SeedsPerConfig int
	Alphas         []float64
	TuringEnabled  bool
	BaseSeed       int64
}

var presets = map[string]Scenario{
	"small": {Name: "scientific_small", Dir: "scenarios/scientific_small",
		Description: "Small scientific scenario for quick validation (Nernst/Turing/STDP).",
		GridSize:    32, Steps: 50, NumSamples: 10, SeedsPerConfig: 2, Alphas: []float64{0.15}},
	"medium": {Name: "features_medium", Dir: "scenarios/features_medium",
		Description: "Medium feature-generation scenario for ML training.",
		GridSize:    64, Steps: 100, NumSamples: 100, SeedsPerConfig: 3, Alphas: []float64{0.10, 0.15, 0.20}},
	"large": {Name: "features_large", Dir: "scenarios/features_large",
		Description: "Large feature-generation scenario for production ML.",
		GridSize:    128, Steps: 200, NumSamples: 500, SeedsPerConfig: 5, Alphas: []float64{0.08, 0.12, 0.16, 0.20}},
	"benchmark": {Name: "benchmark_small", Dir: "scenarios/benchmark_small",
		Description: "Small benchmark scenario for performance testing.",
		GridSize:    32, Steps: 32, NumSamples: 5, SeedsPerConfig: 1, Alphas: []float64{0.15}},
}

// PresetNames lists the presets in the reference's order.
func PresetNames() []string { return []string{"small", "medium", "large", "benchmark"} }

// Preset returns a copy of the named preset (Turing on, base seed 42).
func Preset(name string) (Scenario, error) {
	p, ok := presets[name]
	if !ok {
		return Scenario{}, invalid("preset", "unknown preset %q (choose from small, medium, large, benchmark)", name)
	}
	p.Alphas = slices.Clone(p.Alphas)
	p.TuringEnabled = true
	p.BaseSeed = DefaultSeed
	return p, nil
}

// Validate applies ScenarioConfig's checks.
func (s Scenario) Validate() error {
	switch {
	case s.GridSize < MinGrid || s.GridSize > MaxGrid:
		return invalid("grid_size", "must be in [%d, %d], got %d", MinGrid, MaxGrid, s.GridSize)
	case s.Steps < MinSteps || s.Steps > MaxSteps:
		return invalid("steps", "must be in [%d, %d], got %d", MinSteps, MaxSteps, s.Steps)
	case s.NumSamples < 1 || s.NumSamples > MaxSamples:
		return invalid("num_samples", "must be in [1, %d], got %d", MaxSamples, s.NumSamples)
	case s.SeedsPerConfig < 1:
		return invalid("seeds_per_config", "must be >= 1, got %d", s.SeedsPerConfig)
	case len(s.Alphas) == 0:
		return invalid("alpha_values", "must not be empty")
	case s.BaseSeed < 0:
		return invalid("base_seed", "must be >= 0, got %d", s.BaseSeed)
	}
	for _, a := range s.Alphas {
		if !(a > 0 && a < sim.MaxStableDiffusion) {
			return invalid("alpha_values", "alpha must be in (0, 0.25) for CFL stability, got %v", a)
		}
	}
	return nil
}

// Samples is _generate_param_configs: cycle "for alpha: for seed offset" until
// NumSamples, with random_seed = base seed + sim_id.
func (s Scenario) Samples() []Sample {
	out := make([]Sample, 0, s.NumSamples)
	for len(out) < s.NumSamples {
		for _, a := range s.Alphas {
			for range s.SeedsPerConfig {
				if len(out) >= s.NumSamples {
					return out
				}
				id := len(out)
				out = append(out, Sample{SimID: id, ScenarioName: s.Name, GridSize: s.GridSize, Steps: s.Steps,
					Alpha: a, TuringEnabled: s.TuringEnabled, RandomSeed: s.BaseSeed + int64(id)})
			}
		}
	}
	return out
}

// Sweep is SweepConfig: the full grid × steps × alpha × Turing product, SeedsPerConfig
// samples each.
type Sweep struct {
	Name           string
	GridSizes      []int
	Steps          []int
	Alphas         []float64
	Turing         []bool
	SeedsPerConfig int
	BaseSeed       int64
}

var sweeps = map[string]Sweep{
	"minimal": {GridSizes: []int{32}, Steps: []int{50}, Alphas: []float64{0.15}, Turing: []bool{true}, SeedsPerConfig: 2},
	"default": {GridSizes: []int{32, 64}, Steps: []int{50, 100}, Alphas: []float64{0.10, 0.15, 0.20},
		Turing: []bool{true, false}, SeedsPerConfig: 3},
	"extended": {GridSizes: []int{32, 64, 128}, Steps: []int{50, 100, 200}, Alphas: []float64{0.08, 0.12, 0.16, 0.20},
		Turing: []bool{true, false}, SeedsPerConfig: 5},
}

// SweepNames lists the sweeps.
func SweepNames() []string { return []string{"minimal", "default", "extended"} }

// SweepByName returns a copy of the named sweep with base seed 42.
func SweepByName(name string) (Sweep, error) {
	s, ok := sweeps[name]
	if !ok {
		return Sweep{}, invalid("sweep", "unknown sweep %q (choose from minimal, default, extended)", name)
	}
	s.Name = name
	s.GridSizes, s.Steps = slices.Clone(s.GridSizes), slices.Clone(s.Steps)
	s.Alphas, s.Turing = slices.Clone(s.Alphas), slices.Clone(s.Turing)
	s.BaseSeed = DefaultSeed
	return s, nil
}

// Samples is generate_parameter_configs: nested grid, steps, alpha, Turing, seed offset
// loops with random_seed = base seed + sim_id.
func (s Sweep) Samples() []Sample {
	var out []Sample
	for _, g := range s.GridSizes {
		for _, st := range s.Steps {
			for _, a := range s.Alphas {
				for _, tu := range s.Turing {
					for range s.SeedsPerConfig {
						id := len(out)
						out = append(out, Sample{SimID: id, GridSize: g, Steps: st, Alpha: a, TuringEnabled: tu,
							RandomSeed: s.BaseSeed + int64(id)})
					}
				}
			}
		}
	}
	return out
}
