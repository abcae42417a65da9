package telemetry

import (
	"context"
	"net/http"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	tests := []struct {
		name        string
		mod         func(*TracingConfig)
		errContains string
	}{
		{"exporter", func(c *TracingConfig) { c.Exporter = "jaeger" }, "tracing.exporter"},
		{"endpoint without scheme", func(c *TracingConfig) { c.Endpoint = "collector:4317" }, "tracing.endpoint"},
		{"endpoint scheme", func(c *TracingConfig) { c.Endpoint = "grpc://collector:4317" }, "tracing.endpoint"},
		{"ratio above 1", func(c *TracingConfig) { c.SampleRatio = 1.5 }, "tracing.sample_ratio"},
		{"ratio negative", func(c *TracingConfig) { c.SampleRatio = -0.1 }, "tracing.sample_ratio"},
		{"service", func(c *TracingConfig) { c.ServiceName = "" }, "tracing.service_name"},
		{"good http", func(c *TracingConfig) { c.Exporter, c.Endpoint = ExporterOTLPHTTP, "https://otel.example:4318" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c.Tracing)
			err := c.Validate()
			if tt.errContains == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.errContains)
		})
	}
}

func TestEffective(t *testing.T) {
	off := DefaultConfig().Tracing
	on := off
	on.Enabled = true
	tests := []struct {
		name        string
		in          TracingConfig
		env         map[string]string
		enabled     bool
		exporter    string
		errContains string
	}{
		{"default off", off, nil, false, ExporterOTLPGRPC, ""},
		{"config on", on, nil, true, ExporterOTLPGRPC, ""},
		{"endpoint variable turns it on", off, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, true, ExporterOTLPGRPC, ""},
		{"traces endpoint variable", off, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true, ExporterOTLPGRPC, ""},
		{"sdk disabled wins", on, map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, false, ExporterOTLPGRPC, ""},
		{"exporter none", on, map[string]string{"OTEL_TRACES_EXPORTER": "none"}, false, ExporterOTLPGRPC, ""},
		{"protocol http", on, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true, ExporterOTLPHTTP, ""},
		{"traces protocol wins", on, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, true, ExporterOTLPGRPC, ""},
		{"bad protocol", on, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, "", "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"bad exporter", on, map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "", "OTEL_TRACES_EXPORTER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Effective(tt.in, env(tt.env))
			if tt.errContains != "" {
				require.ErrorContains(t, err, tt.errContains)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.enabled, got.Enabled)
			require.Equal(t, tt.exporter, got.Exporter)
		})
	}
}

// TestSetupOffInstallsNothing: tracing off leaves the otel API's no-op provider, so
// spans do not record and nothing could be exported.
func TestSetupOffInstallsNothing(t *testing.T) {
	shutdown, err := Setup(context.Background(), DefaultConfig(), env(map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}))
	require.NoError(t, err)
	require.False(t, Enabled())
	_, span := otel.Tracer("t").Start(context.Background(), "x")
	require.False(t, span.IsRecording())
	span.End()
	require.NoError(t, shutdown(context.Background()))
}

// TestSetupOnAndShutdown: on, spans record; shutdown turns it off again (a collector
// that is not there costs the bounded flush only).
func TestSetupOnAndShutdown(t *testing.T) {
	c := DefaultConfig()
	c.Tracing.Enabled, c.Tracing.Endpoint = true, "http://127.0.0.1:1"
	shutdown, err := Setup(context.Background(), c, env(nil))
	require.NoError(t, err)
	require.True(t, Enabled())
	_, span := otel.Tracer("t").Start(context.Background(), "x")
	require.True(t, span.IsRecording())
	span.End()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // do not wait for the absent collector
	_ = shutdown(ctx)
	require.False(t, Enabled())
}

const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// TestPropagationRoundTrips: a traceparent read from one carrier is written unchanged
// into each other one.
func TestPropagationRoundTrips(t *testing.T) {
	ctx := ExtractHTTP(context.Background(), http.Header{"Traceparent": {parent}, "Tracestate": {"vendor=x"}})
	sc := trace.SpanContextFromContext(ctx)
	require.True(t, sc.IsValid())
	require.True(t, sc.IsRemote())
	traceID, spanID, sampled, ok := IDs(ctx)
	require.True(t, ok && sampled)
	require.Equal(t, "0af7651916cd43dd8448eb211c80319c", traceID)
	require.Equal(t, "b7ad6b7169203331", spanID)

	t.Run("http", func(t *testing.T) {
		h := http.Header{}
		InjectHTTP(ctx, h)
		require.Equal(t, parent, h.Get("traceparent"))
		require.Equal(t, "vendor=x", h.Get("tracestate"))
	})
	t.Run("kafka replaces an existing header", func(t *testing.T) {
		hdrs := []sarama.RecordHeader{{Key: []byte("x-request-id"), Value: []byte("r")}, {Key: []byte("traceparent"), Value: []byte("stale")}}
		InjectKafka(ctx, &hdrs)
		n := 0
		for _, h := range hdrs {
			if string(h.Key) == "traceparent" {
				n++
				require.Equal(t, parent, string(h.Value))
			}
		}
		require.Equal(t, 1, n)
		back := Propagator.Extract(context.Background(), KafkaCarrier{&hdrs})
		require.Equal(t, sc.TraceID(), trace.SpanContextFromContext(back).TraceID())
	})
	t.Run("kafka map headers", func(t *testing.T) {
		back := ExtractMap(context.Background(), map[string]string{"traceparent": parent, "tracestate": "vendor=x"})
		require.Equal(t, sc, trace.SpanContextFromContext(back))
		require.Equal(t, context.Background(), ExtractMap(context.Background(), nil))
	})
	t.Run("grpc metadata", func(t *testing.T) {
		out := InjectGRPC(metadata.AppendToOutgoingContext(ctx, "x-request-id", "r"))
		md, _ := metadata.FromOutgoingContext(out)
		require.Equal(t, []string{parent}, md.Get("traceparent"))
		require.Equal(t, []string{"r"}, md.Get("x-request-id"))
		back := Propagator.Extract(context.Background(), MetadataCarrier(md))
		require.Equal(t, sc.TraceID(), trace.SpanContextFromContext(back).TraceID())
	})
	t.Run("garbage is ignored", func(t *testing.T) {
		for _, v := range []string{"", "00-zz-yy-01", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", parent + "-extra-" + string(make([]byte, 4096))} {
			back := ExtractHTTP(context.Background(), http.Header{"Traceparent": {v}})
			_, _, _, ok := IDs(back)
			require.False(t, ok, "%q", v)
		}
	})
}
