package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"mfn/config"
)

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestReloadWithoutRestart runs the real binary on a config laid out as a ConfigMap volume
// and rotates its API key by a `..data` symlink swap: the old key is refused and the new
// one accepted by the same process; a key that needs a restart is logged and kept; an
// invalid file is rejected with the old config kept; SIGHUP reloads; the metric counts it.
func TestReloadWithoutRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mfnBinary(t)

	addr := freePort(t)
	conf := func(key, extra string) string {
		return fmt.Sprintf("env: prod\nserver:\n  addr: %s\n  shutdown_grace: 5s\n  auth:\n    keys: [%s]\n%s", addr, key, extra)
	}
	dir := t.TempDir()
	n := 0
	publish := func(content string) string { // the kubelet's atomic ConfigMap update
		n++
		version := filepath.Join(dir, fmt.Sprintf("..2026_12_04_%d", n))
		require.NoError(t, os.Mkdir(version, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(version, "mfn.yaml"), []byte(content), 0o644))
		require.NoError(t, os.Symlink(filepath.Base(version), filepath.Join(dir, "..data_tmp")))
		require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
		return config.Hash([]byte(content))
	}
	first := publish(conf("old-key", ""))
	path := filepath.Join(dir, "mfn.yaml")
	require.NoError(t, os.Symlink("..data/mfn.yaml", path))

	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "MFN_CONFIG="+path)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	base := "http://" + addr
	health := func() map[string]any {
		res, err := http.Get(base + "/health")
		if err != nil {
			return nil
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return m
	}
	waitHash := func(want string) {
		t.Helper()
		require.Eventually(t, func() bool { return health()["config_hash"] == want }, 10*time.Second, 20*time.Millisecond,
			"config_hash never became %s: %s", want, &logs)
	}
	waitLog := func(substr string, count int) {
		t.Helper()
		require.Eventually(t, func() bool { return strings.Count(logs.String(), substr) >= count }, 10*time.Second, 20*time.Millisecond,
			"no %q in: %s", substr, &logs)
	}
	callID := func(key, requestID string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/nernst", strings.NewReader(`{"concentration_out_molar":0.005,"concentration_in_molar":0.14}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", key)
		if requestID != "" {
			req.Header.Set("X-Request-ID", requestID)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	call := func(key string) int { return callID(key, "") }
	waitHash(first)
	require.Equal(t, http.StatusOK, callID("old-key", "logged-at-info"))
	waitLog(`"request_id":"logged-at-info"`, 1)
	require.Equal(t, http.StatusOK, call("old-key"))
	require.Equal(t, http.StatusUnauthorized, call("new-key"))

	// Rotate the key, raise the log level (access logs are INFO), and change a key that
	// needs a restart.
	second := publish(conf("new-key", "  max_body_bytes: 1024\nlog:\n  level: WARNING\n"))
	waitHash(second)
	require.Equal(t, http.StatusUnauthorized, call("old-key"))
	require.Equal(t, http.StatusOK, call("new-key"))
	waitLog(`"key":"server.max_body_bytes"`, 1)
	require.Contains(t, logs.String(), "needs a restart")
	require.Equal(t, http.StatusOK, callID("new-key", "not-logged-at-warning"))

	// An invalid file: rejected whole, logged, the running config (new-key) stays.
	publish(conf("newest-key", "  rate_limit:\n    requests: -1\n"))
	waitLog("config reload rejected", 1)
	require.Contains(t, logs.String(), "rate_limit.requests")
	// The rejection is logged after that request, so its access line would be there by now.
	require.NotContains(t, logs.String(), "not-logged-at-warning", "log.level applied without a restart")
	require.Equal(t, second, health()["config_hash"])
	require.Equal(t, http.StatusOK, call("new-key"))
	require.Equal(t, http.StatusUnauthorized, call("newest-key"))

	// SIGHUP reloads whatever the file holds now (still invalid: rejected again).
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	waitLog("config reload rejected", 2)
	require.Contains(t, logs.String(), `"trigger":"signal"`)

	res, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Contains(t, string(body), `mfn_config_reloads_total{result="success"} 1`)
	require.Contains(t, string(body), `mfn_config_reloads_total{result="error"} 2`)

	// The same process all along, and it still drains cleanly.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case err := <-exited:
		require.NoError(t, err, "%s", &logs)
	case <-ctx.Done():
		t.Fatalf("no exit after SIGTERM: %s", &logs)
	}
	require.Equal(t, 1, strings.Count(logs.String(), `"message":"starting"`), "no restart")
}
