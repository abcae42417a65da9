package sim

import (
	"context"
	"fmt"
	"testing"

	"mfn/nprand"
)

// BenchmarkStep reports cell-steps per second for Simulator.Step with Turing on (the
// per-step RNG draw and spike included) at the sizes of the performance targets; b.N
// counts steps, the ×steps in the name only labels the target run.
func BenchmarkStep(b *testing.B) {
	for _, sz := range []struct{ n, steps int }{{64, 64}, {256, 256}, {1024, 16}} {
		b.Run(fmt.Sprintf("%dx%dx%d", sz.n, sz.n, sz.steps), func(b *testing.B) {
			p := DefaultParams()
			p.GridSize, p.Steps = sz.n, sz.steps
			s := New(p, nprand.New(42))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Step() // the cost per step does not depend on the state, so no restarts
			}
			b.ReportMetric(float64(sz.n*sz.n)*float64(b.N)/b.Elapsed().Seconds(), "cell-steps/s")
		})
	}
}

// BenchmarkRun is a whole run (initialisation included), as /simulate does it.
func BenchmarkRun(b *testing.B) {
	for _, sz := range []struct{ n, steps int }{{64, 64}, {64, 100}, {256, 256}, {1024, 16}} {
		b.Run(fmt.Sprintf("%dx%dx%d", sz.n, sz.n, sz.steps), func(b *testing.B) {
			p := DefaultParams()
			p.GridSize, p.Steps = sz.n, sz.steps
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, _, err := Run(context.Background(), nprand.New(42), p, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(sz.n*sz.n*sz.steps)*float64(b.N)/b.Elapsed().Seconds(), "cell-steps/s")
		})
	}
}
