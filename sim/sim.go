// Package sim is the reference's mycelium field simulation (simulate_mycelium_field),
// with numpy-exact statistics, box-counting dimension, IFS and Lyapunov estimates.
// Potentials are volts internally; fields are N×N row-major []float64.
package sim

import (
	"context"

	"mfn/nprand"
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
}

// DefaultParams are the reference defaults (64, 64, 0.18, 0.25, true, 0.75, false, 0.0005).
func DefaultParams() Params { panic("sim: TODO") }

// Simulator is one run's state. Step allocates nothing.
type Simulator struct{}

// New draws the initial state from rng in the reference's order.
func New(p Params, rng *nprand.Generator) *Simulator { panic("sim: TODO") }

// Step advances one step (spike, diffusion, Turing, jitter, clamp).
func (s *Simulator) Step() { panic("sim: TODO") }

// Steps is the number of steps done so far.
func (s *Simulator) Steps() int { panic("sim: TODO") }

// Field is the current potential field (volts, row-major); it is valid until the next Step.
func (s *Simulator) Field() []float64 { panic("sim: TODO") }

// GrowthEvents counts the spikes fired so far.
func (s *Simulator) GrowthEvents() int { panic("sim: TODO") }

// GridSize is N.
func (s *Simulator) GridSize() int { panic("sim: TODO") }

// Observer sees the field after each step (0-based index). Returning false stops the run.
type Observer func(step int, field []float64, growthEvents int) bool

// Run runs p.Steps steps, calling obs (if not nil) after each and checking ctx between steps.
func Run(ctx context.Context, rng *nprand.Generator, p Params, obs Observer) (field []float64, growthEvents int, err error) {
	panic("sim: TODO")
}

// Mean, Std (population), Min, Max follow numpy (pairwise summation).
func Mean(x []float64) float64 { panic("sim: TODO") }
func Std(x []float64) float64  { panic("sim: TODO") }
func Min(x []float64) float64  { panic("sim: TODO") }
func Max(x []float64) float64  { panic("sim: TODO") }

// FractalDimension is estimate_fractal_dimension(field > thresholdV) with the reference's defaults.
func FractalDimension(field []float64, n int, thresholdV float64) float64 { panic("sim: TODO") }

// IFS is generate_fractal_ifs(rng, numPoints, numTransforms): the points and the Lyapunov exponent.
func IFS(rng *nprand.Generator, numPoints, numTransforms int) (points [][2]float64, lyapunov float64) {
	panic("sim: TODO")
}
