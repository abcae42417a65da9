// Package loadtest is the load generator and the report of mfn's load benchmarks:
// throughput, latency percentiles and CPU per request, in the units
// scripts/loadbench.sh summarises. It is imported only by tests.
package loadtest

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A Meter reads a CPU-time counter: this process's (ProcessCPU) or a child's (PIDCPU).
type Meter func() (time.Duration, error)

// Measure runs load once (it sends b.N requests and returns their latencies) between
// readings of every meter, and reports req/s, p50 and p99 latency, and each meter's
// CPU per request as "<name>_us/req".
func Measure(b *testing.B, load func() []time.Duration, meters map[string]Meter) {
	b.Helper()
	b.ReportAllocs()
	names := make([]string, 0, len(meters))
	for name := range meters {
		names = append(names, name)
	}
	slices.Sort(names)
	start := make([]time.Duration, len(names))
	b.ResetTimer()
	for i, name := range names {
		start[i] = read(b, name, meters[name])
	}
	t0 := time.Now()
	lat := load()
	elapsed := time.Since(t0)
	used := make([]time.Duration, len(names))
	for i, name := range names {
		used[i] = read(b, name, meters[name]) - start[i]
	}
	b.StopTimer()
	report(b, lat, elapsed)
	for i, name := range names {
		b.ReportMetric(float64(used[i].Nanoseconds())/1e3/float64(b.N), name+"_us/req")
	}
}

func read(b *testing.B, name string, m Meter) time.Duration {
	d, err := m()
	if err != nil {
		b.Fatalf("cpu meter %s: %v", name, err)
	}
	return d
}

// Report reports throughput, latency percentiles and CPU per request of a load run,
// in the units scripts/loadbench.sh summarises.
func Report(b *testing.B, lat []time.Duration, elapsed, cpu time.Duration) {
	report(b, lat, elapsed)
	// CPU of this process (server and clients together) per request: unlike req/s it
	// hardly moves when other processes compete for the cores; 2 cores / cpu_us is the
	// throughput this process could reach on an idle 2-core machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_us/req")
}

func report(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	}
}

// ProcessCPU is the user+system CPU time this process has used.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// SelfCPU is ProcessCPU as a Meter.
func SelfCPU() (time.Duration, error) { return ProcessCPU(), nil }

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// PIDCPU is the user+system CPU time of process pid (Linux: /proc/<pid>/stat, 10 ms
// resolution, so a measured run should use seconds of CPU).
func PIDCPU(pid int) Meter {
	return func() (time.Duration, error) {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, err
		}
		// The command name (field 2) may hold spaces; the fields after its ")" are
		// state, ppid, …, with utime and stime the 12th and 13th of them.
		s := string(raw)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(fields))
		}
		var ticks int64
		for _, f := range fields[11:13] {
			t, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
			}
			ticks += t
		}
		return time.Duration(ticks) * time.Second / clockTicks, nil
	}
}

// Calls is a load for Measure: b.N calls of call, spread over inflight goroutines
// (call's argument is the goroutine's number), their latencies returned; b fails if any
// call returned an error.
func Calls(b *testing.B, inflight int, call func(worker int) error) func() []time.Duration {
	return func() []time.Duration {
		lat := make([][]time.Duration, inflight)
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		for w := range inflight {
			wg.Go(func() {
				l := make([]time.Duration, 0, b.N/inflight+1)
				for next.Add(1) <= int64(b.N) {
					t0 := time.Now()
					if call(w) != nil {
						failed.Add(1)
					}
					l = append(l, time.Since(t0))
				}
				lat[w] = l
			})
		}
		wg.Wait()
		if f := failed.Load(); f > 0 {
			b.Fatalf("%d calls failed", f)
		}
		return slices.Concat(lat...)
	}
}
