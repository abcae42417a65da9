package jobs

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueuePerWorker sizes the default queue: QueueSize 0 means QueuePerWorker × workers.
// A REST server with many keep-alive clients needs room for a burst of small jobs (a
// /nernst call takes microseconds), while the cap still bounds memory and waiting.
const QueuePerWorker = 64

// Sanity caps: the queue is allocated up front, so a typo must not reserve gigabytes.
const (
	maxWorkers   = 10_000
	maxQueueSize = 1_000_000
)

// PoolConfig sizes the pool.
type PoolConfig struct {
	Workers   int `mapstructure:"workers"`    // 0 = GOMAXPROCS
	QueueSize int `mapstructure:"queue_size"` // jobs waiting beyond the running ones; 0 = QueuePerWorker × workers
}

// DefaultPoolConfig is GOMAXPROCS workers and QueuePerWorker jobs per worker, written
// as zeros so that a config file or env can leave them automatic.
func DefaultPoolConfig() PoolConfig { return PoolConfig{} }

// Validate reports a negative or absurd size, naming the key.
func (c PoolConfig) Validate() error {
	if c.Workers < 0 || c.Workers > maxWorkers {
		return &ValidationError{Field: "workers", Reason: "must be between 0 (GOMAXPROCS) and 10000"}
	}
	if c.QueueSize < 0 || c.QueueSize > maxQueueSize {
		return &ValidationError{Field: "queue_size", Reason: "must be between 0 (64 × workers) and 1000000"}
	}
	return nil
}

// Effective resolves the zeros: workers = GOMAXPROCS, queue = QueuePerWorker × workers.
func (c PoolConfig) Effective() PoolConfig {
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.QueueSize == 0 {
		c.QueueSize = QueuePerWorker * c.Workers
	}
	return c
}

// job is one queued request, its outcome and the channel that signals it (buffered, so
// a worker never blocks on a caller that has gone away). Jobs are recycled through
// jobPool when the caller received the outcome, so a Do allocates no job of its own;
// a job whose caller left is not recycled, because its worker may still write to it.
type job struct {
	ctx  context.Context
	req  Request
	res  Result
	err  error
	done chan struct{}
}

var jobPool = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}

// Pool runs jobs on a fixed set of workers with a bounded queue. Do and DoWait are safe
// for concurrent use; Run is called once.
type Pool struct {
	cfg   PoolConfig // effective
	queue chan *job
	m     *metrics

	// mu guards closed and the close of queue: senders hold it shared while they send,
	// so Run can close the channel without a send racing it.
	mu     sync.RWMutex
	closed bool
	// closing is set before Run takes mu exclusively, so that new callers get ErrClosed
	// at once instead of queueing behind the lock while a DoWait waits for space.
	closing atomic.Bool
	started atomic.Bool
	running atomic.Int64
}

// NewPool allocates a pool and registers its metrics on reg (nil: none); it starts no
// goroutines until Run. Jobs submitted before Run wait in the queue.
func NewPool(cfg PoolConfig, reg prometheus.Registerer) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.Effective()
	p := &Pool{cfg: cfg, queue: make(chan *job, cfg.QueueSize)}
	m, err := newMetrics(reg, p)
	if err != nil {
		return nil, err
	}
	p.m = m
	return p, nil
}

// Config returns the effective sizes (zeros resolved).
func (p *Pool) Config() PoolConfig { return p.cfg }

// Run starts the workers and blocks until ctx is done, then drains the queue and returns.
// After ctx is done Do and DoWait return ErrClosed; jobs already queued or running
// still finish (each is bounded by its own context), then Run returns nil.
func (p *Pool) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("jobs: pool already ran")
	}
	var wg sync.WaitGroup
	for range p.cfg.Workers {
		wg.Go(p.work)
	}
	<-ctx.Done()
	p.closing.Store(true)
	p.mu.Lock()
	p.closed = true
	close(p.queue)
	p.mu.Unlock()
	wg.Wait()
	return nil
}

// Ready reports nil while the workers run and the pool accepts jobs (readiness probes).
func (p *Pool) Ready() error {
	switch {
	case !p.started.Load():
		return errors.New("jobs: pool not started")
	case p.closing.Load():
		return ErrClosed
	}
	return nil
}

func (p *Pool) work() {
	for j := range p.queue {
		p.exec(j)
	}
}

func (p *Pool) exec(j *job) {
	if err := j.ctx.Err(); err != nil {
		// The caller has gone already: computing would only waste a worker.
		p.m.observe(j.req.Kind(), 4, 0)
		j.err = err
		j.done <- struct{}{}
		return
	}
	p.running.Add(1)
	start := time.Now()
	res, err := safeRun(j.ctx, j.req)
	elapsed := time.Since(start).Seconds()
	p.running.Add(-1)
	p.m.observe(j.req.Kind(), outcomeIndex(err), elapsed)
	j.res, j.err = res, err
	j.done <- struct{}{} // the worker's last touch of j: the caller may recycle it now
}

// Do validates req (its *ValidationError or *RequestError is returned as is, nothing
// queued), queues it (ErrBusy if the queue is full, ErrClosed after shutdown) and waits
// for its result. ctx cancels the job between simulation steps; a job whose ctx is done
// before a worker takes it is skipped. Errors from the job: context errors, the
// science's errors, and ErrInternal (wrapped) for a panic.
func (p *Pool) Do(ctx context.Context, req Request) (Result, error) {
	return p.do(ctx, req, false)
}

// DoWait is Do but waits for queue space instead of returning ErrBusy (pipelines).
func (p *Pool) DoWait(ctx context.Context, req Request) (Result, error) {
	return p.do(ctx, req, true)
}

func (p *Pool) do(ctx context.Context, req Request, wait bool) (Result, error) {
	if err := admit(ctx, req); err != nil {
		return nil, err
	}
	j := jobPool.Get().(*job)
	j.ctx, j.req = ctx, req
	if err := p.enqueue(ctx, j, wait); err != nil {
		j.ctx, j.req = nil, nil
		jobPool.Put(j)
		return nil, err
	}
	select {
	case <-j.done:
		res, err := j.res, j.err
		*j = job{done: j.done}
		jobPool.Put(j)
		return res, err
	case <-ctx.Done():
		// The worker skips or stops the job and signals the buffered done channel;
		// j is left to the garbage collector.
		return nil, ctx.Err()
	}
}

func (p *Pool) enqueue(ctx context.Context, j *job, wait bool) error {
	if p.closing.Load() {
		return ErrClosed
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	select {
	case p.queue <- j:
		return nil
	default:
	}
	if !wait {
		p.m.busy.Inc()
		return ErrBusy
	}
	// Holding the shared lock while blocked is safe: workers keep draining until Run
	// has taken the exclusive lock, which waits for us.
	select {
	case p.queue <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
