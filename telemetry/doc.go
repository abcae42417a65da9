// Package telemetry owns OpenTelemetry tracing: the tracer provider built from config and
// the standard OTEL_* variables (Setup), and W3C traceparent/tracestate propagation
// through HTTP headers, gRPC metadata and Kafka record headers.
//
// Off by default: Setup then installs nothing, and the global otel API stays the no-op
// provider, whose spans only carry an incoming span context through (no allocation of
// recording spans, no exporter, no goroutine). Instrumented packages use only the otel
// API (otel.Tracer, trace.SpanFromContext), so they pay for tracing only when it is on.
// Everything here is safe for concurrent use.
package telemetry
