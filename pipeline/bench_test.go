package pipeline

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
)

// BenchmarkKafkaThroughput measures jobs/s from a Kafka topic to a Kafka topic through
// kfake, default simulation size (64×64, 64 steps), GOMAXPROCS pool workers, at
// pipeline concurrency 1 (one job, one publish round trip at a time) and 2×GOMAXPROCS
// (jobs run while others publish).
//
// The group join, first fetch and producer connection are warmed up outside the timer
// (they cost about a second once, which would swamp a few hundred jobs), and the clock
// stops when mfn_pipeline_messages_succeeded_total (results acked by every sink) reaches
// b.N, not when a separate reader has caught up; the output topic is checked afterwards.
//
// Besides jobs/s it reports cores (process CPU time over wall time inside the timed
// window) and cpu-ms/job. kfake, sarama and the simulations share one process, and the
// machine may be shared too: a run that is slow while cores stays below GOMAXPROCS
// waited on something, one whose cores is near the CPUs the process could get was
// starved of CPU (look at cpu-ms/job then), not blocked. Whole-run profiles mislead
// here: the group join and warm-up, mostly idle, outlast a few hundred jobs.
func BenchmarkKafkaThroughput(b *testing.B) {
	for _, conc := range []int{1, 2 * runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) { benchKafka(b, conc) })
	}
}

func benchKafka(b *testing.B, concurrency int) {
	cl := newCluster(b, kfake.SeedTopics(4, "in", "out"))
	brokers := cl.ListenAddrs()
	pool := newPool(b, runtime.GOMAXPROCS(0))
	cfg := kafkaPipeline("bench", brokers, "in", "out", "", "g-bench")
	cfg.Concurrency = concurrency
	reg := prometheus.NewRegistry()
	_, stop := startManagerReg(b, []Config{cfg}, pool, reg)
	defer stop()
	succeeded := func() float64 { v, _ := metricValue(b, reg, "mfn_pipeline_messages_succeeded_total"); return v }
	waitFor := func(n float64) {
		deadline := time.Now().Add(10 * time.Minute)
		for succeeded() < n {
			if time.Now().After(deadline) {
				b.Fatalf("only %v of %v jobs succeeded", succeeded(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	produce(b, brokers, "in", []byte(`{"request_id":"warm-up","params":{"grid_size":8,"steps":1}}`))
	waitFor(1)
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = []byte(fmt.Sprintf(`{"request_id":"bench-%d","params":{"seed":%d}}`, i, i))
	}
	b.ResetTimer()
	cpu0 := processCPU(b)
	start := time.Now()
	produce(b, brokers, "in", msgs...)
	waitFor(float64(b.N + 1))
	wall := time.Since(start)
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/wall.Seconds(), "jobs/s")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
	b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/job")
	readTopic(b, brokers, "out", time.Minute, atLeast(b.N+1))
}

// processCPU is the user plus system CPU time the whole test process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}
