package jobs

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// idleWorkers is a WorkerLender over a count of idle workers that records what was
// asked, to test wideWorkers' arithmetic (TestPoolLendsIdleWorkers tests the real pool).
type idleWorkers struct {
	mu             sync.Mutex
	idle, lent     int
	asked, maxLent int
}

func (w *idleWorkers) TryBorrow(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.asked += n
	got := min(n, w.idle)
	w.idle -= got
	w.lent += got
	w.maxLent = max(w.maxLent, w.lent)
	return got
}

func (w *idleWorkers) Return(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.idle += n
	w.lent -= n
}

func TestWideConfigValidate(t *testing.T) {
	require.NoError(t, DefaultWideConfig().Validate())
	var ve *ValidationError
	require.ErrorAs(t, WideConfig{MinGrid: 64}.Validate(), &ve)
	require.Equal(t, "min_grid", ve.Field)
	require.ErrorAs(t, WideConfig{MinGrid: 512, MaxWorkers: -1}.Validate(), &ve)
	require.Equal(t, "max_workers", ve.Field)
	require.ErrorAs(t, WideConfig{MinGrid: 512, MaxWorkers: 10001}.Validate(), &ve)
	require.Equal(t, "max_workers", ve.Field)
}

// A run from MinGrid on borrows idle workers, returns them all, and gives the same
// numbers as on one worker; a smaller run never asks.
func TestWideRunBorrowsAndMatches(t *testing.T) {
	req := DefaultSimulateRequest()
	req.GridSize, req.Steps = 256, 5 // grid_size 256 is /simulate's maximum
	want, err := runSimulate(context.Background(), req, nil)
	require.NoError(t, err)

	lender := &idleWorkers{idle: 3}
	ctx := WithWide(context.Background(), WideConfig{MinGrid: 512, MaxWorkers: 4}, lender)
	got, err := runSimulate(ctx, req, nil)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Zero(t, lender.asked, "256 < min_grid: one worker, no borrowing")

	ctx = WithWide(context.Background(), WideConfig{MinGrid: 256, MaxWorkers: 4}, lender)
	got, err = runSimulate(ctx, req, nil)
	require.NoError(t, err)
	require.Equal(t, want, got, "the same numbers on several workers")
	require.Equal(t, 3, lender.asked, "up to max_workers − 1 extra (256/64 = 4 bands)")
	require.Equal(t, 3, lender.maxLent)
	require.Zero(t, lender.lent, "every borrowed worker is returned")
	require.Equal(t, 3, lender.idle)

	// With one idle worker the run takes what there is.
	lender = &idleWorkers{idle: 1}
	ctx = WithWide(context.Background(), WideConfig{MinGrid: 256}, lender)
	got, err = runSimulate(ctx, req, nil)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, 1, lender.maxLent)
	require.Zero(t, lender.lent)
}

// TestPoolLendsIdleWorkers: on the real pool, a run from wide.min_grid on holds its own
// worker and borrows the idle one while it computes (no token left for a queued job), gives
// it back afterwards, and its numbers equal the one-worker run's.
func TestPoolLendsIdleWorkers(t *testing.T) {
	cfg := PoolConfig{Workers: 2, Wide: WideConfig{MinGrid: 128, MaxWorkers: 2}}
	p, _, _ := startPool(t, cfg)
	req := SimulateRequest{Seed: 7, GridSize: 256, Steps: 4, Alpha: 0.18, SpikeProbability: 0.25, TuringEnabled: true, ThresholdMV: -60}

	var tokensDuring []int
	obs := ObservedSimulation{SimulateRequest: req, Every: 1, Observe: func(Snapshot) bool {
		tokensDuring = append(tokensDuring, len(p.slots))
		return true
	}}
	got, err := p.Do(context.Background(), obs)
	require.NoError(t, err)
	require.Equal(t, []int{0, 0, 0, 0}, tokensDuring, "both workers' tokens held by the one run")
	require.Equal(t, 2, len(p.slots), "every token returned")

	want, err := Execute(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Below min_grid nothing is borrowed.
	small := obs
	small.GridSize = 64
	tokensDuring = nil
	_, err = p.Do(context.Background(), small)
	require.NoError(t, err)
	require.Equal(t, []int{1, 1, 1, 1}, tokensDuring)
}
