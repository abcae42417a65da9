package jobs

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// startPool runs a pool until the test ends and waits for Run to return.
func startPool(t *testing.T, cfg PoolConfig) (*Pool, *prometheus.Registry, context.CancelFunc) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := NewPool(cfg, reg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return p, reg, cancel
}

func smallSim() SimulateRequest {
	r := DefaultSimulateRequest()
	r.GridSize, r.Steps = 8, 4
	return r
}

// blocker is an observed simulation that holds its worker until released, so that
// tests can fill the queue deterministically.
type blocker struct {
	started chan struct{}
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}), release: make(chan struct{})}
}

func (b *blocker) req() ObservedSimulation {
	once := sync.Once{}
	return ObservedSimulation{SimulateRequest: smallSim(), Every: 1, Observe: func(Snapshot) bool {
		once.Do(func() { close(b.started) })
		<-b.release
		return true
	}}
}

func histCount(t *testing.T, reg *prometheus.Registry, kind Kind, outcome string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "mfn_job_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == string(kind) && labels["outcome"] == outcome {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func TestNewPoolConfig(t *testing.T) {
	_, err := NewPool(PoolConfig{QueueSize: -1}, nil)
	require.ErrorContains(t, err, "queue_size")
	p, err := NewPool(PoolConfig{Workers: 2}, nil)
	require.NoError(t, err)
	require.Equal(t, 2, p.Config().Workers)
	require.Equal(t, 2*QueuePerWorker, p.Config().QueueSize)
	require.Error(t, p.Ready(), "not ready before Run")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.Eventually(t, func() bool { return p.Ready() == nil }, 5*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.ErrorIs(t, p.Ready(), ErrClosed, "not ready once draining")

	reg := prometheus.NewRegistry()
	_, err = NewPool(PoolConfig{}, reg)
	require.NoError(t, err)
	_, err = NewPool(PoolConfig{}, reg)
	require.Error(t, err, "a second pool on the same registry is a duplicate registration")
}

func TestPoolDo(t *testing.T) {
	p, reg, _ := startPool(t, PoolConfig{Workers: 2, QueueSize: 32})
	want, err := Execute(context.Background(), smallSim())
	require.NoError(t, err)

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			res, err := p.Do(context.Background(), smallSim())
			require.NoError(t, err)
			require.Equal(t, want, res)
		})
	}
	wg.Wait()
	require.Equal(t, uint64(20), histCount(t, reg, KindSimulate, "ok"))
	require.Equal(t, 0.0, testutil.ToFloat64(p.m.busy))
}

func TestPoolValidationNotQueued(t *testing.T) {
	p, reg, _ := startPool(t, PoolConfig{Workers: 1})
	_, err := p.Do(context.Background(), DefaultNernstRequest())
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "concentration_out_molar", ve.Field)

	_, err = p.Do(context.Background(), FederatedRequest{Gradients: [][]float64{}, NumClusters: 10})
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "No gradients provided", re.Reason)

	_, err = p.Do(context.Background(), nil)
	require.ErrorAs(t, err, &ve)
	require.Zero(t, histCount(t, reg, KindNernst, "error")+histCount(t, reg, KindFederated, "error"))
}

func TestPoolBusyAndMetrics(t *testing.T) {
	p, reg, _ := startPool(t, PoolConfig{Workers: 1, QueueSize: 1})
	b := newBlocker()
	first := make(chan error, 1)
	go func() { _, err := p.Do(context.Background(), b.req()); first <- err }()
	<-b.started

	queued := make(chan error, 1)
	go func() { _, err := p.Do(context.Background(), smallSim()); queued <- err }()
	require.Eventually(t, func() bool { return p.queued() == 1 }, 5*time.Second, time.Millisecond)

	_, err := p.Do(context.Background(), smallSim())
	require.ErrorIs(t, err, ErrBusy)
	_, err = p.Do(context.Background(), smallSim())
	require.ErrorIs(t, err, ErrBusy)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP mfn_jobs_busy_rejections_total Jobs rejected with ErrBusy because the queue was full.
# TYPE mfn_jobs_busy_rejections_total counter
mfn_jobs_busy_rejections_total 2
# HELP mfn_jobs_queue_depth Jobs waiting in the queue.
# TYPE mfn_jobs_queue_depth gauge
mfn_jobs_queue_depth 1
# HELP mfn_jobs_running Jobs being executed by a worker.
# TYPE mfn_jobs_running gauge
mfn_jobs_running 1
`), "mfn_jobs_busy_rejections_total", "mfn_jobs_queue_depth", "mfn_jobs_running"))

	close(b.release)
	require.NoError(t, <-first)
	require.NoError(t, <-queued)
	require.Equal(t, uint64(2), histCount(t, reg, KindSimulate, "ok"))
	require.Equal(t, 2.0, testutil.ToFloat64(p.m.busy), "counter unchanged after drain")
}

func TestPoolDoWaitWaitsForSpace(t *testing.T) {
	p, _, _ := startPool(t, PoolConfig{Workers: 1, QueueSize: 1})
	b := newBlocker()
	go func() { _, _ = p.Do(context.Background(), b.req()) }()
	<-b.started
	go func() { _, _ = p.Do(context.Background(), smallSim()) }()
	require.Eventually(t, func() bool { return p.queued() == 1 }, 5*time.Second, time.Millisecond)

	waited := make(chan error, 1)
	go func() { _, err := p.DoWait(context.Background(), smallSim()); waited <- err }()
	select {
	case err := <-waited:
		t.Fatalf("DoWait returned %v while the queue was full", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(b.release)
	require.NoError(t, <-waited)

	// A DoWait whose ctx ends while waiting for space returns the ctx error.
	b2 := newBlocker()
	go func() { _, _ = p.Do(context.Background(), b2.req()) }()
	<-b2.started
	go func() { _, _ = p.Do(context.Background(), smallSim()) }()
	require.Eventually(t, func() bool { return p.queued() == 1 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := p.DoWait(ctx, smallSim())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	close(b2.release)
}

func TestPoolCancelRunningJob(t *testing.T) {
	p, reg, _ := startPool(t, PoolConfig{Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	req := ObservedSimulation{SimulateRequest: smallSim(), Every: 1, Observe: func(Snapshot) bool {
		steps++
		if steps == 2 {
			cancel()
		}
		return true
	}}
	req.Steps = 1000
	_, err := p.Do(ctx, req)
	require.ErrorIs(t, err, context.Canceled)
	require.Eventually(t, func() bool { return histCount(t, reg, KindSimulate, "canceled") == 1 }, 5*time.Second, time.Millisecond)
	require.Equal(t, 2, steps, "stopped between steps")
}

func TestPoolSkipsJobWhoseCallerLeft(t *testing.T) {
	p, reg, _ := startPool(t, PoolConfig{Workers: 1, QueueSize: 4})
	b := newBlocker()
	go func() { _, _ = p.Do(context.Background(), b.req()) }()
	<-b.started

	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	skipped := make(chan error, 1)
	go func() {
		_, err := p.Do(ctx, ObservedSimulation{SimulateRequest: smallSim(), Every: 1, Observe: func(Snapshot) bool { ran = true; return true }})
		skipped <- err
	}()
	require.Eventually(t, func() bool { return p.queued() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-skipped, context.Canceled)
	close(b.release)
	require.Eventually(t, func() bool { return histCount(t, reg, KindSimulate, "skipped") == 1 }, 5*time.Second, time.Millisecond)
	require.False(t, ran)
}

func TestPoolPanicIsolated(t *testing.T) {
	p, reg, _ := startPool(t, PoolConfig{Workers: 1})
	_, err := p.Do(context.Background(), ObservedSimulation{SimulateRequest: smallSim(), Every: 1,
		Observe: func(Snapshot) bool { panic("observer bug") }})
	require.ErrorIs(t, err, ErrInternal)
	require.Equal(t, uint64(1), histCount(t, reg, KindSimulate, "panic"))
	// The only worker survived.
	res, err := p.Do(context.Background(), smallSim())
	require.NoError(t, err)
	require.IsType(t, SimulateResult{}, res)
}

func TestPoolDrainOnShutdown(t *testing.T) {
	reg := prometheus.NewRegistry()
	// The queue is exactly full below, so the probing Do gets ErrBusy until the close.
	p, err := NewPool(PoolConfig{Workers: 1, QueueSize: 5}, reg)
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(ctx) }()

	b := newBlocker()
	first := make(chan error, 1)
	go func() { _, err := p.Do(context.Background(), b.req()); first <- err }()
	<-b.started
	results := make(chan error, 5)
	for range 5 {
		go func() { _, err := p.Do(context.Background(), smallSim()); results <- err }()
	}
	require.Eventually(t, func() bool { return p.queued() == 5 }, 5*time.Second, time.Millisecond)

	stop()
	require.Eventually(t, func() bool {
		_, err := p.Do(context.Background(), smallSim())
		return err == ErrClosed
	}, 5*time.Second, time.Millisecond, "new work is refused once Run's ctx is done")
	select {
	case <-runDone:
		t.Fatal("Run returned before the running job finished")
	case <-time.After(20 * time.Millisecond):
	}
	close(b.release)
	require.NoError(t, <-first)
	for range 5 {
		require.NoError(t, <-results, "queued jobs finish during the drain")
	}
	require.NoError(t, <-runDone)
	_, err = p.DoWait(context.Background(), smallSim())
	require.ErrorIs(t, err, ErrClosed)
	require.Error(t, p.Run(context.Background()), "Run is called once")
}

func TestPoolJobsBeforeRun(t *testing.T) {
	p, err := NewPool(PoolConfig{Workers: 1, QueueSize: 1}, nil)
	require.NoError(t, err)
	res := make(chan error, 1)
	go func() { _, err := p.Do(context.Background(), smallSim()); res <- err }()
	require.Eventually(t, func() bool { return p.queued() == 1 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.NoError(t, <-res)
	cancel()
	require.NoError(t, <-done)
}

// A Nernst job runs on its caller's goroutine when a slot is free (runInline), with the
// same outcome and accounting as on a worker, and queues when every slot is taken.
func TestPoolTrivialJobInlineKeepsCapacity(t *testing.T) {
	p, reg, _ := startPool(t, PoolConfig{Workers: 1, QueueSize: 2})
	require.Eventually(t, func() bool { return p.Ready() == nil }, 5*time.Second, time.Millisecond)
	out, in := 0.005, 0.14
	nernst := NernstRequest{ZValence: 1, ConcentrationOutMolar: &out, ConcentrationInMolar: &in, TemperatureK: 310}
	res, err := p.Do(context.Background(), nernst)
	require.NoError(t, err)
	require.IsType(t, NernstResult{}, res)
	require.Equal(t, uint64(1), histCount(t, reg, KindNernst, "ok"))
	p.mu.Lock()
	require.Zero(t, p.jobs, "the reservation is released")
	p.mu.Unlock()
	require.Zero(t, p.running.Load())

	// The only slot is computing a simulation: the Nernst job waits in the queue.
	b := newBlocker()
	go func() { _, _ = p.Do(context.Background(), b.req()) }()
	<-b.started
	done := make(chan error, 1)
	go func() { _, err := p.Do(context.Background(), nernst); done <- err }()
	require.Eventually(t, func() bool { return p.queued() == 1 }, 5*time.Second, time.Millisecond)
	close(b.release)
	require.NoError(t, <-done)
	require.Equal(t, uint64(2), histCount(t, reg, KindNernst, "ok"))
}
