package sim

import "math"

// ActiveThresholdV is the |V| above which the streaming features call a cell active.
const ActiveThresholdV = 0.01

// Features are the 9 streaming features of integration/ws_adapters.py (§15.5); the JSON
// keys are the reference's.
type Features struct {
	PotMeanMV        float64 `json:"pot_mean_mV"`
	PotStdMV         float64 `json:"pot_std_mV"`
	PotMinMV         float64 `json:"pot_min_mV"`
	PotMaxMV         float64 `json:"pot_max_mV"`
	ActiveNodes      int     `json:"active_nodes"`
	ActivityRatio    float64 `json:"activity_ratio"`
	FractalDimension float64 `json:"fractal_dimension"`
	TotalEnergy      float64 `json:"total_energy"`     // Σ V², volts²
	SpatialVariance  float64 `json:"spatial_variance"` // mean(gx² + gy²), volts²
}

// StreamFeatures computes the 9 streaming features of an n×n field in volts: mean, std,
// min and max in mV; cells with |V| > 0.01 V; their fraction; the simplified box-counting
// dimension (StreamFractalDimension); Σ V²; and the mean squared numpy gradient
// (0 for n < 2, where numpy's gradient is undefined).
func StreamFeatures(field []float64, n int) Features {
	var f Features
	if n <= 0 || len(field) != n*n {
		return f
	}
	f.PotMeanMV = Mean(field) * 1000
	f.PotStdMV = Std(field) * 1000
	f.PotMinMV = Min(field) * 1000
	f.PotMaxMV = Max(field) * 1000
	for _, v := range field {
		if math.Abs(v) > ActiveThresholdV {
			f.ActiveNodes++
		}
	}
	f.ActivityRatio = float64(f.ActiveNodes) / float64(n*n)
	f.FractalDimension = StreamFractalDimension(field, n)
	sq := make([]float64, len(field))
	for k, v := range field {
		sq[k] = v * v
	}
	f.TotalEnergy = Sum(sq)
	if n >= 2 {
		gy, gx := Gradient(field, n)
		for k := range sq {
			sq[k] = float64(gy[k]*gy[k]) + float64(gx[k]*gx[k]) // numpy rounds both squares
		}
		f.SpatialVariance = Mean(sq)
	}
	return f
}

// StreamFractalDimension is the streaming adapter's simplified box counting: cells with
// |V| > 0.01 V, box sizes 2, 4, 8, 16 up to n over the (n/s)² tiling (empty counts kept),
// the slope between the first and last size only, D = clip(−slope, 0, 2); 1.0 when fewer
// than two sizes fit. [FIX] An all-inactive field gives 0 where the reference gives NaN.
func StreamFractalDimension(field []float64, n int) float64 {
	if n <= 0 || len(field) != n*n {
		return 0
	}
	active := newMask(n)
	for r := range n {
		row := active.bits[r*active.w:]
		for c, v := range field[r*n : r*n+n] {
			row[c>>6] |= bit(math.Abs(v) > ActiveThresholdV) << (c & 63)
		}
	}
	var sizes, counts []float64
	for s := 2; s <= 16 && s <= n; s *= 2 {
		sizes = append(sizes, float64(s))
		counts = append(counts, float64(countBoxes(active, s, n/s)))
	}
	if len(sizes) < 2 {
		return 1.0
	}
	last := len(sizes) - 1
	slope := (math.Log(counts[last]) - math.Log(counts[0])) / (math.Log(sizes[last]) - math.Log(sizes[0]))
	d := -slope
	if math.IsNaN(d) {
		return 0
	}
	return min(max(d, 0), 2)
}
