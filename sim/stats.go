package sim

import (
	"math"
	"slices"
)

// numpy reduces contiguous float64 arrays in chunks of this many elements (the ufunc
// buffer size); each chunk is summed pairwise and the chunk sums are added in order.
const npChunk = 8192

// pairwiseSum is numpy's pairwise_sum for float64 (loops.c.src), bit for bit.
func pairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		res := 0.0
		for _, x := range a {
			res += x
		}
		return res
	case n <= 128:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			b := a[i : i+8 : i+8]
			r[0] += b[0]
			r[1] += b[1]
			r[2] += b[2]
			r[3] += b[3]
			r[4] += b[4]
			r[5] += b[5]
			r[6] += b[6]
			r[7] += b[7]
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
	}
}

// Sum is np.sum of a contiguous float64 array: pairwise within 8192-element chunks,
// chunk results accumulated left to right starting from 0.
func Sum(x []float64) float64 {
	acc := 0.0
	for len(x) > 0 {
		k := min(len(x), npChunk)
		acc += pairwiseSum(x[:k])
		x = x[k:]
	}
	return acc
}

// Mean is np.mean: Sum(x) / len(x). An empty slice gives NaN, as numpy does.
func Mean(x []float64) float64 {
	return Sum(x) / float64(len(x))
}

// Std is np.std with ddof = 0: sqrt(mean((x − mean)²)) with numpy's summation order.
// An empty slice gives NaN.
func Std(x []float64) float64 {
	_, std := MeanStd(x)
	return std
}

// MeanStd is Mean(x) and Std(x), the mean computed once.
func MeanStd(x []float64) (mean, std float64) {
	m := Mean(x)
	n := len(x)
	if n == 0 {
		return m, math.NaN()
	}
	// numpy materialises (x − m)² and sums it in the same 8192-element chunks.
	acc := 0.0
	for len(x) > 0 {
		k := min(len(x), npChunk)
		acc += pairwiseSumSq(x[:k], m)
		x = x[k:]
	}
	return m, math.Sqrt(acc / float64(n))
}

// pairwiseSumSq is pairwiseSum of the squares (a[i] − m)², with the same splits, each
// leaf's squares made in a small buffer instead of all of them in a chunk-sized one (a
// 64 KiB stack array cleared on every call, and a goroutine stack grown to hold it).
func pairwiseSumSq(a []float64, m float64) float64 {
	n := len(a)
	if n <= 128 {
		var sq [128]float64
		for i, v := range a {
			d := v - m
			sq[i] = d * d
		}
		return pairwiseSum(sq[:n])
	}
	n2 := n / 2
	n2 -= n2 % 8
	return pairwiseSumSq(a[:n2], m) + pairwiseSumSq(a[n2:], m)
}

// Min is np.min: NaN if any element is NaN (or the slice is empty).
func Min(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	m := x[0]
	for _, v := range x {
		if v < m {
			m = v
		} else if v != v {
			return v
		}
	}
	return m
}

// MinMax is Min(x) and Max(x) in one pass.
func MinMax(x []float64) (lo, hi float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN()
	}
	lo, hi = x[0], x[0]
	for _, v := range x {
		if v < lo {
			lo = v
		} else if v > hi {
			hi = v
		} else if v != v {
			return v, v
		}
	}
	return lo, hi
}

// Max is np.max: NaN if any element is NaN (or the slice is empty).
func Max(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	m := x[0]
	for _, v := range x {
		if v > m {
			m = v
		} else if v != v {
			return v
		}
	}
	return m
}

// Percentile is np.percentile(x, q) with the default "linear" method, including numpy's
// two-sided interpolation (a + (b−a)·t below t = 0.5, b − (b−a)·(1−t) from 0.5 on).
// q is in percent [0, 100]; x is not modified. An empty slice gives NaN.
func Percentile(x []float64, q float64) float64 {
	n := len(x)
	if n == 0 {
		return math.NaN()
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if math.IsNaN(s[0]) { // slices.Sort puts NaN first; numpy's result is NaN then
		return math.NaN()
	}
	v := (q / 100) * float64(n-1)
	lo := math.Floor(v)
	t := v - lo
	i := min(max(int(lo), 0), n-1)
	j := min(i+1, n-1)
	a, b := s[i], s[j]
	d := b - a
	if t >= 0.5 {
		return b - float64(d*(1-t))
	}
	return a + float64(d*t)
}

// Median is np.percentile(x, 50) (equal to np.median).
func Median(x []float64) float64 { return Percentile(x, 50) }
