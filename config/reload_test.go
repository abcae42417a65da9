package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

func TestMerge(t *testing.T) {
	base, err := Default(EnvProd)
	require.NoError(t, err)
	base.Server.Auth.Keys = []string{"old"}
	tests := []struct {
		name        string
		edit        func(*Config)
		wantRestart []string
		check       func(t *testing.T, got Config)
	}{
		{"keys apply", func(c *Config) { c.Server.Auth.Keys = []string{"new"} }, nil,
			func(t *testing.T, got Config) { require.Equal(t, []string{"new"}, got.Server.Auth.Keys) }},
		{"rate limits apply", func(c *Config) {
			c.Server.RateLimit.Requests = 7
			c.Server.RateLimit.TrustedProxies = []string{"10.0.0.0/8"}
		}, nil,
			func(t *testing.T, got Config) {
				require.Equal(t, 7, got.Server.RateLimit.Requests)
				require.Equal(t, []string{"10.0.0.0/8"}, got.Server.RateLimit.TrustedProxies)
			}},
		{"cors applies", func(c *Config) { c.Server.CORS.Origins = []string{"https://a.example"} }, nil,
			func(t *testing.T, got Config) {
				require.Equal(t, []string{"https://a.example"}, got.Server.CORS.Origins)
			}},
		{"log level applies", func(c *Config) { c.Log.Level = "DEBUG" }, nil,
			func(t *testing.T, got Config) { require.Equal(t, "DEBUG", got.Log.Level) }},
		{"listen address needs a restart", func(c *Config) { c.Server.Addr = "0.0.0.0:9"; c.Server.Auth.Keys = []string{"new"} },
			[]string{"server.addr"},
			func(t *testing.T, got Config) {
				require.Equal(t, base.Server.Addr, got.Server.Addr, "keeps the running value")
				require.Equal(t, []string{"new"}, got.Server.Auth.Keys, "the rest still applies")
			}},
		{"log format, pool and crypto need a restart", func(c *Config) {
			c.Log.Format = "text"
			c.Pool.Workers = 3
			c.Server.Crypto.Enabled = !c.Server.Crypto.Enabled
		}, []string{"log.format", "pool.workers", "server.crypto.enabled"}, func(t *testing.T, got Config) {
			require.Equal(t, base.Log.Format, got.Log.Format)
			require.Equal(t, base.Pool.Workers, got.Pool.Workers)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base
			next.Server.Auth.Keys = append([]string(nil), base.Server.Auth.Keys...)
			tt.edit(&next)
			got, restart := Merge(base, next)
			require.Equal(t, tt.wantRestart, restart)
			tt.check(t, got)
		})
	}
}

// TestMergeCoversReloadableKeys: every key under ReloadableKeys is taken from the new
// config, so the list documented to operators is the list Merge applies.
func TestMergeCoversReloadableKeys(t *testing.T) {
	base, err := Default(EnvStaging)
	require.NoError(t, err)
	_, restart := Merge(Config{}, base)
	for _, k := range restart {
		for _, p := range ReloadableKeys {
			require.False(t, strings.HasPrefix(k, p), "%s is documented reloadable but needs a restart", k)
		}
	}
	zero := Keys(Config{})
	for k, v := range Keys(base) {
		if reflect.DeepEqual(zero[k], v) {
			continue // unchanged by this merge
		}
		reloadable := false
		for _, p := range ReloadableKeys {
			reloadable = reloadable || strings.HasPrefix(k, p)
		}
		if !reloadable && k != "env" {
			require.Contains(t, restart, k, "%s changed and is not reloadable", k)
		}
	}
}

// configMapDir lays out a directory as the kubelet does for a ConfigMap volume:
// <dir>/mfn.yaml -> ..data/mfn.yaml, ..data -> ..<version>/, and returns a function that
// publishes a new version by an atomic swap of ..data.
func configMapDir(t *testing.T, content string) (path string, publish func(string)) {
	t.Helper()
	dir := t.TempDir()
	n := 0
	publish = func(content string) {
		n++
		version := filepath.Join(dir, "..v"+strings.Repeat("x", n))
		require.NoError(t, os.Mkdir(version, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(version, "mfn.yaml"), []byte(content), 0o644))
		tmp := filepath.Join(dir, "..data_tmp")
		require.NoError(t, os.Symlink(filepath.Base(version), tmp))
		require.NoError(t, os.Rename(tmp, filepath.Join(dir, "..data")))
	}
	publish(content)
	path = filepath.Join(dir, "mfn.yaml")
	require.NoError(t, os.Symlink(filepath.Join("..data", "mfn.yaml"), path))
	return path, publish
}

// TestReloaderConfigMapSwap: a ConfigMap-style symlink swap is picked up and applied; an
// invalid file is rejected whole (counted, logged once, old config kept); a later valid
// file applies again.
func TestReloaderConfigMapSwap(t *testing.T) {
	path, publish := configMapDir(t, "keys=old")
	// The loader under test is the file's bytes as keys; main's loader is tested in main.
	load := func() (Config, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, err
		}
		k, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "keys=")
		if !ok {
			return Config{}, errors.New("server.auth.keys: not keys=…")
		}
		c, _ := Default(EnvProd)
		c.Server.Auth.Keys = strings.Split(k, ",")
		return c, nil
	}
	cur, err := load()
	require.NoError(t, err)
	applied := make(chan Config, 4)
	hashes := make(chan string, 4)
	reg := prometheus.NewRegistry()
	r, err := NewReloader(cur, path, 5*time.Millisecond, load, func(c Config, h string) error {
		applied <- c
		hashes <- h
		return nil
	}, zaptest.NewLogger(t), reg)
	require.NoError(t, err)
	require.Equal(t, Hash([]byte("keys=old")), r.FileHash())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, nil) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	publish("keys=new,newer")
	got := <-applied
	require.Equal(t, []string{"new", "newer"}, got.Server.Auth.Keys)
	require.Equal(t, Hash([]byte("keys=new,newer")), <-hashes)

	publish("garbage")
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(r.results.WithLabelValues("error")) == 1
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"new", "newer"}, r.Current().Server.Auth.Keys, "the running config stays")

	publish("keys=third")
	got = <-applied
	require.Equal(t, []string{"third"}, got.Server.Auth.Keys)
	// apply runs before the reloader counts the success: wait for the count.
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(r.results.WithLabelValues("success")) == 2
	}, 5*time.Second, time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(r.results.WithLabelValues("error")), "a bad file is tried once, not every poll")
	require.Empty(t, applied)
}

// TestReloaderApplyFailureKeepsConfig: when apply refuses, nothing changes.
func TestReloaderApplyFailureKeepsConfig(t *testing.T) {
	cur, _ := Default(EnvDev)
	next := cur
	next.Log.Level = "DEBUG"
	r, err := NewReloader(cur, "", 0, func() (Config, error) { return next, nil },
		func(Config, string) error { return errors.New("server.rate_limit.trusted_proxies: bad") }, nil, nil)
	require.NoError(t, err)
	require.Error(t, r.Reload("signal"))
	require.Equal(t, "INFO", r.Current().Log.Level)
	require.Equal(t, 1.0, testutil.ToFloat64(r.results.WithLabelValues("error")))
}
