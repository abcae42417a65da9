package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"mfn/internal/version"
)

// enabled is what Enabled reports: the otel API's providers are process globals (the
// instrumentation libraries read them), so whether they record is one too.
var enabled atomic.Bool

// Enabled reports whether Setup installed an exporting tracer provider. Transports skip
// their span work entirely while it is false.
func Enabled() bool { return enabled.Load() }

// Effective applies the OTEL_* variables that decide whether tracing runs and how it
// exports (the SDK reads the rest itself): OTEL_SDK_DISABLED=true turns it off; an
// OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT turns it on; OTEL_TRACES_EXPORTER=none turns it
// off; OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL grpc or http/protobuf picks the exporter.
func Effective(c TracingConfig, getenv func(string) (string, bool)) (TracingConfig, error) {
	env := func(k string) string { v, _ := getenv(k); return strings.TrimSpace(v) }
	if env("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		c.Enabled = true
	}
	proto := env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = env("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "":
	case "grpc":
		c.Exporter = ExporterOTLPGRPC
	case "http/protobuf":
		c.Exporter = ExporterOTLPHTTP
	default:
		return c, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not grpc or http/protobuf", proto)
	}
	switch strings.ToLower(env("OTEL_TRACES_EXPORTER")) {
	case "", "otlp":
	case "none":
		c.Enabled = false
	default:
		return c, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not otlp or none", env("OTEL_TRACES_EXPORTER"))
	}
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		c.Enabled = false
	}
	return c, nil
}

// Setup installs the global tracer provider and the W3C propagator from c and the
// OTEL_* variables, and returns the function that flushes and stops it (call it last on
// shutdown; it bounds itself by ctx). With tracing off it installs nothing and returns a
// no-op: the otel API then costs an interface call per would-be span.
func Setup(ctx context.Context, c Config, getenv func(string) (string, bool)) (shutdown func(context.Context) error, err error) {
	t, err := Effective(c.Tracing, getenv)
	if err != nil {
		return nil, err
	}
	otel.SetTextMapPropagator(Propagator)
	if !t.Enabled {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := newExporter(ctx, t)
	if err != nil {
		return nil, err
	}
	// The config's service name first, so that OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES (read by WithFromEnv) override it, as the spec asks.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", t.ServiceName), attribute.String("service.version", version.Build())),
		resource.WithFromEnv(), resource.WithHost(), resource.WithProcessPID())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	// The SDK reads OTEL_TRACES_SAMPLER[_ARG] itself unless a sampler is given.
	if v, _ := getenv("OTEL_TRACES_SAMPLER"); strings.TrimSpace(v) == "" {
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(t.SampleRatio))))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	enabled.Store(true)
	return func(ctx context.Context) error {
		enabled.Store(false)
		otel.SetTracerProvider(noop.NewTracerProvider())
		return tp.Shutdown(ctx) // flushes the batcher's queue first
	}, nil
}

func newExporter(ctx context.Context, t TracingConfig) (sdktrace.SpanExporter, error) {
	switch t.Exporter {
	case ExporterOTLPHTTP:
		var opts []otlptracehttp.Option
		if t.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(t.Endpoint))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("telemetry.tracing: otlp_http exporter: %w", err)
		}
		return exp, nil
	default:
		var opts []otlptracegrpc.Option
		if t.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(t.Endpoint))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("telemetry.tracing: otlp_grpc exporter: %w", err)
		}
		return exp, nil
	}
}
