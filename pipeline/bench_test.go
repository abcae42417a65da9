package pipeline

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BenchmarkKafkaThroughput measures jobs/s from a Kafka topic to a Kafka topic through
// kfake, default simulation size (64×64, 64 steps), concurrency = GOMAXPROCS.
func BenchmarkKafkaThroughput(b *testing.B) {
	cl := newCluster(b, kfake.SeedTopics(4, "in", "out"))
	brokers := cl.ListenAddrs()
	pool := newPool(b, runtime.GOMAXPROCS(0))
	cfg := kafkaPipeline("bench", brokers, "in", "out", "", "g-bench")
	cfg.Concurrency = runtime.GOMAXPROCS(0)
	_, stop := startManager(b, []Config{cfg}, pool)
	defer stop()
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = []byte(fmt.Sprintf(`{"request_id":"bench-%d","params":{"seed":%d}}`, i, i))
	}
	b.ResetTimer()
	start := time.Now()
	produce(b, brokers, "in", msgs...)
	readTopic(b, brokers, "out", 10*time.Minute, atLeast(b.N))
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}
