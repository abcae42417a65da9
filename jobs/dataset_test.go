package jobs

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/dataset"
)

// Dataset samples run on the pool give the rows of a direct dataset.RunSample, whatever
// worker takes them.
func TestDatasetSampleOnPool(t *testing.T) {
	pool, err := NewPool(PoolConfig{Workers: 2, QueueSize: 2}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = pool.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	p, err := dataset.Preset("benchmark")
	require.NoError(t, err)
	samples := p.Samples()
	results := make([]Result, len(samples))
	errs := make([]error, len(samples))
	var sub sync.WaitGroup
	for i, s := range samples {
		sub.Go(func() { results[i], errs[i] = pool.DoWait(context.Background(), DatasetSampleRequest{Sample: s}) })
	}
	sub.Wait()
	for i, s := range samples {
		require.NoError(t, errs[i])
		require.Equal(t, KindDataset, results[i].Kind())
		got := results[i].(DatasetRowResult).Row
		want, err := dataset.RunSample(context.Background(), s)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

func TestDatasetSampleValidate(t *testing.T) {
	ok := dataset.Sample{GridSize: 32, Steps: 32, Alpha: 0.15, RandomSeed: 42}
	require.NoError(t, DatasetSampleRequest{Sample: ok}.Validate())
	for _, tc := range []struct {
		mod   func(*dataset.Sample)
		field string
	}{
		{func(s *dataset.Sample) { s.GridSize = 4 }, "grid_size"},
		{func(s *dataset.Sample) { s.Steps = 5000 }, "steps"},
		{func(s *dataset.Sample) { s.Alpha = 0.3 }, "alpha"},
		{func(s *dataset.Sample) { s.RandomSeed = -5 }, "random_seed"},
	} {
		s := ok
		tc.mod(&s)
		_, err := Execute(context.Background(), DatasetSampleRequest{Sample: s})
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, tc.field, ve.Field)
	}
	// An engine failure (alpha below the engine's 0.05) is an error, not a panic.
	s := ok
	s.Alpha = 0.01
	_, err := Execute(context.Background(), &DatasetSampleRequest{Sample: s})
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrInternal)
}

func TestDatasetSampleCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Execute(ctx, DatasetSampleRequest{Sample: dataset.Sample{GridSize: 32, Steps: 32, Alpha: 0.15}})
	require.ErrorIs(t, err, context.Canceled)
}
