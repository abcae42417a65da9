package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/yaml.v3"

	"mfn/config"
)

// envOf turns a map into a getenv.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigFiles(t *testing.T) {
	wantErr := map[string]string{
		"unknown-env.bad.yaml":   `env: "production" is not dev, staging or prod`,
		"auth-no-keys.bad.yaml":  "server.auth.keys: empty while auth.required is true",
		"bad-port.bad.yaml":      "server.addr:",
		"rate-zero.bad.yaml":     "server.rate_limit.requests: must be > 0",
		"typo.bad.yaml":          "invalid keys: adr",
		"bad-bool.bad.yaml":      "server.rate_limit.enabled",
		"grpc.bad.yaml":          "grpc.max_recv_bytes",
		"ws.bad.yaml":            "server.ws.max_connections",
		"log.bad.yaml":           "log.level",
		"pool.bad.yaml":          "pool.workers",
		"crypto.bad.yaml":        "server.crypto.algorithm",
		"pipeline.bad.yaml":      "pipelines[0].source.type: unknown",
		"pipeline-zero.bad.yaml": "pipelines[0].source.kafka.commit_interval: must be positive",
		"pipeline-sink.bad.yaml": "pipelines[1].sinks[1].kafka.brokers: empty",
		"notyaml.bad.yaml":       "config file",
		"telemetry.bad.yaml":     "telemetry.tracing.exporter",
		"admin.bad.yaml":         "server.admin_addr",
	}
	files, err := filepath.Glob("config/testdata/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range append(files, "mfn.yaml") {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			cfg, err := loadConfig(f, envOf(nil))
			if strings.HasSuffix(name, ".bad.yaml") {
				want, ok := wantErr[name]
				require.True(t, ok, "add %s to the table", name)
				require.ErrorContains(t, err, want)
				return
			}
			require.NoError(t, err)
			require.NoError(t, cfg.Validate())
		})
	}
	cfg, err := loadConfig("config/testdata/prod.good.yaml", envOf(nil))
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:50051", cfg.Server.GRPCAddr)
	require.Equal(t, 500, cfg.Server.RateLimit.PerPath["/nernst"])
	require.Equal(t, map[string]int{"/nernst": 500}, cfg.Server.RateLimit.PerPath, "per_path replaces the default table")
	require.Equal(t, 100, cfg.Server.WS.MaxConnections)
	require.Equal(t, "json", cfg.Log.Format)
	require.True(t, cfg.Server.Auth.Required)
	require.Empty(t, cfg.Server.CORS.Origins)

	// Defaults before decoding: unwritten keys keep theirs, explicit zeros survive.
	cfg, err = loadConfig("config/testdata/pipeline-zero.good.yaml", envOf(nil))
	require.NoError(t, err)
	p := cfg.Pipelines[0]
	require.Equal(t, 10*time.Second, p.Source.Kafka.SessionTimeout)
	require.Equal(t, 50*time.Millisecond, p.Source.Kafka.CommitInterval)
	require.Equal(t, int64(64<<20), p.Sinks[0].File.MaxBytes)
	require.Equal(t, "results", p.Sinks[0].File.Prefix)
	require.Equal(t, 30*time.Second, p.Sinks[1].Kafka.Timeout)
	require.Equal(t, 5, p.Retry.MaxAttempts)
	require.Zero(t, p.Retry.InitialBackoff)
	require.Zero(t, p.Retry.Jitter)
	require.Zero(t, p.GracePeriod)
	require.Equal(t, 500*time.Millisecond, p.ReconnectBackoff)
}

func TestDefaultsNeedNoFile(t *testing.T) {
	cfg, err := loadConfig("", envOf(nil))
	require.NoError(t, err)
	require.Equal(t, "dev", cfg.Env)
	require.Equal(t, "0.0.0.0:8000", cfg.Server.Addr)
	require.False(t, cfg.Server.Auth.Required)
	require.False(t, cfg.Server.RateLimit.Enabled)
	require.Equal(t, []string{"*"}, cfg.Server.CORS.Origins)
	require.Equal(t, int64(8<<20), cfg.Server.MaxBodyBytes)
	require.Equal(t, 20*time.Second, cfg.Server.ShutdownGrace)
	require.Empty(t, cfg.Pipelines)
}

func TestEnvOverrides(t *testing.T) {
	cases := []struct {
		name   string
		env    map[string]string
		check  func(t *testing.T, c config.Config)
		errSub string
	}{
		{"reference key names", map[string]string{"MFN_ENV": "STAGING", "MFN_API_KEY": "k1", "MFN_API_KEYS": " k2, ,k3 ",
			"MFN_RATE_LIMIT_REQUESTS": "5", "MFN_RATE_LIMIT_WINDOW": "30", "MFN_LOG_LEVEL": "debug", "MFN_LOG_FORMAT": "JSON",
			"MFN_CORS_ORIGINS": "http://a.example, http://b.example", "MFN_METRICS_ENABLED": "no"},
			func(t *testing.T, c config.Config) {
				require.Equal(t, "staging", c.Env)
				require.True(t, c.Server.Auth.Required)
				require.Equal(t, []string{"k1", "k2", "k3"}, c.Server.Auth.Keys)
				require.True(t, c.Server.RateLimit.Enabled)
				require.Equal(t, 5, c.Server.RateLimit.Requests)
				require.Equal(t, 30, c.Server.RateLimit.WindowSeconds)
				require.Equal(t, "debug", c.Log.Level)
				require.Equal(t, []string{"http://a.example", "http://b.example"}, c.Server.CORS.Origins)
				require.False(t, c.Server.Metrics.Enabled)
			}, ""},
		{"MFN_ key form wins", map[string]string{"MFN_SERVER_RATE_LIMIT_REQUESTS": "7", "MFN_RATE_LIMIT_REQUESTS": "5",
			"MFN_SERVER_SHUTDOWN_GRACE": "3s", "MFN_POOL_WORKERS": "2", "MFN_GRPC_MAX_RECV_BYTES": "2048", "MFN_SERVER_WS_MAX_CONNECTIONS": "9"},
			func(t *testing.T, c config.Config) {
				require.Equal(t, 7, c.Server.RateLimit.Requests)
				require.Equal(t, 3*time.Second, c.Server.ShutdownGrace)
				require.Equal(t, 2, c.Pool.Workers)
				require.Equal(t, 2048, c.GRPC.MaxRecvBytes)
				require.Equal(t, 9, c.Server.WS.MaxConnections)
			}, ""},
		{"grpc legacy", map[string]string{"MFN_GRPC_PORT": "50051", "MFN_GRPC_AUTH_REQUIRED": "true", "MFN_GRPC_API_KEY": "g"},
			func(t *testing.T, c config.Config) {
				require.Equal(t, "0.0.0.0:50051", c.Server.GRPCAddr)
				require.True(t, c.Server.Auth.Required)
				require.Equal(t, []string{"g"}, c.Server.Auth.Keys)
			}, ""},
		{"env overrides file", map[string]string{"MFN_CONFIG": "config/testdata/prod.good.yaml", "MFN_LOG_FORMAT": "text"},
			func(t *testing.T, c config.Config) {
				require.Equal(t, "prod", c.Env)
				require.Equal(t, "text", c.Log.Format)
				require.Equal(t, 20, c.Server.RateLimit.Requests)
			}, ""},
		{"unknown env", map[string]string{"MFN_ENV": "qa"}, nil, `env: "qa"`},
		{"prod without keys", map[string]string{"MFN_ENV": "prod"}, nil, "server.auth.keys"},
		{"required without keys", map[string]string{"MFN_API_KEY_REQUIRED": "yes"}, nil, "server.auth.keys"},
		{"window zero", map[string]string{"MFN_RATE_LIMIT_WINDOW": "0"}, nil, "server.rate_limit.window_seconds: must be > 0"},
		{"not an int", map[string]string{"MFN_RATE_LIMIT_REQUESTS": "many"}, nil, "server.rate_limit.requests"},
		{"bad bool", map[string]string{"MFN_RATE_LIMIT_ENABLED": "sure"}, nil, "server.rate_limit.enabled"},
		{"bad addr", map[string]string{"MFN_HTTP_ADDR": "8000"}, nil, "server.addr"},
		{"key size alone", map[string]string{"MFN_CRYPTO_KEY_SIZE": "128"}, func(t *testing.T, c config.Config) {
			require.Equal(t, 128, c.Server.Crypto.KeySizeBits)
		}, ""},
		{"key size mismatch", map[string]string{"MFN_CRYPTO_KEY_SIZE": "128", "MFN_CRYPTO_ALGORITHM": "AES-256-GCM"}, nil, "server.crypto.algorithm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig("", envOf(tc.env))
			if tc.errSub != "" {
				require.ErrorContains(t, err, tc.errSub)
				return
			}
			require.NoError(t, err)
			tc.check(t, cfg)
		})
	}
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeInProcess(t *testing.T) {
	addr := freePort(t)
	path := filepath.Join(t.TempDir(), "mfn.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf("server:\n  addr: %s\n  shutdown_grace: 5s\nlog:\n  level: error\n", addr)), 0o600))
	code := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		code <- run(context.Background(), []string{"serve", "--config", path}, envOf(nil), &stderr, &stderr)
	}()
	require.Eventually(t, func() bool {
		res, err := http.Get("http://" + addr + "/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		res, err := http.Get("http://" + addr + "/ready")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, 0, run(context.Background(), []string{"healthcheck", "--addr", addr}, envOf(nil), &stderr, &stderr))

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case c := <-code:
		require.Equal(t, 0, c, stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	require.Equal(t, 1, run(context.Background(), []string{"healthcheck", "--addr", addr, "--timeout", "1s"}, envOf(nil), &stderr, &stderr))
}

// TestServeExitsOneWhenDrainIsCut: a request still open when shutdown_grace ends is cut,
// and the process says so with exit 1 (issue 9.9), not 0.
func TestServeExitsOneWhenDrainIsCut(t *testing.T) {
	addr := freePort(t)
	path := filepath.Join(t.TempDir(), "mfn.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf("server:\n  addr: %s\n  shutdown_grace: 300ms\nlog:\n  level: critical\n", addr)), 0o600))
	code := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		code <- run(context.Background(), []string{"serve", "--config", path}, envOf(nil), &stderr, &stderr)
	}()
	var conn net.Conn
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		conn = c
		return true
	}, 10*time.Second, 20*time.Millisecond)
	defer conn.Close()
	// A body that never comes: "100 Continue" proves the handler is reading it, so the
	// HTTP server counts the request as in flight when SIGTERM arrives.
	_, err := fmt.Fprintf(conn, "POST /nernst HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Expect: 100-continue\r\nContent-Length: 100\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	line, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "100 Continue")

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case c := <-code:
		require.Equal(t, 1, c, stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
}

func TestExitCodes(t *testing.T) {
	var out bytes.Buffer
	require.Equal(t, 2, run(context.Background(), []string{"serve", "--config", "config/testdata/rate-zero.bad.yaml"}, envOf(nil), &out, &out))
	require.Contains(t, out.String(), "server.rate_limit.requests: must be > 0")
	require.Equal(t, 2, run(context.Background(), []string{"--no-such-flag"}, envOf(nil), &out, &out))
	require.Equal(t, 2, run(context.Background(), []string{"frobnicate"}, envOf(nil), &out, &out))
	require.Equal(t, 2, run(context.Background(), nil, envOf(map[string]string{"MFN_ENV": "nope"}), &out, &out))
	require.Equal(t, 2, run(context.Background(), []string{"healthcheck"}, envOf(map[string]string{"MFN_ENV": "nope"}), &out, &out))
	// A port already taken is a runtime failure.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	require.Equal(t, 1, run(context.Background(), nil, envOf(map[string]string{"MFN_HTTP_ADDR": ln.Addr().String(), "MFN_LOG_LEVEL": "critical"}), &out, &out))
}

// TestExampleConfigDocumentsEveryKey keeps mfn.yaml complete and equal to the defaults.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	raw, err := os.ReadFile("mfn.yaml")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	documented := map[string]bool{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := prefix + k
			if sub, ok := v.(map[string]any); ok && key != "server.rate_limit.per_path" {
				walk(key+".", sub)
				continue
			}
			if v == nil {
				continue // a section whose keys are all commented out
			}
			documented[key] = true
		}
	}
	walk("", doc)
	// Keys whose default depends on env are shown commented out, so that the file does
	// not pin the dev values when MFN_ENV says staging or prod.
	for _, k := range envDependentKeys {
		require.False(t, documented[k], "%s must stay commented out in mfn.yaml", k)
		leaf := k[strings.LastIndex(k, ".")+1:]
		require.Regexp(t, `(?m)^\s*# `+leaf+`: `, string(raw), "mfn.yaml lacks %s", k)
		documented[k] = true
	}
	def, err := config.Default("dev")
	require.NoError(t, err)
	for k := range config.Keys(def) {
		require.True(t, documented[k], "mfn.yaml lacks %s", k)
		delete(documented, k)
	}
	require.Empty(t, documented, "mfn.yaml documents keys that do not exist")
	fromFile, err := loadConfig("mfn.yaml", envOf(nil))
	require.NoError(t, err)
	require.Equal(t, comparable(def), comparable(fromFile), "mfn.yaml must show the defaults")
}

// envDependentKeys are the keys config.Default sets differently per env.
var envDependentKeys = []string{"server.auth.required", "server.rate_limit.enabled", "server.cors.origins", "log.format"}

// TestExampleConfigKeepsEnvDefaults: the image ships mfn.yaml, and MFN_ENV=prod with it
// must mean prod's defaults (auth on, rate limits on, no CORS, JSON logs).
func TestExampleConfigKeepsEnvDefaults(t *testing.T) {
	for _, env := range []string{"dev", "staging", "prod"} {
		t.Run(env, func(t *testing.T) {
			want, err := config.Default(env)
			require.NoError(t, err)
			got, err := loadConfig("mfn.yaml", envOf(map[string]string{"MFN_ENV": env, "MFN_API_KEY": "k"}))
			require.NoError(t, err)
			w, g := comparable(want), comparable(got)
			for _, k := range envDependentKeys {
				require.Equal(t, w[k], g[k], k)
			}
		})
	}
}

// comparable flattens a config, treating empty and nil lists alike.
func comparable(c config.Config) map[string]any {
	m := config.Keys(c)
	for k, v := range m {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.Len() == 0 {
			m[k] = "[]"
		}
	}
	return m
}

func TestLoggerKeys(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(config.LogConfig{Level: "warning", Format: "json"}, "prod", &buf)
	require.NoError(t, err)
	log.Info("dropped")
	log.Warn("kept", zap.String("request_id", "r1"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 1)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &m))
	require.Equal(t, "WARNING", m["level"])
	require.Equal(t, "kept", m["message"])
	require.Equal(t, "mfn", m["logger"])
	require.Equal(t, "prod", m["env"])
	require.Equal(t, "r1", m["request_id"])
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, m["timestamp"])
}

// TestConsoleTimestamp: the console format's whole-second timestamps, shared between the
// lines of one second, are those of each line's own time.
func TestConsoleTimestamp(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(config.LogConfig{Level: "info", Format: "console"}, "dev", &buf)
	require.NoError(t, err)
	t0 := time.Date(2026, 12, 5, 1, 2, 3, 900_000_000, time.FixedZone("CET", 3600))
	for _, at := range []time.Time{t0, t0.Add(50 * time.Millisecond), t0.Add(150 * time.Millisecond), t0.Add(-time.Second), t0} {
		require.NoError(t, log.Core().Write(zapcore.Entry{Time: at, Message: "m"}, nil))
	}
	var stamps []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		stamp, _, _ := strings.Cut(line, "\t")
		stamps = append(stamps, stamp)
	}
	require.Equal(t, []string{"2026-12-05 00:02:03", "2026-12-05 00:02:03", "2026-12-05 00:02:04",
		"2026-12-05 00:02:02", "2026-12-05 00:02:03"}, stamps)
}

// TestServeRefusesAnUnknownKernel: MFN_KERNEL is read when the process starts; a value
// that names no kernel (or one this CPU lacks) stops start-up with exit 2 instead of
// running silently on another kernel.
func TestServeRefusesAnUnknownKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd := exec.Command(mfnBinary(t), "serve")
	cmd.Env = append(os.Environ(), "MFN_KERNEL=avx1024", "MFN_SERVER_ADDR="+freePort(t))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 2, exit.ExitCode(), "%s", out)
	require.Contains(t, string(out), "MFN_KERNEL")
}
