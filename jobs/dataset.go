package jobs

import (
	"context"
	"errors"
	"fmt"

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

// DatasetRequest is a whole dataset (POST /datasets, a pipeline's dataset job): its
// samples, in sim_id order. Transports that stream rows run each sample as its own
// DatasetSampleRequest, so that the pool spreads them; they admit the DatasetRequest
// first (Pool.Admit), so that a dataset beyond pool.limits is refused before any runs.
// Run as one job, it computes the samples one after the other.
type DatasetRequest struct {
	Samples []dataset.Sample
	// Field is the request field a limit error names ("preset", "sweep").
	Field string
}

// Kind is KindDataset.
func (DatasetRequest) Kind() Kind { return KindDataset }

// Validate checks every sample, naming the field as samples[i].<field>.
func (r DatasetRequest) Validate() error {
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
// order, and how many failed (the reference skips a failing sample).
type DatasetResult struct {
	Rows   []dataset.Row `json:"rows"`
	Failed int           `json:"failed"`
}

// Kind is KindDataset.
func (DatasetResult) Kind() Kind { return KindDataset }

func (r DatasetRequest) run(ctx context.Context) (Result, error) {
	var out DatasetResult
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
