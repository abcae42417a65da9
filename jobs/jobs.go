package jobs

import (
	"context"
	"errors"
	"fmt"
)

// Kind names an operation on the wire (pipelines, metrics labels).
type Kind string

// The four operations.
const (
	KindSimulate  Kind = "simulate"
	KindValidate  Kind = "validate"
	KindNernst    Kind = "nernst"
	KindFederated Kind = "federated_aggregate"
)

var (
	// ErrBusy is matched by the *BusyError Pool.Do returns when a lane or the memory
	// budget is full.
	ErrBusy = errors.New("jobs: queue full")
	// ErrClosed is returned once the pool has stopped accepting work.
	ErrClosed = errors.New("jobs: pool closed")
	// ErrInternal wraps a job that panicked: a defect, never the caller's fault
	// (REST 500, gRPC INTERNAL; the message must not be echoed to clients).
	ErrInternal = errors.New("jobs: internal error")
)

// ValidationError names the request field that is wrong and why. It is the schema-level
// failure the reference answers with 422 (gRPC INVALID_ARGUMENT).
type ValidationError struct {
	Field  string // wire name, e.g. "grid_size"
	Reason string // pydantic's message, e.g. "Input should be greater than or equal to 8"
	// Type is pydantic's error type for the FastAPI-style 422 item: "missing",
	// "greater_than_equal", "less_than_equal", "greater_than", "finite_number".
	Type string
	// Ctx holds the constraint for the 422 item's "ctx" (e.g. {"ge": 8}); nil when none.
	Ctx map[string]any
	// Input is the offending value (nil when the field is absent).
	Input any
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// RequestError is a request that passes the schema but that the reference's core rejects
// with a ValueError, which the reference answers with 400 (not 422): empty gradients,
// byzantine_fraction = 0.5, and (mfn's fix of a reference 500) ragged, empty or
// non-finite gradient vectors. Transports map it to REST 400 with Reason as "detail"
// and to gRPC INVALID_ARGUMENT.
type RequestError struct {
	Field  string // wire name of the field concerned; may be empty
	Reason string // the reference's message, e.g. "No gradients provided"
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Reason)
}

// Request is one job. Decode JSON into the Default*Request value so absent fields keep defaults.
//
// Only this package's types implement it: run executes an already validated request on
// the calling goroutine, so the pool needs no list of request types (see kinds.go).
type Request interface {
	Kind() Kind
	// Validate returns a *ValidationError for the first bad field.
	Validate() error
	run(ctx context.Context) (Result, error)
	// cost is the worst-case memory and work from the request's sizes (EstimateCost).
	cost() Cost
}

// Result is a job's outcome; its JSON encoding is the REST response body.
type Result interface{ Kind() Kind }

// SimulateRequest is POST /simulate.
type SimulateRequest struct {
	Seed             int64   `json:"seed"`
	GridSize         int     `json:"grid_size"`
	Steps            int     `json:"steps"`
	Alpha            float64 `json:"alpha"`
	SpikeProbability float64 `json:"spike_probability"`
	TuringEnabled    bool    `json:"turing_enabled"`
	ThresholdMV      float64 `json:"threshold_mV"` // binarisation for fractal_dimension; default -60
}

// SimulateResult is the /simulate response.
type SimulateResult struct {
	GrowthEvents     int     `json:"growth_events"`
	PotMinMV         float64 `json:"pot_min_mV"`
	PotMaxMV         float64 `json:"pot_max_mV"`
	PotMeanMV        float64 `json:"pot_mean_mV"`
	PotStdMV         float64 `json:"pot_std_mV"`
	FractalDimension float64 `json:"fractal_dimension"`
}

// Snapshot is what an observed simulation reports after a step.
type Snapshot struct {
	Step         int // 0-based index of the step just done
	TotalSteps   int // the request's steps
	GrowthEvents int // so far
	PotMeanMV    float64
	PotStdMV     float64
	PotMinMV     float64
	PotMaxMV     float64
	// The same statistics in volts, exactly numpy's (the mV values are these × 1000, so
	// dividing those by 1000 could be an ulp off).
	MeanV, StdV, MinV, MaxV float64
	Field                   []float64 // volts, row-major; only valid during the callback: copy to keep
	// The Turing activator and inhibitor (dimensionless, row-major), only valid during
	// the callback like Field; nil with Turing off (the legacy simulator has no A or I).
	Activator, Inhibitor []float64
}

// ObservedSimulation is a SimulateRequest whose steps are reported as they are computed.
// Observe runs on the worker after every Every-th step and after the last; it must not
// block for long; returning false stops the run (the job then returns context.Canceled).
type ObservedSimulation struct {
	SimulateRequest
	Every   int
	Observe func(Snapshot) bool
	// HistoryFrames is how many fields the observer keeps (GridSize² float64 each, e.g.
	// POST /simulate/field's history): they count in the job's memory and are bounded
	// by Limits.MaxFieldHistoryBytes, refused naming "every" before the job runs.
	HistoryFrames int
	// HistoryArrays is how many arrays the observer keeps per frame (the field, and the
	// activator and inhibitor when asked); 0 counts as 1, the field alone.
	HistoryArrays int
}

// ValidateRequest is POST /validate.
type ValidateRequest struct {
	Seed          int64 `json:"seed"`
	Epochs        int   `json:"epochs"`
	BatchSize     int   `json:"batch_size"`
	GridSize      int   `json:"grid_size"`
	Steps         int   `json:"steps"`
	TuringEnabled bool  `json:"turing_enabled"`
	QuantumJitter bool  `json:"quantum_jitter"`
}

// ValidateResult is the /validate response (10 fields).
type ValidateResult struct {
	LossStart         float64 `json:"loss_start"`
	LossFinal         float64 `json:"loss_final"`
	LossDrop          float64 `json:"loss_drop"`
	PotMinMV          float64 `json:"pot_min_mV"`
	PotMaxMV          float64 `json:"pot_max_mV"`
	ExampleFractalDim float64 `json:"example_fractal_dim"`
	LyapunovExponent  float64 `json:"lyapunov_exponent"`
	GrowthEvents      float64 `json:"growth_events"`
	NernstSymbolicMV  float64 `json:"nernst_symbolic_mV"`
	NernstNumericMV   float64 `json:"nernst_numeric_mV"`
}

// NernstRequest is POST /nernst; the concentrations are required (nil = absent).
type NernstRequest struct {
	ZValence              int      `json:"z_valence"`
	ConcentrationOutMolar *float64 `json:"concentration_out_molar"`
	ConcentrationInMolar  *float64 `json:"concentration_in_molar"`
	TemperatureK          float64  `json:"temperature_k"`
}

// NernstResult is the /nernst response.
type NernstResult struct {
	PotentialMV float64 `json:"potential_mV"`
}

// FederatedRequest is POST /federated/aggregate.
type FederatedRequest struct {
	Gradients         [][]float64 `json:"gradients"`
	NumClusters       int         `json:"num_clusters"`
	ByzantineFraction float64     `json:"byzantine_fraction"`
}

// FederatedResult is the /federated/aggregate response.
type FederatedResult struct {
	AggregatedGradient []float64 `json:"aggregated_gradient"`
	NumInputGradients  int       `json:"num_input_gradients"`
}
