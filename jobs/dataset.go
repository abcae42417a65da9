package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"mfn/dataset"
)

// KindDataset is one dataset sample: an engine run with history and its 18 features.
const KindDataset Kind = "dataset"

// DatasetSampleRequest runs one sample of a dataset (a row of `mfn dataset`). A dataset
// is many of these, one per sample, so that the pool spreads it over its workers.
//
// Cost: about 12 fields of memory (12 × 8 × GridSize² bytes, 6 MiB at the largest legal
// grid, 256; the features are computed as the steps come, without keeping the history)
// and Steps × GridSize² cell updates (at most 1000 × 256²: 1.6 s on one core here).
type DatasetSampleRequest struct {
	Sample dataset.Sample
}

// Kind is KindDataset.
func (DatasetSampleRequest) Kind() Kind { return KindDataset }

// Validate applies the scenario limits (dataset.Sample.Validate), naming the field.
func (r DatasetSampleRequest) Validate() error {
	err := r.Sample.Validate()
	var fe *dataset.FieldError
	if errors.As(err, &fe) {
		return &ValidationError{Field: fe.Field, Reason: fe.Reason, Type: "value_error"}
	}
	return err
}

// DatasetRowResult is one dataset row.
type DatasetRowResult struct {
	Row dataset.Row
}

// Kind is KindDataset.
func (DatasetRowResult) Kind() Kind { return KindDataset }

func runDatasetSample(ctx context.Context, r DatasetSampleRequest) (DatasetRowResult, error) {
	row, err := dataset.RunSample(ctx, r.Sample)
	if err != nil {
		return DatasetRowResult{}, fmt.Errorf("dataset: %w", err)
	}
	return DatasetRowResult{Row: row}, nil
}

// DatasetSpec is a dataset on the wire (POST /datasets' body, a pipeline job's params):
// a preset by name or an explicit sweep, and the base seed.
type DatasetSpec struct {
	Preset *string       `json:"preset"`
	Sweep  *DatasetSweep `json:"sweep"`
	// Seed is the base seed: sample i uses seed + i (`mfn dataset --seed`); default 42.
	Seed *int64 `json:"seed"`
}

// DatasetSweep is an explicit sweep: the product grid_sizes × steps × alpha_values ×
// turing_enabled, seeds_per_config samples each. Absent lists take the minimal sweep's.
type DatasetSweep struct {
	GridSizes      []int     `json:"grid_sizes"`
	Steps          []int     `json:"steps"`
	AlphaValues    []float64 `json:"alpha_values"`
	TuringEnabled  []bool    `json:"turing_enabled"`
	SeedsPerConfig *int      `json:"seeds_per_config"`
}

// Request resolves the spec to its samples. A spec that cannot be resolved gives a
// request whose Validate reports why, naming the field, so that every transport
// refuses it the same way.
func (s DatasetSpec) Request() DatasetRequest {
	samples, field, withScenario, err := s.resolve()
	return DatasetRequest{Samples: samples, Field: field, WithScenario: withScenario, invalid: err}
}

func (s DatasetSpec) resolve() ([]dataset.Sample, string, bool, error) {
	seed := int64(dataset.DefaultSeed)
	if s.Seed != nil {
		if *s.Seed < 0 {
			return nil, "seed", false, &ValidationError{Field: "seed", Type: "greater_than_equal", Input: *s.Seed,
				Ctx: map[string]any{"ge": 0}, Reason: "Input should be greater than or equal to 0"}
		}
		seed = *s.Seed
	}
	switch {
	case s.Preset != nil && s.Sweep != nil:
		return nil, "sweep", false, &ValidationError{Field: "sweep", Type: "value_error",
			Reason: "Value error, give either preset or sweep, not both"}
	case s.Preset != nil:
		p, err := dataset.Preset(*s.Preset)
		if err != nil {
			return nil, "preset", false, &ValidationError{Field: "preset", Type: "value_error", Input: *s.Preset,
				Reason: fmt.Sprintf("Value error, unknown preset %q (choose from small, medium, large, benchmark)", *s.Preset)}
		}
		p.BaseSeed = seed
		return p.Samples(), "preset", true, nil
	case s.Sweep != nil:
		sw, _ := dataset.SweepByName("minimal")
		sw.BaseSeed = seed
		if s.Sweep.GridSizes != nil {
			sw.GridSizes = s.Sweep.GridSizes
		}
		if s.Sweep.Steps != nil {
			sw.Steps = s.Sweep.Steps
		}
		if s.Sweep.AlphaValues != nil {
			sw.Alphas = s.Sweep.AlphaValues
		}
		if s.Sweep.TuringEnabled != nil {
			sw.Turing = s.Sweep.TuringEnabled
		}
		if s.Sweep.SeedsPerConfig != nil {
			sw.SeedsPerConfig = *s.Sweep.SeedsPerConfig
		}
		// The product is checked before the samples are made: lists of a few thousand
		// entries each would otherwise allocate billions of samples.
		n := 1.0
		for _, f := range []struct {
			name string
			n    int
		}{{"grid_sizes", len(sw.GridSizes)}, {"steps", len(sw.Steps)}, {"alpha_values", len(sw.Alphas)},
			{"turing_enabled", len(sw.Turing)}, {"seeds_per_config", sw.SeedsPerConfig}} {
			if f.n < 1 {
				return nil, "sweep", false, &ValidationError{Field: "sweep." + f.name, Type: "value_error",
					Reason: "Value error, must not be empty (seeds_per_config: at least 1)"}
			}
			n *= float64(f.n)
		}
		if n > dataset.MaxSamples {
			return nil, "sweep", false, &ValidationError{Field: "sweep", Type: "value_error",
				Ctx:    map[string]any{"max_samples": dataset.MaxSamples},
				Reason: fmt.Sprintf("Value error, the sweep has %.0f samples, more than %d", n, dataset.MaxSamples)}
		}
		return sw.Samples(), "sweep", false, nil
	}
	return nil, "preset", false, &ValidationError{Field: "preset", Type: "missing",
		Reason: "Field required: give a preset (small, medium, large, benchmark) or a sweep"}
}

// DatasetRequest is a whole dataset (POST /datasets, a pipeline's dataset job): its
// samples, in sim_id order. Transports that stream rows run each sample as its own
// DatasetSampleRequest, so that the pool spreads them; they admit the DatasetRequest
// first (Pool.Admit), so that a dataset beyond pool.limits is refused before any runs.
// Run as one job (a pipeline's), it computes the samples one after the other.
type DatasetRequest struct {
	Samples []dataset.Sample
	// Field is the request field a limit error names ("preset", "sweep").
	Field string
	// WithScenario is true for a preset: rows carry scenario_name, as `mfn dataset`.
	WithScenario bool
	invalid      error // why the spec could not be resolved
}

// Kind is KindDataset.
func (DatasetRequest) Kind() Kind { return KindDataset }

// Validate reports a spec that could not be resolved, then checks every sample, naming
// the field as <preset|sweep>[i].<field>.
func (r DatasetRequest) Validate() error {
	if r.invalid != nil {
		return r.invalid
	}
	if len(r.Samples) == 0 {
		return &ValidationError{Field: r.field(), Type: "value_error", Reason: "Value error, the dataset has no samples"}
	}
	for i, s := range r.Samples {
		if err := (DatasetSampleRequest{Sample: s}).Validate(); err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) {
				ve.Field = fmt.Sprintf("%s[%d].%s", r.field(), i, ve.Field)
			}
			return err
		}
	}
	return nil
}

func (r DatasetRequest) field() string {
	if r.Field == "" {
		return "samples"
	}
	return r.Field
}

// DatasetResult is a whole dataset: the rows of the samples that succeeded, in sim_id
// order, and how many failed (the reference skips a failing sample). Its JSON is
// {"rows": [{column: value, …}, …], "failed": n}, columns named and ordered as
// dataset.Columns, NaN and ±Inf as null.
type DatasetResult struct {
	Rows         []dataset.Row
	Failed       int
	WithScenario bool
}

// Kind is KindDataset.
func (DatasetResult) Kind() Kind { return KindDataset }

// MarshalJSON writes the rows keyed by column name.
func (r DatasetResult) MarshalJSON() ([]byte, error) {
	buf := []byte(`{"rows":[`)
	for i, row := range r.Rows {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = row.AppendJSON(buf, r.WithScenario)
	}
	buf = append(buf, `],"failed":`...)
	buf = strconv.AppendInt(buf, int64(r.Failed), 10)
	return append(buf, '}'), nil
}

func (r DatasetRequest) run(ctx context.Context) (Result, error) {
	out := DatasetResult{WithScenario: r.WithScenario}
	for _, s := range r.Samples {
		row, err := dataset.RunSample(ctx, s)
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if err != nil {
			out.Failed++
			continue
		}
		out.Rows = append(out.Rows, row)
	}
	return out, nil
}
