package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrShape reports a field whose length is not n×n.
var ErrShape = errors.New("sim: field must be a square 2D array")

// ErrScales reports num_scales < 1.
var ErrScales = errors.New("sim: num_scales must be >= 1")

// geomspaceKey names one numpy geomspace(min, max, num) call.
type geomspaceKey struct{ min, num, max int }

// geomspaceQuirks lists, for min ∈ {1, 2}, max ≤ 1024, num ∈ [2, 10], every raw index
// where numpy's geomspace + truncation differs from the exact value (numerical-core.md
// §7.2): the first value of each pair is the index, the second what numpy produces.
var geomspaceQuirks = map[geomspaceKey][][2]int{}

func init() {
	add := func(min, num int, table string) {
		// table: "max:kX=v,kY=w max:..." entries separated by spaces.
		for _, entry := range splitFields(table, ' ') {
			var maxV int
			parts := splitFields(entry, ':')
			if _, err := fmt.Sscanf(parts[0], "%d", &maxV); err != nil {
				panic(err)
			}
			var fix [][2]int
			for _, kv := range splitFields(parts[1], ',') {
				var k, v int
				if _, err := fmt.Sscanf(kv, "k%d=%d", &k, &v); err != nil {
					panic(err)
				}
				fix = append(fix, [2]int{k, v})
			}
			geomspaceQuirks[geomspaceKey{min, num, maxV}] = fix
		}
	}
	add(2, 3, "8:k1=3 32:k1=7 98:k1=13 162:k1=17 242:k1=21 392:k1=27 450:k1=29 722:k1=37 968:k1=43")
	add(2, 4, "16:k2=7 54:k2=17 128:k1=7 250:k2=49 432:k1=11,k2=71 686:k1=13 1024:k2=127")
	add(2, 5, "8:k2=3 32:k2=7 98:k2=13 162:k2=17,k3=53 242:k2=21 392:k2=27 450:k2=29 512:k1=7,k3=127 722:k2=37 968:k2=43")
	add(2, 6, "64:k1=3,k2=7,k3=15,k4=31 486:k2=17,k4=161")
	add(2, 7, "8:k3=3 16:k4=7 32:k3=7 54:k4=17 98:k3=13 128:k2=7 162:k3=17 242:k3=21 250:k4=49 392:k3=27 432:k2=11,k4=71 450:k3=29 686:k2=13 722:k3=37 968:k3=43 1024:k4=127")
	add(2, 8, "256:k2=7,k6=127")
	add(2, 9, "8:k4=3 32:k4=7 98:k4=13 162:k4=17,k6=53 242:k4=21 392:k4=27 450:k4=29 512:k2=7,k6=127 722:k4=37 968:k4=43")
	add(2, 10, "16:k6=7 128:k3=7 250:k6=49 432:k3=11,k6=71 686:k3=13 1024:k2=7,k6=127")
	add(1, 3, "49:k1=6 64:k1=7 169:k1=12 196:k1=13 289:k1=16 324:k1=17 361:k1=18 484:k1=21 784:k1=27 900:k1=29")
	add(1, 4, "125:k1=4,k2=24 343:k1=6")
	add(1, 5, "16:k3=7 49:k2=6 64:k2=7 169:k2=12 196:k2=13 256:k3=63 289:k2=16 324:k2=17 361:k2=18 484:k2=21 784:k2=27 900:k2=29")
	add(1, 6, "32:k3=7 1024:k3=63")
	add(1, 7, "49:k3=6 64:k3=7 125:k2=4,k4=24 169:k3=12 196:k3=13 289:k3=16 324:k3=17 343:k2=6 361:k3=18 484:k3=21 729:k5=242 784:k3=27 900:k3=29")
	add(1, 8, "128:k3=7,k6=63")
	add(1, 9, "16:k6=7 49:k4=6 64:k4=7 169:k4=12 196:k4=13 256:k3=7,k6=63,k7=127 289:k4=16 324:k4=17 361:k4=18 484:k4=21 784:k4=27 900:k4=29")
	add(1, 10, "125:k3=4,k6=24 343:k3=6 512:k3=7,k6=63,k7=127")
}

func splitFields(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == sep {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// BoxSizes is np.unique(np.geomspace(minBox, maxBox, num).astype(int)) as numpy computes
// it (§7.2): the exact truncation plus numpy's known rounding quirks, so that
// BoxSizes(2, 32, 5) is [2, 4, 7, 16, 32]. The quirk table covers minBox ∈ {1, 2},
// maxBox ≤ 1024 and num ≤ 10; outside it the exact values are used. num < 1 gives nil.
func BoxSizes(minBox, maxBox, num int) []int {
	if num < 1 {
		return nil
	}
	raw := make([]int, num)
	raw[0] = minBox
	if num > 1 {
		raw[num-1] = maxBox
		ratio := float64(maxBox) / float64(minBox)
		for k := 1; k < num-1; k++ {
			raw[k] = int(math.Floor(float64(minBox)*math.Pow(ratio, float64(k)/float64(num-1)) + 1e-9))
		}
		for _, fix := range geomspaceQuirks[geomspaceKey{minBox, num, maxBox}] {
			raw[fix[0]] = fix[1]
		}
	}
	slices.Sort(raw)
	return slices.Compact(raw)
}

// BoxCountingDimension is estimate_fractal_dimension(binary, min_box_size, max_box_size,
// num_scales) (§7.1) for an n×n row-major mask; maxBox ≤ 0 means "auto"
// (min·2^(num−1), capped at n/2, or at n when n < 4). It returns the slope D and the
// fit's R² (§7.4, not clamped; 0 when fewer than two sizes have boxes, D is 0 then too).
// Only the top-left (n/s·s)² square is tiled for size s, like the reference.
func BoxCountingDimension(binary []bool, n, minBox, maxBox, numScales int) (dim, r2 float64, err error) {
	if n < 0 || len(binary) != n*n || n == 0 {
		return 0, 0, fmt.Errorf("binary of length %d for n=%d: %w", len(binary), n, ErrShape)
	}
	if numScales < 1 {
		return 0, 0, fmt.Errorf("num_scales %d: %w", numScales, ErrScales)
	}
	return boxCountingDimension(maskOf(binary, n), minBox, resolveMaxBox(n, minBox, maxBox, numScales), numScales)
}

// resolveMaxBox is the largest box size BoxCountingDimension uses: maxBox, or "auto" when
// maxBox ≤ 0 (min·2^(num−1), capped at n/2, or at n when n < 4); at least minBox.
func resolveMaxBox(n, minBox, maxBox, numScales int) int {
	if maxBox <= 0 {
		maxBox = math.MaxInt // min·2^(num−1) saturates instead of overflowing
		if numScales-1 < 62 && minBox <= math.MaxInt>>(numScales-1) {
			maxBox = minBox << (numScales - 1)
		}
		if n >= 4 {
			maxBox = min(maxBox, n/2)
		} else {
			maxBox = min(maxBox, n)
		}
	}
	return max(maxBox, minBox)
}

// boxCountingDimension is BoxCountingDimension on a mask, with maxBox resolved.
func boxCountingDimension(m mask, minBox, maxBox, numScales int) (dim, r2 float64, err error) {
	n := m.n
	var xs, ys [64]float64
	used := 0
	for _, s := range BoxSizes(minBox, maxBox, numScales) {
		if s <= 0 {
			continue
		}
		k := n / s
		if k == 0 {
			continue
		}
		c := countBoxes(m, s, k)
		if c == 0 {
			continue
		}
		if used == len(xs) {
			break
		}
		xs[used] = math.Log(1.0 / float64(s))
		ys[used] = math.Log(float64(c))
		used++
	}
	if used < 2 {
		return 0, 0, nil
	}
	d, r := fitLine(xs[:used], ys[:used])
	return d, r, nil
}

// mask is a binary n×n field as one bitset per row (w words each): box counting ORs the
// s rows of a box row together and tests s bits per box, instead of s² bools.
type mask struct {
	n, w int
	bits []uint64
}

func newMask(n int) mask {
	w := (n + 63) / 64
	return mask{n: n, w: w, bits: make([]uint64, n*w)}
}

// maskOf is binary (n×n, row-major) as a mask.
func maskOf(binary []bool, n int) mask {
	m := newMask(n)
	for r := range n {
		row := m.bits[r*m.w:]
		for c, b := range binary[r*n : r*n+n] {
			row[c>>6] |= bit(b) << (c & 63)
		}
	}
	return m
}

// maskAbove is the mask of the cells of field (n×n) above threshold.
func maskAbove(field []float64, n int, threshold float64) mask {
	m := newMask(n)
	for r := range n {
		row := m.bits[r*m.w:]
		for c, v := range field[r*n : r*n+n] {
			row[c>>6] |= bit(v > threshold) << (c & 63)
		}
	}
	return m
}

// bit is 1 for true: a conditional move, not a branch, since a thresholded field is
// often as unpredictable as a coin.
func bit(b bool) uint64 {
	var x uint64
	if b {
		x = 1
	}
	return x
}

// countBoxes counts the s×s boxes of the k×k tiling that hold at least one set cell.
func countBoxes(m mask, s, k int) int {
	count := 0
	rows := make([]uint64, m.w) // the OR of one box row's s rows
	for bi := 0; bi < k; bi++ {
		clear(rows)
		any := uint64(0)
		for r := bi * s; r < bi*s+s; r++ {
			for i, x := range m.bits[r*m.w : r*m.w+m.w] {
				rows[i] |= x
				any |= x
			}
		}
		if any == 0 {
			continue
		}
		for bj := 0; bj < k; bj++ {
			if anySet(rows, bj*s, s) {
				count++
			}
		}
	}
	return count
}

// anySet reports whether any of the bits lo…lo+s−1 of bits is set.
func anySet(bits []uint64, lo, s int) bool {
	for s > 0 {
		off := lo & 63
		take := min(s, 64-off)
		word := bits[lo>>6] >> off
		if take < 64 {
			word &= 1<<take - 1
		}
		if word != 0 {
			return true
		}
		lo += take
		s -= take
	}
	return false
}

// fitLine is the least-squares line y = D·x + c; it returns D and R².
func fitLine(xs, ys []float64) (slope, r2 float64) {
	m := float64(len(xs))
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/m, sy/m
	var sxy, sxx float64
	for i := range xs {
		dx := xs[i] - mx
		sxy += dx * (ys[i] - my)
		sxx += dx * dx
	}
	slope = sxy / sxx
	c := my - slope*mx
	var ssRes, ssTot float64
	for i := range xs {
		e := ys[i] - (slope*xs[i] + c)
		ssRes += e * e
		t := ys[i] - my
		ssTot += t * t
	}
	if ssTot > 0 {
		r2 = 1 - ssRes/ssTot
	}
	return slope, r2
}

// FractalDimension is estimate_fractal_dimension(field > thresholdV) with the reference's
// defaults (min box 2, auto max, 5 scales). A field of the wrong length gives 0.
func FractalDimension(field []float64, n int, thresholdV float64) float64 {
	if n <= 0 || len(field) != n*n {
		return 0
	}
	d, _, _ := boxCountingDimension(maskAbove(field, n, thresholdV), 2, resolveMaxBox(n, 2, 0, 5), 5)
	return d
}
