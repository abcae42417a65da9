package jobs

import (
	"context"
	"sync"

	"mfn/dataset"
)

// RunFunc runs one job: a Pool's DoWait (samples queue behind each other) or Do.
type RunFunc func(ctx context.Context, req Request) (Result, error)

// StreamDataset runs r's samples through run, each as its own DatasetSampleRequest and
// at most window at once, and calls yield with each sample's row or error in sim_id
// order as soon as it and every sample before it are done. yield returning false stops
// the stream: the samples still running are cancelled. StreamDataset returns once every
// sample it started has returned, so nothing outlives it. r must be admitted first
// (Pool.Admit): StreamDataset itself checks no limit.
func StreamDataset(ctx context.Context, r DatasetRequest, run RunFunc, window int, yield func(dataset.Row, error) bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type slot struct {
		done chan struct{}
		row  dataset.Row
		err  error
	}
	// The queue bounds the samples in flight: a slot enters it before its sample starts
	// and leaves it when its outcome is yielded.
	queue := make(chan *slot, max(window, 1))
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		defer close(queue)
		for _, s := range r.Samples {
			sl := &slot{done: make(chan struct{})}
			select {
			case queue <- sl:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer close(sl.done)
				res, err := run(ctx, DatasetSampleRequest{Sample: s})
				if err != nil {
					sl.err = err
					return
				}
				sl.row = res.(DatasetRowResult).Row
			})
		}
	})
	stopped := false
	for sl := range queue {
		<-sl.done
		if !stopped && !yield(sl.row, sl.err) {
			stopped = true
			cancel() // the feeder ends; the drained slots' samples end promptly
		}
	}
}
