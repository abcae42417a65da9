package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"mfn/jobs"
)

// gatedRunner reports every job it is given on started, then holds it until a token
// arrives on gate, so a test decides how far the pipeline has consumed.
type gatedRunner struct {
	run     Runner
	started chan struct{}
	gate    chan struct{}
}

func (g *gatedRunner) DoWait(ctx context.Context, req jobs.Request) (jobs.Result, error) {
	select {
	case g.started <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.run.DoWait(ctx, req)
}

// TestKafkaConsumerLagGauge produces n jobs to one partition before the pipeline
// starts, lets them through a few at a time and checks that mfn_pipeline_consumer_lag
// tracks the messages still waiting upstream: the source takes message i (lag n-1-i)
// and, with concurrency 1, at most one more while job i runs.
func TestKafkaConsumerLagGauge(t *testing.T) {
	const n = 12
	cl := newCluster(t, kfake.SeedTopics(1, "in", "out"))
	brokers := cl.ListenAddrs()
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = simJob(fmt.Sprintf("lag-%d", i), i)
	}
	produce(t, brokers, "in", msgs...)

	g := &gatedRunner{run: newPool(t, 1), started: make(chan struct{}), gate: make(chan struct{})}
	cfg := kafkaPipeline("lag", brokers, "in", "out", "", "g-lag")
	cfg.Concurrency = 1
	reg := prometheus.NewRegistry()
	_, stop := startManagerReg(t, []Config{cfg}, g, reg)
	defer stop()

	lag := func() float64 {
		v, ok := metricValue(t, reg, "mfn_pipeline_consumer_lag")
		require.True(t, ok, "no consumer lag reported while a partition is claimed")
		return v
	}
	// waitStarted waits for job i to reach the runner: by then the source has taken
	// message i and may be holding message i+1.
	waitStarted := func(i int) {
		select {
		case <-g.started:
		case <-time.After(30 * time.Second):
			t.Fatalf("job %d never started", i)
		}
	}

	waitStarted(0)
	first := lag()
	require.GreaterOrEqual(t, first, float64(n-2))
	require.LessOrEqual(t, first, float64(n-1))

	const k = 5
	for i := range k {
		g.gate <- struct{}{}
		waitStarted(i + 1)
	}
	mid := lag()
	require.Less(t, mid, first, "lag must fall as messages are consumed")
	require.GreaterOrEqual(t, mid, float64(n-1-k-1))
	require.LessOrEqual(t, mid, float64(n-1-k))

	for i := k; i < n-1; i++ {
		g.gate <- struct{}{}
		waitStarted(i + 1)
	}
	// The last message is taken: nothing waits upstream.
	require.Equal(t, 0.0, lag())
	g.gate <- struct{}{}
	out := distinct(readTopic(t, brokers, "out", 30*time.Second, atLeast(n)))
	require.Len(t, out, n)
	require.Equal(t, 0.0, lag())
}
