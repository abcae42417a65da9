package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"mfn/connectors"
	"mfn/publishers"
)

// receiver is an httptest webhook that answers 503 to the first failFirst deliveries of
// every Idempotency-Key, rejects bad signatures with 401 and counts deliveries.
type receiver struct {
	secret    string
	failFirst int
	rejectID  string // request id answered with 400 (permanent)

	mu       sync.Mutex
	attempts map[string]int    // by Idempotency-Key
	accepted map[string][]byte // by Idempotency-Key
	headers  map[string]http.Header
	badSig   int
}

func newReceiver(t *testing.T, secret string, failFirst int) (*receiver, *httptest.Server) {
	r := &receiver{secret: secret, failFirst: failFirst, attempts: map[string]int{}, accepted: map[string][]byte{}, headers: map[string]http.Header{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.Header.Get("X-MFN-Signature") != publishers.Sign(r.secret, body) {
			r.badSig++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		key := req.Header.Get("Idempotency-Key")
		r.attempts[key]++
		if r.rejectID != "" && req.Header.Get("X-Request-ID") == r.rejectID {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.attempts[key] <= r.failFirst {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.accepted[key] = body
		r.headers[key] = req.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, name+".tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, name)))
}

func fileToWebhook(name, in, url, secret, dlqDir string) Config {
	return set(DefaultConfig(), func(c *Config) {
		c.Name = name
		c.Source = connectors.Config{Type: "file", File: set(connectors.DefaultFileConfig(), func(c *connectors.FileConfig) { c.Dir = in; c.PollInterval = 20 * time.Millisecond })}
		c.Sinks = []publishers.Config{{Type: "webhook", Webhook: set(publishers.DefaultWebhookConfig(), func(c *publishers.WebhookConfig) {
			c.URL = url
			c.Secret = secret
			c.Timeout = 2 * time.Second
			c.Headers = map[string]string{"Authorization": "Bearer t"}
		})}}
		c.DeadLetter = publishers.Config{Type: "file", File: set(publishers.DefaultFileConfig(), func(c *publishers.FileConfig) { c.Dir = dlqDir; c.MaxAge = 50 * time.Millisecond })}
		c.Retry = publishers.RetryConfig{MaxAttempts: 4, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Jitter: 0.5}
		c.GracePeriod = 5 * time.Second
	})
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWebhookRetriesSignatureAndIdempotency(t *testing.T) {
	rcv, srv := newReceiver(t, "s3cret", 2)
	rcv.rejectID = "w-rejected"
	in, dlq := t.TempDir(), t.TempDir()
	pool := newPool(t, 2)
	_, stop := startManager(t, []Config{fileToWebhook("hook", in, srv.URL, "s3cret", dlq)}, pool)

	writeFile(t, in, "a.jsonl", `{"request_id":"w-1","type":"nernst","correlation_id":"c-1","params":{"concentration_out_molar":5e-3,"concentration_in_molar":140e-3}}
{"request_id":"w-2","seed":3,"grid_size":16,"steps":5}
{"request_id":"w-rejected","type":"nernst","concentration_out_molar":1,"concentration_in_molar":1}
`)
	waitFor(t, 20*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(in, "failed", "a.jsonl")) // w-rejected was dead-lettered
		return err == nil
	})
	stop()

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	require.Zero(t, rcv.badSig)
	require.Equal(t, map[string]int{"w-1": 3, "w-2": 3, "w-rejected": 1}, rcv.attempts, "503 twice then accepted; 400 is not retried")
	require.Len(t, rcv.accepted, 2)
	h := rcv.headers["w-1"]
	require.Equal(t, "w-1", h.Get("X-Request-ID"))
	require.Equal(t, "c-1", h.Get("X-Correlation-ID"))
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.Equal(t, "Bearer t", h.Get("Authorization"))
	var res map[string]any
	require.NoError(t, json.Unmarshal(rcv.accepted["w-1"], &res))
	require.Equal(t, "nernst_complete", res["event"])
	require.InDelta(t, -89.0, res["results"].(map[string]any)["potential_mV"], 1.5)

	dl := readLines(t, dlq)
	require.Len(t, dl, 1)
	require.Equal(t, "w-rejected", dl[0]["request_id"])
	require.Equal(t, "undeliverable", dl[0]["dead_letter"].(map[string]any)["reason"])
}

// readLines reads every finished *.jsonl file of dir.
func readLines(t *testing.T, dir string) []map[string]any {
	t.Helper()
	var out []map[string]any
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	require.NoError(t, err)
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &m), l)
			out = append(out, m)
		}
	}
	return out
}

// TestFileFeedCrashRestart abandons a pipeline in the middle of a JSON-lines file
// (jobs stuck, grace period over: nothing cleaned up) and starts a new one on the same
// directory: every job is processed at least once and the file ends in done/.
func TestFileFeedCrashRestart(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	pool := newPool(t, 2)
	cfg := set(DefaultConfig(), func(c *Config) {
		c.Name = "feed"
		c.Source = connectors.Config{Type: "file", File: set(connectors.DefaultFileConfig(), func(c *connectors.FileConfig) { c.Dir = in; c.PollInterval = 20 * time.Millisecond })}
		c.Sinks = []publishers.Config{{Type: "file", File: set(publishers.DefaultFileConfig(), func(c *publishers.FileConfig) { c.Dir = out; c.MaxAge = time.Hour })}}
		c.GracePeriod = 200 * time.Millisecond
	})
	var lines []string
	for i := range 8 {
		lines = append(lines, string(simJob(fmt.Sprintf("f%d", i), i)))
	}
	writeFile(t, in, "jobs.jsonl", strings.Join(lines, "\n")+"\n")
	writeFile(t, in, "single.json", string(simJob("single", 42)))
	require.NoError(t, os.WriteFile(filepath.Join(in, "partial.json.tmp"), []byte(`{"request_id":`), 0o644))

	gate := &gateRunner{pool: pool, hold: map[int64]bool{4: true}, seen: make(chan int64, 16)}
	_, stop := startManager(t, []Config{cfg}, gate)
	waitFor(t, 20*time.Second, func() bool {
		for {
			select {
			case s := <-gate.seen:
				if s == 4 {
					return true
				}
			default:
				return false
			}
		}
	})
	stop()
	_, err := os.Stat(filepath.Join(in, "processing", "jobs.jsonl"))
	require.NoError(t, err, "the half-processed file must stay in processing/")

	_, stop2 := startManager(t, []Config{cfg}, pool)
	waitFor(t, 30*time.Second, func() bool {
		_, e1 := os.Stat(filepath.Join(in, "done", "jobs.jsonl"))
		_, e2 := os.Stat(filepath.Join(in, "done", "single.json"))
		return e1 == nil && e2 == nil
	})
	stop2()
	got := map[string]int{}
	for _, r := range readLines(t, out) {
		require.Equal(t, "complete", r["status"])
		got[r["request_id"].(string)]++
	}
	for i := range 8 {
		require.GreaterOrEqual(t, got[fmt.Sprintf("f%d", i)], 1, "f%d lost", i)
	}
	require.Equal(t, 1, got["single"])
	_, err = os.Stat(filepath.Join(in, "partial.json.tmp"))
	require.NoError(t, err, ".tmp files are never picked up")
}

func TestFileFeedPoisonGoesToFailed(t *testing.T) {
	in, out, dlq := t.TempDir(), t.TempDir(), t.TempDir()
	pool := newPool(t, 1)
	cfg := set(DefaultConfig(), func(c *Config) {
		c.Name = "poison"
		c.Source = connectors.Config{Type: "file", File: set(connectors.DefaultFileConfig(), func(c *connectors.FileConfig) { c.Dir = in; c.PollInterval = 20 * time.Millisecond })}
		c.Sinks = []publishers.Config{{Type: "file", File: set(publishers.DefaultFileConfig(), func(c *publishers.FileConfig) { c.Dir = out })}}
		c.DeadLetter = publishers.Config{Type: "file", File: set(publishers.DefaultFileConfig(), func(c *publishers.FileConfig) { c.Dir = dlq })}
		c.GracePeriod = time.Second
	})
	writeFile(t, in, "a-bad.json", `[1,2`)
	writeFile(t, in, "b-good.json", string(simJob("good", 1)))
	_, stop := startManager(t, []Config{cfg}, pool)
	waitFor(t, 20*time.Second, func() bool {
		_, e1 := os.Stat(filepath.Join(in, "failed", "a-bad.json"))
		_, e2 := os.Stat(filepath.Join(in, "done", "b-good.json"))
		return e1 == nil && e2 == nil
	})
	stop() // closes the sinks: files are renamed into place
	res := readLines(t, out)
	require.Len(t, res, 1)
	require.Equal(t, "good", res[0]["request_id"])
	require.Equal(t, expectedSim(t, 1), res[0]["results"])
	dl := readLines(t, dlq)
	require.Len(t, dl, 1)
	require.Equal(t, "DECODE_ERROR", dl[0]["error"].(map[string]any)["code"])
	require.Equal(t, `[1,2`, dl[0]["dead_letter"].(map[string]any)["input"])
}
