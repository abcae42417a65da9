package ws

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"mfn/telemetry"
)

// startStreamSpan starts the span of one subscription, a child of the upgrade request's
// span: the session's context descends from the hub, not from the request (coder/websocket
// forbids r.Context() after Accept), so the parent is carried over explicitly. The pool's
// job spans nest under it. Tracing off: ctx and a no-op span.
func (cn *wsConn) startStreamSpan(ctx context.Context, id string) (context.Context, trace.Span) {
	if !telemetry.Enabled() {
		return ctx, trace.SpanFromContext(ctx)
	}
	if cn.trace.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, cn.trace)
	}
	return otel.Tracer("mfn/server/ws").Start(ctx, "ws.subscribe "+cn.endpoint,
		trace.WithAttributes(attribute.String("mfn.ws.endpoint", cn.endpoint), attribute.String("mfn.ws.stream_id", id)))
}
