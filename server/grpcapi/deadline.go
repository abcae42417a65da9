package grpcapi

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// lazyDeadline is a unary call's context bounded by the server's timeout, as
// context.WithDeadline(parent, deadline) is, except that the timer behind Done, and the
// registration with parent it needs, are made only when something first waits on
// Done (a queued job, a child context, a stream). A ComputeNernst call runs inline in
// microseconds and only ever asks Err, and the timer, its registration and their
// garbage were nearly a tenth of the server's CPU per call (BenchmarkServerCPU). Deadline
// answers at once; Err answers nil without the timer while parent is live, the deadline
// ahead and stop not called, and from the timed context otherwise, so that once the
// context is done Err, Done and context.Cause agree.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time // the earlier of parent's and the server's

	mu      sync.Mutex // makes timed once and orders it with stop
	timed   atomic.Pointer[timedCtx]
	stopped atomic.Bool
}

type timedCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// newLazyDeadline bounds parent by d from now; an earlier deadline of parent stays.
// The caller must call stop when the call ends, as it would a CancelFunc.
func newLazyDeadline(parent context.Context, d time.Duration) *lazyDeadline {
	dl := time.Now().Add(d)
	if pd, ok := parent.Deadline(); ok && pd.Before(dl) {
		dl = pd
	}
	return &lazyDeadline{parent: parent, deadline: dl}
}

func (c *lazyDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *lazyDeadline) Done() <-chan struct{} { return c.real().Done() }

func (c *lazyDeadline) Err() error {
	if t := c.timed.Load(); t != nil {
		return t.ctx.Err()
	}
	if !c.stopped.Load() && c.parent.Err() == nil && time.Now().Before(c.deadline) {
		return nil
	}
	return c.real().Err()
}

func (c *lazyDeadline) Value(key any) any {
	if t := c.timed.Load(); t != nil {
		return t.ctx.Value(key) // its cancelCtx, so that context.Cause sees the deadline
	}
	return c.parent.Value(key)
}

// real is the timed context, made on first use (cancelled at once after stop).
func (c *lazyDeadline) real() context.Context {
	if t := c.timed.Load(); t != nil {
		return t.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.timed.Load(); t != nil {
		return t.ctx
	}
	ctx, cancel := context.WithDeadline(c.parent, c.deadline)
	if c.stopped.Load() {
		cancel()
	}
	c.timed.Store(&timedCtx{ctx: ctx, cancel: cancel})
	return ctx
}

// stop ends the context (context.Canceled) and releases its timer, if it has one.
func (c *lazyDeadline) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped.Store(true)
	if t := c.timed.Load(); t != nil {
		t.cancel()
	}
}
