package main

import (
	"fmt"
	"io"
	"log"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"mfn/internal/kafkatest"
)

func init() { sarama.Logger = log.New(io.Discard, "", 0) }

// kafkaCrash runs a Kafka → mfn → Kafka pipeline in the real binary against an
// in-process kfake broker, SIGKILLs it when killAt says so, restarts it and checks that
// every job's result reached the results topic.
// window is the pipeline's concurrency. It returns how many results were published
// before the kill and how many were published twice.
func kafkaCrash(t *testing.T, n, window int, killAt func(results map[string]int, committed int64) bool) (before, dups int) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "in", "out"), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	brokers := cl.ListenAddrs()

	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	prod, err := sarama.NewSyncProducer(brokers, sc)
	require.NoError(t, err)
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: "in", Value: sarama.StringEncoder(jobLine(fmt.Sprintf("k-%d", i), i))}
	}
	require.NoError(t, prod.SendMessages(msgs))
	require.NoError(t, prod.Close())

	wsc := sarama.NewConfig()
	wsc.Version = sarama.V2_1_0_0
	wsc.Consumer.MaxWaitTime = 10 * time.Millisecond
	results := kafkatest.CountComplete(t, brokers, wsc, "out")
	admin, err := sarama.NewClusterAdmin(brokers, sc)
	require.NoError(t, err)
	defer admin.Close()
	committed := func() int64 {
		offs, err := admin.ListConsumerGroupOffsets("crash", map[string][]int32{"in": {0, 1, 2, 3}})
		if err != nil {
			return -1
		}
		var sum int64
		for _, b := range offs.Blocks["in"] {
			if b.Offset > 0 {
				sum += b.Offset
			}
		}
		return sum
	}

	cfg := writeConfig(t, fmt.Sprintf(`  - name: kafka
    source:
      type: kafka
      kafka: {brokers: [%q], topics: [in], group: crash, session_timeout: 1500ms, heartbeat: 300ms,
              rebalance_timeout: 5s, drain_timeout: 3s, retry_backoff: 100ms}
    sinks:
      - type: kafka
        kafka: {brokers: [%q], topic: out, timeout: 5s}
    concurrency: %d
    grace_period: 5s
    reconnect_backoff: 100ms
    reconnect_max_backoff: 1s
`, brokers[0], brokers[0], window))

	p := startMFN(t, cfg)
	eventually(t, 30*time.Second, "the kill point", func() bool { return killAt(results.Snapshot(), committed()) })
	p.kill(t)
	before = len(results.Snapshot())
	committedBefore := committed()

	p = startMFN(t, cfg)
	eventually(t, 30*time.Second, "every result", func() bool { return len(results.Snapshot()) == n })
	eventually(t, 10*time.Second, "every offset committed", func() bool { return committed() == int64(n) })
	p.stop(t)
	for _, c := range results.Snapshot() {
		dups += c - 1
	}
	t.Logf("%d results and %d offsets committed before the kill, %d results after the restart, %d delivered twice (window %d)",
		before, committedBefore, n, dups, window)
	return before, dups
}

// TestKafkaSIGKILLMidRun kills mfn with a third of the results published, at full
// speed. The source holds at most the window of messages read and not committed (in
// flight, acked behind a slower one, or waiting for the commit's answer), so at most
// that many results can be published again after the restart, whatever the rate.
func TestKafkaSIGKILLMidRun(t *testing.T) {
	const n, window = 3000, 64
	before, dups := kafkaCrash(t, n, window, func(res map[string]int, _ int64) bool { return len(res) >= n/3 })
	require.Less(t, before, n, "the kill came after the last result: raise n")
	require.LessOrEqual(t, dups, window, "a crash replays at most the in-flight window")
}

// TestKafkaSIGKILLAfterLastAck kills mfn as soon as every input offset is committed.
func TestKafkaSIGKILLAfterLastAck(t *testing.T) {
	const n = 100
	_, dups := kafkaCrash(t, n, 0, func(_ map[string]int, committed int64) bool { return committed == n })
	require.Zero(t, dups, "everything was committed: nothing may be replayed")
}
