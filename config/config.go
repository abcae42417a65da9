package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"mfn/internal/cfgerr"
	"mfn/jobs"
	"mfn/pipeline"
	"mfn/server"
	"mfn/telemetry"
)

// Environments accepted by `env` / MFN_ENV.
const (
	EnvDev     = "dev"
	EnvStaging = "staging"
	EnvProd    = "prod"
)

// Config is the whole mfn configuration (mfn.yaml). Each section is its package's own
// Config; this type only composes them and adds what belongs to the process.
type Config struct {
	// Env picks the per-environment defaults (api-contract §2.4): dev, staging or prod.
	Env string `mapstructure:"env"`
	// Server is the one port: HTTP (REST + WebSocket), and gRPC unless grpc_addr is set.
	Server Server `mapstructure:"server"`
	// GRPC tunes the gRPC side.
	GRPC server.GRPCConfig `mapstructure:"grpc"`
	// Pool sizes the job workers shared by every transport and pipeline.
	Pool jobs.PoolConfig `mapstructure:"pool"`
	// Log configures the process logger.
	Log LogConfig `mapstructure:"log"`
	// Pipelines lists the feeds (Kafka, files, REST polls) to run; none by default.
	Pipelines []pipeline.Config `mapstructure:"pipelines"`
	// Telemetry configures OpenTelemetry tracing (off by default).
	Telemetry telemetry.Config `mapstructure:"telemetry"`
}

// Server is server.Config with the WebSocket settings nested under `server.ws`.
type Server struct {
	server.Config `mapstructure:",squash"`
	WS            server.WSConfig `mapstructure:"ws"`
}

// LogConfig is the process logger.
type LogConfig struct {
	// Level: DEBUG, INFO, WARNING (or WARN), ERROR, CRITICAL; case-insensitive.
	Level string `mapstructure:"level"`
	// Format: json (one object per line) or text.
	Format string `mapstructure:"format"`
}

// Default returns the defaults of env (api-contract §2.4): dev has auth and rate
// limiting off, text logs and CORS "*"; staging requires keys, limits rates and allows
// the two localhost origins; prod is staging with JSON logs and no CORS. An unknown env
// is an error, never dev (the reference's BUG-12).
func Default(env string) (Config, error) {
	c := Config{
		Env:    env,
		Server: Server{Config: server.DefaultConfig(), WS: server.DefaultWSConfig()},
		GRPC:   server.DefaultGRPCConfig(),
		Pool:   jobs.DefaultPoolConfig(),
		Log:    LogConfig{Level: "INFO", Format: "text"},

		Telemetry: telemetry.DefaultConfig(),
	}
	switch env {
	case EnvDev:
	case EnvStaging:
		c.Server.Auth.Required = true
		c.Server.RateLimit.Enabled = true
		c.Server.CORS.Origins = []string{"http://localhost:3000", "http://localhost:8080"}
	case EnvProd:
		c.Server.Auth.Required = true
		c.Server.RateLimit.Enabled = true
		c.Server.CORS.Origins = nil
		c.Log.Format = "json"
	default:
		return Config{}, cfgerr.New("env", "%q is not dev, staging or prod", env)
	}
	return c, nil
}

// SeedPipelines starts c.Pipelines from their defaults before decoding:
// pipeline.Defaults(raw) for raw, the `pipelines:` list as read from the file. Decoding
// then writes each entry's keys over its defaults.
func (c *Config) SeedPipelines(raw any) { c.Pipelines = pipeline.Defaults(raw) }

// Validate checks every section; each message starts with the full key, and the
// sections' *cfgerr.Error values come back (joined) with their full key paths.
func (c Config) Validate() error {
	switch c.Env {
	case EnvDev, EnvStaging, EnvProd:
	default:
		return cfgerr.New("env", "%q is not dev, staging or prod", c.Env)
	}
	var errs []error
	errs = append(errs,
		cfgerr.Prefix("server.", c.Server.Config.Validate()),
		cfgerr.Prefix("server.ws.", c.Server.WS.Validate()),
		cfgerr.Prefix("grpc.", c.GRPC.Validate()),
		cfgerr.Prefix("pool.", c.Pool.Validate()),
	)
	if _, err := ParseLevel(c.Log.Level); err != nil {
		errs = append(errs, cfgerr.New("log.level", "%v", err))
	}
	if f := strings.ToLower(c.Log.Format); f != "json" && f != "text" {
		errs = append(errs, cfgerr.New("log.format", "%q is not json or text", c.Log.Format))
	}
	if err := c.Telemetry.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("telemetry.%w", err))
	}
	names := map[string]bool{}
	for i, p := range c.Pipelines {
		errs = append(errs, cfgerr.Prefix(fmt.Sprintf("pipelines[%d].", i), p.Validate()))
		if names[p.Name] {
			errs = append(errs, cfgerr.New(fmt.Sprintf("pipelines[%d].name", i), "%q repeated", p.Name))
		}
		names[p.Name] = true
	}
	return errors.Join(errs...)
}

// Level is a log level understood by the logger.
type Level string

// ParseLevel accepts the reference's level names (DEBUG, INFO, WARNING/WARN, ERROR,
// CRITICAL), case-insensitively, and returns the canonical one.
func ParseLevel(s string) (Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "DEBUG":
		return "DEBUG", nil
	case "INFO":
		return "INFO", nil
	case "WARNING", "WARN":
		return "WARNING", nil
	case "ERROR":
		return "ERROR", nil
	case "CRITICAL", "FATAL":
		return "CRITICAL", nil
	}
	return "", fmt.Errorf("%q is not DEBUG, INFO, WARNING, ERROR or CRITICAL", s)
}

// Keys flattens cfg into dotted keys (mapstructure names) and leaf values: the list a
// loader needs to bind every key to defaults and environment variables. Maps and slices
// are leaves.
func Keys(cfg Config) map[string]any {
	out := map[string]any{}
	flatten(out, "", reflect.ValueOf(cfg))
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

func flatten(out map[string]any, prefix string, v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		fv := v.Field(i)
		if opts == "squash" {
			flatten(out, prefix, fv)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		if fv.Kind() == reflect.Struct && f.Type != durationType {
			flatten(out, key+".", fv)
			continue
		}
		out[key] = fv.Interface()
	}
}

// secretKeys are redacted when the effective configuration is logged.
var secretKeys = map[string]bool{"server.auth.keys": true, "server.crypto.keys": true}

// Redacted is Keys with secrets replaced by their count, for logging the effective config.
func Redacted(cfg Config) map[string]any {
	m := Keys(cfg)
	for k, v := range m {
		if d, ok := v.(time.Duration); ok {
			m[k] = d.String()
		}
		if secretKeys[k] {
			m[k] = fmt.Sprintf("<%d redacted>", reflect.ValueOf(m[k]).Len())
		}
	}
	m["pipelines"] = len(cfg.Pipelines)
	return m
}

// EnvName is the environment variable of a key: MFN_ + upper-case key with '.' → '_'
// (server.rate_limit.requests → MFN_SERVER_RATE_LIMIT_REQUESTS).
func EnvName(key string) string {
	return "MFN_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// LegacyEnv maps the reference's variable names (api-contract §2, integration-ops §7.1)
// to keys; they are honoured after the MFN_<KEY> form. MFN_API_KEY, MFN_API_KEYS,
// MFN_GRPC_API_KEY, MFN_GRPC_AUTH_REQUIRED and MFN_GRPC_PORT need combining and are
// handled by the loader (see the mfn.yaml comments).
var LegacyEnv = map[string][]string{
	"server.addr":                       {"MFN_HTTP_ADDR"},
	"server.auth.required":              {"MFN_API_KEY_REQUIRED"},
	"server.rate_limit.enabled":         {"MFN_RATE_LIMIT_ENABLED"},
	"server.rate_limit.requests":        {"MFN_RATE_LIMIT_REQUESTS"},
	"server.rate_limit.window_seconds":  {"MFN_RATE_LIMIT_WINDOW"},
	"server.rate_limit.trusted_proxies": {"MFN_TRUSTED_PROXIES"},
	"server.metrics.enabled":            {"MFN_METRICS_ENABLED"},
	"server.cors.origins":               {"MFN_CORS_ORIGINS"},
	"server.max_body_bytes":             {"MFN_MAX_BODY_BYTES"},
	"server.request_timeout":            {"MFN_REQUEST_TIMEOUT"},
	"server.crypto.enabled":             {"MFN_CRYPTO_ENABLED"},
	"server.crypto.algorithm":           {"MFN_CRYPTO_ALGORITHM"},
	"server.crypto.key_size_bits":       {"MFN_CRYPTO_KEY_SIZE"},
	"server.crypto.signature_algorithm": {"MFN_CRYPTO_SIGNATURE_ALG"},
	"server.crypto.audit_log":           {"MFN_CRYPTO_AUDIT_LOG"},
	"pool.workers":                      {"MFN_MAX_CONCURRENT_JOBS"},
}

// ParseBool is the one boolean parser for files and environment (api-contract §2.4
// [GO]): true/1/yes/on and false/0/no/off, case-insensitive; anything else is an error.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true/1/yes/on or false/0/no/off)", s)
}

// SplitList parses a comma-separated list: entries trimmed, empties dropped.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
