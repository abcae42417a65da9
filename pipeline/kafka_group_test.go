package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"mfn/jobs"
)

func TestKafkaRebalanceBetweenTwoPipelines(t *testing.T) {
	cl := newCluster(t, kfake.SeedTopics(4, "in", "out"))
	brokers := cl.ListenAddrs()
	pool := newPool(t, 2)
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	_, stopA := startManagerReg(t, []Config{kafkaPipeline("shared", brokers, "in", "out", "", "g-shared")}, pool, regA)

	batch := func(from, to int) [][]byte {
		var m [][]byte
		for i := from; i < to; i++ {
			m = append(m, simJob("b"+strconv.Itoa(i), i))
		}
		return m
	}
	produce(t, brokers, "in", batch(0, 12)...)
	readTopic(t, brokers, "out", 60*time.Second, atLeast(2))
	_, stopB := startManagerReg(t, []Config{kafkaPipeline("shared", brokers, "in", "out", "", "g-shared")}, pool, regB)
	waitGroupStable(t, brokers, "g-shared", 2) // B joined and the partitions are shared out
	produce(t, brokers, "in", batch(12, 40)...)

	out := distinct(readTopic(t, brokers, "out", 90*time.Second, atLeast(40)))
	for i := range 40 {
		require.Contains(t, out, "b"+strconv.Itoa(i))
	}
	a := testutil.ToFloat64(mustCounter(t, regA, "mfn_pipeline_messages_consumed_total"))
	b := testutil.ToFloat64(mustCounter(t, regB, "mfn_pipeline_messages_consumed_total"))
	t.Logf("consumed: A=%v B=%v", a, b)
	require.Positive(t, a)
	require.Positive(t, b, "the second member never got a partition")
	stopB()
	stopA()
}

// mustCounter finds the single series of a metric family in reg.
func mustCounter(t testing.TB, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == name {
				var sum float64
				for _, m := range mf.GetMetric() {
					sum += m.GetCounter().GetValue()
				}
				ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "x", nil, nil), prometheus.CounterValue, sum)
				return
			}
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "x", nil, nil), prometheus.CounterValue, 0)
	})
}

type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// gateRunner runs jobs on a pool but holds those whose seed is in hold until ctx ends.
type gateRunner struct {
	pool *jobs.Pool
	hold map[int64]bool
	seen chan int64
}

func (g *gateRunner) DoWait(ctx context.Context, req jobs.Request) (jobs.Result, error) {
	if s, ok := req.(jobs.SimulateRequest); ok {
		select {
		case g.seen <- s.Seed:
		default:
		}
		if g.hold[s.Seed] {
			<-ctx.Done()
			return nil, ctx.Err()
		}
	}
	return g.pool.DoWait(ctx, req)
}

// TestKafkaShutdownCommitsOnlyPublished stops a pipeline while job 2 is stuck: jobs 0
// and 1 are committed, job 2 (and anything after it on the partition) is not, and a
// restarted pipeline delivers job 2 again.
func TestKafkaShutdownCommitsOnlyPublished(t *testing.T) {
	cl := newCluster(t, kfake.SeedTopics(1, "in", "out"))
	brokers := cl.ListenAddrs()
	pool := newPool(t, 2)
	cfg := kafkaPipeline("stop", brokers, "in", "out", "", "g-stop")
	cfg.Concurrency = 3
	cfg.GracePeriod = 500 * time.Millisecond
	gate := &gateRunner{pool: pool, hold: map[int64]bool{2: true}, seen: make(chan int64, 16)}
	_, stop := startManager(t, []Config{cfg}, gate)

	var msgs [][]byte
	for i := range 6 {
		msgs = append(msgs, simJob("s"+strconv.Itoa(i), i))
	}
	produce(t, brokers, "in", msgs...)
	readTopic(t, brokers, "out", 60*time.Second, func(rs []outRecord) bool {
		d := distinct(rs)
		_, ok0 := d["s0"]
		_, ok1 := d["s1"]
		return ok0 && ok1
	})
	stop()

	require.Equal(t, int64(2), committed(t, brokers, "g-stop", "in", 0), "only the offsets before the stuck job may be committed")
	before := readTopic(t, brokers, "out", 10*time.Second, atLeast(2))
	require.NotContains(t, distinct(before), "s2")

	cfg.GracePeriod = 10 * time.Second
	_, stop2 := startManager(t, []Config{cfg}, pool)
	out := distinct(readTopic(t, brokers, "out", 60*time.Second, atLeast(6)))
	for i := range 6 {
		require.Contains(t, out, "s"+strconv.Itoa(i))
	}
	stop2()
	require.Equal(t, int64(6), committed(t, brokers, "g-stop", "in", 0))
}

func committed(t testing.TB, brokers []string, group, topic string, part int32) int64 {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	adm, err := sarama.NewClusterAdmin(brokers, sc)
	require.NoError(t, err)
	defer adm.Close()
	resp, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {part}})
	require.NoError(t, err)
	b := resp.GetBlock(topic, part)
	require.NotNil(t, b, fmt.Sprintf("no offset block for %s/%d", topic, part))
	return b.Offset
}

// waitGroupStable waits until group has members members and has finished rebalancing.
func waitGroupStable(t *testing.T, brokers []string, group string, members int) {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	adm, err := sarama.NewClusterAdmin(brokers, sc)
	require.NoError(t, err)
	defer adm.Close()
	waitFor(t, 30*time.Second, func() bool {
		gs, err := adm.DescribeConsumerGroups([]string{group})
		return err == nil && len(gs) == 1 && gs[0].State == "Stable" && len(gs[0].Members) == members
	})
}
