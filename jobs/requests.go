package jobs

import (
	"fmt"
	"math"
)

// Limits of the one rule set (api-contract.md §8.3-8.6; DESIGN.md decision 3 keeps the
// reference's REST ranges, including /simulate's alpha 0..1).
const (
	MinGridSize  = 8
	MaxGridSize  = 256
	MinSteps     = 1
	MaxSteps     = 1000
	MinEpochs    = 1
	MaxEpochs    = 100
	MinBatchSize = 1
	MaxBatchSize = 64
	MinValence   = 1
	MaxValence   = 3
	MinTempK     = 273.0
	MaxTempK     = 373.0
	MinClusters  = 1
	MaxClusters  = 1000
	// MaxByzantineFraction is the schema's inclusive bound; the core then rejects
	// exactly 0.5 with a 400 (the reference's BUG-29, kept for parity).
	MaxByzantineFraction = 0.5
	// MinThresholdMV and MaxThresholdMV bound the optional threshold_mV: the field is
	// clipped to [-95, +40] mV, so thresholds outside that range mean nothing.
	MinThresholdMV = -95.0
	MaxThresholdMV = 40.0
)

// turingThreshold is the activator threshold /simulate always uses (θ 0.75).
const turingThreshold = 0.75

// DefaultSimulateRequest returns the reference's /simulate defaults: seed 42, 64×64,
// 64 steps, alpha 0.18, spike probability 0.25, Turing on, threshold −60 mV.
func DefaultSimulateRequest() SimulateRequest {
	return SimulateRequest{
		Seed:             42,
		GridSize:         64,
		Steps:            64,
		Alpha:            0.18,
		SpikeProbability: 0.25,
		TuringEnabled:    true,
		ThresholdMV:      -60,
	}
}

// DefaultValidateRequest returns the reference's /validate defaults: seed 42, 1 epoch,
// batch 4, 64×64, 64 steps, Turing on, no jitter.
func DefaultValidateRequest() ValidateRequest {
	return ValidateRequest{
		Seed:          42,
		Epochs:        1,
		BatchSize:     4,
		GridSize:      64,
		Steps:         64,
		TuringEnabled: true,
		QuantumJitter: false,
	}
}

// DefaultNernstRequest returns z = 1 and 310 K; the concentrations stay nil because
// the reference requires them.
func DefaultNernstRequest() NernstRequest {
	return NernstRequest{ZValence: 1, TemperatureK: 310.0}
}

// DefaultFederatedRequest returns num_clusters 10 and byzantine_fraction 0.2; gradients
// stay nil (required).
func DefaultFederatedRequest() FederatedRequest {
	return FederatedRequest{NumClusters: 10, ByzantineFraction: 0.2}
}

// Kind is KindSimulate.
func (SimulateRequest) Kind() Kind { return KindSimulate }

// Kind is KindValidate.
func (ValidateRequest) Kind() Kind { return KindValidate }

// Kind is KindNernst.
func (NernstRequest) Kind() Kind { return KindNernst }

// Kind is KindFederated.
func (FederatedRequest) Kind() Kind { return KindFederated }

// Kind is KindSimulate.
func (SimulateResult) Kind() Kind { return KindSimulate }

// Kind is KindValidate.
func (ValidateResult) Kind() Kind { return KindValidate }

// Kind is KindNernst.
func (NernstResult) Kind() Kind { return KindNernst }

// Kind is KindFederated.
func (FederatedResult) Kind() Kind { return KindFederated }

// The checks below build pydantic-shaped errors so that the REST layer can render the
// FastAPI 422 item (type, msg, ctx, input) without knowing the rules.

func intRange(field string, v, lo, hi int) error {
	if v < lo {
		return &ValidationError{Field: field, Type: "greater_than_equal", Ctx: map[string]any{"ge": lo}, Input: v,
			Reason: fmt.Sprintf("Input should be greater than or equal to %d", lo)}
	}
	if v > hi {
		return &ValidationError{Field: field, Type: "less_than_equal", Ctx: map[string]any{"le": hi}, Input: v,
			Reason: fmt.Sprintf("Input should be less than or equal to %d", hi)}
	}
	return nil
}

func finite(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return &ValidationError{Field: field, Type: "finite_number", Input: v,
			Reason: "Input should be a finite number"}
	}
	return nil
}

// floatRange checks lo ≤ v ≤ hi (and finiteness, which NaN comparisons would miss).
func floatRange(field string, v, lo, hi float64) error {
	if err := finite(field, v); err != nil {
		return err
	}
	if v < lo {
		return &ValidationError{Field: field, Type: "greater_than_equal", Ctx: map[string]any{"ge": lo}, Input: v,
			Reason: "Input should be greater than or equal to " + pyFloat(lo)}
	}
	if v > hi {
		return &ValidationError{Field: field, Type: "less_than_equal", Ctx: map[string]any{"le": hi}, Input: v,
			Reason: "Input should be less than or equal to " + pyFloat(hi)}
	}
	return nil
}

// positive checks v > 0 on a required float.
func positive(field string, v *float64) error {
	if v == nil {
		return &ValidationError{Field: field, Type: "missing", Reason: "Field required"}
	}
	if err := finite(field, *v); err != nil {
		return err
	}
	if !(*v > 0) {
		return &ValidationError{Field: field, Type: "greater_than", Ctx: map[string]any{"gt": 0.0}, Input: *v,
			Reason: "Input should be greater than 0"}
	}
	return nil
}

// pyFloat formats a bound the way pydantic prints a float constraint (0.0, 1.0, 273.0).
func pyFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%.1f", f)
	}
	return fmt.Sprint(f)
}

func seedRange(v int64) error {
	// The upper bound 2^63−1 is the type's own: a larger JSON number fails to decode.
	if v < 0 {
		return &ValidationError{Field: "seed", Type: "greater_than_equal", Ctx: map[string]any{"ge": 0}, Input: v,
			Reason: "Input should be greater than or equal to 0"}
	}
	return nil
}

// Validate checks the /simulate schema; the first bad field wins, in wire order.
func (r SimulateRequest) Validate() error {
	if err := seedRange(r.Seed); err != nil {
		return err
	}
	if err := intRange("grid_size", r.GridSize, MinGridSize, MaxGridSize); err != nil {
		return err
	}
	if err := intRange("steps", r.Steps, MinSteps, MaxSteps); err != nil {
		return err
	}
	if err := floatRange("alpha", r.Alpha, 0, 1); err != nil {
		return err
	}
	if err := floatRange("spike_probability", r.SpikeProbability, 0, 1); err != nil {
		return err
	}
	return floatRange("threshold_mV", r.ThresholdMV, MinThresholdMV, MaxThresholdMV)
}

// Validate checks the embedded SimulateRequest, then Every ≥ 1 and Observe non-nil
// (those two are programming errors of the transport, reported the same way).
func (o ObservedSimulation) Validate() error {
	if err := o.SimulateRequest.Validate(); err != nil {
		return err
	}
	if o.Every < 1 {
		return &ValidationError{Field: "every", Type: "greater_than_equal", Ctx: map[string]any{"ge": 1}, Input: o.Every,
			Reason: "Input should be greater than or equal to 1"}
	}
	if o.Observe == nil {
		return &ValidationError{Field: "observe", Type: "missing", Reason: "Field required"}
	}
	return nil
}

// Validate checks the /validate schema.
func (r ValidateRequest) Validate() error {
	if err := seedRange(r.Seed); err != nil {
		return err
	}
	if err := intRange("epochs", r.Epochs, MinEpochs, MaxEpochs); err != nil {
		return err
	}
	if err := intRange("batch_size", r.BatchSize, MinBatchSize, MaxBatchSize); err != nil {
		return err
	}
	if err := intRange("grid_size", r.GridSize, MinGridSize, MaxGridSize); err != nil {
		return err
	}
	return intRange("steps", r.Steps, MinSteps, MaxSteps)
}

// Validate checks the /nernst schema: z 1..3, both concentrations present and > 0,
// temperature 273..373 K inclusive.
func (r NernstRequest) Validate() error {
	if err := intRange("z_valence", r.ZValence, MinValence, MaxValence); err != nil {
		return err
	}
	if err := positive("concentration_out_molar", r.ConcentrationOutMolar); err != nil {
		return err
	}
	if err := positive("concentration_in_molar", r.ConcentrationInMolar); err != nil {
		return err
	}
	return floatRange("temperature_k", r.TemperatureK, MinTempK, MaxTempK)
}

// Validate checks the /federated/aggregate schema (→ *ValidationError, 422), then what
// the reference's core rejects (→ *RequestError, 400): byzantine_fraction = 0.5, an
// empty list, and, where the reference fails with a 500, empty, ragged or non-finite
// vectors. Values beyond float32's range count as non-finite: the aggregation runs in
// float32 and they would become ±Inf there.
func (r FederatedRequest) Validate() error {
	if r.Gradients == nil {
		return &ValidationError{Field: "gradients", Type: "missing", Reason: "Field required"}
	}
	if err := intRange("num_clusters", r.NumClusters, MinClusters, MaxClusters); err != nil {
		return err
	}
	if err := floatRange("byzantine_fraction", r.ByzantineFraction, 0, MaxByzantineFraction); err != nil {
		return err
	}
	if r.ByzantineFraction >= MaxByzantineFraction {
		return &RequestError{Field: "byzantine_fraction",
			Reason: fmt.Sprintf("byzantine_fraction=%s must be in [0, 0.5)", pyFloat(r.ByzantineFraction))}
	}
	if len(r.Gradients) == 0 {
		return &RequestError{Field: "gradients", Reason: "No gradients provided"}
	}
	dim := len(r.Gradients[0])
	for i, g := range r.Gradients {
		if len(g) == 0 {
			return &RequestError{Field: "gradients", Reason: fmt.Sprintf("gradients[%d] is empty", i)}
		}
		if len(g) != dim {
			return &RequestError{Field: "gradients",
				Reason: fmt.Sprintf("gradients[%d] has %d values, gradients[0] has %d: all must have the same length", i, len(g), dim)}
		}
		for j, v := range g {
			if math.IsNaN(v) || math.Abs(v) > math.MaxFloat32 {
				return &RequestError{Field: "gradients",
					Reason: fmt.Sprintf("gradients[%d][%d] is not a finite float32", i, j)}
			}
		}
	}
	return nil
}
