package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// An empty environment variable counts as unset everywhere (PITFALLS §7.3), including
// the MFN_<KEY> forms that take precedence over the reference's combined names, and
// values are trimmed as the reference's int() did.
func TestEnvEmptyMeansUnset(t *testing.T) {
	cfg, err := loadConfig("", envOf(map[string]string{
		"MFN_SERVER_AUTH_KEYS": "", "MFN_API_KEY": "k1", "MFN_API_KEY_REQUIRED": "true",
		"MFN_SERVER_GRPC_ADDR": "", "MFN_GRPC_PORT": "50052",
		"MFN_RATE_LIMIT_REQUESTS": " 7 ", "MFN_RATE_LIMIT_ENABLED": " yes ",
	}))
	require.NoError(t, err)
	require.Equal(t, []string{"k1"}, cfg.Server.Auth.Keys)
	require.True(t, cfg.Server.Auth.Required)
	require.Equal(t, "0.0.0.0:50052", cfg.Server.GRPCAddr)
	require.Equal(t, 7, cfg.Server.RateLimit.Requests)
	require.True(t, cfg.Server.RateLimit.Enabled)
}
