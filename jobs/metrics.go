package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes label mfn_job_duration_seconds.
const (
	outcomeOK       = "ok"       // the job returned a result
	outcomeError    = "error"    // the science rejected or failed the job
	outcomeCanceled = "canceled" // its context ended (client gone, deadline, observer stop)
	outcomePanic    = "panic"    // a defect, recovered into ErrInternal
	outcomeSkipped  = "skipped"  // its context had ended before a worker took it
)

var (
	knownKinds = [...]Kind{KindSimulate, KindValidate, KindNernst, KindFederated}
	outcomes   = [...]string{outcomeOK, outcomeError, outcomeCanceled, outcomePanic, outcomeSkipped}
)

// metrics are the pool's collectors. The per-(kind, outcome) observers are resolved once
// so that the hot path does no label hashing.
type metrics struct {
	busy     prometheus.Counter
	duration *prometheus.HistogramVec
	observer [len(knownKinds)][len(outcomes)]prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, p *Pool) (*metrics, error) {
	m := &metrics{
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mfn_jobs_busy_rejections_total",
			Help: "Jobs rejected with ErrBusy because the queue was full.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mfn_job_duration_seconds",
			Help: "Time a worker spent on a job, by kind and outcome.",
			// Nernst takes microseconds, a 256×256×1000 simulation or a long validation minutes.
			Buckets: []float64{1e-5, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"kind", "outcome"}),
	}
	for i, k := range knownKinds {
		for j, o := range outcomes {
			m.observer[i][j] = m.duration.WithLabelValues(string(k), o)
		}
	}
	if reg == nil {
		return m, nil
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mfn_jobs_queue_depth",
		Help: "Jobs waiting in the queue.",
	}, func() float64 { return float64(p.queued()) })
	running := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mfn_jobs_running",
		Help: "Jobs being executed by a worker.",
	}, func() float64 { return float64(p.running.Load()) })
	queuedWork := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mfn_jobs_pending_work_seconds",
		Help: "Estimated CPU seconds of the queued and running jobs (the admission's view).",
	}, func() float64 { p.mu.Lock(); defer p.mu.Unlock(); return p.pending })
	memory := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mfn_jobs_reserved_memory_bytes",
		Help: "Worst-case memory reserved by the queued and running jobs (against pool.memory_budget_bytes).",
	}, func() float64 { p.mu.Lock(); defer p.mu.Unlock(); return float64(p.memory) })
	// The denominator of pool saturation (mfn_jobs_running / mfn_jobs_workers) on the
	// dashboard and in the alert rules.
	workers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mfn_jobs_workers",
		Help: "Workers of the pool (pool.workers resolved).",
	}, func() float64 { return float64(p.cfg.Workers) })
	for _, c := range []prometheus.Collector{depth, running, queuedWork, memory, workers, m.busy, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register jobs metrics: %w", err)
		}
	}
	return m, nil
}

func outcomeIndex(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrInternal):
		return 3
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 2
	default:
		return 1
	}
}

func (m *metrics) observe(k Kind, outcome int, seconds float64) {
	for i, kk := range knownKinds {
		if kk == k {
			m.observer[i][outcome].Observe(seconds)
			return
		}
	}
	m.duration.WithLabelValues(string(k), outcomes[outcome]).Observe(seconds)
}
