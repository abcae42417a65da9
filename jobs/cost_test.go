package jobs

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"mfn/dataset"
)

// sharedGradients is n gradients of length dim that all share one backing vector, so a
// test can build a request of millions of gradients for the price of their headers.
func sharedGradients(n, dim int) [][]float64 {
	row := make([]float64, dim)
	for j := range row {
		row[j] = float64(j) * 0.001
	}
	g := make([][]float64, n)
	for i := range g {
		g[i] = row
	}
	return g
}

// distinctGradients is n different gradients of length dim in one backing array.
func distinctGradients(n, dim int) [][]float64 {
	flat := make([]float64, n*dim)
	for k := range flat {
		flat[k] = float64(k%977) * 0.01
	}
	g := make([][]float64, n)
	for i := range g {
		g[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return g
}

// The attacks: 2,000,000 one-element gradients in one cluster (8 MB of JSON, a
// 320 GB Krum matrix), ~349k gradients (the 4 MB gRPC message, ~10 GB) and 100k
// gradients (800 KB, 30 s and 1 GB) are refused at admission with a 422 naming
// "gradients", and admission allocates nothing of their size.
func TestFederatedAttacksRefusedWithoutAllocating(t *testing.T) {
	p, _, _ := startPool(t, PoolConfig{Workers: 1})
	for _, tc := range []struct {
		name    string
		n, dim  int
		limits  Limits
		errType string
	}{
		{"2M gradients", 2_000_000, 1, Limits{}, "too_long"},
		{"349k gradients (gRPC 4 MB)", 349_000, 1, Limits{}, "too_long"},
		{"100k gradients", 100_000, 1, Limits{}, "too_long"},
		// With the count limit raised, the memory limit still stops the Krum matrix.
		{"memory limit", 2_000_000, 1, Limits{MaxGradients: 10_000_000}, "value_error"},
		{"gradient values", 1000, 5000, Limits{}, "value_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := FederatedRequest{Gradients: sharedGradients(tc.n, tc.dim), NumClusters: 1, ByzantineFraction: 0.2}
			pool := p
			if tc.limits != (Limits{}) {
				var err error
				pool, err = NewPool(PoolConfig{Workers: 1, Limits: tc.limits}, nil)
				require.NoError(t, err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := pool.Do(context.Background(), req)
			runtime.ReadMemStats(&after)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "gradients", ve.Field)
			require.Equal(t, tc.errType, ve.Type)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "admission allocated more than its error")
			allocs := testing.AllocsPerRun(20, func() { _, _ = pool.Admit(req) })
			require.LessOrEqual(t, allocs, 20.0, "admission allocates only its error, a constant")
		})
	}
	require.Zero(t, p.queued())
}

// EstimateCost's memory is an upper bound of what the job really allocates (TotalAlloc,
// which is at least the peak), for every kind and for federated shapes on both sides of
// the sampling threshold.
func TestEstimateCostBoundsAllocations(t *testing.T) {
	fed := func(n, dim, clusters int) FederatedRequest {
		return FederatedRequest{Gradients: distinctGradients(n, dim), NumClusters: clusters, ByzantineFraction: 0.2}
	}
	big := DefaultSimulateRequest()
	big.GridSize, big.Steps = 256, 20
	val := DefaultValidateRequest()
	val.GridSize, val.Steps, val.Epochs, val.BatchSize = 128, 8, 3, 1
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"simulate 256", big},
		{"validate 128", val},
		{"federated 1000x1 one cluster", fed(1000, 1, 1)},
		{"federated 12000x4 one cluster", fed(12_000, 4, 1)},
		{"federated 300x64 10 clusters", fed(300, 64, 10)},
		{"federated 20000x2 1000 clusters", fed(20_000, 2, 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := EstimateCost(tc.req)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Execute(context.Background(), tc.req)
			runtime.ReadMemStats(&after)
			require.NoError(t, err)
			got := after.TotalAlloc - before.TotalAlloc
			require.LessOrEqual(t, got, uint64(c.Memory), "allocated %d B, estimated %d B", got, c.Memory)
			t.Logf("allocated %d B, estimated %d B, work estimate %.3f s", got, c.Memory, c.Work)
		})
	}
}

// largestFederated is a legal request near the default limits that one cluster makes
// as slow as possible: 50,000 gradients × 80 values (4M values), 5,000 after sampling,
// all in one cluster: seconds of Krum.
func largestFederated() FederatedRequest {
	return FederatedRequest{Gradients: distinctGradients(DefaultLimits().MaxGradients, 80), NumClusters: 1, ByzantineFraction: 0.2}
}

// A federated job whose deadline passes frees its worker within one Krum row: a tiny
// job submitted right after runs promptly (the generous bound only catches a worker
// that keeps computing for seconds, as before the fix).
func TestFederatedDeadlineFreesWorker(t *testing.T) {
	p, reg, _ := startPool(t, PoolConfig{Workers: 1})
	req := largestFederated()
	c, err := p.Admit(req)
	require.NoError(t, err, "the largest legal federated job is admitted")
	require.Greater(t, c.Work, 1.0, "and is estimated at seconds of work")

	// The deadline is set once the job runs (admission walks 4M values, which under
	// the race detector can take longer than the deadline itself).
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { _, err := p.Do(ctx, req); done <- err }()
	require.Eventually(t, func() bool { return p.running.Load() == 1 }, 30*time.Second, time.Millisecond)
	time.AfterFunc(200*time.Millisecond, func() { cancel(context.DeadlineExceeded) })
	require.ErrorIs(t, <-done, context.Canceled)
	deadline := time.Now()

	tiny, cancelTiny := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelTiny()
	_, err = p.Do(tiny, smallSim())
	require.NoError(t, err, "the only worker was freed")
	t.Logf("worker free and a tiny job done %v after the deadline", time.Since(deadline))
	require.Eventually(t, func() bool { return histCount(t, reg, KindFederated, "canceled") == 1 }, 5*time.Second, time.Millisecond)
}

// costlyBlocker is an observed 256×256×1000 simulation (estimated well above
// CheapJobSeconds, so it uses the costly lane) that holds its worker until released.
func (b *blocker) costly() ObservedSimulation {
	r := b.req()
	r.GridSize, r.Steps = MaxGridSize, MaxSteps
	return r
}

// Cheap jobs are admitted while the costly lane is full (by count and by queued work),
// and refusals carry a retry hint.
func TestCheapJobsAdmittedWhileCostlyLaneFull(t *testing.T) {
	p, _, _ := startPool(t, PoolConfig{Workers: 2, QueueSize: 1, MaxQueueSeconds: 0.1})
	b1, b2 := newBlocker(), newBlocker()
	results := make(chan error, 8)
	// One at a time: a costly job queued but not yet taken would fill the lane.
	go func() { _, err := p.Do(context.Background(), b1.costly()); results <- err }()
	<-b1.started
	go func() { _, err := p.Do(context.Background(), b2.costly()); results <- err }()
	<-b2.started

	// One more costly job queues (its lane was empty); it is estimated at ~0.4 s, so the
	// lane now holds more than MaxQueueSeconds of waiting per worker.
	queued := newBlocker()
	go func() { _, err := p.Do(context.Background(), queued.costly()); results <- err }()
	require.Eventually(t, func() bool { return p.queued() == 1 }, 5*time.Second, time.Millisecond)

	_, err := p.Do(context.Background(), newBlocker().costly())
	require.ErrorIs(t, err, ErrBusy)
	var be *BusyError
	require.ErrorAs(t, err, &be)
	require.GreaterOrEqual(t, be.RetryAfter, time.Second)
	require.Equal(t, be.RetryAfter, RetryAfter(err))

	// The cheap lane is empty: a small simulation is admitted and waits for a worker.
	cheap := make(chan error, 1)
	go func() { _, err := p.Do(context.Background(), smallSim()); cheap <- err }()
	require.Eventually(t, func() bool { return p.queued() == 2 }, 5*time.Second, time.Millisecond)

	close(b1.release)
	close(b2.release)
	close(queued.release)
	require.NoError(t, <-cheap)
	for range 3 {
		require.NoError(t, <-results)
	}
}

// The memory budget bounds the running and queued jobs: a job that does not fit gets a
// *BusyError from Do, while DoWait waits until the memory is released.
func TestMemoryBudget(t *testing.T) {
	// A 256×256 simulation reserves ~5 MiB: one fits in 8 MiB, two do not.
	p, _, _ := startPool(t, PoolConfig{Workers: 2, MemoryBudgetBytes: 8 << 20})
	b := newBlocker()
	first := make(chan error, 1)
	go func() { _, err := p.Do(context.Background(), b.costly()); first <- err }()
	<-b.started

	big := DefaultSimulateRequest()
	big.GridSize, big.Steps = MaxGridSize, 1
	_, err := p.Do(context.Background(), big)
	var be *BusyError
	require.ErrorAs(t, err, &be)
	require.Equal(t, "memory budget", be.Reason)

	var wg sync.WaitGroup
	waited := make(chan error, 1)
	wg.Go(func() { _, err := p.DoWait(context.Background(), big); waited <- err })
	select {
	case err := <-waited:
		t.Fatalf("DoWait returned %v while the budget was full", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(b.release)
	require.NoError(t, <-first)
	require.NoError(t, <-waited)
	wg.Wait()

	// A job larger than the whole budget is a 422 at admission, never a wait.
	small, _, _ := startPool(t, PoolConfig{Workers: 1, MemoryBudgetBytes: 1 << 20})
	_, err = small.DoWait(context.Background(), big)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "grid_size", ve.Field)
}

// FuzzCostLimits: admission never panics, and whatever it admits is within the limits.
func FuzzCostLimits(f *testing.F) {
	f.Add(uint8(3), 2_000_000, 1, 1, 64, 64, 1, 4, int64(0))
	f.Add(uint8(3), 349_000, 1, 10, 0, 0, 0, 0, int64(1<<20))
	f.Add(uint8(3), 5000, 800, 1, 0, 0, 0, 0, int64(0))
	f.Add(uint8(0), 0, 0, 0, 256, 1000, 0, 0, int64(1<<10))
	f.Add(uint8(1), 0, 0, 0, 256, 1000, 100, 1, int64(0))
	f.Add(uint8(2), -1, -1, -1, -1, -1, -1, -1, int64(-1))
	f.Fuzz(func(t *testing.T, kind uint8, n, dim, clusters, grid, steps, epochs, batch int, maxMem int64) {
		n, dim = clampInt(n, 0, 3_000_000), clampInt(dim, 0, 1<<22)
		if int64(n)*int64(dim) > 1<<24 {
			dim = (1 << 24) / max(n, 1) // the request itself must fit in the test's memory
		}
		var req Request
		switch kind % 5 {
		case 0:
			r := DefaultSimulateRequest()
			r.GridSize, r.Steps = grid, steps
			req = r
		case 1:
			r := DefaultValidateRequest()
			r.GridSize, r.Steps, r.Epochs, r.BatchSize = grid, steps, epochs, batch
			req = r
		case 2:
			out, in := 0.005, 0.14
			req = NernstRequest{ZValence: 1, ConcentrationOutMolar: &out, ConcentrationInMolar: &in, TemperatureK: 310}
		case 3:
			req = FederatedRequest{Gradients: sharedGradients(n, dim), NumClusters: clusters, ByzantineFraction: 0.2}
		case 4:
			req = &FederatedRequest{Gradients: sharedGradients(n, dim), NumClusters: clusters}
		}
		lim := DefaultLimits()
		if maxMem > 0 && maxMem < lim.MaxJobMemoryBytes {
			lim.MaxJobMemoryBytes = maxMem
		}
		c, err := admit(context.Background(), req, lim)
		if err != nil {
			var ve *ValidationError
			var re *RequestError
			require.True(t, errors.As(err, &ve) || errors.As(err, &re), "%T %v", err, err)
			return
		}
		require.LessOrEqual(t, c.Memory, lim.MaxJobMemoryBytes)
		require.GreaterOrEqual(t, c.Memory, int64(0))
		require.Greater(t, c.Work, 0.0)
		if fr, ok := req.(FederatedRequest); ok {
			require.LessOrEqual(t, len(fr.Gradients), lim.MaxGradients)
			require.LessOrEqual(t, int64(len(fr.Gradients))*int64(len(fr.Gradients[0])), lim.MaxGradientValues)
		}
	})
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }

// A field history over max_field_history_bytes is refused naming every, before it runs;
// one frame fewer is admitted.
func TestFieldHistoryLimit(t *testing.T) {
	l := DefaultLimits()
	l.MaxFieldHistoryBytes = 10 * 64 * 64 * 8
	req := func(frames int) ObservedSimulation {
		return ObservedSimulation{SimulateRequest: SimulateRequest{Seed: 1, GridSize: 64, Steps: 20, Alpha: 0.1}, Every: 1,
			HistoryFrames: frames, Observe: func(Snapshot) bool { return true }}
	}
	_, err := admit(context.Background(), req(10), l)
	require.NoError(t, err)
	_, err = admit(context.Background(), req(11), l)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "every", ve.Field)
	require.Equal(t, int64(11*64*64*8), ve.Ctx["bytes"])
	require.Greater(t, EstimateCost(req(11)).Memory, EstimateCost(req(0)).Memory+11*64*64*8-1)

	// The activator and inhibitor histories count like the field's: 3 arrays of 3 frames
	// fit in 10 frames' bytes, 3 arrays of 4 frames do not.
	three := func(frames int) ObservedSimulation { r := req(frames); r.HistoryArrays = 3; return r }
	_, err = admit(context.Background(), three(3), l)
	require.NoError(t, err)
	_, err = admit(context.Background(), three(4), l)
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "every", ve.Field)
	require.Equal(t, int64(3*4*64*64*8), ve.Ctx["bytes"])
	require.Contains(t, ve.Reason, "include fewer arrays")
	require.Equal(t, EstimateCost(req(12)).Memory, EstimateCost(three(4)).Memory)
}

// TestDatasetSampleCost: a dataset sample states its own cost (12 fields of memory, the
// engine's steps of work), so the largest legal sample goes to the costly lane and
// counts against the memory budget like a simulation of the same size.
func TestDatasetSampleCost(t *testing.T) {
	small := EstimateCost(DatasetSampleRequest{Sample: dataset.Sample{GridSize: 32, Steps: 32}})
	large := EstimateCost(DatasetSampleRequest{Sample: dataset.Sample{GridSize: 256, Steps: 1000}})
	require.Greater(t, large.Memory, int64(12*8*256*256))
	require.Greater(t, large.Work, EstimateCost(SimulateRequest{GridSize: 256, Steps: 1000}).Work)
	require.Less(t, small.Work, large.Work)
	require.Greater(t, large.Work, DefaultCheapJobSeconds, "the largest sample is a costly job")
	var nilReq *DatasetSampleRequest
	require.Equal(t, Cost{Work: secPerJob}, EstimateCost(nilReq), "a typed nil costs the fixed minimum, no panic")
}
