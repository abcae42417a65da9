package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"mfn/connectors"
	"mfn/jobs"
	"mfn/publishers"
)

func init() { sarama.Logger = log.New(io.Discard, "", 0) }

// newPool starts a real jobs.Pool for the test.
func newPool(t testing.TB, workers int) *jobs.Pool {
	t.Helper()
	p, err := jobs.NewPool(jobs.PoolConfig{Workers: workers, QueueSize: 4}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	base := []kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
	cl, err := kfake.NewCluster(append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// kafkaPipeline is a Kafka→Kafka config with test-sized timeouts.
func kafkaPipeline(name string, brokers []string, in, out, dlq, group string) Config {
	c := set(DefaultConfig(), func(c *Config) {
		c.Name = name
		c.Source = connectors.Config{Type: "kafka", Kafka: set(connectors.DefaultKafkaConfig(), func(c *connectors.KafkaConfig) {
			c.Brokers = brokers
			c.Topics = []string{in}
			c.Group = group
			c.SessionTimeout = 1500 * time.Millisecond
			c.Heartbeat = 300 * time.Millisecond
			c.RebalanceTimeout = 5 * time.Second
			c.DrainTimeout = 3 * time.Second
			c.RetryBackoff = 100 * time.Millisecond
		})}
		c.Sinks = []publishers.Config{{Type: "kafka", Kafka: set(publishers.DefaultKafkaConfig(), func(c *publishers.KafkaConfig) {
			c.Brokers = brokers
			c.Topic = out
			c.Timeout = 5 * time.Second
		})}}
		c.Retry = publishers.RetryConfig{MaxAttempts: 100, InitialBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Jitter: 0.5}
		c.GracePeriod = 10 * time.Second
		c.ReconnectBackoff = 100 * time.Millisecond
		c.ReconnectMaxBackoff = time.Second
	})
	if dlq != "" {
		c.DeadLetter = publishers.Config{Type: "kafka", Kafka: set(publishers.DefaultKafkaConfig(), func(c *publishers.KafkaConfig) {
			c.Brokers = brokers
			c.Topic = dlq
			c.Timeout = 5 * time.Second
		})}
	}
	return c
}

// startManager runs m until the returned stop is called; stop waits for Run to return.
func startManager(t testing.TB, cfgs []Config, run Runner) (*Manager, func()) {
	t.Helper()
	return startManagerReg(t, cfgs, run, nil)
}

func startManagerReg(t testing.TB, cfgs []Config, run Runner, reg prometheus.Registerer) (*Manager, func()) {
	t.Helper()
	m, err := New(cfgs, run, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Named("mfn"), reg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Error("pipeline did not stop within 30s")
			}
		})
	}
	t.Cleanup(stop)
	return m, stop
}

func produce(t testing.TB, brokers []string, topic string, values ...[]byte) {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer(brokers, sc)
	require.NoError(t, err)
	defer p.Close()
	for _, v := range values {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(v)})
		require.NoError(t, err)
	}
}

type outRecord struct {
	Key     string
	Headers map[string]string
	Result  map[string]any
	Raw     []byte
}

// readTopic reads every partition of topic from the start until cond holds or timeout.
func readTopic(t testing.TB, brokers []string, topic string, timeout time.Duration, cond func([]outRecord) bool) []outRecord {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	c, err := sarama.NewConsumer(brokers, sc)
	require.NoError(t, err)
	defer c.Close()
	parts, err := c.Partitions(topic)
	require.NoError(t, err)
	ch := make(chan *sarama.ConsumerMessage, 1024)
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		require.NoError(t, err)
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				ch <- m
			}
		}()
	}
	var out []outRecord
	deadline := time.After(timeout)
	for !cond(out) {
		select {
		case m := <-ch:
			r := outRecord{Key: string(m.Key), Headers: map[string]string{}, Raw: m.Value}
			for _, h := range m.Headers {
				r.Headers[string(h.Key)] = string(h.Value)
			}
			require.NoError(t, json.Unmarshal(m.Value, &r.Result), string(m.Value))
			out = append(out, r)
		case <-deadline:
			t.Fatalf("timeout reading %s: have %d records", topic, len(out))
		}
	}
	return out
}

// distinct counts records by request_id.
func distinct(recs []outRecord) map[string]outRecord {
	m := map[string]outRecord{}
	for _, r := range recs {
		m[r.Result["request_id"].(string)] = r
	}
	return m
}

func atLeast(n int) func([]outRecord) bool {
	return func(rs []outRecord) bool { return len(distinct(rs)) >= n }
}

func simJob(id string, seed int) []byte {
	return []byte(fmt.Sprintf(`{"request_id":%q,"correlation_id":"corr-%s","type":"simulate","params":{"seed":%d,"grid_size":16,"steps":5}}`, id, id, seed))
}

// expectedSim is the direct jobs run the pipeline result must equal.
func expectedSim(t testing.TB, seed int) map[string]any {
	t.Helper()
	req := jobs.DefaultSimulateRequest()
	req.Seed, req.GridSize, req.Steps = int64(seed), 16, 5
	res, err := jobs.Execute(context.Background(), req)
	require.NoError(t, err)
	b, err := json.Marshal(res)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// metricValue sums the counter or gauge samples named name in reg; ok is false when
// reg has no such metric (e.g. a gauge that is not reported yet).
func metricValue(t testing.TB, reg *prometheus.Registry, name string) (v float64, ok bool) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				v += c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				v += g.GetValue()
			}
		}
		return v, len(mf.GetMetric()) > 0
	}
	return 0, false
}

// set returns c changed by f: test configs start from a Default*Config, as decoding
// does, and name only what they change.
func set[T any](c T, f func(*T)) T {
	f(&c)
	return c
}
