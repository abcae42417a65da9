package pipeline

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"mfn/internal/faultproxy"

	"mfn/internal/kafkatest"
)

// proxiedBroker is a one-broker kfake cluster behind a fault proxy. kfake advertises
// its listener's address in metadata, so the listener it gets (kfake.ListenFn)
// reports the proxy's address: every client, after bootstrap too, reaches the broker
// through the proxy. The test's own clients use direct(), which dials the broker
// itself, so the faults hit only mfn.
type proxiedBroker struct {
	px     *faultproxy.Proxy
	real   string // the broker's own listener
	direct func() *sarama.Config
}

type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

// bypass is a sarama dialer that sends connections for the proxy's address to the
// broker's own listener.
type bypass struct{ proxy, real string }

func (b bypass) Dial(network, addr string) (net.Conn, error) {
	if addr == b.proxy {
		addr = b.real
	}
	return net.Dial(network, addr)
}

func newProxiedBroker(t *testing.T, opts ...kfake.Opt) *proxiedBroker {
	t.Helper()
	pb := &proxiedBroker{}
	listen := func(network, address string) (net.Listener, error) {
		ln, err := net.Listen(network, address)
		if err != nil {
			return nil, err
		}
		px, err := faultproxy.New(ln.Addr().String())
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		addr, err := net.ResolveTCPAddr("tcp", px.Addr())
		if err != nil {
			_ = ln.Close()
			_ = px.Close()
			return nil, err
		}
		pb.px, pb.real = px, ln.Addr().String()
		return advertisedListener{Listener: ln, addr: addr}, nil
	}
	newCluster(t, append(opts, kfake.ListenFn(listen))...)
	t.Cleanup(func() { _ = pb.px.Close() })
	pb.direct = func() *sarama.Config {
		sc := sarama.NewConfig()
		sc.Version = sarama.V2_1_0_0
		sc.Net.Proxy.Enable = true
		sc.Net.Proxy.Dialer = bypass{proxy: pb.px.Addr(), real: pb.real}
		return sc
	}
	return pb
}

// watch counts the complete results of topic per request id, read without faults.
func (pb *proxiedBroker) watch(t *testing.T, topic string) *kafkatest.Counts {
	t.Helper()
	sc := pb.direct()
	sc.Consumer.MaxWaitTime = 10 * time.Millisecond
	return kafkatest.CountComplete(t, []string{pb.real}, sc, topic)
}

// committed sums the group's committed offsets over partitions 0..parts-1 (-1 when
// the broker could not say).
func (pb *proxiedBroker) committed(t *testing.T, group, topic string, parts int32) int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin([]string{pb.real}, pb.direct())
	require.NoError(t, err)
	defer admin.Close()
	var ps []int32
	for p := range parts {
		ps = append(ps, p)
	}
	offs, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if err != nil {
		return -1
	}
	var sum int64
	for _, b := range offs.Blocks[topic] {
		sum += max(b.Offset, 0)
	}
	return sum
}

// TestKafkaThroughNetworkFaults runs Kafka → mfn → Kafka with every connection of mfn
// to the broker (consumer group, offset commits, producer) through a fault proxy and
// injects, while results flow: a latency spike, a reset of every connection
// mid-produce, a 3 s partition (Ready must name the retrying sink meanwhile) and
// slow-closing sockets. Afterwards every job has its result, every input offset is
// committed, duplicates stay within a window per fault, and Ready is nil again.
func TestKafkaThroughNetworkFaults(t *testing.T) {
	const n, window, parts = 400, 16, 4
	pb := newProxiedBroker(t, kfake.SeedTopics(parts, "in", "out"))
	sc := pb.direct()
	sc.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer([]string{pb.real}, sc)
	require.NoError(t, err)
	var msgs []*sarama.ProducerMessage
	for i := range n {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: "in", Value: sarama.ByteEncoder(simJob(fmt.Sprintf("kf-%d", i), i))})
	}
	require.NoError(t, prod.SendMessages(msgs))
	require.NoError(t, prod.Close())
	out := pb.watch(t, "out")

	cfg := kafkaPipeline("kfaults", []string{pb.px.Addr()}, "in", "out", "", "kf")
	cfg.Concurrency = window
	cfg.Sinks[0].Kafka.Timeout = time.Second // a publish stuck in the partition fails and is retried
	reg := prometheus.NewRegistry()
	pb.px.SetLatency(10 * time.Millisecond) // a latency spike from the first request on
	begin := time.Now()
	m, stop := startManagerReg(t, []Config{cfg}, newPool(t, 2), reg)
	defer stop()

	waitFor(t, 20*time.Second, func() bool { return out.Distinct() >= n/8 })
	pb.px.ResetAll() // every connection reset while produces and fetches are on the wire
	waitFor(t, 20*time.Second, func() bool { return out.Distinct() >= n/4 })

	t.Logf("%d results before the partition, %s after the start", out.Distinct(), time.Since(begin).Round(time.Millisecond))
	pb.px.Blackhole(true)
	start := time.Now()
	waitFor(t, 10*time.Second, func() bool { err := m.Ready(); return err != nil && strings.Contains(err.Error(), "retrying") })
	err = m.Ready()
	require.ErrorContains(t, err, "sink kafka-0: retrying")
	t.Logf("during the partition: %v", err)
	time.Sleep(3*time.Second - time.Since(start)) // the partition lasts 3 s: there is no event to wait for
	pb.px.Blackhole(false)
	pb.px.SetLatency(0)
	pb.px.SetSlowClose(200 * time.Millisecond)
	pb.px.ResetAll() // the connections whose bytes the partition swallowed (TCP would time them out)

	healed := time.Now()
	waitFor(t, 30*time.Second, func() bool { return out.Distinct() == n })
	waitFor(t, 20*time.Second, func() bool { return pb.committed(t, "kf", "in", parts) == n })
	waitFor(t, 10*time.Second, func() bool { return m.Ready() == nil })
	t.Logf("recovered %s after the partition", time.Since(healed).Round(time.Millisecond))
	retries, _ := metricValue(t, reg, "mfn_pipeline_sink_retries_total")
	t.Logf("%d results, %d published twice, %.0f sink retries", n, out.Duplicates(), retries)
	require.Positive(t, retries, "the faults were not felt")
	require.LessOrEqual(t, out.Duplicates(), 3*window, "duplicates are bounded by the in-flight window per fault")
}
