package nprand

import (
	"math"
	"math/bits"
)

//go:generate go run gen_ziggurat.go

// PCG64's 128-bit multiplier, 0x2360ED051FC65DA4_4385DF649FCCF645, as two halves.
const (
	multHi = 0x2360ED051FC65DA4
	multLo = 0x4385DF649FCCF645
)

// Ziggurat constants from numpy's ziggurat_constants.h: the base layer's right edge and
// its inverse (written exactly as numpy's source does; the compiler rounds them once).
const (
	zigR    = 3.6541528853610087963519472518
	zigInvR = 0.27366123732975827203338247596
)

// Generator is numpy's Generator(PCG64(SeedSequence(seed))). The zero value is not
// useful; create one with New.
type Generator struct {
	// PCG64 state and increment (odd), as 128-bit numbers split into halves.
	hi, lo       uint64
	incHi, incLo uint64
	// next32 hands out the high half of a 64-bit draw on the following call; numpy keeps
	// this buffer in the bit generator, so it outlives the draw that filled it.
	hasU32 bool
	u32    uint32
}

// New returns the generator numpy's default_rng(seed) returns.
func New(seed uint64) *Generator {
	w := seedSequence(seedWords(seed))
	g := &Generator{}
	g.seed(w[0], w[1], w[2], w[3])
	return g
}

// seedWords splits the seed into little-endian 32-bit words as numpy's
// _coerce_to_uint32_array does: 0 is one word [0], and 2^40+5 is [5, 256].
func seedWords(seed uint64) []uint32 {
	if seed>>32 == 0 {
		return []uint32{uint32(seed)}
	}
	return []uint32{uint32(seed), uint32(seed >> 32)} // #nosec G115 -- numpy bit-exact: the truncation or reinterpretation is the algorithm
}

// seed is pcg64_set_seed: initstate = w0:w1, initseq = w2:w3.
func (g *Generator) seed(stateHi, stateLo, seqHi, seqLo uint64) {
	// inc = (initseq << 1) | 1, mod 2^128.
	g.incHi = seqHi<<1 | seqLo>>63
	g.incLo = seqLo<<1 | 1
	g.hi, g.lo = 0, 0
	g.step()
	var c uint64
	g.lo, c = bits.Add64(g.lo, stateLo, 0)
	g.hi, _ = bits.Add64(g.hi, stateHi, c)
	g.step()
	g.hasU32 = false
}

// step advances the LCG: state = state·M + inc (mod 2^128).
func (g *Generator) step() {
	h, l := bits.Mul64(g.lo, multLo)
	h += g.hi*multLo + g.lo*multHi
	var c uint64
	g.lo, c = bits.Add64(l, g.incLo, 0)
	g.hi, _ = bits.Add64(h, g.incHi, c)
}

// Uint64 is PCG64's next64 (XSL-RR output of the advanced state).
func (g *Generator) Uint64() uint64 {
	// step, written out on locals to keep the method cheap enough to inline.
	h, l := bits.Mul64(g.lo, multLo)
	lo, c := bits.Add64(l, g.incLo, 0)
	hi := h + g.hi*multLo + g.lo*multHi + g.incHi + c
	g.hi, g.lo = hi, lo
	return bits.RotateLeft64(hi^lo, -int(hi>>58))
}

// Uint32 is PCG64's buffered next32: the low half of a fresh 64-bit draw, then its high
// half on the next call.
func (g *Generator) Uint32() uint32 {
	if g.hasU32 {
		g.hasU32 = false
		return g.u32
	}
	return g.fill32()
}

// fill32 is next32's refill: draw 64 bits, keep the high half for the next call.
func (g *Generator) fill32() uint32 {
	v := g.Uint64()
	g.hasU32 = true
	g.u32 = uint32(v >> 32)
	return uint32(v) // #nosec G115 -- numpy bit-exact: the truncation or reinterpretation is the algorithm
}

// Random is rng.random(): a double in [0, 1) with 53 random bits.
func (g *Generator) Random() float64 {
	return float64(g.Uint64()>>11) * (1.0 / (1 << 53))
}

// Uniform is rng.uniform(lo, hi): lo + (hi−lo)·random(), the range rounded first as numpy
// does. The conversion keeps the product rounded on its own (no fused multiply-add).
func (g *Generator) Uniform(lo, hi float64) float64 {
	return lo + float64((hi-lo)*g.Random())
}

// StandardNormal is numpy's ziggurat standard normal (random_standard_normal). It uses one
// 64-bit draw about 99.3 % of the time.
func (g *Generator) StandardNormal() float64 {
	r := g.Uint64()
	idx := r & 0xFF
	r >>= 8
	rabs := (r >> 1) & 0x000FFFFFFFFFFFFF
	x := float64(rabs) * wiDouble[idx]
	x = negIf(x, r&1)
	if rabs < kiDouble[idx] {
		return x
	}
	return g.normalSlow(idx, rabs, x)
}

// negIf is x with its sign flipped when bit is 1 (−0 included), as numpy's
// "if (r & 0x1) x = −x", but without a branch: the sign is a coin flip, which a branch
// mispredicts half the time (StandardNormal took 9.9 ns with it, 4.6 ns without).
func negIf(x float64, bit uint64) float64 {
	return math.Float64frombits(math.Float64bits(x) ^ bit<<63)
}

// normalSlow finishes a ziggurat draw that fell outside a layer's rectangle core: the
// tail for layer 0, the wedge test for the others, and otherwise a fresh draw. It is split
// off so StandardNormal's common path stays small enough to inline.
func (g *Generator) normalSlow(idx, rabs uint64, x float64) float64 {
	for {
		if idx == 0 {
			for {
				// numpy draws 1−U so that log1p never sees −1 (numpy GH 13361).
				xx := -zigInvR * math.Log1p(-g.Random())
				yy := -math.Log1p(-g.Random())
				if yy+yy > float64(xx*xx) {
					if (rabs>>8)&1 != 0 {
						return -(zigR + xx)
					}
					return zigR + xx
				}
			}
		}
		if float64((fiDouble[idx-1]-fiDouble[idx])*g.Random())+fiDouble[idx] < math.Exp(float64(-0.5*x)*x) {
			return x
		}
		r := g.Uint64()
		idx = r & 0xFF
		r >>= 8
		rabs = (r >> 1) & 0x000FFFFFFFFFFFFF
		x = float64(rabs) * wiDouble[idx]
		x = negIf(x, r&1)
		if rabs < kiDouble[idx] {
			return x
		}
	}
}

// Normal is rng.normal(loc, scale): loc + scale·z with z from StandardNormal.
func (g *Generator) Normal(loc, scale float64) float64 {
	return loc + float64(scale*g.StandardNormal())
}

// Integers is rng.integers(lo, hi): a value in [lo, hi) (int64 dtype, Lemire's method as
// numpy's Generator uses it). Precondition hi > lo; otherwise it returns lo without
// drawing (numpy would raise; callers validate first). A one-value range returns lo
// without drawing, as numpy does. Ranges up to 2^32 use the buffered 32-bit draws, larger
// ones numpy's 64-bit Lemire path, so the generator advances exactly as numpy's does.
func (g *Generator) Integers(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	// hi−lo fits in a uint64 even when it overflows int64; the sum wraps back into range.
	return lo + int64(g.bounded(uint64(hi)-uint64(lo)-1)) // #nosec G115 -- numpy bit-exact: the truncation or reinterpretation is the algorithm
}

// bounded is numpy's random_bounded_uint64 (unmasked): a value in [0, rng], rng inclusive.
func (g *Generator) bounded(rng uint64) uint64 {
	switch {
	case rng == 0:
		return 0
	case rng < math.MaxUint32:
		return uint64(g.lemire32(uint32(rng)))
	case rng == math.MaxUint32:
		return uint64(g.Uint32())
	case rng == math.MaxUint64:
		return g.Uint64()
	default:
		return g.lemire64(rng)
	}
}

// lemire32 is numpy's buffered_bounded_lemire_uint32: [0, rng] from buffered 32-bit
// draws, rejecting the biased low products. Requires 0 < rng < 2^32−1.
func (g *Generator) lemire32(rng uint32) uint32 {
	excl := rng + 1
	m := uint64(g.Uint32()) * uint64(excl)
	if uint32(m) < excl { // #nosec G115 -- numpy bit-exact: the truncation or reinterpretation is the algorithm
		// excl is a cheap upper bound of the threshold; compute it only when needed.
		thr := (math.MaxUint32 - rng) % excl
		for uint32(m) < thr { // #nosec G115 -- numpy bit-exact: the truncation or reinterpretation is the algorithm
			m = uint64(g.Uint32()) * uint64(excl)
		}
	}
	return uint32(m >> 32)
}

// lemire64 is numpy's bounded_lemire_uint64: [0, rng] from full 64-bit draws, with a
// 128-bit product. Requires 2^32−1 < rng < 2^64−1.
func (g *Generator) lemire64(rng uint64) uint64 {
	excl := rng + 1
	hi, lo := bits.Mul64(g.Uint64(), excl)
	if lo < excl {
		thr := (math.MaxUint64 - rng) % excl
		for lo < thr {
			hi, lo = bits.Mul64(g.Uint64(), excl)
		}
	}
	return hi
}

// Choice is rng.choice(n, size=m, replace=replace): m indices in [0, n).
//
// With replacement it is m independent Integers(0, n) draws. Without replacement it
// follows numpy's Generator.choice (shuffle=True): a partial Fisher–Yates "tail shuffle"
// when n > 10000 and m > n/50, otherwise Floyd's algorithm over a linear-probing hash set
// followed by a shuffle of the m results; the values are distinct.
//
// m ≤ 0 returns an empty slice without drawing. Arguments numpy rejects (n ≤ 0 with
// m > 0, or m > n without replacement) return nil without drawing.
func (g *Generator) Choice(n, m int, replace bool) []int {
	if m <= 0 {
		return []int{}
	}
	if n <= 0 || (!replace && m > n) {
		return nil
	}
	if replace {
		out := make([]int, m)
		rng := uint64(n - 1)
		for i := range out {
			out[i] = int(g.bounded(rng)) // #nosec G115 -- numpy bit-exact: the truncation or reinterpretation is the algorithm
		}
		return out
	}
	if n > 10000 && m > n/50 {
		return g.tailShuffle(n, m)
	}
	return g.floyd(n, m)
}

// tailShuffle shuffles the last m places of [0, n) (numpy's _shuffle_int with
// first = max(n−m, 1)) and returns them in order.
func (g *Generator) tailShuffle(n, m int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	for i := n - 1; i >= max(n-m, 1); i-- {
		j := g.bounded(uint64(i)) // #nosec G115 -- numpy bit-exact: the truncation or reinterpretation is the algorithm
		idx[i], idx[j] = idx[j], idx[i]
	}
	// Copy so the caller does not keep the n-sized array alive (numpy copies too).
	return append([]int(nil), idx[n-m:]...)
}

// floyd is numpy's Floyd sampler: for j = n−m … n−1 pick v in [0, j]; keep v unless it
// was already picked, in which case keep j. The picks are then shuffled.
func (g *Generator) floyd(n, m int) []int {
	// The set has a power-of-two size ≥ 1.2·m (truncated, as numpy's uint64 cast does).
	mask := genMask(uint64(1.2 * float64(m)))
	const empty = math.MaxUint64
	set := make([]uint64, mask+1)
	for i := range set {
		set[i] = empty
	}
	out := make([]int, m)
	for j := n - m; j < n; j++ {
		v := g.bounded(uint64(j)) // #nosec G115 -- numpy bit-exact: the truncation or reinterpretation is the algorithm
		loc := v & mask
		for set[loc] != empty && set[loc] != v {
			loc = (loc + 1) & mask
		}
		if set[loc] == empty {
			set[loc] = v
			out[j-n+m] = int(v) // #nosec G115 -- numpy bit-exact: the truncation or reinterpretation is the algorithm
			continue
		}
		loc = uint64(j) & mask // #nosec G115 -- numpy bit-exact: the truncation or reinterpretation is the algorithm
		for set[loc] != empty {
			loc = (loc + 1) & mask
		}
		set[loc] = uint64(j) // #nosec G115 -- numpy bit-exact: the truncation or reinterpretation is the algorithm
		out[j-n+m] = j
	}
	for i := m - 1; i >= 1; i-- {
		j := g.bounded(uint64(i))
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// genMask is numpy's _gen_mask: the smallest 2^k − 1 that is ≥ v.
func genMask(v uint64) uint64 {
	v |= v >> 1
	v |= v >> 2
	v |= v >> 4
	v |= v >> 8
	v |= v >> 16
	v |= v >> 32
	return v
}
