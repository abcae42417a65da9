package jobs

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"mfn/federated"
	"mfn/nernst"
	"mfn/nprand"
	"mfn/sim"
	"mfn/validation"
)

// Execute validates req and runs it on the calling goroutine, with the pool's panic
// recovery. It is for one-shot callers (the CLI); servers and pipelines use a Pool so
// that concurrency stays bounded.
func Execute(ctx context.Context, req Request) (Result, error) {
	if _, err := admit(ctx, req, DefaultLimits()); err != nil {
		return nil, err
	}
	return safeRun(ctx, req)
}

// admit is the check before any work: a request that is present, within the limits
// (checked first: they read only sizes, while Validate walks every gradient value) and
// valid, from a caller that is still waiting. It returns the request's cost.
func admit(ctx context.Context, req Request, l Limits) (Cost, error) {
	if req == nil {
		return Cost{}, &ValidationError{Field: "body", Type: "missing", Reason: "Field required"}
	}
	c := EstimateCost(req)
	if err := l.check(req, c); err != nil {
		return c, err
	}
	if err := req.Validate(); err != nil {
		return c, err
	}
	return c, ctx.Err()
}

// safeRun confines a panicking job to its own error, as net/http confines a panicking
// handler to its request: the worker survives.
func safeRun(ctx context.Context, req Request) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res = nil
			err = &panicError{kind: req.Kind(), value: r, stack: debug.Stack()}
		}
	}()
	res, err = run(ctx, req)
	if err != nil {
		res = nil // a typed zero result next to an error would be non-nil
	}
	return res, err
}

// panicError carries a recovered panic; it matches ErrInternal. Stack is kept for logs.
type panicError struct {
	kind  Kind
	value any
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("%v: %s job panicked: %v", ErrInternal, e.kind, e.value)
}

func (e *panicError) Is(target error) bool { return target == ErrInternal }

// PanicStack returns the goroutine stack captured when a job panicked, or nil when err
// is not a recovered panic. Log it; never send it to a client.
func PanicStack(err error) []byte {
	var pe *panicError
	if errors.As(err, &pe) {
		return pe.stack
	}
	return nil
}

// run dispatches an already validated request to the science packages. Pointers to
// requests work too: their method sets include the value methods below.
func run(ctx context.Context, req Request) (Result, error) { return req.run(ctx) }

func (r SimulateRequest) run(ctx context.Context) (Result, error) { return runSimulate(ctx, r, nil) }

func (o ObservedSimulation) run(ctx context.Context) (Result, error) { return runObserved(ctx, o) }

func (r ValidateRequest) run(ctx context.Context) (Result, error) { return runValidate(ctx, r) }

func (r NernstRequest) run(context.Context) (Result, error) { return runNernst(r), nil }

func (r FederatedRequest) run(ctx context.Context) (Result, error) { return runFederated(ctx, r) }

func (r DatasetSampleRequest) run(ctx context.Context) (Result, error) {
	return runDatasetSample(ctx, r)
}

// simParams maps a /simulate request onto the legacy simulator: jitter off, θ 0.75.
func simParams(r SimulateRequest) sim.Params {
	p := sim.DefaultParams()
	p.GridSize = r.GridSize
	p.Steps = r.Steps
	p.Alpha = r.Alpha
	p.SpikeProbability = r.SpikeProbability
	p.TuringEnabled = r.TuringEnabled
	p.TuringThreshold = turingThreshold
	p.QuantumJitter = false
	return p
}

func runSimulate(ctx context.Context, r SimulateRequest, obs sim.Observer) (SimulateResult, error) {
	rng := nprand.New(uint64(r.Seed)) // #nosec G115 -- Validate guarantees seed ≥ 0
	p := simParams(r)
	workers, release := wideWorkers(ctx, r.GridSize)
	defer release()
	p.Workers = workers
	summary := func(field []float64) SimulateResult {
		lo, hi := sim.MinMax(field)
		mean, std := sim.MeanStd(field)
		return SimulateResult{
			PotMinMV:         lo * 1000,
			PotMaxMV:         hi * 1000,
			PotMeanMV:        mean * 1000,
			PotStdMV:         std * 1000,
			FractalDimension: sim.FractalDimension(field, r.GridSize, r.ThresholdMV/1000),
		}
	}
	var (
		res    SimulateResult
		growth int
		err    error
	)
	if obs == nil {
		// The statistics are taken before the run's states are recycled: no copy.
		growth, err = sim.RunThen(ctx, rng, p, func(field []float64) { res = summary(field) })
	} else {
		var field []float64
		field, growth, err = sim.Run(ctx, rng, p, obs)
		res = summary(field)
	}
	if err != nil {
		return SimulateResult{}, fmt.Errorf("simulate: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return SimulateResult{}, err
	}
	res.GrowthEvents = growth
	return res, nil
}

// runObserved is runSimulate with stats reported on every Every-th step (1-based count)
// and on the last; the statistics are computed only for reported steps.
func runObserved(ctx context.Context, o ObservedSimulation) (SimulateResult, error) {
	stopped := false
	obs := func(step int, s *sim.Simulator) bool {
		done := step + 1
		if done%o.Every != 0 && done != o.Steps {
			return true
		}
		field := s.Field()
		mean, std := sim.MeanStd(field)
		lo, hi := sim.MinMax(field)
		keep := o.Observe(Snapshot{
			Step:         step,
			TotalSteps:   o.Steps,
			GrowthEvents: s.GrowthEvents(),
			PotMeanMV:    mean * 1000,
			PotStdMV:     std * 1000,
			PotMinMV:     lo * 1000,
			PotMaxMV:     hi * 1000,
			MeanV:        mean,
			StdV:         std,
			MinV:         lo,
			MaxV:         hi,
			Field:        field,
			Activator:    s.Activator(),
			Inhibitor:    s.Inhibitor(),
		})
		if !keep {
			stopped = true
		}
		return keep
	}
	res, err := runSimulate(ctx, o.SimulateRequest, obs)
	if stopped {
		// Whatever sim.Run reports for an observer stop, the contract is context.Canceled.
		return SimulateResult{}, context.Canceled
	}
	return res, err
}

func runValidate(ctx context.Context, r ValidateRequest) (ValidateResult, error) {
	m, err := validation.Run(ctx, ValidationConfig(r))
	if err != nil {
		return ValidateResult{}, fmt.Errorf("validate: %w", err)
	}
	return ValidateResult{
		LossStart:         m.LossStart,
		LossFinal:         m.LossFinal,
		LossDrop:          m.LossDrop,
		PotMinMV:          m.PotMinMV,
		PotMaxMV:          m.PotMaxMV,
		ExampleFractalDim: m.ExampleFractalDim,
		LyapunovExponent:  m.LyapunovExponent,
		GrowthEvents:      m.GrowthEvents,
		NernstSymbolicMV:  m.NernstSymbolicMV,
		NernstNumericMV:   m.NernstNumericMV,
	}, nil
}

// ValidationConfig maps a (validated) ValidateRequest onto validation.Config, so that
// the CLI, which prints all 12 metrics, runs exactly what /validate runs.
func ValidationConfig(r ValidateRequest) validation.Config {
	return validation.Config{
		Seed:          uint64(r.Seed), // #nosec G115 -- Validate guarantees seed ≥ 0
		Epochs:        r.Epochs,
		BatchSize:     r.BatchSize,
		GridSize:      r.GridSize,
		Steps:         r.Steps,
		TuringEnabled: r.TuringEnabled,
		QuantumJitter: r.QuantumJitter,
	}
}

func runNernst(r NernstRequest) NernstResult {
	return NernstResult{PotentialMV: nernst.Potential(r.ZValence, *r.ConcentrationOutMolar, *r.ConcentrationInMolar, r.TemperatureK) * 1000}
}

func runFederated(ctx context.Context, r FederatedRequest) (FederatedResult, error) {
	// One backing array for all vectors: one allocation instead of n.
	dim := len(r.Gradients[0])
	flat := make([]float32, len(r.Gradients)*dim)
	g32 := make([][]float32, len(r.Gradients))
	for i, g := range r.Gradients {
		row := flat[i*dim : (i+1)*dim : (i+1)*dim]
		for j, v := range g {
			row[j] = float32(v)
		}
		g32[i] = row
	}
	agg, err := federated.AggregateContext(ctx, g32, r.NumClusters, r.ByzantineFraction)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return FederatedResult{}, ctxErr
	}
	if err != nil {
		// The reference answers every core ValueError with 400 and its message.
		return FederatedResult{}, &RequestError{Reason: err.Error()}
	}
	out := make([]float64, len(agg))
	for i, v := range agg {
		out[i] = float64(v) // widened as torch's .tolist() does: 1.1 → 1.100000023841858
	}
	return FederatedResult{AggregatedGradient: out, NumInputGradients: len(r.Gradients)}, nil
}
