package sim

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

func TestWorkersFor(t *testing.T) {
	for _, tc := range []struct{ n, w, want int }{
		{64, 8, 1}, {127, 2, 1}, {128, 2, 2}, {128, 8, 2}, {512, 0, 1}, {512, 1, 1},
		{512, 2, 2}, {512, 16, 8}, {1024, 3, 3}, {8192, 1000, 64},
	} {
		require.Equal(t, tc.want, workersFor(tc.n, tc.w), "n=%d w=%d", tc.n, tc.w)
	}
	for _, tc := range []struct{ n, nw, minRows, want int }{
		{128, 2, 64, 2}, {1024, 2, 64, 6}, {1024, 2, 128, 6}, {256, 2, 128, 2}, {256, 4, 64, 4},
	} {
		require.Equal(t, tc.want, bandCount(tc.n, tc.nw, tc.minRows), "%+v", tc)
	}
}

// A run split into row bands gives the sequential run's bits for every kernel, with
// Turing on and off and with jitter (whose draws stay in the reference's order), and
// bands of unequal height. Under -race this also shows that bands never touch each
// other's rows or wrap windows.
func TestBandedRunMatchesSequential(t *testing.T) {
	for _, name := range Kernels() {
		t.Run(name, func(t *testing.T) {
			setKernel(t, name)
			for _, tc := range []struct {
				n, workers     int
				turing, jitter bool
			}{
				{128, 2, true, false}, {193, 3, true, false}, {200, 8, true, true},
				{131, 2, false, false}, {256, 4, false, true},
				{320, 2, true, false}, // 5 bands taken by 2 workers
			} {
				p := DefaultParams()
				p.GridSize, p.Steps, p.SpikeProbability = tc.n, 12, 0.9
				p.TuringEnabled, p.QuantumJitter = tc.turing, tc.jitter
				p.TuringThreshold = 0.05 // the mask fires on part of the grid
				want, wantEvents, err := Run(context.Background(), nprand.New(3), p, nil)
				require.NoError(t, err)
				p.Workers = tc.workers
				s := New(p, nprand.New(3))
				require.Equal(t, workersFor(tc.n, tc.workers), s.workers)
				require.Greater(t, s.workers, 1, "%+v must be banded", tc)
				for range p.Steps {
					s.Step()
				}
				require.Equal(t, wantEvents, s.GrowthEvents())
				for k := range want {
					requireSameBits(t, want[k], s.Field()[k], "%+v k=%d", tc, k)
				}
			}
		})
	}
}

// BenchmarkRunBands is one 1024²×200 run (Turing on) on 1 and 2 workers; the speed-up
// is the ratio of the two ns/op (both also report cell-steps/s).
func BenchmarkRunBands(b *testing.B) {
	const n, steps = 1024, 200
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("%dx%dx%d/workers=%d", n, n, steps, w), func(b *testing.B) {
			p := DefaultParams()
			p.GridSize, p.Steps, p.Workers = n, steps, w
			for i := 0; i < b.N; i++ {
				if _, _, err := Run(context.Background(), nprand.New(42), p, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*n*steps)*float64(b.N)/b.Elapsed().Seconds(), "cell-steps/s")
		})
	}
}
