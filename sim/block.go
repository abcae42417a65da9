package sim

// Temporal blocking: several steps per pass over memory for grids whose two states do
// not fit the cache (48 B per cell; 256² is already 3 MiB).
//
// A step's RNG draws (the spike's u, row, column and magnitude) do not depend on the
// field, so the draws of T steps can be made first, in the reference's order, and the T
// steps then computed as a wavefront: level k (the state after k of the T steps) is
// computed two rows at a time, two rows behind level k−1, whose last few rows it reads.
// Levels 1…T−1 live in rings of a few rows that stay in the L2 cache, so the whole state
// is read once and written once per T steps instead of per step. The spike of step k+1
// is added to level k's row right after that row is computed, which is before level k+1
// reads it, exactly as the reference adds it to the whole field between steps.
//
// Level k's rows are visited in the order base_k, base_k+1, … with base_k = base_{k−1}+1,
// so that its positions q, q+1 need level k−1's positions q…q+3: the two-row kernel
// reads the two rows they share once (vectorRow2). On the torus (one
// band) every level visits all n rows and the last two positions of level k need level
// k−1's first two again, which are kept apart from the ring for that. A row band of a
// parallel run instead computes the trapezoid its output rows depend on: level k covers
// the band widened by T−k rows on each side, re-computing a few rows of its neighbours.
// Every cell goes through the same kernel as in a plain step, so the bits are the same
// (TestBlockedRunMatchesSequential).

// ringSlots is how many rows a level keeps: its first two positions (the torus wrap) and
// a ring of four. Level k+1 at positions q, q+1 reads level k's q…q+3; level k has just
// written q+2 and q+3 there, over q−2 and q−1, which level k+1 read last time.
const ringSlots = 6

// blockBudget is the bytes of level rings a block (or band) may use: three quarters of
// the 2 MiB L2 of this machine's cores. With rings of 5 rows 1.5 MiB beat 0.5, 1 and
// 2 MiB at 1024² and 2048²; with 6, 1, 1.5 and 2 MiB (and T up to 12) came within the
// noise of each other (docs/performance.md).
const blockBudget = 3 << 19

// maxBlockSteps bounds T: beyond it the state's traffic is already a small part.
const maxBlockSteps = 8

// ringShift is where, in cells, the rings of odd levels start in their blocks: 2 KiB, half
// of the 4 KiB over which the L1 maps addresses to sets and matches loads against pending
// stores. Large blocks (the states, the rings) start on page boundaries, so without it a
// grid whose rows are a multiple of 4 KiB (n a multiple of 512) would have every row a
// level writes at the same low address bits as the rows it reads, and the loads of a
// two-row call would wait on its own stores (1024²: 9 % slower without it; with it as
// fast per cell as 1000²). Levels alternate, so each level's rows sit 2 KiB from those
// of the levels next to it (and the last level of an even T from the state it writes).
const ringShift = 2048 / 8

// blockMinN is the smallest grid that is blocked: below it the two states fit the L2.
const blockMinN = 128

// level is a state-like block of rows: V at blk[off:off+n], A at +stride, I at +2·stride,
// and the wrap-window scratch of the vector row kernel at blk[pad:] (A's, I's likewise).
type level struct {
	blk         []float64
	stride, pad int
}

// spike is one step's pre-drawn growth event.
type spike struct {
	fired    bool
	row, col int
	mag      float64
}

// blockSteps is T for an n×n grid, or 0 when blocking does not apply.
func (s *Simulator) blockSteps() int {
	n := s.n
	if !s.p.TuringEnabled || s.p.QuantumJitter || n < blockMinN {
		return 0
	}
	return min(max(blockBudget/(ringSlots*3*8*n)+1, 2), maxBlockSteps)
}

// Advance does up to limit steps and returns how many it did: a temporal block when the
// grid is large enough, else one Step. Between calls the state is whole, as after Step.
func (s *Simulator) Advance(limit int) int {
	t := min(s.blockSteps(), limit)
	if t < 2 {
		s.Step()
		return 1
	}
	s.block(t)
	return t
}

// block does t ≥ 2 steps as one wavefront per row band.
func (s *Simulator) block(t int) {
	n := s.n
	if len(s.spikes) < t {
		s.spikes = make([]spike, maxBlockSteps)
	}
	sp := s.spikes[:t]
	for k := range sp {
		sp[k] = spike{}
		if s.rng.Random() < s.p.SpikeProbability {
			i := s.rng.Integers(0, int64(n))
			j := s.rng.Integers(0, int64(n))
			sp[k] = spike{fired: true, row: int(i), col: int(j), mag: s.rng.Normal(SpikeMeanV, SpikeStdV)}
			s.events++
		}
	}
	s.blockSpikes(sp)
}

// blockSpikes does len(sp) ≥ 2 steps with the given spikes, already drawn and counted.
func (s *Simulator) blockSpikes(sp []spike) {
	n, t := s.n, len(sp)
	if sp[0].fired {
		s.v[sp[0].row*n+sp[0].col] += sp[0].mag
	}
	nw := s.workers
	if len(s.rings) < nw*(t-1) {
		per := max(t, s.blockSteps()) - 1
		s.rings = make([]level, nw*per)
		stride := ringSlots*n + bandPad
		for k := range s.rings {
			off := 0
			if k%per%2 == 0 { // level k%per+1 is odd
				off = ringShift
			}
			blk := make([]float64, off+3*stride)[off:]
			s.rings[k] = level{blk: blk, stride: stride, pad: ringSlots * n}
		}
	}
	levels := len(s.rings) / nw // each worker's rings, level 1 first
	if nw == 1 {
		s.wave(sp, 0, n, true, s.rings[:t-1], 0)
	} else {
		// Bands of at least 2·MinBandRows rows: a band re-computes about t rows of its
		// neighbours per level, ~5 % of 128 rows at t = 8.
		nb := bandCount(n, nw, 2*MinBandRows)
		s.parallel(nb, func(w, b int) {
			s.wave(sp, b*n/nb, (b+1)*n/nb, false, s.rings[w*levels:w*levels+t-1], w)
		})
	}
	s.a, s.a2 = s.a2, s.a
	s.in, s.i2 = s.i2, s.in
	s.v, s.v2 = s.v2, s.v
	s.steps += t
}

// wave computes rows r0…r1−1 of the state T = len(sp) steps on into the spare state,
// with levels 1…T−1 in rings and the input's wrap windows in pad slot slot; periodic
// means one band covering the torus.
func (s *Simulator) wave(sp []spike, r0, r1 int, periodic bool, rings []level, slot int) {
	n, t := s.n, len(sp)
	nn := n * n
	src := level{blk: s.v[:cap(s.v)], stride: nn + statePad(n), pad: nn + slot*bandPad}
	dst := level{blk: s.v2[:cap(s.v2)], stride: nn + statePad(n)}
	length := func(k int) int {
		if periodic {
			return n
		}
		return r1 - r0 + 2*(t-k)
	}
	// row is the grid row of level k's position q.
	row := func(k, q int) int { return ((r0-(t-k)+q)%n + n) % n }
	// off is the offset of level k's position q (0 ≤ q < length(k)+2) in its block.
	off := func(k, q int) int {
		if k == 0 || k == t {
			return row(k, q) * n
		}
		if periodic && q >= n {
			q -= n
		}
		if q < 2 {
			return q * n
		}
		return (2 + (q-2)%(ringSlots-2)) * n
	}
	at := func(k int) *level {
		switch k {
		case 0:
			return &src
		case t:
			return &dst
		}
		return &rings[k-1]
	}
	alpha, theta := s.p.Alpha, s.p.TuringThreshold
	// one computes level k's position q alone.
	one := func(in, out *level, k, q int) {
		up, mid, down, o := off(k-1, q), off(k-1, q+1), off(k-1, q+2), off(k, q)
		if vectorRow(in, out, up, mid, down, o, n, alpha, theta) {
			return
		}
		bi, bo := in.blk, out.blk
		si, so := in.stride, out.stride
		turingRow(bo[o:o+n], bo[o+so:o+so+n], bo[o+2*so:o+2*so+n],
			bi[up:up+n], bi[mid:mid+n], bi[down:down+n],
			bi[up+si:up+si+n], bi[mid+si:mid+si+n], bi[down+si:down+si+n],
			bi[up+2*si:up+2*si+n], bi[mid+2*si:mid+2*si+n], bi[down+2*si:down+2*si+n],
			alpha, theta, true)
	}
	// Iteration p computes level k's positions q = 2(p−k+1) and q+1 (the last alone when
	// the length is odd), after level k−1 has computed its q+2 and q+3 in the same
	// iteration.
	for p := 0; 2*(p-t+1) < length(t); p++ {
		for k := 1; k <= t; k++ {
			q := 2 * (p - k + 1)
			if q < 0 {
				break
			}
			m := length(k)
			if q >= m {
				continue
			}
			in, out := at(k-1), at(k)
			pair := q+1 < m
			if !pair {
				one(in, out, k, q)
			} else if !vectorRow2(in, out, off(k-1, q), off(k-1, q+1), off(k-1, q+2), off(k-1, q+3),
				off(k, q), off(k, q+1), n, alpha, theta) {
				one(in, out, k, q)
				one(in, out, k, q+1)
			}
			if k < t && sp[k].fired {
				if r := sp[k].row; r == row(k, q) {
					out.blk[off(k, q)+sp[k].col] += sp[k].mag
				} else if pair && r == row(k, q+1) {
					out.blk[off(k, q+1)+sp[k].col] += sp[k].mag
				}
			}
		}
	}
}
