package config

import (
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/internal/cfgerr"
)

func TestDefaultPerEnvironment(t *testing.T) {
	cases := []struct {
		env         string
		auth, rate  bool
		format      string
		origins     []string
		errContains string
	}{
		{env: "dev", format: "text", origins: []string{"*"}},
		{env: "staging", auth: true, rate: true, format: "text", origins: []string{"http://localhost:3000", "http://localhost:8080"}},
		{env: "prod", auth: true, rate: true, format: "json"},
		{env: "production", errContains: `env: "production" is not dev, staging or prod`},
		{env: "", errContains: "env:"},
	}
	for _, tc := range cases {
		t.Run(tc.env, func(t *testing.T) {
			c, err := Default(tc.env)
			if tc.errContains != "" {
				require.ErrorContains(t, err, tc.errContains)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.auth, c.Server.Auth.Required)
			require.Equal(t, tc.rate, c.Server.RateLimit.Enabled)
			require.Equal(t, tc.format, c.Log.Format)
			require.Equal(t, tc.origins, c.Server.CORS.Origins)
		})
	}
}

func TestValidateNamesKeys(t *testing.T) {
	cases := []struct {
		name        string
		mutate      func(*Config)
		errContains string
	}{
		{"dev ok", func(*Config) {}, ""},
		{"prod needs keys", func(c *Config) { c.Server.Auth.Required = true }, "server.auth.keys"},
		{"requests", func(c *Config) { c.Server.RateLimit.Requests = -1 }, "server.rate_limit.requests: must be > 0"},
		{"ws", func(c *Config) { c.Server.WS.QueueSize = 0 }, "server.ws.queue_size"},
		{"grpc", func(c *Config) { c.GRPC.MaxConcurrentStreams = 0 }, "grpc.max_concurrent_streams"},
		{"pool", func(c *Config) { c.Pool.QueueSize = -3 }, "pool.queue_size"},
		{"pool memory", func(c *Config) { c.Pool.MemoryLimitBytes = -1 }, "pool.memory_limit_bytes"},
		{"pool limits", func(c *Config) { c.Pool.Limits.MaxGradients = -1 }, "pool.limits.max_gradients: must be >= 0"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{"env", func(c *Config) { c.Env = "test" }, "env:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Default("dev")
			require.NoError(t, err)
			tc.mutate(&c)
			err = c.Validate()
			if tc.errContains == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.errContains)
		})
	}
}

// TestValidateKeysAreCfgErrors: each section returns a *cfgerr.Error keyed relative to
// itself, and Validate composes the full path from the top of mfn.yaml.
func TestValidateKeysAreCfgErrors(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*Config)
		key    string
	}{
		{func(c *Config) { c.Server.Addr = "nope" }, "server.addr"},
		{func(c *Config) { c.Server.RateLimit.IdleEvict = 0 }, "server.rate_limit.idle_evict"},
		{func(c *Config) { c.Server.Crypto.KeySizeBits = 100 }, "server.crypto.key_size_bits"},
		{func(c *Config) { c.Server.WS.QueueSize = 0 }, "server.ws.queue_size"},
		{func(c *Config) { c.GRPC.StreamBuffer = 0 }, "grpc.stream_buffer"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			c, err := Default("dev")
			require.NoError(t, err)
			tc.mutate(&c)
			var ce *cfgerr.Error
			require.ErrorAs(t, c.Validate(), &ce)
			require.Equal(t, tc.key, ce.Key)
		})
	}
}

func TestKeysAndEnvNames(t *testing.T) {
	c, err := Default("dev")
	require.NoError(t, err)
	k := Keys(c)
	require.Equal(t, 100, k["server.rate_limit.requests"])
	require.Equal(t, "0.0.0.0:8000", k["server.addr"]) // squashed server.Config
	require.Contains(t, k, "server.ws.max_connections")
	require.Contains(t, k, "grpc.max_recv_bytes")
	require.Contains(t, k, "pool.workers")
	require.Equal(t, "MFN_SERVER_RATE_LIMIT_REQUESTS", EnvName("server.rate_limit.requests"))
	require.Equal(t, "MFN_LOG_LEVEL", EnvName("log.level")) // the reference's name, for free
	for key := range LegacyEnv {
		require.Contains(t, k, key, "legacy env name bound to a key that does not exist")
	}
	c.Server.Auth.Keys = []string{"secret-1", "secret-2"}
	r := Redacted(c)
	require.Equal(t, "<2 redacted>", r["server.auth.keys"])
	require.Equal(t, "20s", r["server.shutdown_grace"])
}

func TestParseBoolAndList(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "1": true, "YES": true, "on": true, "false": false, "0": false, "No": false} {
		got, err := ParseBool(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := ParseBool("maybe")
	require.Error(t, err)
	require.Equal(t, []string{"a", "b"}, SplitList(" a, ,b ,"))
	require.Nil(t, SplitList(""))
	for in, want := range map[string]Level{"warn": "WARNING", "Warning": "WARNING", "critical": "CRITICAL", "debug": "DEBUG"} {
		got, err := ParseLevel(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}
