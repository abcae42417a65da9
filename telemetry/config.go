package telemetry

import (
	"fmt"
	"net/url"
)

// Exporters accepted by telemetry.tracing.exporter.
const (
	ExporterOTLPGRPC = "otlp_grpc"
	ExporterOTLPHTTP = "otlp_http"
)

// Config is the `telemetry:` section of mfn.yaml.
type Config struct {
	Tracing TracingConfig `mapstructure:"tracing"`
}

// TracingConfig turns span export on. The standard OTEL_* variables override it (see Setup).
type TracingConfig struct {
	// Enabled exports spans. OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) in the
	// environment turns it on too; OTEL_SDK_DISABLED=true turns it off whatever is set.
	Enabled bool `mapstructure:"enabled"`
	// Exporter is otlp_grpc (port 4317) or otlp_http (port 4318, protobuf).
	Exporter string `mapstructure:"exporter"`
	// Endpoint is the collector's URL (http://host:4317, https://host:4318…); http://
	// means plaintext. Empty: OTEL_EXPORTER_OTLP_ENDPOINT, else the OTLP default on localhost.
	Endpoint string `mapstructure:"endpoint"`
	// SampleRatio is the share of new traces recorded (parent-based: a request whose
	// caller sampled it is always recorded). OTEL_TRACES_SAMPLER[_ARG] override it.
	SampleRatio float64 `mapstructure:"sample_ratio"`
	// ServiceName is service.name on every span; OTEL_SERVICE_NAME overrides it.
	ServiceName string `mapstructure:"service_name"`
}

// DefaultConfig is tracing off, OTLP over gRPC when turned on, every trace sampled, service "mfn".
func DefaultConfig() Config {
	return Config{Tracing: TracingConfig{Exporter: ExporterOTLPGRPC, SampleRatio: 1, ServiceName: "mfn"}}
}

// Validate names the first bad key, relative to `telemetry.`.
func (c Config) Validate() error {
	t := c.Tracing
	switch t.Exporter {
	case ExporterOTLPGRPC, ExporterOTLPHTTP:
	default:
		return fmt.Errorf("tracing.exporter: %q is not %s or %s", t.Exporter, ExporterOTLPGRPC, ExporterOTLPHTTP)
	}
	if t.Endpoint != "" {
		u, err := url.Parse(t.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("tracing.endpoint: %q is not an http:// or https:// URL", t.Endpoint)
		}
	}
	if !(t.SampleRatio >= 0 && t.SampleRatio <= 1) {
		return fmt.Errorf("tracing.sample_ratio: %v is not in [0, 1]", t.SampleRatio)
	}
	if t.ServiceName == "" {
		return fmt.Errorf("tracing.service_name: empty")
	}
	return nil
}
