package publishers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFileRotationAndAtomicRename(t *testing.T) {
	dir := t.TempDir()
	f, err := NewFile(set(DefaultFileConfig(), func(c *FileConfig) {
		c.Dir = dir
		c.Prefix = "out"
		c.MaxBytes = 100
		c.MaxAge = time.Hour
	}), nil)
	require.NoError(t, err)
	ctx := context.Background()
	for i := range 10 {
		body := fmt.Sprintf(`{"request_id":"r%d","pad":"%s"}`, i, strings.Repeat("x", 20))
		require.NoError(t, f.Publish(ctx, Record{RequestID: fmt.Sprint(i), Body: []byte(body)}))
		// Readers only look at *.jsonl: every such file is complete at any moment.
		done, _ := filepath.Glob(filepath.Join(dir, "out-*.jsonl"))
		for _, p := range done {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.True(t, strings.HasSuffix(string(b), "\n"))
			require.LessOrEqual(t, len(b), 100)
		}
		tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
		require.Len(t, tmp, 1, "exactly one file is being written")
	}
	require.NoError(t, f.Close(ctx))
	tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	require.Empty(t, tmp)
	done, _ := filepath.Glob(filepath.Join(dir, "out-*.jsonl"))
	require.Len(t, done, 5, "10 lines of 45 bytes, 2 per 100-byte file")
	var lines int
	for _, p := range done {
		b, _ := os.ReadFile(p)
		lines += strings.Count(string(b), "\n")
	}
	require.Equal(t, 10, lines)
}

func TestFileRecoversTornTmp(t *testing.T) {
	dir := t.TempDir()
	torn := filepath.Join(dir, "results-20260101T000000.000Z-000001.jsonl.tmp")
	require.NoError(t, os.WriteFile(torn, []byte("{\"a\":1}\n{\"a\":"), 0o644))
	f, err := NewFile(set(DefaultFileConfig(), func(c *FileConfig) { c.Dir = dir }), nil)
	require.NoError(t, err)
	require.NoError(t, f.Publish(context.Background(), Record{Body: []byte(`{"b":2}`)}))
	require.NoError(t, f.Close(context.Background()))
	b, err := os.ReadFile(strings.TrimSuffix(torn, ".tmp"))
	require.NoError(t, err)
	require.Equal(t, "{\"a\":1}\n", string(b))
}

// The rotation tests run in a synctest bubble: time is their subject, so the clock is
// the bubble's fake one and each assertion happens at an exact instant.

func TestFileMaxAgeRotatesWithoutPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f, err := NewFile(set(DefaultFileConfig(), func(c *FileConfig) {
			c.Dir = dir
			c.MaxAge = 30 * time.Second
			c.FlushInterval = time.Hour
		}), nil)
		require.NoError(t, err)
		require.NoError(t, f.Publish(context.Background(), Record{Body: []byte(`{}`)}))
		time.Sleep(30*time.Second - time.Nanosecond)
		synctest.Wait()
		require.Empty(t, globN(t, dir, "*.jsonl"), "rotated before max_age")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		require.Len(t, globN(t, dir, "*.jsonl"), 1, "not rotated at max_age")
		require.NoError(t, f.Close(context.Background()))
	})
}

// TestFileFlushIntervalAndStart: a pause in the results makes the open file visible
// after flush_interval, long before max_age; each new line restarts the wait; Start
// finishes a crash's .tmp without any Publish.
func TestFileFlushIntervalAndStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f, err := NewFile(set(DefaultFileConfig(), func(c *FileConfig) {
			c.Dir = dir
			c.MaxAge = time.Hour
			c.FlushInterval = 20 * time.Second
		}), nil)
		require.NoError(t, err)
		require.NoError(t, f.Publish(context.Background(), Record{Body: []byte(`{"a":1}`)}))
		time.Sleep(15 * time.Second)
		require.NoError(t, f.Publish(context.Background(), Record{Body: []byte(`{"a":2}`)}))
		time.Sleep(20*time.Second - time.Nanosecond) // 35s after the first line
		synctest.Wait()
		require.Empty(t, globN(t, dir, "*.jsonl"), "the second line must restart the idle wait")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		require.Len(t, globN(t, dir, "*.jsonl"), 1, "not rotated after flush_interval idle")
		require.NoError(t, f.Close(context.Background()))
	})
	dir := t.TempDir()
	// What a SIGKILL leaves: an open file with an acknowledged line and a torn one.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "results-crash.jsonl.tmp"), []byte("{\"a\":3}\n{\"a\""), 0o600))
	g, err := NewFile(set(DefaultFileConfig(), func(c *FileConfig) { c.Dir = dir; c.MaxAge = time.Hour }), nil)
	require.NoError(t, err)
	require.NoError(t, g.Start(context.Background()))
	require.Empty(t, globN(t, dir, "*.tmp"))
	got, err := os.ReadFile(filepath.Join(dir, "results-crash.jsonl"))
	require.NoError(t, err)
	require.Equal(t, "{\"a\":3}\n", string(got))
	require.NoError(t, g.Close(context.Background()))
}

func globN(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	require.NoError(t, err)
	return m
}

func TestRetryBackoffAndPermanent(t *testing.T) {
	cfg := RetryConfig{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
	b := cfg.Policy().New()
	require.Equal(t, time.Millisecond, b.Next(0))
	require.Equal(t, 2*time.Millisecond, b.Next(0))
	require.Equal(t, 4*time.Millisecond, b.Next(0))
	require.Equal(t, 4*time.Millisecond, b.Next(time.Minute), "a Retry-After hint is capped at max_backoff")
	var calls, retries int
	s := Retry(sinkFunc(func() error { calls++; return fmt.Errorf("down") }), cfg, 0, func(error) { retries++ })
	require.ErrorContains(t, s.Publish(context.Background(), Record{}), "after 3 attempts")
	require.Equal(t, 3, calls)
	require.Equal(t, 2, retries)
	calls = 0
	s = Retry(sinkFunc(func() error { calls++; return Permanent(fmt.Errorf("400")) }), cfg, 0, nil)
	require.ErrorIs(t, s.Publish(context.Background(), Record{}), ErrPermanent)
	require.Equal(t, 1, calls)
}

type sinkFunc func() error

func (f sinkFunc) Publish(context.Context, Record) error { return f() }
func (f sinkFunc) Close(context.Context) error           { return nil }

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no type", Config{}, "type: empty"},
		{"kafka brokers", Config{Type: "kafka"}, "kafka.brokers: empty"},
		{"kafka topic", Config{Type: "kafka", Kafka: set(DefaultKafkaConfig(), func(c *KafkaConfig) { c.Brokers = []string{"a:1"} })}, "kafka.topic: empty"},
		{"kafka version", Config{Type: "kafka", Kafka: set(DefaultKafkaConfig(), func(c *KafkaConfig) {
			c.Brokers = []string{"a:1"}
			c.Topic = "t"
			c.Version = "0.10.2.0"
		})}, "kafka.version"},
		{"webhook url", Config{Type: "webhook", Webhook: set(DefaultWebhookConfig(), func(c *WebhookConfig) { c.URL = "ftp://x" })}, "webhook.url"},
		{"file prefix", Config{Type: "file", File: set(DefaultFileConfig(), func(c *FileConfig) { c.Dir = "/tmp"; c.Prefix = "../x" })}, "file.prefix"},
		{"file flush_interval", Config{Type: "file", File: set(DefaultFileConfig(), func(c *FileConfig) { c.Dir = "/tmp"; c.FlushInterval = -1 })}, "file.flush_interval: must be positive"},
		{"kafka linger", Config{Type: "kafka", Kafka: set(DefaultKafkaConfig(), func(c *KafkaConfig) {
			c.Brokers = []string{"a:1"}
			c.Topic = "t"
			c.Linger = -1
		})}, "kafka.linger: negative"},
		{"kafka batch_size alone", Config{Type: "kafka", Kafka: set(DefaultKafkaConfig(), func(c *KafkaConfig) {
			c.Brokers = []string{"a:1"}
			c.Topic = "t"
			c.BatchSize = 100
		})}, "kafka.batch_size: needs linger"},
		{"kafka batching ok", Config{Type: "kafka", Kafka: set(DefaultKafkaConfig(), func(c *KafkaConfig) {
			c.Brokers = []string{"a:1"}
			c.Topic = "t"
			c.BatchSize = 100
			c.Linger = 5 * time.Millisecond
		})}, ""},
		{"ok", Config{Type: "file", File: set(DefaultFileConfig(), func(c *FileConfig) { c.Dir = "/tmp" })}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// A failed write must not strand the lines already acknowledged in a .tmp file that
// readers never look at (until a restart recovers it): the file is cut back to its
// complete lines and renamed into place at once, and the next Publish starts afresh.
func TestFileWriteErrorKeepsEarlierLinesVisible(t *testing.T) {
	dir := t.TempDir()
	f, err := NewFile(set(DefaultFileConfig(), func(c *FileConfig) { c.Dir = dir; c.MaxAge = time.Hour }), nil)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, f.Publish(ctx, Record{Body: []byte(`{"n":1}`)}))

	// Inject a write failure: swap the handle for a read-only one on the same file.
	f.mu.Lock()
	ro, err := os.Open(f.name + tmpSuffix)
	require.NoError(t, err)
	require.NoError(t, f.f.Close())
	f.f = ro
	f.mu.Unlock()
	require.Error(t, f.Publish(ctx, Record{Body: []byte(`{"n":2}`)}))

	done, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	require.Len(t, done, 1, "the acknowledged line must be visible without waiting for a restart")
	b, err := os.ReadFile(done[0])
	require.NoError(t, err)
	require.Equal(t, "{\"n\":1}\n", string(b))
	tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	require.Empty(t, tmp)

	require.NoError(t, f.Publish(ctx, Record{Body: []byte(`{"n":2}`)}))
	require.NoError(t, f.Close(ctx))
	done, _ = filepath.Glob(filepath.Join(dir, "*.jsonl"))
	require.Len(t, done, 2)
}
