package pipeline

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"mfn/connectors"
	"mfn/jobs"
	"mfn/publishers"
)

// TestDeadLetterPermanentRefusalDoesNotStallPartition: the sink refuses one result for
// good (400) and the dead-letter webhook refuses it too (400). Retrying cannot help, so
// the input is settled as failed (and the record logged) like a permanent refusal
// without a dead-letter sink; left unacknowledged it would hold the partition's commit
// at its offset forever while the tracker of later offsets grows without bound.
func TestDeadLetterPermanentRefusalDoesNotStallPartition(t *testing.T) {
	cl := newCluster(t, kfake.SeedTopics(1, "in"))
	brokers := cl.ListenAddrs()
	var mu sync.Mutex
	delivered := map[string]bool{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if id == "bad" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		delivered[id] = true
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	dlq := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
	}))
	defer dlq.Close()

	cfg := kafkaPipeline("dlq-refused", brokers, "in", "", "", "g-dlq-refused")
	cfg.Sinks = []publishers.Config{{Type: "webhook", Webhook: set(publishers.DefaultWebhookConfig(), func(c *publishers.WebhookConfig) { c.URL = sink.URL; c.Timeout = 2 * time.Second })}}
	cfg.DeadLetter = publishers.Config{Type: "webhook", Webhook: set(publishers.DefaultWebhookConfig(), func(c *publishers.WebhookConfig) { c.URL = dlq.URL; c.Timeout = 2 * time.Second })}
	cfg.Concurrency = 2
	_, stop := startManager(t, []Config{cfg}, newPool(t, 2))

	produce(t, brokers, "in", simJob("bad", 1), simJob("g1", 2), simJob("g2", 3))
	waitFor(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return delivered["g1"] && delivered["g2"]
	})
	stop()
	require.Equal(t, int64(3), committed(t, brokers, "g-dlq-refused", "in", 0), "the refused input must not hold back the partition's commit")
}

// A job refused because the pool is closed never ran: the input must not be acked with
// an INTERNAL error result (it would be lost), but left for redelivery.
func TestClosedPoolDoesNotAckInput(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	pool, err := jobs.NewPool(jobs.PoolConfig{Workers: 1, QueueSize: 1}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, pool.Run(ctx)) // the pool is closed: DoWait returns jobs.ErrClosed
	_, err = pool.DoWait(context.Background(), jobs.DefaultSimulateRequest())
	require.ErrorIs(t, err, jobs.ErrClosed)

	cfg := set(DefaultConfig(), func(c *Config) {
		c.Name = "closed"
		c.Source = connectors.Config{Type: "file", File: set(connectors.DefaultFileConfig(), func(c *connectors.FileConfig) { c.Dir = in; c.PollInterval = 20 * time.Millisecond })}
		c.Sinks = []publishers.Config{{Type: "file", File: set(publishers.DefaultFileConfig(), func(c *publishers.FileConfig) { c.Dir = out })}}
		c.GracePeriod = time.Second
	})
	writeFile(t, in, "job.json", string(simJob("never-ran", 1)))
	refused := &refusalRunner{Runner: pool, refused: make(chan struct{}, 1)}
	_, stop := startManager(t, []Config{cfg}, refused)
	select {
	case <-refused.refused:
	case <-time.After(10 * time.Second):
		t.Fatal("the job never reached the closed pool")
	}
	// stop returns once every in-flight message is settled or abandoned, so a wrong ack
	// would have moved the file by now.
	stop()
	_, err = os.Stat(filepath.Join(in, connectors.ProcessingDir, "job.json"))
	require.NoError(t, err, "the input must stay in processing/ for redelivery")
	require.Empty(t, readLines(t, out), "no result for a job that never ran")
}

// refusalRunner signals when its Runner refused a job with jobs.ErrClosed.
type refusalRunner struct {
	Runner
	refused chan struct{}
}

func (r *refusalRunner) DoWait(ctx context.Context, req jobs.Request) (jobs.Result, error) {
	res, err := r.Runner.DoWait(ctx, req)
	if errors.Is(err, jobs.ErrClosed) {
		select {
		case r.refused <- struct{}{}:
		default:
		}
	}
	return res, err
}
