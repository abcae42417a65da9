//go:build !amd64

package sim

// turingInteriorFast has no vector kernel on this architecture; turingInterior does all cells.
func turingInteriorFast(ov, oa, oi, vu, vd, vc, au, ad, ac, iu, id, ic []float64, alpha, theta float64, clampV bool) int {
	return 0
}
