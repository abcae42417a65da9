package jobs

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func benchPool(b *testing.B) *Pool {
	b.Helper()
	p, err := NewPool(PoolConfig{}, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return p
}

// BenchmarkPoolNernst measures the pool's overhead: a Nernst job is well under a
// microsecond of arithmetic, so this is mostly queueing, hand-off and metrics.
func BenchmarkPoolNernst(b *testing.B) {
	p := benchPool(b)
	out, in := 0.005, 0.14
	req := NernstRequest{ZValence: 1, ConcentrationOutMolar: &out, ConcentrationInMolar: &in, TemperatureK: 310}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := p.DoWait(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkNernstDirect is the same job without the pool, for comparison.
func BenchmarkNernstDirect(b *testing.B) {
	out, in := 0.005, 0.14
	req := NernstRequest{ZValence: 1, ConcentrationOutMolar: &out, ConcentrationInMolar: &in, TemperatureK: 310}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Execute(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPoolSimulateDefault is /simulate with the defaults (64×64, 64 steps).
func BenchmarkPoolSimulateDefault(b *testing.B) {
	p := benchPool(b)
	req := DefaultSimulateRequest()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := p.DoWait(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
