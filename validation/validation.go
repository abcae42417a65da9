// Package validation runs the reference's validation cycle.
package validation

import "context"

// Config is ValidationConfig.
type Config struct {
	Seed          uint64
	Epochs        int
	BatchSize     int
	GridSize      int
	Steps         int
	TuringEnabled bool
	QuantumJitter bool
}

// DefaultConfig is seed 42, 1 epoch, batch 4, 64x64, 64 steps, Turing on, no jitter.
func DefaultConfig() Config { panic("validation: TODO") }

// Metrics are run_validation's 12 values.
type Metrics struct {
	LossStart, LossFinal, LossDrop    float64
	PotMinMV, PotMaxMV                float64
	ExampleFractalDim                 float64
	LyapunovExponent, LyapunovMean    float64
	GrowthEvents                      float64
	NernstSymbolicMV, NernstNumericMV float64
	NernstRTFZMV                      float64
}

// Run runs the validation cycle; ctx is checked between simulations and batches.
func Run(ctx context.Context, cfg Config) (Metrics, error) { panic("validation: TODO") }
