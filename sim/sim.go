package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"mfn/nprand"
)

// Reference constants of simulate_mycelium_field (numerical-core.md §1, §4).
const (
	FieldMinV       = -0.095 // lower field clamp, volts
	FieldMaxV       = 0.040  // upper field clamp, volts
	RestMeanV       = -0.070 // initial potential mean, volts
	RestStdV        = 0.005  // initial potential standard deviation, volts
	SpikeMeanV      = 0.020  // mean spike magnitude, volts
	SpikeStdV       = 0.005  // spike magnitude standard deviation, volts
	TuringBoostV    = 0.005  // added where the activator exceeds the threshold, volts
	diffActivator   = 0.1
	diffInhibitor   = 0.05
	rateActivator   = 0.01
	rateInhibitor   = 0.02
	initialTuringHi = 0.1 // A and I start as U(0, 0.1)
)

// Params are simulate_mycelium_field's parameters.
type Params struct {
	GridSize         int
	Steps            int
	Alpha            float64
	SpikeProbability float64
	TuringEnabled    bool
	TuringThreshold  float64
	QuantumJitter    bool
	JitterVar        float64 // V²
	// Workers is how many goroutines one step may use: each takes a band of at least
	// MinBandRows rows (bands.go). 0 or 1 keeps the run on the caller's goroutine. The
	// results do not depend on it.
	Workers int
}

// DefaultParams are the reference defaults (64, 64, 0.18, 0.25, true, 0.75, false, 0.0005).
func DefaultParams() Params {
	return Params{
		GridSize:         64,
		Steps:            64,
		Alpha:            0.18,
		SpikeProbability: 0.25,
		TuringEnabled:    true,
		TuringThreshold:  0.75,
		QuantumJitter:    false,
		JitterVar:        0.0005,
	}
}

// Simulator is one run's state. Step allocates nothing: New allocates two states (field,
// activator, inhibitor) and Step writes the next state into the spare one and swaps.
type Simulator struct {
	p       Params
	n       int
	rng     *nprand.Generator
	sigma   float64 // sqrt(JitterVar), computed once like the reference
	v, v2   []float64
	a, a2   []float64
	in, i2  []float64
	steps   int
	events  int
	workers int     // goroutines per step (1: sequential)
	spikes  []spike // a temporal block's pre-drawn spikes (block.go)
	rings   []level // a temporal block's intermediate levels, per band
}

// New draws the initial state from rng in the reference's order: N² normals for the
// field, then (only with Turing) N² uniforms for the activator and N² for the inhibitor.
// The reference validates nothing; New panics only on GridSize < 1 (jobs validates
// requests before they get here).
func New(p Params, rng *nprand.Generator) *Simulator {
	if p.GridSize < 1 {
		panic(fmt.Sprintf("sim: grid size %d < 1", p.GridSize))
	}
	n := p.GridSize
	s := &Simulator{p: p, n: n, rng: rng, sigma: math.Sqrt(p.JitterVar), workers: workersFor(n, p.Workers)}
	nn := n * n
	if p.TuringEnabled {
		// V, A and I of one state sit back to back in one block (the layout the vector
		// kernel addresses); Step swaps the two blocks' slices together.
		s.v, s.a, s.in = takeState(n)
		s.v2, s.a2, s.i2 = takeState(n)
	} else {
		s.v, s.v2 = make([]float64, nn), make([]float64, nn)
	}
	for k := range s.v {
		s.v[k] = rng.Normal(RestMeanV, RestStdV)
	}
	if p.TuringEnabled {
		for k := range s.a {
			s.a[k] = rng.Uniform(0, initialTuringHi)
		}
		for k := range s.in {
			s.in[k] = rng.Uniform(0, initialTuringHi)
		}
	}
	return s
}

// Step advances one step (spike, diffusion, Turing, jitter, clamp) in the reference order.
func (s *Simulator) Step() {
	n := s.n
	if s.rng.Random() < s.p.SpikeProbability {
		i := s.rng.Integers(0, int64(n))
		j := s.rng.Integers(0, int64(n))
		s.v[int(i)*n+int(j)] += s.rng.Normal(SpikeMeanV, SpikeStdV)
		s.events++
	}
	clampNow := !s.p.QuantumJitter
	s.stepBands(clampNow)
	if s.p.TuringEnabled {
		s.a, s.a2 = s.a2, s.a
		s.in, s.i2 = s.i2, s.in
	}
	s.v, s.v2 = s.v2, s.v
	if s.p.QuantumJitter {
		v := s.v
		for k := range v {
			v[k] = clamp(v[k]+s.rng.Normal(0, s.sigma), FieldMinV, FieldMaxV)
		}
	}
	s.steps++
}

// Steps is the number of steps done so far.
func (s *Simulator) Steps() int { return s.steps }

// Field is the current potential field (volts, row-major); it is valid until the next Step.
func (s *Simulator) Field() []float64 { return s.field() }

// field is V with its capacity cut to N², so that a caller's append cannot write into
// the pad and the activator that follow it in memory.
func (s *Simulator) field() []float64 { return s.v[: s.n*s.n : s.n*s.n] }

// Activator is the current Turing activator (nil with Turing off: the legacy simulator
// then never draws A or I); valid until the next Step. Its capacity ends at N² like Field's.
func (s *Simulator) Activator() []float64 { return s.a[:len(s.a):len(s.a)] }

// Inhibitor is the current Turing inhibitor (nil with Turing off); valid until the next
// Step. Its capacity ends at N² like Field's.
func (s *Simulator) Inhibitor() []float64 { return s.in[:len(s.in):len(s.in)] }

// GrowthEvents counts the spikes fired so far.
func (s *Simulator) GrowthEvents() int { return s.events }

// GridSize is N.
func (s *Simulator) GridSize() int { return s.n }

// Observer sees the simulator after each step (0-based index). Returning false stops the
// run. Field, Activator and Inhibitor are the simulator's own buffers: valid only during
// the call; the observer must not call Step or Advance.
type Observer func(step int, s *Simulator) bool

// ErrParams reports structurally impossible parameters (grid < 1, steps < 0).
var ErrParams = errors.New("sim: invalid parameters")

// Run runs p.Steps steps, calling obs (if not nil) after each and checking ctx between steps
// (without an observer, large grids advance in temporal blocks of up to 8 steps; ctx is
// checked between blocks).
// With p.Steps = 0 it returns the initial field. When ctx ends it returns the field and
// events so far together with ctx.Err(). The returned field is owned by the caller.
func Run(ctx context.Context, rng *nprand.Generator, p Params, obs Observer) (field []float64, growthEvents int, err error) {
	if obs == nil {
		growthEvents, err = RunThen(ctx, rng, p, func(f []float64) { field = slices.Clone(f) })
		return field, growthEvents, err
	}
	s, err := runSteps(ctx, rng, p, obs)
	if s == nil {
		return nil, 0, err
	}
	// The observer has seen the states and may keep them: they are not recycled.
	return s.field(), s.events, err
}

// RunThen is Run without an observer for callers that need the final field only for a
// moment (statistics): then gets it (also when ctx ended the run early, as Run returns
// it) and must not keep it, because the run's states go back to the pool afterwards.
func RunThen(ctx context.Context, rng *nprand.Generator, p Params, then func(field []float64)) (growthEvents int, err error) {
	s, err := runSteps(ctx, rng, p, nil)
	if s == nil {
		return 0, err
	}
	then(s.field())
	s.recycle()
	return s.events, err
}

// runSteps is Run's loop: the simulator after the steps (nil when none was made) and ctx's
// error if it ended the run early.
func runSteps(ctx context.Context, rng *nprand.Generator, p Params, obs Observer) (*Simulator, error) {
	if p.GridSize < 1 {
		return nil, fmt.Errorf("grid_size %d: %w", p.GridSize, ErrParams)
	}
	if p.Steps < 0 {
		return nil, fmt.Errorf("steps %d: %w", p.Steps, ErrParams)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := New(p, rng)
	for step := 0; step < p.Steps; {
		if step > 0 {
			if err := ctx.Err(); err != nil {
				return s, err
			}
		}
		if obs == nil {
			// Unobserved, several steps may run as one temporal block (block.go).
			step += s.Advance(p.Steps - step)
			continue
		}
		s.Step()
		if !obs(step, s) {
			break
		}
		step++
	}
	return s, nil
}

// statePools recycles the state blocks of unobserved runs, one sync.Pool per grid size:
// without it /simulate's default run (64²) allocates 196 KiB of states per request, most
// of its garbage and of its GC work. A sync.Pool lets the GC free idle blocks.
var statePools sync.Map // grid size → *sync.Pool of *[]float64 (whole newState blocks)

// takeState is newState(n) from the pool when it has one. A reused block holds an old
// run's numbers: New overwrites V, A and I, and Step and block write every cell of the
// spare state (and the pad windows) before reading it.
func takeState(n int) (v, a, in []float64) {
	if p, ok := statePools.Load(n); ok {
		if b, ok := p.(*sync.Pool).Get().(*[]float64); ok {
			return splitState(*b, n)
		}
	}
	return newState(n)
}

// recycle puts both state blocks (Turing on) into the pool; s must not be used after.
func (s *Simulator) recycle() {
	if !s.p.TuringEnabled {
		return
	}
	p, _ := statePools.LoadOrStore(s.n, new(sync.Pool))
	for _, v := range [][]float64{s.v, s.v2} {
		block := v[:cap(v)]
		p.(*sync.Pool).Put(&block)
	}
	s.v, s.a, s.in, s.v2, s.a2, s.i2 = nil, nil, nil, nil, nil, nil
}

// clamp is numpy's clip: min(max(x, lo), hi) with NaN kept. Go's min/max builtins agree
// with numpy's _NPY_MAX/_NPY_MIN for every input, including signed zeros.
func clamp(x, lo, hi float64) float64 { return min(max(x, lo), hi) }
