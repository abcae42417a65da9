package telemetry

import (
	"context"
	"net/http"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
)

// Propagator is W3C trace context (traceparent, tracestate) plus baggage: what Setup
// installs globally and the helpers below use.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// ExtractHTTP returns ctx carrying the remote span context of h's traceparent, if any.
func ExtractHTTP(ctx context.Context, h http.Header) context.Context {
	return Propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// InjectHTTP writes ctx's span context into h as traceparent/tracestate.
func InjectHTTP(ctx context.Context, h http.Header) {
	Propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// ExtractMap reads traceparent from transport headers already gathered into a map with
// lower-case names (the connectors' Message.Headers).
func ExtractMap(ctx context.Context, h map[string]string) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return Propagator.Extract(ctx, propagation.MapCarrier(h))
}

// MetadataCarrier adapts gRPC metadata (lower-case keys) to the propagator.
type MetadataCarrier metadata.MD

// Get returns the first value of key.
func (c MetadataCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces key's values.
func (c MetadataCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

// Keys lists the metadata keys.
func (c MetadataCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// InjectGRPC returns ctx with its span context added to the outgoing gRPC metadata
// (clients; the server side is otelgrpc's stats handler).
func InjectGRPC(ctx context.Context) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	Propagator.Inject(ctx, MetadataCarrier(md))
	return metadata.NewOutgoingContext(ctx, md)
}

// KafkaCarrier adapts a sarama record's headers to the propagator. Set replaces a
// header of the same key, so that a traceparent never appears twice on a record.
type KafkaCarrier struct{ Headers *[]sarama.RecordHeader }

// Get returns the value of the first header named key.
func (c KafkaCarrier) Get(key string) string {
	for _, h := range *c.Headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces or appends the header key.
func (c KafkaCarrier) Set(key, value string) {
	for i, h := range *c.Headers {
		if string(h.Key) == key {
			(*c.Headers)[i].Value = []byte(value)
			return
		}
	}
	*c.Headers = append(*c.Headers, sarama.RecordHeader{Key: []byte(key), Value: []byte(value)})
}

// Keys lists the header names.
func (c KafkaCarrier) Keys() []string {
	out := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		out = append(out, string(h.Key))
	}
	return out
}

// InjectKafka writes ctx's span context into a record's headers.
func InjectKafka(ctx context.Context, h *[]sarama.RecordHeader) {
	Propagator.Inject(ctx, KafkaCarrier{h})
}

// IDs returns the trace and span ids of ctx's span for log lines and exemplars;
// ok is false when there is no valid span context. sampled reports the sampled flag.
func IDs(ctx context.Context) (traceID, spanID string, sampled, ok bool) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return "", "", false, false
	}
	return sc.TraceID().String(), sc.SpanID().String(), sc.IsSampled(), true
}
