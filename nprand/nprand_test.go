package nprand

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Goldens below come from numpy 1.24.2 (the reference's version): numerical-core.md §2.4
// and §2.6, plus values printed by numpy.random.default_rng for the extra seeds and paths.

func u128(t *testing.T, s string) (hi, lo uint64) {
	t.Helper()
	s = strings.TrimPrefix(s, "0x")
	s = strings.Repeat("0", 32-len(s)) + s
	hi, err := strconv.ParseUint(s[:16], 16, 64)
	require.NoError(t, err)
	lo, err = strconv.ParseUint(s[16:], 16, 64)
	require.NoError(t, err)
	return hi, lo
}

func TestSeedWords(t *testing.T) {
	tests := []struct {
		name string
		seed uint64
		want []uint32
	}{
		{"zero", 0, []uint32{0}},
		{"42", 42, []uint32{42}},
		{"max one word", math.MaxUint32, []uint32{math.MaxUint32}},
		{"2^32", 1 << 32, []uint32{0, 1}},
		{"2^40+5", 1<<40 + 5, []uint32{5, 256}},
		{"max", math.MaxUint64, []uint32{math.MaxUint32, math.MaxUint32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, seedWords(tt.seed))
		})
	}
}

func TestSeedSequence(t *testing.T) {
	// numpy: SeedSequence(0).generate_state(4, np.uint64).
	require.Equal(t, [4]uint64{15793235383387715774, 12390638538380655177, 2361836109651742017, 3188717715514472916},
		seedSequence([]uint32{0}))
}

func TestPCG64Golden(t *testing.T) {
	tests := []struct {
		name       string
		seed       uint64
		state, inc string
		next64     []uint64
	}{
		{"seed 42", 42, "0xcea44f6798798f2aacbc7c9d68860ac8", "0xfa505436c9a8416e66caf2e28d25abff",
			[]uint64{0xc621fbcd16d92688, 0x705a5661a791ffc1, 0xdbcd12c26eda1624}},
		{"seed 0", 0, "0x1aa1b5345996452d09585eb7a69561e3", "0x418ddadb3af71a82588133bc447873a9",
			[]uint64{0xa30febcfd9c2825f, 0x4510bdf882d9d721, 0x0a7d3da94ecde8b8}},
		{"seed 2^32 (two words)", 1 << 32, "0x24d060cf1520dbdd21bbf7fbff1ac5d4", "0x77ff3ed86c5c56337b62eea7340ca9c7",
			[]uint64{0xe3c5ebe285ac1625, 0x8ea09968fe31dbcc, 0xcd084ff84d8de9be}},
		{"seed 2^40+5 (words 5, 256)", 1<<40 + 5, "0xd972711564fcbcf2a1511cb73ed6e086", "0x4a4b8b68972231a08584f27e67257da7",
			[]uint64{0x01369aef039fedeb, 0x5f61b40473314316, 0x9654aaeeea6ebe77}},
		{"seed 2^64-1", math.MaxUint64, "0xddc419442aebde794d8b0a3b048acdb0", "0x37762aacb3cc854f4ed623c7d18951ed",
			[]uint64{0xae163a7a8c47568f, 0xd86659f5f3382359, 0x01e52b195bc2d24a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(tt.seed)
			hi, lo := u128(t, tt.state)
			incHi, incLo := u128(t, tt.inc)
			require.Equal(t, [4]uint64{hi, lo, incHi, incLo}, [4]uint64{g.hi, g.lo, g.incHi, g.incLo})
			for i, want := range tt.next64 {
				require.Equal(t, want, g.Uint64(), "draw %d", i)
			}
		})
	}
}

// TestCheckpoints is numerical-core.md §2.6: a fresh default_rng(42) for each row.
func TestCheckpoints(t *testing.T) {
	tests := []struct {
		name string
		draw func(g *Generator) float64
		want []float64
	}{
		{"random", (*Generator).Random, []float64{0.7739560485559633, 0.4388784397520523, 0.8585979199113825}},
		{"integers(0,64)", func(g *Generator) float64 { return float64(g.Integers(0, 64)) }, []float64{5, 49, 41, 28}},
		{"normal(-0.07,0.005)", func(g *Generator) float64 { return g.Normal(-0.07, 0.005) },
			[]float64{-0.06847641460122784, -0.07519992053120249, -0.06624774402096772}},
		{"uniform(0,0.1)", func(g *Generator) float64 { return g.Uniform(0, 0.1) },
			[]float64{0.07739560485559634, 0.04388784397520523, 0.08585979199113825}},
		{"integers(0,3)", func(g *Generator) float64 { return float64(g.Integers(0, 3)) },
			[]float64{0, 2, 1, 1, 1, 2, 0, 2, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(42)
			got := make([]float64, len(tt.want))
			for i := range got {
				got[i] = tt.draw(g)
			}
			require.Equal(t, tt.want, got)
		})
	}
	t.Run("IFS first transform", func(t *testing.T) {
		g := New(42)
		got := []float64{g.Uniform(0.2, 0.5), g.Uniform(0, 2*math.Pi), g.Uniform(-1, 1), g.Uniform(-1, 1)}
		require.Equal(t, []float64{0.432186814566789, 2.757554564287996, 0.7171958398227649, 0.3947360581187278}, got)
	})
}

func TestUint32Buffer(t *testing.T) {
	g := New(42)
	for range 3 {
		g.Integers(0, 64)
	}
	// numpy: after three integers(0,64) has_uint32 = 1, uinteger = 1884968545.
	require.True(t, g.hasU32)
	require.Equal(t, uint32(1884968545), g.u32)
	g.Integers(0, 64)
	require.False(t, g.hasU32, "the fourth draw empties the buffer")

	// The buffer survives 64-bit draws in between.
	a, b := New(42), New(42)
	lo := a.Uint32()
	a.Uint64()
	hiHalf := a.Uint32()
	first := b.Uint64()
	require.Equal(t, uint32(first), lo)
	require.Equal(t, uint32(first>>32), hiHalf)
}

// TestMixedStream interleaves every draw type; one value off means the stream diverged.
func TestMixedStream(t *testing.T) {
	type mix struct {
		random, normal, uniform, sn float64
		i64a, i1000, i3             int64
	}
	tests := []struct {
		name string
		seed uint64
		want mix
	}{
		{"seed 42", 42, mix{0.7739560485559633, -0.06624774402096772, 0.0697368029059364, -1.302179506862318, 41, 438, 0}},
		{"seed 0", 0, mix{0.6369616873214543, -0.0667978867477836, 0.0016527635528529095, 0.36159505490948474, 32, 269, 0}},
		{"seed 2^40+5", 1<<40 + 5, mix{0.004739459374490829, -0.06485456795503387, 0.015139964872492384, -2.197161598075822, 28, 372, 0}},
		{"seed 2^64-1", math.MaxUint64, mix{0.6800266789616931, -0.06965386747571314, 0.08945681264391474, -0.9700372425534345, 60, 845, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(tt.seed)
			var got mix
			got.random = g.Random()
			got.i64a = g.Integers(0, 64)
			got.normal = g.Normal(-0.07, 0.005)
			got.i1000 = g.Integers(0, 1000)
			got.uniform = g.Uniform(0, 0.1)
			got.i3 = g.Integers(0, 3)
			got.sn = g.StandardNormal()
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDeterminism(t *testing.T) {
	for _, seed := range []uint64{0, 1 << 40, math.MaxUint64} {
		a, b := New(seed), New(seed)
		for i := range 1000 {
			require.Equal(t, a.Uint64(), b.Uint64(), "seed %d draw %d", seed, i)
		}
	}
	require.NotEqual(t, New(math.MaxUint64).Uint64(), New(math.MaxUint64-1).Uint64())
}

// TestStandardNormalLong runs 200000 normals from default_rng(3): 45 of them come from
// the tail and many from the wedges, so every branch runs. numpy's values and the draws
// that follow (which show the generators consumed the same number of words) are goldens.
func TestStandardNormalLong(t *testing.T) {
	g := New(3)
	var last, maxV, minV float64
	argMax, argMin, tail := -1, -1, 0
	for i := range 200000 {
		x := g.StandardNormal()
		if argMax < 0 || x > maxV {
			maxV, argMax = x, i
		}
		if argMin < 0 || x < minV {
			minV, argMin = x, i
		}
		if math.Abs(x) > zigR {
			tail++
		}
		last = x
	}
	require.Equal(t, -0.3741390588336898, last)
	require.Equal(t, 90385, argMax)
	require.InDelta(t, 4.369477573047474, maxV, 1e-12) // tail values pass through log1p
	require.Equal(t, 111667, argMin)
	require.InDelta(t, -4.574671029819804, minV, 1e-12)
	require.Equal(t, 45, tail)
	require.Equal(t, int64(924644176591), g.Integers(0, 1<<40))
	require.Equal(t, uint64(6200171971891163071), g.Uint64())
}

func TestIntegersGolden(t *testing.T) {
	// numpy: g = default_rng(7), then the calls below in this order.
	g := New(7)
	type call struct {
		lo, hi int64
		want   []int64
	}
	calls := []call{
		{0, 1 << 40, []int64{687299734001, 986497006767, 852875435924, 247617924053}},
		{-1 << 62, 1 << 62, []int64{-1843140699770607454, 3445422402538640282, -4563122155531741640}},
		{0, 1 << 32, []int64{2146567901, 3527149199, 564533598}},
		{0, 1<<32 + 1, []int64{2009765319, 1301514363}},
		{math.MinInt64, math.MaxInt64, []int64{-4087326026865880444, -4521857981227254033}},
		{5, 6, []int64{5, 5}},
		{0, 64, []int64{51}},
	}
	for _, c := range calls {
		for i, want := range c.want {
			require.Equal(t, want, g.Integers(c.lo, c.hi), "integers(%d, %d) draw %d", c.lo, c.hi, i)
		}
	}

	// Ranges 2^32 and 2^32−1 take different 32-bit paths (raw next32 vs Lemire).
	g = New(42)
	for _, want := range []int64{383329928, 3324115917, 2811363265} {
		require.Equal(t, want, g.Integers(0, 1<<32))
	}
	for _, want := range []int64{1884968544, 1859786275, 3687649985} {
		require.Equal(t, want, g.Integers(0, 1<<32-1))
	}
}

func TestIntegersEdges(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi int64
		want   int64
	}{
		{"one value", 7, 8, 7},
		{"empty range returns lo", 7, 7, 7},
		{"inverted range returns lo", 9, 3, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(1)
			ref := New(1)
			require.Equal(t, tt.want, g.Integers(tt.lo, tt.hi))
			require.Equal(t, ref.Uint64(), g.Uint64(), "no draw was consumed")
		})
	}
}

func TestIntegersInRange(t *testing.T) {
	ranges := [][2]int64{{0, 2}, {0, 3}, {-5, 5}, {0, 1000}, {0, 1<<31 + 1}, {0, 1<<32 - 1}, {0, 1 << 32}, {0, 1<<32 + 1},
		{-1 << 50, 1 << 50}, {math.MinInt64, math.MaxInt64}, {math.MaxInt64 - 3, math.MaxInt64}}
	g := New(11)
	for _, r := range ranges {
		seen := map[int64]bool{}
		for range 2000 {
			v := g.Integers(r[0], r[1])
			require.GreaterOrEqual(t, v, r[0])
			require.Less(t, v, r[1])
			seen[v] = true
		}
		if r[1]-r[0] <= 10 && r[1]-r[0] > 0 {
			require.Len(t, seen, int(r[1]-r[0]), "every value of [%d,%d) appears", r[0], r[1])
		}
	}
}

func TestChoiceGolden(t *testing.T) {
	tests := []struct {
		name    string
		n, m    int
		replace bool
		check   func(t *testing.T, got []int)
		next    int64 // integers(0, 64) right after, or -1
	}{
		{"floyd", 1000, 10, false, func(t *testing.T, got []int) {
			require.Equal(t, []int{85, 767, 88, 649, 436, 430, 695, 94, 201, 855}, got)
		}, 28},
		{"floyd full permutation", 50, 50, false, func(t *testing.T, got []int) {
			require.Equal(t, []int{18, 15, 0, 26, 45, 16, 39, 41, 20, 10, 8, 25, 43, 32, 47, 19, 40, 44, 24, 36, 48, 4, 7, 31,
				46, 3, 12, 5, 42, 49, 2, 33, 29, 11, 14, 34, 13, 28, 35, 27, 30, 6, 23, 1, 22, 21, 17, 9, 37, 38}, got)
		}, -1},
		{"tail shuffle", 20000, 500, false, func(t *testing.T, got []int) {
			require.Len(t, got, 500)
			require.Equal(t, []int{8305, 18068, 7297, 2318, 8047, 5653, 11764, 14696}, got[:8])
			require.Equal(t, []int{13090, 15478, 1785}, got[497:])
			require.Equal(t, 4998559, sum(got))
		}, 7},
		{"floyd, large n small m", 20001, 400, false, func(t *testing.T, got []int) {
			require.Equal(t, []int{16090, 8881, 13344, 8604, 6066, 16867, 9186, 13531}, got[:8])
			require.Equal(t, 3950648, sum(got))
		}, -1},
		{"with replacement", 7, 6, true, func(t *testing.T, got []int) {
			require.Equal(t, []int{0, 5, 4, 3, 3, 6}, got)
		}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(42)
			tt.check(t, g.Choice(tt.n, tt.m, tt.replace))
			if tt.next >= 0 {
				require.Equal(t, tt.next, g.Integers(0, 64))
			}
		})
	}
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

func TestChoiceDistinct(t *testing.T) {
	tests := []struct {
		name string
		n, m int
	}{
		{"floyd small", 10, 3},
		{"floyd all", 10, 10},
		{"floyd one", 1, 1},
		{"floyd n just above tail limit, m small", 20000, 400},
		{"tail shuffle", 12000, 1000},
		{"tail shuffle all", 10001, 10001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New(5).Choice(tt.n, tt.m, false)
			requireDistinctInRange(t, got, tt.n, tt.m)
		})
	}
}

func requireDistinctInRange(t *testing.T, got []int, n, m int) {
	t.Helper()
	require.Len(t, got, m)
	seen := make(map[int]bool, m)
	for _, v := range got {
		require.GreaterOrEqual(t, v, 0)
		require.Less(t, v, n)
		require.False(t, seen[v], "duplicate %d", v)
		seen[v] = true
	}
}

func TestChoiceInvalid(t *testing.T) {
	tests := []struct {
		name    string
		n, m    int
		replace bool
		wantNil bool
	}{
		{"m zero", 5, 0, false, false},
		{"m negative", 5, -1, true, false},
		{"n zero", 0, 3, true, true},
		{"m above n without replacement", 3, 4, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, ref := New(1), New(1)
			got := g.Choice(tt.n, tt.m, tt.replace)
			require.Empty(t, got)
			require.Equal(t, tt.wantNil, got == nil)
			require.Equal(t, ref.Uint64(), g.Uint64(), "no draw was consumed")
		})
	}
}

// TestZigguratTablesMatchTSV checks the generated tables against the TSV bit for bit.
func TestZigguratTablesMatchTSV(t *testing.T) {
	f, err := os.Open("testdata/numpy-ziggurat-normal.tsv")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	rows := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.HasPrefix(line, "index") {
			continue
		}
		c := strings.Split(line, "\t")
		require.Len(t, c, 4)
		i, err := strconv.Atoi(c[0])
		require.NoError(t, err)
		k, err := strconv.ParseUint(strings.TrimPrefix(c[1], "0x"), 16, 64)
		require.NoError(t, err)
		w, err := strconv.ParseFloat(c[2], 64)
		require.NoError(t, err)
		fv, err := strconv.ParseFloat(c[3], 64)
		require.NoError(t, err)
		require.Equal(t, k, kiDouble[i], "ki[%d]", i)
		require.Equal(t, math.Float64bits(w), math.Float64bits(wiDouble[i]), "wi[%d]", i)
		require.Equal(t, math.Float64bits(fv), math.Float64bits(fiDouble[i]), "fi[%d]", i)
		rows++
	}
	require.NoError(t, sc.Err())
	require.Equal(t, 256, rows)
}

func TestNoAllocs(t *testing.T) {
	g := New(1)
	allocs := testing.AllocsPerRun(100, func() {
		g.Uint64()
		g.Uint32()
		g.Random()
		g.Uniform(0, 1)
		g.StandardNormal()
		g.Normal(0, 1)
		g.Integers(0, 10)
		g.Integers(0, 1<<40)
	})
	require.Zero(t, allocs)
}

func FuzzIntegers(f *testing.F) {
	f.Add(uint64(42), int64(0), int64(64))
	f.Add(uint64(0), int64(-5), int64(5))
	f.Add(uint64(1), int64(0), int64(1<<32))
	f.Add(uint64(2), int64(math.MinInt64), int64(math.MaxInt64))
	f.Add(uint64(3), int64(10), int64(3))
	f.Fuzz(func(t *testing.T, seed uint64, lo, hi int64) {
		g := New(seed)
		for range 8 {
			v := g.Integers(lo, hi)
			if hi <= lo {
				require.Equal(t, lo, v)
				continue
			}
			require.GreaterOrEqual(t, v, lo)
			require.Less(t, v, hi)
		}
	})
}

func FuzzChoice(f *testing.F) {
	f.Add(uint64(42), uint16(10), uint16(3), false)
	f.Add(uint64(1), uint16(20000), uint16(1000), false)
	f.Add(uint64(2), uint16(7), uint16(50), true)
	f.Fuzz(func(t *testing.T, seed uint64, n16, m16 uint16, replace bool) {
		n, m := int(n16), int(m16)
		got := New(seed).Choice(n, m, replace)
		switch {
		case m == 0:
			require.NotNil(t, got)
			require.Empty(t, got)
		case n == 0 || (!replace && m > n):
			require.Nil(t, got)
		case replace:
			require.Len(t, got, m)
			for _, v := range got {
				require.True(t, v >= 0 && v < n, "value %d out of [0,%d)", v, n)
			}
		default:
			requireDistinctInRange(t, got, n, m)
		}
	})
}

var sinkU64 uint64
var sinkF64 float64
var sinkI64 int64

func BenchmarkUint64(b *testing.B) {
	g := New(42)
	var s uint64
	for b.Loop() {
		s += g.Uint64()
	}
	sinkU64 = s
}

func BenchmarkStandardNormal(b *testing.B) {
	g := New(42)
	var s float64
	for b.Loop() {
		s += g.StandardNormal()
	}
	sinkF64 = s
}

func BenchmarkIntegers(b *testing.B) {
	for _, bc := range []struct {
		name string
		hi   int64
	}{{"64", 64}, {"1000", 1000}, {"2^40", 1 << 40}} {
		b.Run(bc.name, func(b *testing.B) {
			g := New(42)
			var s int64
			for b.Loop() {
				s += g.Integers(0, bc.hi)
			}
			sinkI64 = s
		})
	}
}

// TestNegIf checks the branch-free sign flip against x and −x, signed zeros, infinities
// and NaN's payload included.
func TestNegIf(t *testing.T) {
	for _, x := range []float64{0, math.Copysign(0, -1), 1.5, -2.25, math.Inf(1), math.Inf(-1), math.NaN(), math.SmallestNonzeroFloat64} {
		require.Equal(t, math.Float64bits(x), math.Float64bits(negIf(x, 0)))
		require.Equal(t, math.Float64bits(-x), math.Float64bits(negIf(x, 1)))
	}
}
