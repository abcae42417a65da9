package sim

import (
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAVX selects the 4-wide AVX step kernel. AVX adds, subtracts, multiplies and
// compares round each lane exactly like the scalar SSE2 code and no FMA is used, so both
// kernels give identical bits (TestKernelMatchesReferenceStep).
var useAVX = cpu.X86.HasAVX

// stepArgs is the argument block of turingStepAVX; the assembly reads it by offset, so
// the field order is part of the contract with kernel_amd64.s.
type stepArgs struct {
	cur, next    *float64 // V of the current and next block; A and I follow at +stride, +2·stride
	n            int
	stride       uintptr // (n² + statePad)·8 bytes
	alpha, theta float64
	vmin, vmax   float64  // field clamp, or ∓Inf when jitter comes before the clamp
	pad          *float64 // the scratch after cur's V (A's and I's follow at +stride, +2·stride)
}

//go:noescape
func turingStepAVX(args *stepArgs)

// vectorStep runs the AVX kernel on every cell when the arrays are laid out as
// newState lays them out, and reports whether it did.
func vectorStep(dv, da, di, v, a, in []float64, n int, alpha, theta float64, clampV bool) bool {
	nn := n * n
	if !useAVX || scalarOnly || n < 6 || !inState(v, a, in, nn) || !inState(dv, da, di, nn) {
		return false
	}
	args := stepArgs{
		cur: &v[0], next: &dv[0], n: n,
		stride: uintptr(nn+statePad) * unsafe.Sizeof(float64(0)),
		alpha:  alpha, theta: theta,
		vmin: math.Inf(-1), vmax: math.Inf(1),
		pad: &v[:nn+1][nn],
	}
	if clampV {
		args.vmin, args.vmax = FieldMinV, FieldMaxV
	}
	turingStepAVX(&args)
	return true
}

// inState reports whether x, y, z are the three arrays of one newState block.
func inState(x, y, z []float64, nn int) bool {
	s := nn + statePad
	if len(x) != nn || len(y) != nn || len(z) != nn || cap(x) < 3*s {
		return false
	}
	block := x[:3*s]
	return &block[s] == &y[0] && &block[2*s] == &z[0]
}
