package pipeline

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"mfn/internal/faultproxy"
	"mfn/publishers"
)

// TestWebhookThroughNetworkFaults runs a file → webhook pipeline through a fault proxy
// and injects, while results flow: latency spikes, a reset of every connection, a
// 1.5 s partition (Ready must name the retrying sink meanwhile) and slow-closing
// sockets. Afterwards every result has been delivered, duplicates (deliveries whose
// answer the fault swallowed) stay within a few windows, and Ready is nil again.
func TestWebhookThroughNetworkFaults(t *testing.T) {
	const n, window = 300, 8
	var mu sync.Mutex
	got := map[string]int{} // deliveries accepted per Idempotency-Key
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	px, err := faultproxy.New(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	defer px.Close()

	in := t.TempDir()
	var lines []string
	for i := range n {
		lines = append(lines, string(simJob(fmt.Sprintf("nf-%d", i), i)))
	}
	cfg := fileToWebhook("faults", in, "http://"+px.Addr(), "", t.TempDir())
	cfg.DeadLetter = publishers.Config{} // nothing may be dropped
	cfg.Sinks[0].Webhook.Timeout = 300 * time.Millisecond
	cfg.Concurrency = window
	cfg.Retry = publishers.RetryConfig{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Jitter: 0.5}
	reg := prometheus.NewRegistry()
	m, stop := startManagerReg(t, []Config{cfg}, newPool(t, 2), reg)
	defer stop()
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	px.SetLatency(20 * time.Millisecond) // a latency spike from the first result on
	writeFile(t, in, "jobs.jsonl", strings.Join(lines, "\n")+"\n")
	waitFor(t, 10*time.Second, func() bool { return delivered() >= n/6 })
	px.SetLatency(0)
	px.ResetAll() // connections reset mid-request
	waitFor(t, 10*time.Second, func() bool { return delivered() >= n/3 })

	px.Blackhole(true)
	waitFor(t, 5*time.Second, func() bool { return m.Ready() != nil && strings.Contains(m.Ready().Error(), "retrying") })
	err = m.Ready()
	require.ErrorContains(t, err, "sink webhook-0: retrying")
	t.Logf("during the partition: %v", err)
	// The partition lasts until the sink has failed several more attempts (timeouts of
	// 300ms each), so the window shrinks and the retries back off before it heals.
	retries, _ := metricValue(t, reg, "mfn_pipeline_sink_retries_total")
	waitFor(t, 10*time.Second, func() bool {
		v, _ := metricValue(t, reg, "mfn_pipeline_sink_retries_total")
		return v >= retries+4
	})
	px.Blackhole(false)
	px.ResetAll() // the half-open connections of the partition

	px.SetSlowClose(200 * time.Millisecond)
	waitFor(t, 20*time.Second, func() bool {
		v, _ := metricValue(t, reg, "mfn_pipeline_messages_succeeded_total")
		return v == n
	})
	require.Equal(t, n, delivered())
	require.NoError(t, m.Ready())
	mu.Lock()
	dups := 0
	for _, c := range got {
		dups += c - 1
	}
	mu.Unlock()
	t.Logf("%d results delivered, %d twice", n, dups)
	require.LessOrEqual(t, dups, 3*window, "duplicates are bounded by the in-flight window per fault")
}
