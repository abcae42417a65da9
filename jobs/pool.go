package jobs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"mfn/internal/cfgerr"
)

// QueuePerWorker sizes the default queues: QueueSize 0 means QueuePerWorker × workers
// per lane. The count is only a sanity cap (a queued job costs a pointer): what bounds
// waiting is the estimated work queued (MaxQueueSeconds) and the memory budget. 1000
// keep-alive clients each with one cheap job in flight fit in the default.
const QueuePerWorker = 1024

// Sanity caps: the queue is allocated up front, so a typo must not reserve gigabytes.
const (
	maxWorkers   = 10_000
	maxQueueSize = 1_000_000
)

// Defaults of the cost-based admission (see PoolConfig).
const (
	DefaultMaxQueueSeconds = 10.0
	DefaultCheapJobSeconds = 0.02
	// defaultMemoryBudget is the job memory budget when no Go memory limit is set.
	defaultMemoryBudget = 2 << 30
	// maxRetryAfter caps the Retry-After hint of a BusyError.
	maxRetryAfter = 60 * time.Second
	// laneTurn: a worker takes from its non-preferred lane at least every laneTurn-th job,
	// so that neither lane starves while the other is flooded.
	laneTurn = 8
)

// PoolConfig sizes the pool and bounds what it admits. Zero values mean "automatic" or
// the default, so a literal PoolConfig{Workers: 2} is a complete configuration.
type PoolConfig struct {
	Workers int `mapstructure:"workers"` // 0 = GOMAXPROCS
	// QueueSize caps the jobs waiting in each of the two lanes; 0 = QueuePerWorker × workers.
	QueueSize int `mapstructure:"queue_size"`
	// MaxQueueSeconds refuses a job (ErrBusy) when the estimated work already queued in
	// its lane, divided by the workers, exceeds it: the wait it would see. 0 = 10 s.
	MaxQueueSeconds float64 `mapstructure:"max_queue_seconds"`
	// CheapJobSeconds: jobs estimated at or below it go to the cheap lane, which
	// expensive jobs cannot fill. 0 = 0.02 s.
	CheapJobSeconds float64 `mapstructure:"cheap_job_seconds"`
	// MemoryLimitBytes is the Go runtime's soft memory limit (GOMEMLIMIT), applied by
	// main at start unless the GOMEMLIMIT variable is set; 0 = 90 % of the container's
	// memory limit, none without one.
	MemoryLimitBytes int64 `mapstructure:"memory_limit_bytes"`
	// MemoryBudgetBytes bounds the worst-case memory of the running and queued jobs
	// together; 0 = half the Go memory limit, or 2 GiB without one.
	MemoryBudgetBytes int64 `mapstructure:"memory_budget_bytes"`
	// Limits bound one job (a *ValidationError beyond them).
	Limits Limits `mapstructure:"limits"`
	// Wide lets one large simulation borrow idle workers for its row bands.
	Wide WideConfig `mapstructure:"wide"`
}

// DefaultPoolConfig is GOMAXPROCS workers, QueuePerWorker jobs per worker and lane, a
// 10 s queue, 20 ms cheap jobs, the memory limit and budget derived at start, and
// DefaultLimits.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{MaxQueueSeconds: DefaultMaxQueueSeconds, CheapJobSeconds: DefaultCheapJobSeconds, Limits: DefaultLimits(),
		Wide: DefaultWideConfig()}
}

// Validate reports a negative or absurd value, naming the key.
func (c PoolConfig) Validate() error {
	switch {
	case c.Workers < 0 || c.Workers > maxWorkers:
		return cfgerr.New("workers", "must be between 0 (GOMAXPROCS) and 10000")
	case c.QueueSize < 0 || c.QueueSize > maxQueueSize:
		return cfgerr.New("queue_size", "must be between 0 (1024 × workers) and 1000000")
	case !(c.MaxQueueSeconds >= 0 && c.MaxQueueSeconds <= 86400):
		return cfgerr.New("max_queue_seconds", "must be between 0 (10 s) and 86400")
	case !(c.CheapJobSeconds >= 0 && c.CheapJobSeconds <= 3600):
		return cfgerr.New("cheap_job_seconds", "must be between 0 (0.02 s) and 3600")
	case c.MemoryLimitBytes < 0:
		return cfgerr.New("memory_limit_bytes", "must be >= 0 (0: from the container limit)")
	case c.MemoryBudgetBytes < 0:
		return cfgerr.New("memory_budget_bytes", "must be >= 0 (0: half the memory limit)")
	}
	l := c.Limits
	switch {
	case l.MaxJobMemoryBytes < 0:
		return cfgerr.New("limits.max_job_memory_bytes", "must be >= 0 (0: 256 MiB)")
	case l.MaxGradients < 0:
		return cfgerr.New("limits.max_gradients", "must be >= 0 (0: 50000)")
	case l.MaxGradientValues < 0:
		return cfgerr.New("limits.max_gradient_values", "must be >= 0 (0: 4194304)")
	case l.MaxFieldHistoryBytes < 0:
		return cfgerr.New("limits.max_field_history_bytes", "must be >= 0 (0: 134217728)")
	case l.MaxDatasetSamples < 0:
		return cfgerr.New("limits.max_dataset_samples", "must be >= 0 (0: 10000)")
	case !(l.MaxDatasetWorkSeconds >= 0):
		return cfgerr.New("limits.max_dataset_work_seconds", "must be >= 0 (0: 3600)")
	}
	if err := c.Wide.Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return &ValidationError{Field: "wide." + ve.Field, Reason: ve.Reason}
		}
		return err
	}
	return nil
}

// Effective resolves the zeros: workers = GOMAXPROCS, queue = QueuePerWorker × workers,
// the default seconds and limits, and the memory budget from the Go memory limit
// (debug.SetMemoryLimit, which main sets first). The per-job memory limit never exceeds
// the budget, so every admitted job can run.
func (c PoolConfig) Effective() PoolConfig {
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.QueueSize == 0 {
		c.QueueSize = QueuePerWorker * c.Workers
	}
	if c.MaxQueueSeconds == 0 {
		c.MaxQueueSeconds = DefaultMaxQueueSeconds
	}
	if c.CheapJobSeconds == 0 {
		c.CheapJobSeconds = DefaultCheapJobSeconds
	}
	if c.MemoryBudgetBytes == 0 {
		c.MemoryBudgetBytes = defaultMemoryBudget
		if lim := debug.SetMemoryLimit(-1); lim < math.MaxInt64 {
			c.MemoryBudgetBytes = lim / 2
		}
	}
	d := DefaultLimits()
	if c.Limits.MaxJobMemoryBytes == 0 {
		c.Limits.MaxJobMemoryBytes = d.MaxJobMemoryBytes
	}
	c.Limits.MaxJobMemoryBytes = min(c.Limits.MaxJobMemoryBytes, c.MemoryBudgetBytes)
	if c.Limits.MaxGradients == 0 {
		c.Limits.MaxGradients = d.MaxGradients
	}
	if c.Limits.MaxGradientValues == 0 {
		c.Limits.MaxGradientValues = d.MaxGradientValues
	}
	if c.Limits.MaxFieldHistoryBytes == 0 {
		c.Limits.MaxFieldHistoryBytes = d.MaxFieldHistoryBytes
	}
	if c.Limits.MaxDatasetSamples == 0 {
		c.Limits.MaxDatasetSamples = d.MaxDatasetSamples
	}
	if c.Limits.MaxDatasetWorkSeconds == 0 {
		c.Limits.MaxDatasetWorkSeconds = d.MaxDatasetWorkSeconds
	}
	return c
}

// BusyError is ErrBusy with the reason and a hint of when to retry, derived from the
// estimated work ahead (REST sends it as Retry-After). errors.Is(err, ErrBusy) holds.
type BusyError struct {
	Reason     string        // what is full: "queue", "queued work" or "memory budget"
	RetryAfter time.Duration // at least 1 s, at most 60 s
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%v: %s, retry in %v", ErrBusy, e.Reason, e.RetryAfter)
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// RetryAfter returns the hint of a *BusyError in err, or 0 when there is none.
func RetryAfter(err error) time.Duration {
	var be *BusyError
	if errors.As(err, &be) {
		return be.RetryAfter
	}
	return 0
}

// Lanes: a job estimated at or below CheapJobSeconds queues in the cheap lane, others
// in the costly lane. Each lane has its own caps, and half the workers prefer each.
const (
	laneCheap = iota
	laneCostly
	numLanes
)

// lane is one FIFO of jobs and the estimated work queued in it (guarded by Pool.mu).
type lane struct {
	q      chan *job
	work   float64
	queued int
}

// job is one queued request, its outcome and the channel that signals it (buffered, so
// a worker never blocks on a caller that has gone away). Jobs are recycled through
// jobPool when the caller received the outcome, so a Do allocates no job of its own;
// a job whose caller left is not recycled, because its worker may still write to it.
type job struct {
	ctx  context.Context
	req  Request
	cost Cost
	lane int
	res  Result
	err  error
	done chan struct{}
	// parent is the caller's span (a no-op one without tracing), looked up once in ctx's
	// chain for the job's spans and its duration's exemplar.
	parent trace.Span
	// queued is when the job entered its lane; set only when the caller's span is
	// recording (tracing on and sampled), for the queue-wait span.
	queued time.Time
}

var jobPool = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}

// Pool runs jobs on a fixed set of workers. Admission is by cost (EstimateCost): a
// request beyond the per-job Limits is refused with a *ValidationError; the others
// queue in a cheap or a costly lane, each bounded by a job count and by the estimated
// seconds of work waiting, and all of them together by a memory budget. Do and DoWait
// are safe for concurrent use; Run is called once. A job cheaper than its own hand-off
// (Nernst) runs on the caller's goroutine when a worker slot is free (runInline).
type Pool struct {
	cfg PoolConfig // effective
	m   *metrics

	// mu guards the lanes' accounting, the reservations, closed and the close of the
	// lane channels: senders hold it while they send (never blocking: they check room
	// first), so Run can close the channels without a send racing it.
	mu      sync.Mutex
	closed  bool
	lanes   [numLanes]lane
	pending float64 // estimated seconds of the queued and running jobs
	memory  int64   // worst-case bytes of the queued and running jobs
	jobs    int     // queued and running jobs
	waiters int     // DoWait callers waiting for room
	room    chan struct{}
	// closing is set before Run takes mu, so that new callers get ErrClosed at once.
	closing atomic.Bool
	started atomic.Bool
	running atomic.Int64
	// slots holds one token per worker; a job takes one while it computes, and a wide
	// run borrows idle ones (TryBorrow), so a worker that picks a job while its token is
	// lent waits for it: the borrowed cores count against the pool's capacity.
	slots chan struct{}
	// wide is the value WithWide would put in each job's context, made once: boxing it
	// per job was an allocation on every call, Nernst's included.
	wide *wideCtx
	// inline counts the jobs running on their callers' goroutines (runInline), so that
	// Run's drain waits for them as for its workers.
	inline sync.WaitGroup
}

// NewPool allocates a pool and registers its metrics on reg (nil: none); it starts no
// goroutines until Run. Jobs submitted before Run wait in the queue.
func NewPool(cfg PoolConfig, reg prometheus.Registerer) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.Effective()
	p := &Pool{cfg: cfg, room: make(chan struct{}), slots: make(chan struct{}, cfg.Workers)}
	p.wide = &wideCtx{cfg: cfg.Wide, lender: p}
	for range cfg.Workers {
		p.slots <- struct{}{}
	}
	for i := range p.lanes {
		p.lanes[i].q = make(chan *job, cfg.QueueSize)
	}
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
	for i := range p.cfg.Workers {
		// Even workers prefer the cheap lane, so with one or more workers cheap jobs
		// never wait behind a full costly lane for long.
		prefer := laneCheap
		if i%2 == 1 {
			prefer = laneCostly
		}
		wg.Go(func() { p.work(prefer) })
	}
	<-ctx.Done()
	p.closing.Store(true)
	p.mu.Lock()
	p.closed = true
	for i := range p.lanes {
		close(p.lanes[i].q)
	}
	close(p.room) // wakes DoWait callers, which now see closed
	p.mu.Unlock()
	wg.Wait()
	p.inline.Wait()
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

// queued is the number of jobs waiting in both lanes.
func (p *Pool) queued() int {
	n := 0
	for i := range p.lanes {
		n += len(p.lanes[i].q)
	}
	return n
}

// work takes jobs, from its preferred lane first, until both lanes are closed and empty.
func (p *Pool) work(prefer int) {
	qs := [numLanes]chan *job{p.lanes[laneCheap].q, p.lanes[laneCostly].q}
	for n := 1; ; n++ {
		first := prefer
		if n%laneTurn == 0 {
			first = numLanes - 1 - prefer
		}
		j, ok := next(&qs, first)
		if !ok {
			return
		}
		p.taken(j)
		p.exec(j)
	}
}

// next receives from qs[first] if it has a job, else from whichever lane has one first.
// A closed lane is set to nil; ok is false once both are.
func next(qs *[numLanes]chan *job, first int) (*job, bool) {
	for qs[0] != nil || qs[1] != nil {
		if q := qs[first]; q != nil {
			select {
			case j, ok := <-q:
				if ok {
					return j, true
				}
				qs[first] = nil
				continue
			default:
			}
		}
		select {
		case j, ok := <-qs[0]:
			if ok {
				return j, true
			}
			qs[0] = nil
		case j, ok := <-qs[1]:
			if ok {
				return j, true
			}
			qs[1] = nil
		}
	}
	return nil, false
}

// taken moves j's work out of its lane's queue (it is now running).
func (p *Pool) taken(j *job) {
	p.mu.Lock()
	l := &p.lanes[j.lane]
	l.queued--
	l.work -= j.cost.Work
	if l.queued == 0 {
		l.work = 0 // no rounding drift survives an empty lane
	}
	p.wakeLocked()
	p.mu.Unlock()
}

// finished releases a job's reservation of work and memory. exec calls it before it
// signals the caller, so a caller that submits again at once finds the room it freed.
func (p *Pool) finished(c Cost) {
	p.mu.Lock()
	p.jobs--
	p.pending -= c.Work
	p.memory -= c.Memory
	if p.jobs == 0 {
		p.pending, p.memory = 0, 0
	}
	p.wakeLocked()
	p.mu.Unlock()
}

// wakeLocked wakes the DoWait callers waiting for room, if any.
func (p *Pool) wakeLocked() {
	if p.waiters > 0 && !p.closed {
		close(p.room)
		p.room = make(chan struct{})
		p.waiters = 0
	}
}

func (p *Pool) exec(j *job) {
	if err := j.ctx.Err(); err != nil {
		// The caller has gone already: computing would only waste a worker.
		p.m.observe(j.req.Kind(), 4, 0)
		p.finished(j.cost)
		j.err = err
		j.done <- struct{}{}
		return
	}
	select {
	case <-p.slots:
	case <-j.ctx.Done():
		// Every token is lent to a wide run and the caller left meanwhile.
		p.m.observe(j.req.Kind(), 4, 0)
		p.finished(j.cost)
		j.err = j.ctx.Err()
		j.done <- struct{}{}
		return
	}
	p.compute(j)
}

// compute runs j on the slot its runner holds, gives the slot back and signals j.done.
func (p *Pool) compute(j *job) {
	p.running.Add(1)
	start := time.Now()
	ctx, span := startJobSpans(j, start)
	runCtx := ctx
	if mayRunWide(j.req) { // a context value costs an allocation: only where it is read
		runCtx = context.WithValue(ctx, wideKey{}, p.wide)
	}
	res, err := safeRun(runCtx, j.req)
	elapsed := time.Since(start).Seconds()
	endJobSpan(span, err)
	p.running.Add(-1)
	p.slots <- struct{}{}
	p.m.observeTraced(j.parent, j.req.Kind(), outcomeIndex(err), elapsed)
	p.finished(j.cost)
	j.res, j.err = res, err
	j.done <- struct{}{} // the worker's last touch of j: the caller may recycle it now
}

// Do checks req against the pool's Limits and its own Validate (a *ValidationError or
// *RequestError is returned as is, nothing queued), then queues it in its lane (a
// *BusyError, matching ErrBusy, when the lane or the memory budget is full; ErrClosed
// after shutdown), and waits for the result. ctx cancels the job within one step, batch or Krum row; a job whose ctx is
// done before a worker takes it is skipped. Errors from the job: context errors, the
// science's errors, and ErrInternal (wrapped) for a panic.
func (p *Pool) Do(ctx context.Context, req Request) (Result, error) {
	return p.do(ctx, req, false)
}

// DoWait is Do but waits for room instead of returning ErrBusy (pipelines).
func (p *Pool) DoWait(ctx context.Context, req Request) (Result, error) {
	return p.do(ctx, req, true)
}

// Admit runs the admission checks of Do without running the job: the cost and limits,
// then the request's own validation.
func (p *Pool) Admit(req Request) (Cost, error) {
	return admit(context.Background(), req, p.cfg.Limits)
}

func (p *Pool) do(ctx context.Context, req Request, wait bool) (Result, error) {
	cost, err := admit(ctx, req, p.cfg.Limits)
	if err != nil {
		return nil, err
	}
	j := jobPool.Get().(*job)
	j.ctx, j.req, j.cost = ctx, req, cost
	j.lane = laneCostly
	if cost.Work <= p.cfg.CheapJobSeconds {
		j.lane = laneCheap
	}
	j.parent = trace.SpanFromContext(ctx)
	if j.parent.IsRecording() {
		j.queued = time.Now()
	}
	if cost.Work < secPerJob && p.runInline(j) {
		res, err := j.res, j.err
		*j = job{done: j.done}
		jobPool.Put(j)
		return res, err
	}
	if err := p.enqueue(ctx, j, wait); err != nil {
		*j = job{done: j.done}
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

// runInline runs a job estimated below the hand-off cost itself (secPerJob: a Nernst
// potential, microseconds) on its caller's goroutine when a worker slot is free and no
// cheap job waits, and reports whether it did: passing it to a worker goroutine and back
// cost more than the job. It holds a slot and a reservation exactly as on a worker, so
// capacity, back-pressure and the running gauge are those of a job that started at once;
// when every slot is taken it queues as before.
func (p *Pool) runInline(j *job) bool {
	if !p.started.Load() || p.closing.Load() || len(p.lanes[laneCheap].q) > 0 || j.ctx.Err() != nil {
		return false
	}
	select {
	case <-p.slots:
	default:
		return false
	}
	p.mu.Lock()
	if p.closed || (p.jobs > 0 && p.memory+j.cost.Memory > p.cfg.MemoryBudgetBytes) {
		p.mu.Unlock()
		p.slots <- struct{}{}
		return false // the queue's path answers it, as it would have
	}
	p.jobs++
	p.pending += j.cost.Work
	p.memory += j.cost.Memory
	p.inline.Add(1) // under mu while not closed: Run has not begun to wait
	p.mu.Unlock()
	defer p.inline.Done()
	p.compute(j)
	<-j.done // compute signals the buffered channel; no other goroutine is involved
	return true
}

func (p *Pool) enqueue(ctx context.Context, j *job, wait bool) error {
	for {
		if p.closing.Load() {
			return ErrClosed
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return ErrClosed
		}
		busy := p.reserveLocked(ctx, j, wait)
		if busy == nil {
			p.mu.Unlock()
			return nil
		}
		if !wait {
			p.mu.Unlock()
			p.m.busy.Inc()
			return busy
		}
		p.waiters++
		room := p.room
		p.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reserveLocked queues j if its lane has room (count and queued work), its deadline can
// still be met after the work ahead, and the memory budget holds it; else it returns
// the *BusyError saying why and when to retry. A job always fits an idle pool, since
// the per-job memory limit is at most the budget.
func (p *Pool) reserveLocked(ctx context.Context, j *job, wait bool) *BusyError {
	l := &p.lanes[j.lane]
	workers := float64(p.cfg.Workers)
	ahead := l.work / workers // the wait a new job of this lane would see
	switch {
	case len(l.q) == cap(l.q):
		return p.busy("queue", ahead)
	case ahead > p.cfg.MaxQueueSeconds:
		return p.busy("queued work", ahead-p.cfg.MaxQueueSeconds)
	case p.jobs > 0 && p.memory+j.cost.Memory > p.cfg.MemoryBudgetBytes:
		return p.busy("memory budget", p.pending/workers)
	}
	if d, ok := ctx.Deadline(); ok && !wait && ahead > time.Until(d).Seconds() {
		return p.busy("queued work", ahead)
	}
	l.q <- j // never blocks: checked for room under mu, and only senders holding mu send
	l.queued++
	l.work += j.cost.Work
	p.jobs++
	p.pending += j.cost.Work
	p.memory += j.cost.Memory
	return nil
}

// busy builds the refusal with a hint of wait seconds, rounded up to whole seconds
// (Retry-After's unit) and kept between 1 s and maxRetryAfter.
func (p *Pool) busy(reason string, wait float64) *BusyError {
	d := time.Duration(math.Ceil(max(wait, 1))) * time.Second
	return &BusyError{Reason: reason, RetryAfter: min(d, maxRetryAfter)}
}

// TryBorrow takes up to n idle workers' tokens without waiting (WorkerLender): a wide
// run uses them for its row bands, and no queued job starts on them until Return.
func (p *Pool) TryBorrow(n int) int {
	got := 0
	for got < n {
		select {
		case <-p.slots:
			got++
		default:
			return got
		}
	}
	return got
}

// Return gives back tokens taken by TryBorrow.
func (p *Pool) Return(n int) {
	for range n {
		p.slots <- struct{}{}
	}
}
