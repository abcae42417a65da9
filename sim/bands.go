package sim

import (
	"sync"
	"sync/atomic"
)

// Row-band parallelism for one large run. A step's rows only read the current state and
// each writes its own rows of the next one, so the rows can be split into contiguous
// bands computed at the same time; waiting for every band before the next step (the
// spike, the jitter draws and the swap stay on the caller's goroutine, in the reference's
// order) is the only synchronisation. Every cell is computed by the same code as in a
// sequential step, so a banded run gives the same bits (TestBandedRunMatchesSequential).
//
// There are a few more bands than workers, and each worker takes the next band left: on
// a machine shared with other processes a worker that loses its core for a while then
// holds up the barrier by one band at most, not by a fixed half of the step.

// MinBandRows is the fewest rows a band gets: below it the goroutine hand-off (a few µs
// per step) outweighs a band's work (64 rows of 512 cells are ~30 µs).
const MinBandRows = 64

// bandsPerWorker is how many bands each worker gets on average.
const bandsPerWorker = 3

// workersFor is how many goroutines an n×n step uses when w are allowed: at most one per
// MinBandRows rows, and never more than the state has wrap-window scratch for.
func workersFor(n, w int) int { return max(min(w, maxBands(n), n/MinBandRows), 1) }

// bandCount is how many bands nw workers split rows of at least minRows rows into.
func bandCount(n, nw, minRows int) int {
	return max(min(bandsPerWorker*nw, maxBands(n), n/minRows), nw)
}

// stepBands runs one step's kernel over row bands on s.workers goroutines. A sequential
// step allocates nothing; a banded one allocates its WaitGroup and goroutines (well under
// 1 µs against the ≥ 64 rows each band computes).
func (s *Simulator) stepBands(clampV bool) {
	n := s.n
	if s.workers == 1 {
		s.stepRows(clampV, 0, n, 0)
		return
	}
	nb := bandCount(n, s.workers, MinBandRows)
	s.parallel(nb, func(_, b int) { s.stepRows(clampV, b*n/nb, (b+1)*n/nb, b) })
}

// parallel runs f(w, b) for every band b < nb on s.workers goroutines, w being the
// worker (0 is the calling goroutine), and returns when all are done: the barrier.
func (s *Simulator) parallel(nb int, f func(w, b int)) {
	var next atomic.Int64
	work := func(w int) {
		for {
			b := int(next.Add(1)) - 1
			if b >= nb {
				return
			}
			f(w, b)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < s.workers; w++ {
		wg.Go(func() { work(w) })
	}
	work(0)
	wg.Wait()
}

// stepRows computes rows r0…r1−1 of the next state (wrap windows in pad slot b).
func (s *Simulator) stepRows(clampV bool, r0, r1, b int) {
	if s.p.TuringEnabled {
		stepTuringRows(s.v2, s.a2, s.i2, s.v, s.a, s.in, s.n, s.p.Alpha, s.p.TuringThreshold, clampV, r0, r1, b)
	} else {
		stepPlainRows(s.v2, s.v, s.n, s.p.Alpha, clampV, r0, r1)
	}
}
