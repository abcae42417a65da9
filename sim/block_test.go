package sim

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

// Temporally blocked steps give the sequential run's bits (field, activator, inhibitor,
// growth events) for every kernel, every block length, on the torus and in row bands of
// unequal height, with spikes in most steps (so on every level, near band edges too) and
// the Turing mask firing on part of the grid.
func TestBlockedRunMatchesSequential(t *testing.T) {
	for _, name := range Kernels() {
		t.Run(name, func(t *testing.T) {
			setKernel(t, name)
			for _, tc := range []struct{ n, workers, t int }{
				{128, 1, 2}, {131, 1, 3}, {150, 1, 8}, {129, 1, 5},
				{128, 2, 8}, {193, 3, 4}, {256, 4, 7}, {200, 2, 2},
				{132, 1, 3}, {133, 2, 4}, {135, 1, 6}, // every tail length of 4 and 8 lanes
				{384, 2, 8}, // 3 bands taken by 2 workers
			} {
				p := DefaultParams()
				p.GridSize, p.SpikeProbability, p.TuringThreshold = tc.n, 0.9, 0.05
				const steps = 19 // blocks of tc.t and a shorter last one
				ref := New(p, nprand.New(5))
				for range steps {
					ref.Step()
				}
				p.Workers = tc.workers
				s := New(p, nprand.New(5))
				for done := 0; done < steps; {
					k := min(tc.t, steps-done)
					if k < 2 {
						s.Step()
					} else {
						s.block(k)
					}
					done += k
				}
				where := fmt.Sprintf("%+v", tc)
				require.Equal(t, steps, s.Steps(), where)
				require.Equal(t, ref.GrowthEvents(), s.GrowthEvents(), where)
				requireSameState(t, ref.Field(), ref.Activator(), ref.Inhibitor(),
					s.Field(), s.Activator(), s.Inhibitor(), "%s", where)
			}
		})
	}
}

// Run blocks where it can (no observer) and still gives the golden run's bits; an
// observer sees every step.
func TestRunAdvanceMatchesStep(t *testing.T) {
	p := DefaultParams()
	p.GridSize, p.Steps = 160, 21
	want, wantEvents, err := Run(context.Background(), nprand.New(42), p, func(int, *Simulator) bool { return true })
	require.NoError(t, err)
	s := New(p, nprand.New(42))
	require.Equal(t, maxBlockSteps, s.blockSteps())
	got, events, err := Run(context.Background(), nprand.New(42), p, nil)
	require.NoError(t, err)
	require.Equal(t, wantEvents, events)
	for k := range want {
		requireSameBits(t, want[k], got[k], "k=%d", k)
	}
}
