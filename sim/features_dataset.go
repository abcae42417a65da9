package sim

import (
	"fmt"
	"math"
)

// FeatureConfig is the dataset feature extraction's FeatureConfig (numerical-core.md §15.1).
type FeatureConfig struct {
	MinBoxSize           int     // ≥ 1
	MaxBoxSize           int     // 0: automatic (min·2^(scales−1), capped at N/2)
	NumScales            int     // ≥ 2
	ThresholdLowMV       float64 // binarisation for D_box, f_active and the cluster sizes
	ThresholdMedMV       float64
	ThresholdHighMV      float64
	StabilityThresholdMV float64 // std of |ΔV| (mV) below which a transition counts as stable
	StabilityWindow      int     // consecutive stable transitions for T_stable
	Connectivity         int     // 4 or 8
}

// DefaultFeatureConfig is FeatureConfig(): 2, auto, 5, −60/−50/−40 mV, 0.001 mV, 10, 4.
func DefaultFeatureConfig() FeatureConfig {
	return FeatureConfig{
		MinBoxSize:           2,
		NumScales:            5,
		ThresholdLowMV:       -60,
		ThresholdMedMV:       -50,
		ThresholdHighMV:      -40,
		StabilityThresholdMV: 0.001,
		StabilityWindow:      10,
		Connectivity:         4,
	}
}

// Validate applies the reference's three rules, plus [FIX] a non-negative max box and a
// window of at least 1 (the reference divides nothing by it, but a window ≤ 0 makes
// T_stable meaningless).
func (c FeatureConfig) Validate() error {
	switch {
	case c.MinBoxSize < 1:
		return &ConfigError{Field: "min_box_size", Reason: "min_box_size must be at least 1"}
	case c.MaxBoxSize < 0:
		return &ConfigError{Field: "max_box_size", Reason: "max_box_size must be 0 (automatic) or positive"}
	case c.NumScales < 2:
		return &ConfigError{Field: "num_scales", Reason: "num_scales must be at least 2"}
	case c.Connectivity != 4 && c.Connectivity != 8:
		return &ConfigError{Field: "connectivity", Reason: "connectivity must be 4 or 8"}
	case c.StabilityWindow < 1:
		return &ConfigError{Field: "stability_window", Reason: "stability_window must be at least 1"}
	}
	return nil
}

// FeatureCount is the number of dataset features.
const FeatureCount = 18

// FeatureNames are the 18 feature names in the canonical order (FeatureVector.feature_names).
var FeatureNames = [FeatureCount]string{
	"D_box", "D_r2", "V_min", "V_max", "V_mean", "V_std", "V_skew", "V_kurt",
	"dV_mean", "dV_max", "T_stable", "E_trend", "f_active",
	"N_clusters_low", "N_clusters_med", "N_clusters_high", "max_cluster_size", "cluster_size_std",
}

// FeatureVector holds the 18 features (§15.2). Potentials are mV; counts are integers that
// the reference stores as floats in its dict and array forms (see Array).
type FeatureVector struct {
	DBox           float64 // box-counting dimension of field > low threshold
	DR2            float64 // R² of that fit, clamped to [0, 1]
	VMin           float64
	VMax           float64
	VMean          float64
	VStd           float64
	VSkew          float64
	VKurt          float64 // excess kurtosis
	DVMean         float64 // mean |ΔV| per step, mV
	DVMax          float64
	TStable        int
	ETrend         float64 // slope of Σ V² (mV²) per step
	FActive        float64
	NClustersLow   int
	NClustersMed   int
	NClustersHigh  int
	MaxClusterSize int
	ClusterSizeStd float64
}

// Array is to_array(): the features in FeatureNames order, integers as float64.
func (f FeatureVector) Array() [FeatureCount]float64 {
	return [FeatureCount]float64{
		f.DBox, f.DR2, f.VMin, f.VMax, f.VMean, f.VStd, f.VSkew, f.VKurt,
		f.DVMean, f.DVMax, float64(f.TStable), f.ETrend, f.FActive,
		float64(f.NClustersLow), float64(f.NClustersMed), float64(f.NClustersHigh),
		float64(f.MaxClusterSize), f.ClusterSizeStd,
	}
}

// ComputeFeatures is compute_features (§15.2) on a history of t fields of n×n cells, in
// volts, stored back to back (t = 1 is a single snapshot). The static features come from
// the last field. Sums follow numpy's pairwise order, so min, max, mean, std, dV_mean,
// dV_max, f_active, the cluster features and T_stable match the reference to the last bit;
// skew and kurtosis go through numpy's x**3 and x**4, whose last bit depends on the
// machine's pow (libm or SIMD), and D_box, D_r2 and E_trend through a least-squares fit
// (closed form here, numpy's lstsq there): those agree within ~1e-14 relative.
func ComputeFeatures(history []float64, t, n int, cfg FeatureConfig) (FeatureVector, error) {
	if t < 1 || n < 1 || len(history) != t*n*n {
		return FeatureVector{}, fmt.Errorf("history of %d values for %d frames of %d×%d: %w", len(history), t, n, n, ErrShape)
	}
	fs, err := NewFeatureStream(n, cfg)
	if err != nil {
		return FeatureVector{}, err
	}
	nn := n * n
	for s := 0; s < t; s++ {
		fs.Add(history[s*nn : (s+1)*nn])
	}
	return fs.Features()
}

// FeatureStream computes the same features as ComputeFeatures from frames given one at a
// time, keeping O(N²) memory instead of the whole history: it carries the previous frame,
// numpy's 8192-element summation chunk of the |ΔV| values (so dV_mean is summed exactly
// as numpy sums the materialised array), and one energy per frame. A FeatureStream
// belongs to one goroutine.
type FeatureStream struct {
	cfg         FeatureConfig
	n, nn       int
	frames      int
	last, lastM []float64 // the latest frame in volts and in mV
	prevM       []float64 // the frame before it, mV
	diff        []float64 // |ΔV| of the latest transition, mV
	chunk       []float64 // pending |ΔV| values of the current 8192-element chunk
	dvSum       float64
	dvMax       float64
	dvCount     int
	consecutive int
	tStable     int  // 0 until the stability window is reached
	bad         bool // a frame of the wrong size was given
	energies    []float64
}

// NewFeatureStream validates cfg and returns a stream for n×n frames.
func NewFeatureStream(n int, cfg FeatureConfig) (*FeatureStream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("grid %d: %w", n, ErrShape)
	}
	nn := n * n
	return &FeatureStream{cfg: cfg, n: n, nn: nn, last: make([]float64, nn), lastM: make([]float64, nn),
		prevM: make([]float64, nn), diff: make([]float64, nn), chunk: make([]float64, 0, npChunk)}, nil
}

// Add takes the next frame (n×n volts); the slice is not kept. A frame of the wrong
// length is ignored and makes Features fail.
func (s *FeatureStream) Add(field []float64) {
	if len(field) != s.nn {
		s.bad = true
		return
	}
	s.frames++
	s.prevM, s.lastM = s.lastM, s.prevM
	copy(s.last, field)
	// numpy materialises history·1000 once; every mV value below is that product.
	for k, x := range field {
		s.lastM[k] = x * 1000.0
	}
	if s.frames >= 2 {
		for k := range s.diff {
			d := math.Abs(s.lastM[k] - s.prevM[k])
			s.diff[k] = d
			s.chunk = append(s.chunk, d)
			if len(s.chunk) == npChunk {
				s.dvSum += pairwiseSum(s.chunk)
				s.chunk = s.chunk[:0]
			}
		}
		// numpy's max propagates NaN: once NaN, dV_max stays NaN.
		if m := Max(s.diff); s.dvCount == 0 || m != m || (s.dvMax == s.dvMax && m > s.dvMax) {
			s.dvMax = m
		}
		s.dvCount += s.nn
		t := s.frames - 2 // index of this transition
		if s.tStable == 0 {
			if Std(s.diff) < s.cfg.StabilityThresholdMV {
				s.consecutive++
				if s.consecutive >= s.cfg.StabilityWindow {
					s.tStable = t - s.cfg.StabilityWindow + 2
				}
			} else {
				s.consecutive = 0
			}
		}
	}
	sq := s.diff // free again: this transition's |ΔV| has been used
	for k, m := range s.lastM {
		sq[k] = m * m
	}
	s.energies = append(s.energies, Sum(sq))
}

// Features returns the 18 features of the frames added so far (at least one).
func (s *FeatureStream) Features() (FeatureVector, error) {
	var f FeatureVector
	if s.frames < 1 || s.bad {
		return f, fmt.Errorf("no frames (or a frame of the wrong size) for a %d×%d stream: %w", s.n, s.n, ErrShape)
	}
	cfg, n, nn, field, mv := s.cfg, s.n, s.nn, s.last, s.lastM

	low := threshold(field, cfg.ThresholdLowMV/1000.0)
	active := 0
	for _, b := range low {
		if b {
			active++
		}
	}
	dim, r2, err := BoxCountingDimension(low, n, cfg.MinBoxSize, cfg.MaxBoxSize, cfg.NumScales)
	if err != nil {
		return f, err
	}
	f.DBox, f.DR2 = dim, clamp(r2, 0, 1)

	f.VMin, f.VMax, f.VMean, f.VStd = Min(mv), Max(mv), Mean(mv), Std(mv)
	if f.VStd > 1e-10 {
		c3 := make([]float64, nn)
		c4 := make([]float64, nn)
		for k, x := range mv {
			d := x - f.VMean
			c3[k], c4[k] = pow3(d), pow4(d)
		}
		f.VSkew = Mean(c3) / pow3(f.VStd)
		f.VKurt = Mean(c4)/pow4(f.VStd) - 3.0
	}

	if t := s.frames; t >= 2 {
		sum := s.dvSum
		if len(s.chunk) > 0 {
			sum += pairwiseSum(s.chunk)
		}
		f.DVMean, f.DVMax = sum/float64(s.dvCount), s.dvMax
		f.TStable = t
		if s.tStable > 0 {
			f.TStable = s.tStable
		}
		times := make([]float64, t)
		for i := range times {
			times[i] = float64(i)
		}
		f.ETrend, _ = fitLine(times, s.energies)
	}

	f.FActive = float64(active) / float64(nn)
	var sizes []int
	f.NClustersLow, sizes = clusters(low, n, cfg.Connectivity)
	f.NClustersMed, _ = clusters(threshold(field, cfg.ThresholdMedMV/1000.0), n, cfg.Connectivity)
	f.NClustersHigh, _ = clusters(threshold(field, cfg.ThresholdHighMV/1000.0), n, cfg.Connectivity)
	if len(sizes) > 0 {
		fs := make([]float64, len(sizes))
		for i, sz := range sizes {
			f.MaxClusterSize = max(f.MaxClusterSize, sz)
			fs[i] = float64(sz)
		}
		if len(sizes) > 1 {
			f.ClusterSizeStd = Std(fs)
		}
	}
	return f, nil
}

func threshold(field []float64, thV float64) []bool {
	b := make([]bool, len(field))
	for k, x := range field {
		b[k] = x > thV
	}
	return b
}

// clusters counts the connected components of the n×n mask (no wrap-around) with 4- or
// 8-connectivity and returns their sizes in order of first appearance (row-major).
func clusters(mask []bool, n, connectivity int) (int, []int) {
	parent := make([]int32, len(mask))
	for k := range parent {
		parent[k] = int32(k)
	}
	find := func(x int32) int32 {
		root := x
		for parent[root] != root {
			root = parent[root]
		}
		for parent[x] != root {
			x, parent[x] = parent[x], root
		}
		return root
	}
	union := func(x, y int) {
		rx, ry := find(int32(x)), find(int32(y))
		if rx != ry {
			parent[max(rx, ry)] = min(rx, ry)
		}
	}
	for r := 0; r < n; r++ {
		for c := 0; c < n; c++ {
			k := r*n + c
			if !mask[k] {
				continue
			}
			if c+1 < n && mask[k+1] {
				union(k, k+1)
			}
			if r+1 < n && mask[k+n] {
				union(k, k+n)
			}
			if connectivity == 8 && r+1 < n {
				if c+1 < n && mask[k+n+1] {
					union(k, k+n+1)
				}
				if c > 0 && mask[k+n-1] {
					union(k, k+n-1)
				}
			}
		}
	}
	index := make(map[int32]int)
	var sizes []int
	for k, on := range mask {
		if !on {
			continue
		}
		root := find(int32(k))
		i, ok := index[root]
		if !ok {
			i = len(sizes)
			index[root] = i
			sizes = append(sizes, 0)
		}
		sizes[i]++
	}
	return len(sizes), sizes
}

// pow3 is x³ correctly rounded, as glibc's pow(x, 3.0) (which numpy's x**3 calls): the
// square is carried exactly as a double-double (math.FMA gives its rounding error), so
// only the final sum rounds.
func pow3(x float64) float64 {
	p := x * x
	e := math.FMA(x, x, -p)
	hi := p * x
	lo := math.FMA(p, x, -hi) + e*x
	return hi + lo
}

// pow4 is x⁴ correctly rounded, as pow3.
func pow4(x float64) float64 {
	p := x * x
	e := math.FMA(x, x, -p)
	hi := p * p
	lo := math.FMA(p, p, -hi) + 2*p*e
	return hi + lo
}
