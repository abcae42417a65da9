package jobs

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

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

// BenchmarkFederatedCancelFreesWorker measures how long the only worker stays busy after
// the largest legal federated job (largestFederated: seconds of Krum) is cancelled
// 100 ms into its run: the time from the cancel until a tiny job submitted at once has
// finished. Run with a small count, e.g. -benchtime 5x.
func BenchmarkFederatedCancelFreesWorker(b *testing.B) {
	p, err := NewPool(PoolConfig{Workers: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	req := largestFederated()
	var free []time.Duration
	for b.Loop() {
		jobCtx, stop := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() { _, err := p.Do(jobCtx, req); res <- err }()
		for p.running.Load() == 0 {
			runtime.Gosched()
		}
		time.Sleep(100 * time.Millisecond) // let Krum get going: the point is a job mid-run
		stop()
		t0 := time.Now()
		if _, err := p.Do(context.Background(), smallSim()); err != nil {
			b.Fatal(err)
		}
		free = append(free, time.Since(t0))
		if err := <-res; !errors.Is(err, context.Canceled) {
			b.Fatalf("cancelled job returned %v", err)
		}
	}
	slices.Sort(free)
	b.ReportMetric(float64(free[len(free)/2].Microseconds())/1000, "free_ms")
	b.ReportMetric(float64(free[len(free)-1].Microseconds())/1000, "max_free_ms")
}

// BenchmarkCostCalibration runs jobs of each kind and reports est/actual: EstimateCost's
// work divided by the measured time per job on this machine. Above 1 the estimate is
// conservative (admission by work refuses early rather than late); the constants in
// cost.go were set from these runs on the 2-core build box.
func BenchmarkCostCalibration(b *testing.B) {
	sim := func(grid, steps int) SimulateRequest {
		r := DefaultSimulateRequest()
		r.GridSize, r.Steps = grid, steps
		return r
	}
	val := DefaultValidateRequest()
	val.Epochs = 20
	fed := func(n, dim, clusters int) FederatedRequest {
		flat := make([]float64, n*dim)
		for k := range flat {
			flat[k] = float64(k%977) * 0.01
		}
		g := make([][]float64, n)
		for i := range g {
			g[i] = flat[i*dim : (i+1)*dim]
		}
		return FederatedRequest{Gradients: g, NumClusters: clusters, ByzantineFraction: 0.2}
	}
	out, in := 0.005, 0.14
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"nernst", NernstRequest{ZValence: 1, ConcentrationOutMolar: &out, ConcentrationInMolar: &in, TemperatureK: 310}},
		{"simulate_32x32", sim(32, 32)},
		{"simulate_64x64", sim(64, 64)},
		{"simulate_256x100", sim(256, 100)},
		{"validate_default_20_epochs", val},
		{"federated_1000x100_1_cluster", fed(1000, 100, 1)},
		{"federated_5000x10_10_clusters", fed(5000, 10, 10)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			est := EstimateCost(tc.req).Work
			for b.Loop() {
				if _, err := Execute(context.Background(), tc.req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(est/(b.Elapsed().Seconds()/float64(b.N)), "est/actual")
		})
	}
}
