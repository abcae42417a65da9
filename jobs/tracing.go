package jobs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Tracing in the pool uses the otel API only: the spans come from the tracer provider
// of the caller's own span, so jobs needs no setup and costs one IsRecording check per
// job when tracing is off or the trace is not sampled.

const tracerName = "mfn/jobs"

// startJobSpans records the job's queue wait as a finished "job.queue" span (from
// enqueue to the worker taking it) and starts its "job.run <kind>" span; both are
// children of the caller's span. It returns j.ctx and nil when that span is not recording.
func startJobSpans(j *job, start time.Time) (context.Context, trace.Span) {
	parent := j.parent
	if j.queued.IsZero() || parent == nil || !parent.IsRecording() {
		return j.ctx, nil
	}
	tr := parent.TracerProvider().Tracer(tracerName)
	kind := attribute.String("mfn.job.kind", string(j.req.Kind()))
	_, q := tr.Start(j.ctx, "job.queue", trace.WithTimestamp(j.queued), trace.WithAttributes(kind,
		attribute.Float64("mfn.job.queue_wait_seconds", start.Sub(j.queued).Seconds())))
	q.End(trace.WithTimestamp(start))
	return tr.Start(j.ctx, "job.run "+string(j.req.Kind()), trace.WithTimestamp(start), trace.WithAttributes(kind,
		attribute.Float64("mfn.job.cost_work_seconds", j.cost.Work), attribute.Int64("mfn.job.cost_memory_bytes", j.cost.Memory)))
}

// endJobSpan ends the run span with the job's outcome.
func endJobSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// observeTraced is observe with the trace id as exemplar when the caller's span is sampled,
// so that a slow bucket of mfn_job_duration_seconds links to a trace.
func (m *metrics) observeTraced(parent trace.Span, k Kind, outcome int, seconds float64) {
	if parent == nil || !parent.SpanContext().IsSampled() {
		m.observe(k, outcome, seconds)
		return
	}
	var o prometheus.Observer
	for i, kk := range knownKinds {
		if kk == k {
			o = m.observer[i][outcome]
		}
	}
	if o == nil {
		o = m.duration.WithLabelValues(string(k), outcomes[outcome])
	}
	if eo, ok := o.(prometheus.ExemplarObserver); ok {
		eo.ObserveWithExemplar(seconds, prometheus.Labels{"trace_id": parent.SpanContext().TraceID().String()})
		return
	}
	o.Observe(seconds)
}
