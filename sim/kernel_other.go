//go:build !amd64

package sim

// useAVX is false: there is no vector kernel here.
var useAVX = false

// vectorStep has no vector kernel on this architecture; the scalar kernel does all cells.
func vectorStep(dv, da, di, v, a, in []float64, n int, alpha, theta float64, clampV bool) bool {
	return false
}
