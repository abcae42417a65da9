package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"

	"mfn/connectors"
	"mfn/internal/cfgerr"
	"mfn/internal/retry"
	"mfn/jobs"
	"mfn/publishers"
)

// errUndeliverable settles an input whose result some sink refused (file feed: failed/).
var errUndeliverable = errors.New("pipeline: result undeliverable")

// Runner is what a pipeline needs from jobs.Pool: run one job, waiting for queue space.
type Runner interface {
	DoWait(ctx context.Context, req jobs.Request) (jobs.Result, error)
}

// Manager owns every configured pipeline.
type Manager struct {
	pipes   []*pipe
	log     *zap.Logger
	mu      sync.Mutex
	started bool
}

type namedSink struct {
	name string
	publishers.Sink
}

type pipe struct {
	cfg   Config
	src   connectors.Source
	sinks []namedSink
	dlq   *namedSink
	run   Runner
	log   *zap.Logger
	mt    *metrics
	now   func() time.Time
	win   *window

	mu        sync.Mutex
	connected bool
	lastErr   error
	startErr  error            // why the sinks could not start yet (nil once started)
	started   bool             // every sink's Start succeeded
	failing   map[string]error // sinks whose last publish attempt failed, by name
	connMu    sync.Mutex       // one Connect at a time
}

// poolSizer is implemented by *jobs.Pool; the default window is sized from it.
type poolSizer interface {
	Config() jobs.PoolConfig
}

// SlotsPerWorker sizes the default in-flight window (concurrency: 0): this many
// messages per pool worker, within [MinWindow, MaxAutoWindow]. A slot spends most of
// its time queued for a worker or waiting for a sink's round trip (3 ms to a Kafka
// cluster with acks=all is several small jobs' compute, and a batch only leaves once
// the previous one is acknowledged), so the window must be many times the worker count
// to keep the pool busy: on 2 cores, 32 slots reached ~1400 small jobs/s against a 3 ms
// broker, 128 ~2000-3500 and 256 ~4900 (BenchmarkKafkaVsREST, a shared machine).
const (
	SlotsPerWorker = 64
	MinWindow      = 256
	MaxAutoWindow  = 1024
	// MaxWindow caps an explicit concurrency: each slot is a goroutine started with the
	// pipeline and holds one input and one result, so the cap bounds both.
	MaxWindow = 16384
)

// windowSize resolves concurrency 0 (auto) against the runner's pool.
func windowSize(c Config, run Runner) int {
	if c.Concurrency > 0 {
		return c.Concurrency
	}
	workers := 1
	if ps, ok := run.(poolSizer); ok {
		workers = ps.Config().Effective().Workers
	}
	return min(MaxAutoWindow, max(MinWindow, SlotsPerWorker*workers))
}

// New validates and builds the pipelines; it starts nothing.
func New(cfgs []Config, run Runner, log *zap.Logger, reg prometheus.Registerer) (*Manager, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if run == nil && len(cfgs) > 0 {
		return nil, errors.New("pipeline: nil Runner")
	}
	m := &Manager{log: log}
	mt, err := newMetrics(reg, m)
	if err != nil {
		return nil, err
	}
	names := map[string]int{}
	for i, c := range cfgs {
		if err := c.Validate(); err != nil {
			return nil, cfgerr.Prefix(fmt.Sprintf("pipelines[%d].", i), err)
		}
		c = c.withNames()
		if j, dup := names[c.Name]; dup {
			return nil, cfgerr.New(fmt.Sprintf("pipelines[%d].name", i), "%q already used by pipelines[%d]", c.Name, j)
		}
		names[c.Name] = i
		p, err := newPipe(c, run, log.With(zap.String("component", "pipeline"), zap.String("pipeline", c.Name)), mt)
		if err != nil {
			return nil, cfgerr.Prefix(fmt.Sprintf("pipelines[%d].", i), err)
		}
		m.pipes = append(m.pipes, p)
	}
	return m, nil
}

func newPipe(c Config, run Runner, log *zap.Logger, mt *metrics) (*pipe, error) {
	src, err := connectors.New(c.Source, log)
	if err != nil {
		return nil, err
	}
	p := &pipe{cfg: c, src: src, run: run, log: log, mt: mt, now: time.Now, win: newWindow(windowSize(c, run)),
		failing: map[string]error{}}
	if w, ok := src.(connectors.Windowed); ok {
		w.SetWindow(p.win.max) // a crash then replays at most the window
	}
	// Without a dead-letter sink nothing may be dropped, so sinks retry until shutdown.
	attempts := 0
	if c.DeadLetter.Type == "" {
		attempts = publishers.RetryForever
	}
	for i, sc := range c.Sinks {
		s, err := publishers.New(sc, log)
		if err != nil {
			return nil, fmt.Errorf("sinks[%d].%w", i, err)
		}
		p.sinks = append(p.sinks, namedSink{name: sc.Name, Sink: publishers.Retry(s, c.Retry, attempts, p.onRetry(sc.Name))})
	}
	if c.DeadLetter.Type != "" {
		s, err := publishers.New(c.DeadLetter, log)
		if err != nil {
			return nil, fmt.Errorf("dead_letter.%w", err)
		}
		p.dlq = &namedSink{name: c.DeadLetter.Name, Sink: publishers.Retry(s, c.Retry, publishers.RetryForever, p.onRetry(c.DeadLetter.Name))}
	}
	return p, nil
}

func (p *pipe) onRetry(sink string) func(error) {
	c := p.mt.retries.WithLabelValues(p.cfg.Name, sink)
	return func(err error) {
		c.Inc()
		p.win.shrink()
		p.mu.Lock()
		p.failing[sink] = err
		p.mu.Unlock()
		p.log.Debug("retrying publish", zap.String("publisher", sink), zap.Error(err))
	}
}

// sinkOK clears a sink's failing state after a publish it accepted.
func (p *pipe) sinkOK(sink string) {
	p.mu.Lock()
	delete(p.failing, sink)
	p.mu.Unlock()
}

// Run starts every pipeline and blocks until ctx is done, then stops fetching, finishes
// in-flight jobs, publishes, commits, and returns (bounded by each pipeline's grace period).
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("pipeline: Run called twice")
	}
	m.started = true
	m.mu.Unlock()
	if len(m.pipes) == 0 {
		<-ctx.Done() // block like any actor, so that "no pipelines" does not end the process
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(m.pipes))
	for i, p := range m.pipes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.runLoop(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Ready reports nil when every pipeline can reach its source and sinks, or an error naming the one that cannot.
func (m *Manager) Ready() error {
	var errs []error
	for _, p := range m.pipes {
		if err := p.ready(); err != nil {
			errs = append(errs, fmt.Errorf("pipeline %s: %w", p.cfg.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (p *pipe) ready() error {
	p.mu.Lock()
	connected, last, started, startErr := p.connected, p.lastErr, p.started, p.startErr
	var failing []string
	for name, err := range p.failing {
		failing = append(failing, fmt.Sprintf("sink %s: retrying: %v", name, err))
	}
	p.mu.Unlock()
	if !started {
		if startErr != nil {
			return fmt.Errorf("sinks not started: %w", startErr)
		}
		return errors.New("sinks not started")
	}
	if len(failing) > 0 {
		sort.Strings(failing)
		limit, inFlight := p.win.state()
		return fmt.Errorf("%s (window %d of %d, %d in flight)", strings.Join(failing, "; "), limit, p.win.max, inFlight)
	}
	if !connected {
		if last != nil {
			return fmt.Errorf("source not connected: %w", last)
		}
		return errors.New("source not connected")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if pg, ok := p.src.(connectors.Pinger); ok {
		if err := pg.Ping(ctx); err != nil {
			return fmt.Errorf("source: %w", err)
		}
	}
	all := p.sinks
	if p.dlq != nil {
		all = append(all[:len(all):len(all)], *p.dlq)
	}
	for _, s := range all {
		if pg, ok := s.Sink.(publishers.Pinger); ok {
			if err := pg.Ping(ctx); err != nil {
				return fmt.Errorf("sink %s: %w", s.name, err)
			}
		}
	}
	return nil
}

// runLoop runs one pipeline until ctx is done and its drain finished.
func (p *pipe) runLoop(ctx context.Context) error {
	// Work (jobs, publishing, acks) outlives ctx by up to the grace period.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var wg sync.WaitGroup
	workers := 0
	if p.startSinks(ctx) {
		workers = p.win.max
		p.log.Info("pipeline started", zap.Int("window", workers))
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.worker(ctx, workCtx)
		}()
	}
	<-ctx.Done()
	deadline := time.Now().Add(p.cfg.GracePeriod)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := time.NewTimer(p.cfg.GracePeriod)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		p.log.Warn("grace period over; abandoning in-flight jobs (they will be redelivered)", zap.Duration("grace_period", p.cfg.GracePeriod))
		cancelWork()
		<-done
	}
	closeCtx, cancel := context.WithDeadline(context.Background(), maxTime(deadline, time.Now().Add(2*time.Second)))
	defer cancel()
	var errs []error
	if err := p.src.Close(closeCtx); err != nil {
		errs = append(errs, fmt.Errorf("close source: %w", err))
	}
	for _, s := range p.sinks {
		if err := s.Close(closeCtx); err != nil {
			errs = append(errs, fmt.Errorf("close sink %s: %w", s.name, err))
		}
	}
	if p.dlq != nil {
		if err := p.dlq.Close(closeCtx); err != nil {
			errs = append(errs, fmt.Errorf("close dead_letter: %w", err))
		}
	}
	p.mu.Lock()
	p.connected = false
	p.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		p.log.Warn("pipeline stopped with errors", zap.Error(err))
		return fmt.Errorf("pipeline %s: %w", p.cfg.Name, err)
	}
	p.log.Info("pipeline stopped")
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// startSinks runs every sink's Start (file sinks finish what a crash left in .tmp)
// before any input is read, retrying with backoff; false when ctx ended first.
func (p *pipe) startSinks(ctx context.Context) bool {
	all := p.sinks
	if p.dlq != nil {
		all = append(all[:len(all):len(all)], *p.dlq)
	}
	b := p.reconnectPolicy().New()
	for i := 0; i < len(all); {
		st, ok := all[i].Sink.(publishers.Starter)
		if !ok {
			i++
			continue
		}
		err := st.Start(ctx)
		if err == nil {
			i++
			continue
		}
		if ctx.Err() != nil {
			return false
		}
		err = fmt.Errorf("sink %s: %w", all[i].name, err)
		p.mu.Lock()
		p.startErr = err
		p.mu.Unlock()
		wait := b.Next(0)
		p.log.Warn("sink start failed; retrying after backoff", zap.Error(err), zap.Duration("backoff", wait))
		if !retry.Sleep(ctx, wait) {
			return false
		}
	}
	p.mu.Lock()
	p.started, p.startErr = true, nil
	p.mu.Unlock()
	return true
}

func (p *pipe) reconnectPolicy() retry.Policy {
	return retry.Policy{Initial: p.cfg.ReconnectBackoff, Max: p.cfg.ReconnectMaxBackoff, Jitter: 0.5}
}

// worker holds one slot of the window per message: it reads while readCtx lasts and
// handles each message with workCtx.
func (p *pipe) worker(readCtx, workCtx context.Context) {
	b := p.reconnectPolicy().New()
	for {
		if !p.win.acquire(readCtx) {
			return
		}
		if !p.connect(readCtx) {
			p.win.release()
			return
		}
		msg, ack, err := p.src.Read(readCtx)
		if err == nil {
			b.Reset()
			p.handle(workCtx, msg, ack)
			p.win.release()
			continue
		}
		p.win.release()
		var wait time.Duration
		switch {
		case readCtx.Err() != nil:
			return
		case errors.Is(err, connectors.ErrEndOfInput), errors.Is(err, connectors.ErrClosed):
			return
		case errors.Is(err, connectors.ErrNotConnected):
			p.setConnected(false, err)
			wait = b.Next(0)
		default:
			wait = b.Next(0)
			p.log.Warn("source read failed; retrying after backoff", zap.Error(err), zap.Duration("backoff", wait))
		}
		if !retry.Sleep(readCtx, wait) {
			return
		}
	}
}

func (p *pipe) setConnected(ok bool, err error) {
	p.mu.Lock()
	p.connected, p.lastErr = ok, err
	p.mu.Unlock()
}

// connect (re)connects the source with exponential backoff; false when ctx ended first.
func (p *pipe) connect(ctx context.Context) bool {
	p.mu.Lock()
	ok := p.connected
	p.mu.Unlock()
	if ok {
		return true
	}
	p.connMu.Lock()
	defer p.connMu.Unlock()
	b := p.reconnectPolicy().New()
	for {
		p.mu.Lock()
		ok := p.connected
		p.mu.Unlock()
		if ok {
			return true
		}
		err := p.src.Connect(ctx)
		if err == nil {
			p.setConnected(true, nil)
			p.log.Info("source connected", zap.String("connector", p.cfg.Source.Type))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		p.setConnected(false, err)
		wait := b.Next(0)
		p.log.Warn("source connect failed; retrying after backoff", zap.Error(err), zap.Duration("backoff", wait))
		if !retry.Sleep(ctx, wait) {
			return false
		}
	}
}

// handle runs one message through decode → job → publish → ack. When ctx ends (grace
// period over) before the message is settled, it returns without acking.
func (p *pipe) handle(ctx context.Context, msg connectors.Message, ack connectors.AckFunc) {
	name := p.cfg.Name
	p.mt.consumed.WithLabelValues(name).Inc()
	started := p.now()
	ctx, span := p.startMessage(ctx, msg)
	defer span.End()
	job, err := Decode(msg)
	log := p.log.With(zap.String("request_id", job.RequestID), zap.String("kind", string(job.Kind)), zap.String("source", msg.ID))
	log = withTrace(log, span)
	span.SetAttributes(attribute.String("mfn.request_id", job.RequestID), attribute.String("mfn.job.kind", string(job.Kind)))
	var je *jobError
	if errors.As(err, &je) {
		res := newResult(job, started, p.now(), nil, &je.body)
		reason := "invalid"
		if je.decode {
			reason = "undecodable"
		}
		log.Warn("rejecting job message", zap.String("code", je.body.Code), zap.String("field", je.body.Field), zap.String("reason", je.body.Message))
		if !je.decode {
			if settled, _ := p.publish(ctx, log, res); !settled {
				return
			}
		}
		if p.dlq != nil {
			dl := res
			dl.DeadLetter = &DeadLetter{Reason: reason, Source: msg.ID, Input: string(msg.Value)}
			if !p.deadLetter(ctx, log, dl) {
				return
			}
		}
		p.mt.failed.WithLabelValues(name).Inc()
		p.settle(ctx, log, ack, err)
		return
	}

	jctx := ctx
	if p.cfg.JobTimeout > 0 {
		var cancel context.CancelFunc
		jctx, cancel = context.WithTimeout(ctx, p.cfg.JobTimeout)
		defer cancel()
	}
	out, err := p.run.DoWait(jctx, job.Request)
	// A closed pool never ran the job: abandon it like a shutdown cut, not as INTERNAL.
	if err != nil && (ctx.Err() != nil || errors.Is(err, jobs.ErrClosed)) {
		log.Warn("job abandoned at shutdown; it will be redelivered", zap.Error(err))
		return
	}
	var res Result
	if err != nil {
		je := classify(err)
		if je.body.Code == CodeInternal {
			log.Error("job failed", zap.Error(err))
		}
		res = newResult(job, started, p.now(), nil, &je.body)
	} else {
		res = newResult(job, started, p.now(), out, nil)
	}
	settled, delivered := p.publish(ctx, log, res)
	if !settled {
		return
	}
	var settleErr error
	switch {
	case !delivered:
		settleErr = errUndeliverable
		p.mt.failed.WithLabelValues(name).Inc()
	case res.Status == StatusComplete:
		p.mt.succeeded.WithLabelValues(name).Inc()
	default:
		p.mt.failed.WithLabelValues(name).Inc()
	}
	p.settle(ctx, log, ack, settleErr)
}

func (p *pipe) settle(ctx context.Context, log *zap.Logger, ack connectors.AckFunc, err error) {
	aerr := ack(ctx, err)
	ackEvent(ctx, err, aerr)
	if aerr != nil {
		log.Warn("acknowledging input failed; it may be delivered again", zap.Error(aerr))
	}
}

// publish sends res to every sink in parallel. settled is false when the message must
// stay unacknowledged (ctx ended); delivered is false when some sink refused it: it was
// then dead-lettered or, without a dead-letter sink, logged (permanent refusals only:
// other failures are retried until ctx ends).
func (p *pipe) publish(ctx context.Context, log *zap.Logger, res Result) (settled, delivered bool) {
	rec := record(res)
	errs := make([]error, len(p.sinks))
	if len(p.sinks) == 1 {
		errs[0] = p.publishTo(ctx, p.sinks[0], rec)
	} else {
		var wg sync.WaitGroup
		for i, s := range p.sinks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = p.publishTo(ctx, s, rec)
			}()
		}
		wg.Wait()
	}
	failed := map[string]string{}
	var names []string
	for i, err := range errs {
		if err != nil {
			failed[p.sinks[i].name] = err.Error()
			names = append(names, p.sinks[i].name)
		} else {
			p.sinkOK(p.sinks[i].name)
		}
	}
	if len(failed) == 0 {
		p.win.grow()
		return true, true
	}
	if ctx.Err() != nil {
		log.Warn("publish cut by shutdown; the input will be redelivered", zap.Strings("sinks", names))
		return false, false
	}
	sort.Strings(names)
	if p.dlq == nil {
		log.Error("result refused permanently and no dead_letter sink is configured; dropping it",
			zap.Strings("sinks", names), zap.String("errors", fmt.Sprint(failed)), zap.ByteString("result", rec.Body))
		return true, false
	}
	log.Warn("sinks refused the result; dead-lettering it", zap.String("sinks", strings.Join(names, ",")))
	dl := res
	dl.DeadLetter = &DeadLetter{Reason: "undeliverable", Sinks: failed}
	return p.deadLetter(ctx, log, dl), false
}

func (p *pipe) deadLetter(ctx context.Context, log *zap.Logger, res Result) bool {
	rec := record(res)
	rec.Headers = map[string]string{"x-mfn-dead-letter": res.DeadLetter.Reason}
	if err := p.publishTo(ctx, *p.dlq, rec); err != nil {
		if ctx.Err() == nil && errors.Is(err, publishers.ErrPermanent) {
			// Retrying cannot help and an input left unacknowledged would hold its
			// Kafka partition's commit (or its file) back for good: settle it as failed
			// and keep the record in the log, as for a refusal without a dead-letter sink.
			log.Error("dead-letter sink refused the record permanently; settling the input as failed and dropping the record",
				zap.Error(err), zap.ByteString("record", rec.Body))
			return true
		}
		log.Error("dead-letter publish failed; the input stays unacknowledged", zap.Error(err))
		return false
	}
	p.mt.deadLettered.WithLabelValues(p.cfg.Name).Inc()
	return true
}
