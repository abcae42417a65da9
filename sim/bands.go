package sim

import "sync"

// Row-band parallelism for one large run. A step's rows only read the current state and
// each writes its own rows of the next one, so the rows can be split into contiguous
// bands computed at the same time; waiting for every band before the next step (the
// spike, the jitter draws and the swap stay on the caller's goroutine, in the reference's
// order) is the only synchronisation. Every cell is computed by the same code as in a
// sequential step, so a banded run gives the same bits (TestBandedRunMatchesSequential).

// MinBandRows is the fewest rows a band gets: below it the goroutine hand-off (a few µs
// per step) outweighs a band's work (64 rows of 512 cells are ~30 µs).
const MinBandRows = 64

// bandsFor is how many bands an n×n step is split into for w workers.
func bandsFor(n, w int) int { return max(min(w, maxBands(n), n/MinBandRows), 1) }

// stepBands runs one step's kernel over nb row bands, band 0 on the calling goroutine.
// A sequential step (nb = 1) allocates nothing; a banded one allocates its WaitGroup and
// goroutines (well under 1 µs against the ≥ 64 rows each band computes).
func (s *Simulator) stepBands(nb int, clampV bool) {
	n := s.n
	if nb == 1 {
		s.stepRows(clampV, 0, n, 0)
		return
	}
	s.parallel(nb, func(b int) { s.stepRows(clampV, b*n/nb, (b+1)*n/nb, b) })
}

// parallel runs f(0…nb−1) at the same time, f(0) on the calling goroutine, and returns
// when all are done: the barrier between steps.
func (s *Simulator) parallel(nb int, f func(b int)) {
	var wg sync.WaitGroup
	for b := 1; b < nb; b++ {
		wg.Go(func() { f(b) })
	}
	f(0)
	wg.Wait()
}

// stepRows computes rows r0…r1−1 of the next state (band b's wrap windows).
func (s *Simulator) stepRows(clampV bool, r0, r1, b int) {
	if s.p.TuringEnabled {
		stepTuringRows(s.v2, s.a2, s.i2, s.v, s.a, s.in, s.n, s.p.Alpha, s.p.TuringThreshold, clampV, r0, r1, b)
	} else {
		stepPlainRows(s.v2, s.v, s.n, s.p.Alpha, clampV, r0, r1)
	}
}
