package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"mfn/connectors"
	"mfn/jobs"
	"mfn/pipeline"
	"mfn/publishers"
	"mfn/server"

	"mfn/internal/kafkatest"
)

func init() { sarama.Logger = log.New(io.Discard, "", 0) }

// produceDelay is a real cluster's produce round trip with acks=all (PITFALLS §9.4).
const produceDelay = 3 * time.Millisecond

// smallJob is the benchmark's job: the same simulation over REST and through Kafka.
const smallJob = `"grid_size":32,"steps":32`

// restConns keeps this many REST requests in flight (the server package's load
// benchmarks use the same: enough to saturate 2 cores without refusals).
const restConns = 8

// BenchmarkKafkaVsREST runs b.N small simulations (grid 32, 32 steps) through REST
// (restConns concurrent clients of a real server on 127.0.0.1) and then through a
// Kafka → mfn → Kafka pipeline with the default pipeline configuration, against a
// kfake broker that holds every produce request to the results topic for 3 ms. Both
// share one jobs.Pool with the default size (GOMAXPROCS workers). It reports each
// side's jobs/s, their ratio (kafka/rest; the goal is ≥ 0.5), p50/p99 latency (REST:
// the request's round trip; Kafka: the result's started_at, when mfn took the message,
// to its arrival at a consumer of the results topic) and the peak Go heap in use.
func BenchmarkKafkaVsREST(b *testing.B) {
	n := max(b.N, 200)
	pool, err := jobs.NewPool(jobs.PoolConfig{}, nil)
	require.NoError(b, err)
	pctx, pcancel := context.WithCancel(context.Background())
	pdone := make(chan struct{})
	go func() { defer close(pdone); _ = pool.Run(pctx) }()
	defer func() { pcancel(); <-pdone }()

	peak := watchHeap(b)

	restRate, restLat := benchREST(b, pool, n)
	kafkaRate, kafkaLat := benchKafka(b, pool, n)

	b.ReportMetric(restRate, "rest_jobs/s")
	b.ReportMetric(kafkaRate, "kafka_jobs/s")
	b.ReportMetric(kafkaRate/restRate, "kafka/rest")
	b.ReportMetric(pct(restLat, 50), "rest_p50_ms")
	b.ReportMetric(pct(restLat, 99), "rest_p99_ms")
	b.ReportMetric(pct(kafkaLat, 50), "kafka_p50_ms")
	b.ReportMetric(pct(kafkaLat, 99), "kafka_p99_ms")
	b.ReportMetric(float64(peak())/(1<<20), "peak_heap_MB")
}

func pct(lat []time.Duration, p int) float64 {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return float64(lat[min(len(lat)-1, len(lat)*p/100)].Microseconds()) / 1000
}

// watchHeap samples the heap in use every 10 ms until the benchmark ends and returns
// a function reading the peak.
func watchHeap(b *testing.B) func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	b.Cleanup(func() { close(stop); <-done })
	return peak.Load
}

func benchREST(b *testing.B, pool *jobs.Pool, n int) (rate float64, lat []time.Duration) {
	srv, err := server.New(server.Params{HTTP: server.DefaultConfig(), GRPC: server.DefaultGRPCConfig(),
		WS: server.DefaultWSConfig(), Runner: pool, Log: zap.NewNop(), Registry: prometheus.NewRegistry()})
	require.NoError(b, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, nil) }()
	defer func() { cancel(); <-served }()
	url := "http://" + ln.Addr().String() + "/simulate"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: restConns}}
	post := func(i int) error {
		res, err := client.Post(url, "application/json", bytes.NewBufferString(fmt.Sprintf(`{"seed":%d,%s}`, i, smallJob)))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}
	require.NoError(b, post(n)) // warm the connection and the route
	var next atomic.Int64
	lats := make([][]time.Duration, restConns)
	errs := make([]error, restConns)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range restConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := post(i); err != nil {
					errs[c] = err
					return
				}
				lats[c] = append(lats[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		require.NoError(b, err)
	}
	return float64(n) / elapsed.Seconds(), slices.Concat(lats...)
}

func benchKafka(b *testing.B, pool *jobs.Pool, n int) (rate float64, lat []time.Duration) {
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "in", "out"))
	require.NoError(b, err)
	defer cl.Close()
	var produces, produced atomic.Int64
	cl.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		for _, t := range req.(*kmsg.ProduceRequest).Topics {
			if t.Topic == "out" {
				produces.Add(1)
				for _, p := range t.Partitions {
					var batch kmsg.RecordBatch
					if batch.ReadFrom(p.Records) == nil {
						produced.Add(int64(batch.NumRecords))
					}
				}
				cl.SleepControl(func() { time.Sleep(produceDelay) })
				break
			}
		}
		return nil, nil, false
	})
	brokers := cl.ListenAddrs()

	// The default pipeline configuration: only the addresses, topics and group are set.
	cfg := set(pipeline.DefaultConfig(), func(c *pipeline.Config) {
		c.Name = "bench"
		c.Source = connectors.Config{Type: "kafka", Kafka: set(connectors.DefaultKafkaConfig(), func(c *connectors.KafkaConfig) {
			c.Brokers = brokers
			c.Topics = []string{"in"}
			c.Group = "bench"
		})}
		c.Sinks = []publishers.Config{{Type: "kafka", Kafka: set(publishers.DefaultKafkaConfig(), func(c *publishers.KafkaConfig) { c.Brokers = brokers; c.Topic = "out" })}}
	})

	m, err := pipeline.New([]pipeline.Config{cfg}, pool, zap.NewNop(), nil)
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx) }()
	defer func() { cancel(); require.NoError(b, <-ran) }()

	arrivals := consumeResults(b, brokers, "out")
	feed := producer(b, brokers)
	defer feed.Close()
	send := func(id string, seed int) {
		_, _, err := feed.SendMessage(&sarama.ProducerMessage{Topic: "in",
			Value: sarama.StringEncoder(fmt.Sprintf(`{"request_id":%q,"type":"simulate","params":{"seed":%d,%s}}`, id, seed, smallJob))})
		require.NoError(b, err)
	}
	// Group join, first fetch and producer connection cost about a second once.
	send("warm-up", n)
	waitResults(b, arrivals, 1)

	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: "in",
			Value: sarama.StringEncoder(fmt.Sprintf(`{"request_id":"job-%d","type":"simulate","params":{"seed":%d,%s}}`, i, i, smallJob))}
	}
	produces.Store(0)
	produced.Store(0)
	start := time.Now()
	require.NoError(b, feed.SendMessages(msgs))
	got := waitResults(b, arrivals, n+1)
	elapsed := time.Since(start)
	b.ReportMetric(float64(produced.Load())/float64(max(produces.Load(), 1)), "records/produce")
	for _, r := range got {
		if r.id == "warm-up" {
			continue
		}
		lat = append(lat, r.at.Sub(r.started))
	}
	return float64(n) / elapsed.Seconds(), lat
}

type arrival struct {
	id          string
	started, at time.Time
}

type results struct {
	mu   sync.Mutex
	seen map[string]arrival
	more chan struct{}
}

// consumeResults reads every partition of topic from the start with a 1 ms fetch
// wait, recording when each request id's result first arrives.
func consumeResults(b *testing.B, brokers []string, topic string) *results {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Consumer.MaxWaitTime = time.Millisecond
	r := &results{seen: map[string]arrival{}, more: make(chan struct{}, 1)}
	kafkatest.ConsumeAll(b, brokers, sc, topic, func(m *sarama.ConsumerMessage) {
		at := time.Now()
		var env struct {
			RequestID string `json:"request_id"`
			Status    string `json:"status"`
			StartedAt string `json:"started_at"`
		}
		if json.Unmarshal(m.Value, &env) != nil || env.Status != "complete" {
			b.Errorf("bad result %s", m.Value)
			return
		}
		started, _ := time.Parse(time.RFC3339Nano, env.StartedAt)
		r.mu.Lock()
		if _, dup := r.seen[env.RequestID]; !dup {
			r.seen[env.RequestID] = arrival{id: env.RequestID, started: started, at: at}
		}
		r.mu.Unlock()
		select {
		case r.more <- struct{}{}:
		default:
		}
	})
	return r
}

func waitResults(b *testing.B, r *results, n int) []arrival {
	deadline := time.After(5 * time.Minute)
	for {
		r.mu.Lock()
		if len(r.seen) >= n {
			out := make([]arrival, 0, len(r.seen))
			for _, a := range r.seen {
				out = append(out, a)
			}
			r.mu.Unlock()
			return out
		}
		have := len(r.seen)
		r.mu.Unlock()
		select {
		case <-r.more:
		case <-deadline:
			b.Fatalf("only %d of %d results arrived", have, n)
		}
	}
}

func producer(b *testing.B, brokers []string) sarama.SyncProducer {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer(brokers, sc)
	require.NoError(b, err)
	return p
}

// set returns c changed by f: test configs start from a Default*Config, as decoding
// does, and name only what they change.
func set[T any](c T, f func(*T)) T {
	f(&c)
	return c
}
