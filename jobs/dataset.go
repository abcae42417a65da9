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
