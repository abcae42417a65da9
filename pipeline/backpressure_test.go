package pipeline

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"mfn/publishers"
)

// TestDeadSinkBoundsWindowAndRecovers: with a webhook that answers 503 to everything,
// the pipeline reads no more than its window, shrinks the window to a single probe,
// and /ready (Manager.Ready) says which sink is being retried and why; once the sink
// heals, every result is delivered and Ready is nil again.
func TestDeadSinkBoundsWindowAndRecovers(t *testing.T) {
	const n, window = 200, 8
	var healthy atomic.Bool
	var delivered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	in := t.TempDir()
	var lines []string
	for i := range n {
		lines = append(lines, string(simJob(fmt.Sprintf("bp-%d", i), i)))
	}
	writeFile(t, in, "jobs.jsonl", strings.Join(lines, "\n")+"\n")
	cfg := fileToWebhook("bp", in, srv.URL, "", t.TempDir())
	cfg.DeadLetter = publishers.Config{} // nothing may be dropped: retry until the sink heals
	cfg.Concurrency = window
	cfg.Retry = publishers.RetryConfig{MaxAttempts: 3, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Jitter: 0.5}
	reg := prometheus.NewRegistry()
	m, stop := startManagerReg(t, []Config{cfg}, newPool(t, 2), reg)
	defer stop()
	metric := func(name string) float64 { v, _ := metricValue(t, reg, name); return v }

	waitFor(t, 10*time.Second, func() bool { return metric("mfn_pipeline_sink_retries_total") >= 50 })
	require.LessOrEqual(t, metric("mfn_pipeline_messages_consumed_total"), float64(window), "a dead sink must stop the reads at the window")
	err := m.Ready()
	require.ErrorContains(t, err, "retrying")
	require.ErrorContains(t, err, "status 503")
	require.ErrorContains(t, err, fmt.Sprintf("window 1 of %d", window))

	healthy.Store(true)
	waitFor(t, 20*time.Second, func() bool { return metric("mfn_pipeline_messages_succeeded_total") == n })
	require.NoError(t, m.Ready())
	require.GreaterOrEqual(t, delivered.Load(), int64(n))
}
