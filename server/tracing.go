package server

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"mfn/telemetry"
)

// tracerName is the instrumentation scope of the HTTP server spans.
const tracerName = "mfn/server"

// startHTTPSpan continues the caller's trace (traceparent) with a server span named
// after the bounded endpoint label, never the raw path, so that span names stay few.
func startHTTPSpan(req *http.Request, endpoint string) (context.Context, trace.Span) {
	ctx := telemetry.ExtractHTTP(req.Context(), req.Header)
	return otel.Tracer(tracerName).Start(ctx, req.Method+" "+endpoint,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", req.Method),
			attribute.String("http.route", endpoint),
			attribute.String("url.path", req.URL.Path),
		))
}

// endHTTPSpan records the outcome; 5xx marks the span as an error (4xx are the client's).
func endHTTPSpan(span trace.Span, requestID string, status int) {
	span.SetAttributes(attribute.Int("http.response.status_code", status), attribute.String("mfn.request_id", requestID))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// traceFields are the trace_id and span_id log fields of a request that has a span.
func traceFields(span trace.Span) []zap.Field {
	if span == nil {
		return nil
	}
	sc := span.SpanContext()
	if !sc.IsValid() {
		return nil
	}
	return []zap.Field{zap.String("trace_id", sc.TraceID().String()), zap.String("span_id", sc.SpanID().String())}
}

// observe records a duration with the span's trace id as exemplar when the span is
// sampled, so that a slow histogram bucket links to a trace.
func observe(span trace.Span, o prometheus.Observer, v float64) {
	if span != nil {
		if sc := span.SpanContext(); sc.IsSampled() {
			if eo, ok := o.(prometheus.ExemplarObserver); ok {
				eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String()})
				return
			}
		}
	}
	o.Observe(v)
}
