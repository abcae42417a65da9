package validation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"

	"mfn/nernst"
	"mfn/nprand"
	"mfn/sim"
)

const (
	// NumSamples is the reference's fixed dataset size.
	NumSamples = 16
	// ifsPoints is the IFS size drawn after every simulation.
	ifsPoints = 1000
	// ifsTransforms is generate_fractal_ifs's default transform count.
	ifsTransforms = 4
	// thresholdV is the binarisation threshold of estimate_fractal_dimension's callers.
	thresholdV = -0.060
	// learningRate is run_validation's Adam learning rate.
	learningRate = 1e-3
	// inputDim and hiddenDim are MyceliumFractalNet's defaults.
	inputDim  = 4
	hiddenDim = 32
	// netSeedOffset separates the network's generator (initialisation, then the
	// per-epoch shuffles) from the dataset generator (seed) and the example
	// generator (seed+1). The reference draws these from torch's RNG, which cannot be
	// reproduced; 0x6D666E is "mfn" in ASCII.
	netSeedOffset uint64 = 0x6D666E
)

// symbolicMV caches nernst.SymbolicMV: a constant that takes a high-precision
// logarithm (hundreds of µs) to compute.
var symbolicMV = sync.OnceValue(nernst.SymbolicMV)

// ErrInvalidConfig is wrapped by every *ConfigError.
var ErrInvalidConfig = errors.New("validation: invalid config")

// ConfigError names the configuration field (wire name) that is out of range.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "validation: " + e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Config is ValidationConfig (device, sparse attention and STDP are fixed: cpu, on, on).
type Config struct {
	Seed          uint64 `mapstructure:"seed"`
	Epochs        int    `mapstructure:"epochs"`
	BatchSize     int    `mapstructure:"batch_size"`
	GridSize      int    `mapstructure:"grid_size"`
	Steps         int    `mapstructure:"steps"`
	TuringEnabled bool   `mapstructure:"turing_enabled"`
	QuantumJitter bool   `mapstructure:"quantum_jitter"`
}

// DefaultConfig is seed 42, 1 epoch, batch 4, 64x64, 64 steps, Turing on, no jitter.
func DefaultConfig() Config {
	return Config{Seed: 42, Epochs: 1, BatchSize: 4, GridSize: 64, Steps: 64, TuringEnabled: true}
}

// Validate rejects what the cycle cannot run. The reference checks nothing; the API
// ranges (epochs 1–100, batch 1–64, grid 8–256, steps 1–1000) are enforced by jobs,
// this only guards the algorithm itself.
func (c Config) Validate() error {
	switch {
	case c.Epochs < 1:
		return &ConfigError{Field: "epochs", Reason: fmt.Sprintf("%d must be >= 1", c.Epochs)}
	case c.BatchSize < 1:
		return &ConfigError{Field: "batch_size", Reason: fmt.Sprintf("%d must be >= 1", c.BatchSize)}
	case c.GridSize < 2:
		return &ConfigError{Field: "grid_size", Reason: fmt.Sprintf("%d must be >= 2", c.GridSize)}
	case c.Steps < 0:
		return &ConfigError{Field: "steps", Reason: fmt.Sprintf("%d must be >= 0", c.Steps)}
	}
	return nil
}

// Metrics are run_validation's 12 values (mV where the name says so).
type Metrics struct {
	LossStart, LossFinal, LossDrop    float64
	PotMinMV, PotMaxMV                float64
	ExampleFractalDim                 float64
	LyapunovExponent, LyapunovMean    float64
	GrowthEvents                      float64
	NernstSymbolicMV, NernstNumericMV float64
	NernstRTFZMV                      float64
}

// Metric is one named value of Metrics.
type Metric struct {
	Name  string
	Value float64
}

// Values lists the metrics under the reference's dict keys, in its order.
func (m Metrics) Values() []Metric {
	return []Metric{
		{"loss_start", m.LossStart},
		{"loss_final", m.LossFinal},
		{"loss_drop", m.LossDrop},
		{"pot_min_mV", m.PotMinMV},
		{"pot_max_mV", m.PotMaxMV},
		{"example_fractal_dim", m.ExampleFractalDim},
		{"lyapunov_exponent", m.LyapunovExponent},
		{"lyapunov_mean", m.LyapunovMean},
		{"growth_events", m.GrowthEvents},
		{"nernst_symbolic_mV", m.NernstSymbolicMV},
		{"nernst_numeric_mV", m.NernstNumericMV},
		{"nernst_rtfz_mV", m.NernstRTFZMV},
	}
}

// Header is the first line the reference CLI prints.
const Header = "=== MyceliumFractalNet v4.1 :: validation ==="

// Format writes the reference CLI's output: the header, then per metric the key
// left-aligned in 24 columns, ": " and the value as Python's f"{v: .6f}".
func Format(m Metrics, w io.Writer) error {
	buf := make([]byte, 0, 64*13)
	buf = append(buf, Header...)
	buf = append(buf, '\n')
	for _, kv := range m.Values() {
		start := len(buf)
		buf = append(buf, kv.Name...)
		for len(buf)-start < 24 {
			buf = append(buf, ' ')
		}
		buf = append(buf, ':', ' ')
		buf = appendPyFloat(buf, kv.Value)
		buf = append(buf, '\n')
	}
	_, err := w.Write(buf)
	return err
}

// appendPyFloat formats like Python's "{: .6f}": a space in the sign slot for
// non-negative values, "nan"/"inf" spelled in lower case, and exact decimal rounding
// (strconv and Python both round the exact binary value half-to-even).
func appendPyFloat(buf []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(buf, " nan"...)
	case math.IsInf(v, 1):
		return append(buf, " inf"...)
	case math.IsInf(v, -1):
		return append(buf, "-inf"...)
	}
	if !math.Signbit(v) {
		buf = append(buf, ' ')
	}
	return strconv.AppendFloat(buf, v, 'f', 6, 64)
}

// Run runs the validation cycle (numerical-core.md §14.2): 16 simulations, each followed
// by an IFS draw on the same generator; training of the network; the example
// simulation with seed+1; the Nernst checks. ctx is checked between simulations (and
// by sim between steps) and between training batches.
func Run(ctx context.Context, cfg Config) (Metrics, error) {
	if err := cfg.Validate(); err != nil {
		return Metrics{}, err
	}
	p := sim.DefaultParams()
	p.GridSize = cfg.GridSize
	p.Steps = cfg.Steps
	p.TuringEnabled = cfg.TuringEnabled
	p.QuantumJitter = cfg.QuantumJitter

	var m Metrics
	ds, err := buildDataset(ctx, cfg.Seed, p)
	if err != nil {
		return Metrics{}, err
	}
	m.PotMinMV = ds.potMin * 1000
	m.PotMaxMV = ds.potMax * 1000
	m.LyapunovMean = sim.Mean(ds.lyapunov[:])

	m.LossStart, m.LossFinal, err = train(ctx, cfg, &ds)
	if err != nil {
		return Metrics{}, err
	}
	m.LossDrop = m.LossStart - m.LossFinal

	rng := nprand.New(cfg.Seed + 1)
	field, growth, err := sim.Run(ctx, rng, p, nil)
	if err != nil {
		return Metrics{}, fmt.Errorf("validation: example simulation: %w", err)
	}
	m.ExampleFractalDim = sim.FractalDimension(field, p.GridSize, thresholdV)
	_, m.LyapunovExponent = sim.IFS(rng, ifsPoints, ifsTransforms)
	m.GrowthEvents = float64(growth)

	// K⁺ (z = 1, 5 mM out, 140 mM in, 310 K): the sympy value, the float64 function,
	// and RT/F in mV.
	m.NernstSymbolicMV = symbolicMV()
	m.NernstNumericMV = nernst.NumericMV()
	m.NernstRTFZMV = nernst.RTFZMV
	return m, nil
}

// dataset is _build_dataset's output plus the meta values.
type dataset struct {
	x        [NumSamples][inputDim]float32
	y        [NumSamples]float32
	potMin   float64 // volts
	potMax   float64
	lyapunov [NumSamples]float64
}

// buildDataset is _build_dataset: one generator shared by all 16 simulations and the
// IFS draw after each, in that interleaved order.
func buildDataset(ctx context.Context, seed uint64, p sim.Params) (dataset, error) {
	var ds dataset
	rng := nprand.New(seed)
	ds.potMin, ds.potMax = math.Inf(1), math.Inf(-1)
	for k := range NumSamples {
		if err := ctx.Err(); err != nil {
			return ds, err
		}
		field, _, err := sim.Run(ctx, rng, p, nil)
		if err != nil {
			return ds, fmt.Errorf("validation: dataset simulation %d: %w", k, err)
		}
		d := sim.FractalDimension(field, p.GridSize, thresholdV)
		mean, std, mx := sim.Mean(field), sim.Std(field), sim.Max(field)
		// np.array(stats, dtype=float32), then X[:, 1:] *= 100 in float32.
		x := &ds.x[k]
		x[0] = float32(d)
		x[1] = float32(mean) * 100
		x[2] = float32(std) * 100
		x[3] = float32(mx) * 100
		// y = 0.5·X0 + 0.2·X1 − 0.1·X2 with float32 scalars, each product rounded.
		ds.y[k] = float32(float32(0.5)*x[0]) + float32(float32(0.2)*x[1]) - float32(float32(0.1)*x[2])
		ds.potMin = min(ds.potMin, sim.Min(field))
		ds.potMax = max(ds.potMax, mx)
		_, ds.lyapunov[k] = sim.IFS(rng, ifsPoints, ifsTransforms)
	}
	return ds, nil
}

// train builds the network and trains it with Adam on shuffled mini-batches, returning
// the first batch's and the last batch's pre-update MSE.
func train(ctx context.Context, cfg Config, ds *dataset) (lossStart, lossFinal float64, err error) {
	rng := nprand.New(cfg.Seed + netSeedOffset)
	net := newNetwork(inputDim, hiddenDim, min(cfg.BatchSize, NumSamples), rng)
	opt := newAdam(len(net.params), learningRate)
	var perm [NumSamples]int
	for i := range perm {
		perm[i] = i
	}
	xb := make([]float32, 0, NumSamples*inputDim)
	yb := make([]float32, 0, NumSamples)
	first := true
	for range cfg.Epochs {
		shuffle(rng, perm[:])
		for start := 0; start < NumSamples; start += cfg.BatchSize {
			if err := ctx.Err(); err != nil {
				return 0, 0, err
			}
			end := min(start+cfg.BatchSize, NumSamples)
			xb, yb = xb[:0], yb[:0]
			for _, i := range perm[start:end] {
				xb = append(xb, ds.x[i][:]...)
				yb = append(yb, ds.y[i])
			}
			loss := float64(net.trainStep(xb, yb, opt))
			if first {
				lossStart, first = loss, false
			}
			lossFinal = loss
		}
	}
	return lossStart, lossFinal, nil
}

// shuffle is a Fisher–Yates shuffle (from the end, j = integers(0, i+1)). It stands in
// for torch's DataLoader permutation, which cannot be reproduced.
func shuffle(rng *nprand.Generator, p []int) {
	for i := len(p) - 1; i > 0; i-- {
		j := int(rng.Integers(0, int64(i+1)))
		p[i], p[j] = p[j], p[i]
	}
}
