package sim

import "math"

// LyapunovFromHistory is compute_lyapunov_exponent(history, dt) (§9.1): the mean of
// ln ‖h[t] − h[t−1]‖ (Frobenius norm) over the transitions whose norm exceeds 1e-10,
// divided by dt. It is a mean log step size, not a true Lyapunov exponent (§22 W-4).
// Fewer than two frames, or no transition above 1e-10, give 0. NaN norms are skipped.
func LyapunovFromHistory(history [][]float64, dt float64) float64 {
	if len(history) < 2 {
		return 0
	}
	acc, count := 0.0, 0
	for t := 1; t < len(history); t++ {
		if norm := math.Sqrt(sumSqDiff(history[t], history[t-1])); norm > 1e-10 {
			acc += math.Log(norm)
			count++
		}
	}
	if count == 0 {
		return 0
	}
	return acc / (float64(count) * dt)
}

// IsStable is is_stable(λ, threshold): λ < threshold (0 is not stable for threshold 0).
func IsStable(lambda, threshold float64) bool { return lambda < threshold }

// Stability is compute_stability_metrics(history, dt) (§9.2); the JSON keys are the
// reference's dictionary keys.
type Stability struct {
	LyapunovExponent float64 `json:"lyapunov_exponent"`
	IsStable         float64 `json:"is_stable"` // 1.0 or 0.0, as the reference reports it
	MeanChangeRate   float64 `json:"mean_change_rate"`
	MaxChangeRate    float64 `json:"max_change_rate"`
	FinalStd         float64 `json:"final_std"`
}

// StabilityMetrics is compute_stability_metrics(history, dt): the history Lyapunov value,
// whether it is below 0, mean and max |h[t+1] − h[t]| over all cells and transitions
// divided by dt (0 with fewer than two frames) and the std of the last frame (0 if none).
func StabilityMetrics(history [][]float64, dt float64) Stability {
	var m Stability
	m.LyapunovExponent = LyapunovFromHistory(history, dt)
	if IsStable(m.LyapunovExponent, 0) {
		m.IsStable = 1
	}
	if len(history) >= 2 {
		// numpy takes the mean over the whole (T−1)×N×N difference array.
		diffs := make([]float64, 0, (len(history)-1)*len(history[0]))
		for t := 1; t < len(history); t++ {
			prev := history[t-1]
			for k, v := range history[t][:len(prev)] {
				d := math.Abs(v - prev[k])
				diffs = append(diffs, d)
			}
		}
		if len(diffs) > 0 {
			m.MeanChangeRate = Mean(diffs) / dt
			m.MaxChangeRate = Max(diffs) / dt
		}
	}
	if len(history) > 0 && len(history[len(history)-1]) > 0 {
		m.FinalStd = Std(history[len(history)-1])
	}
	return m
}

// sumSqDiff is Σ (x − y)² over len(y) cells. numpy delegates this to BLAS ddot, whose
// order is unspecified; four running sums keep the loop fast and within 1e-15 of it.
func sumSqDiff(x, y []float64) float64 {
	x = x[:len(y)]
	var s0, s1, s2, s3 float64
	k := 0
	for ; k+4 <= len(y); k += 4 {
		d0, d1, d2, d3 := x[k]-y[k], x[k+1]-y[k+1], x[k+2]-y[k+2], x[k+3]-y[k+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; k < len(y); k++ {
		d := x[k] - y[k]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}
