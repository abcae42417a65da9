// Package loadtest holds what the load benchmarks of the transport packages report:
// throughput, latency percentiles and CPU per request, in the units
// scripts/loadbench.sh summarises. It is imported only by tests.
package loadtest

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

// Report reports throughput, latency percentiles and CPU per request of a load run,
// in the units scripts/loadbench.sh summarises.
func Report(b *testing.B, lat []time.Duration, elapsed, cpu time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	}
	// CPU of this process (server and clients together) per request: unlike req/s it
	// hardly moves when other processes compete for the cores; 2 cores / cpu_us is the
	// throughput this process could reach on an idle 2-core machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_us/req")
}

// ProcessCPU is the user+system CPU time this process has used.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
