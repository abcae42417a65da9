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
				{384, 2, 8},                           // 3 bands taken by 2 workers
				{129, 1, 8}, {130, 1, 7}, {137, 1, 8}, // just above blockMinN, odd n: a last row alone
				{131, 2, 8}, {131, 2, 5}, {193, 3, 8}, // bands of odd height (65 and 66; 64, 64, 65)
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

// A spike on any row reaches the level it belongs to, whichever position of a two-row pair
// that row is on: the same row spiked in every step of a block falls on both parities of
// the levels' positions, and the rows tried include the torus wrap, every band edge and
// the last position of odd lengths. The reference adds each spike and then steps.
func TestBlockSpikesEveryRow(t *testing.T) {
	for _, name := range Kernels() {
		t.Run(name, func(t *testing.T) {
			setKernel(t, name)
			for _, tc := range []struct{ n, workers, t int }{
				{128, 1, 8}, {129, 1, 7}, {131, 2, 8}, {193, 3, 3}, {130, 2, 2},
			} {
				p := DefaultParams()
				p.GridSize, p.TuringThreshold, p.Workers = tc.n, 0.05, tc.workers
				n := tc.n
				rows := []int{0, 1, 2, 3, n/2 - 1, n / 2, n - 3, n - 2, n - 1}
				if s := New(p, nprand.New(1)); s.workers > 1 {
					nb := bandCount(n, s.workers, 2*MinBandRows)
					for b := 1; b < nb; b++ {
						r := b * n / nb
						rows = append(rows, r-2, r-1, r, r+1)
					}
				}
				for _, r := range rows {
					sp := make([]spike, tc.t)
					for k := range sp {
						sp[k] = spike{fired: true, row: r, col: (r + 7*k) % n, mag: 0.01 * float64(k+1)}
					}
					ref := New(p, nprand.New(1))
					for _, x := range sp {
						ref.v[x.row*n+x.col] += x.mag
						ref.stepBands(true)
						ref.a, ref.a2 = ref.a2, ref.a
						ref.in, ref.i2 = ref.i2, ref.in
						ref.v, ref.v2 = ref.v2, ref.v
					}
					s := New(p, nprand.New(1))
					s.blockSpikes(sp)
					requireSameState(t, ref.Field(), ref.Activator(), ref.Inhibitor(),
						s.Field(), s.Activator(), s.Inhibitor(), "%+v row %d", tc, r)
				}
			}
		})
	}
}
