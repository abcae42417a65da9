//go:build !amd64

package sim

import "math"

// minVectorN mirrors kernel_amd64.go's table for the tests: there is no vector kernel
// here, so no grid is vectorised.
var minVectorN = [...]int{kernelAVX: math.MaxInt, kernelAVX512: math.MaxInt}

// kernelAvailable: only the scalar kernel exists on this architecture.
func kernelAvailable(k int) bool { return k == kernelScalar }

// vectorStep has no vector kernel on this architecture; the scalar kernel does all cells.
func vectorStep(dv, da, di, v, a, in []float64, n int, alpha, theta float64, clampV bool, r0, r1, band int) bool {
	return false
}

// vectorRow has no vector kernel on this architecture.
func vectorRow(in, out *level, up, mid, down, o, n int, alpha, theta float64) bool { return false }

// vectorRow2 has no vector kernel on this architecture.
func vectorRow2(in, out *level, up, mid0, mid1, down, o0, o1, n int, alpha, theta float64) bool {
	return false
}
