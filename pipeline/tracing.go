package pipeline

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"mfn/connectors"
	"mfn/publishers"
	"mfn/telemetry"
)

const tracerName = "mfn/pipeline"

// startMessage continues the producer's trace from the message's traceparent header
// with a consumer span covering decode → run → every sink → ack. With tracing off the
// remote span context is still carried in ctx (no span is started), so the sinks
// forward the producer's traceparent unchanged and a trace crosses mfn even when mfn
// itself records nothing.
func (p *pipe) startMessage(ctx context.Context, msg connectors.Message) (context.Context, trace.Span) {
	ctx = telemetry.ExtractMap(ctx, msg.Headers)
	if !telemetry.Enabled() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return otel.Tracer(tracerName).Start(ctx, "pipeline.message "+p.cfg.Name,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("mfn.pipeline", p.cfg.Name),
			attribute.String("messaging.system", p.cfg.Source.Type),
			attribute.String("messaging.message.id", msg.ID),
		))
}

// publishTo hands rec to one sink inside a producer span; the sinks inject that span's
// traceparent into the record's headers (Kafka) or the request's (webhook).
func (p *pipe) publishTo(ctx context.Context, s namedSink, rec publishers.Record) error {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return s.Publish(ctx, rec)
	}
	ctx, span := otel.Tracer(tracerName).Start(ctx, "publish "+s.name,
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attribute.String("mfn.sink", s.name)))
	defer span.End()
	err := s.Publish(ctx, rec)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
	}
	return err
}

// ackEvent marks the acknowledgement on the message span: the end of its at-least-once
// life (settled as failed when err is non-nil).
func ackEvent(ctx context.Context, err, ackErr error) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent("ack", trace.WithAttributes(attribute.Bool("mfn.settled_failed", err != nil)))
	if ackErr != nil {
		span.RecordError(ackErr)
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
}

// withTrace adds the trace and span ids of the message to its log lines; with tracing
// off only the producer's trace id (the span id would be the producer's, not ours).
func withTrace(log *zap.Logger, span trace.Span) *zap.Logger {
	sc := span.SpanContext()
	switch {
	case !sc.IsValid():
		return log
	case !span.IsRecording():
		return log.With(zap.String("trace_id", sc.TraceID().String()))
	}
	return log.With(zap.String("trace_id", sc.TraceID().String()), zap.String("span_id", sc.SpanID().String()))
}
