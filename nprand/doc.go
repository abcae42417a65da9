// Package nprand reproduces numpy's default_rng(seed) bit for bit: SeedSequence seeding,
// the PCG64 (XSL-RR 128/64) bit generator with its buffered 32-bit draws, and the
// distributions the reference uses — random, uniform, the ziggurat standard normal and
// normal, integers (Lemire's method, 32- and 64-bit paths) and choice with and without
// replacement (Floyd's algorithm and the tail shuffle).
//
// The same seed and the same sequence of calls give the same numbers as
// numpy.random.default_rng(seed) on numpy ≥ 1.17 (verified against numpy 1.24). Products
// that numpy rounds on their own are written float64(a*b) + c so that no target fuses
// them into a multiply-add. Values that pass through math.Exp or math.Log1p (the rare
// ziggurat rejection branch) may differ from glibc by one ulp in principle.
//
// Arguments numpy would reject never panic: each method documents what it returns
// instead. Callers validate inputs first.
//
// A Generator is not safe for concurrent use; give each goroutine its own. Apart from
// Choice's results and New, the methods do not allocate.
package nprand
