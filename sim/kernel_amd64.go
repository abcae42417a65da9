package sim

import (
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAVX selects the 4-wide AVX row kernel. AVX adds and multiplies round each lane
// exactly like the scalar SSE2 code (no FMA is used), so both kernels give identical bits.
var useAVX = cpu.X86.HasAVX

// rowArgs is the argument block of turingRowAVX; the assembly reads it by offset, so
// the field order is part of the contract with kernel_amd64.s.
type rowArgs struct {
	ov, oa, oi   *float64 // outputs, interior column 1
	vu, vd       *float64 // rows above and below, interior column 1
	vc           *float64 // centre row, column 0
	au, ad, ac   *float64
	iu, id, ic   *float64
	nbytes       uintptr // interior cells handled, ×8 bytes (a multiple of 32)
	alpha, theta float64
	vmin, vmax   float64 // field clamp, or ∓Inf when jitter comes before the clamp
}

//go:noescape
func turingRowAVX(args *rowArgs)

// turingInteriorFast runs the AVX kernel on the largest multiple of 4 interior cells and
// returns how many it did; turingInterior finishes the rest.
func turingInteriorFast(ov, oa, oi, vu, vd, vc, au, ad, ac, iu, id, ic []float64, alpha, theta float64, clampV bool) int {
	m := len(ov) &^ 3
	if !useAVX || m == 0 {
		return 0
	}
	args := rowArgs{
		ov: &ov[0], oa: &oa[0], oi: &oi[0],
		vu: &vu[0], vd: &vd[0], vc: &vc[0],
		au: &au[0], ad: &ad[0], ac: &ac[0],
		iu: &iu[0], id: &id[0], ic: &ic[0],
		nbytes: uintptr(m) * unsafe.Sizeof(float64(0)),
		alpha:  alpha, theta: theta,
		vmin: math.Inf(-1), vmax: math.Inf(1),
	}
	if clampV {
		args.vmin, args.vmax = FieldMinV, FieldMaxV
	}
	turingRowAVX(&args)
	return m
}
