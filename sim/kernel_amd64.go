package sim

import (
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// kernelAvailable reports whether this CPU (and OS) runs kernel k. The vector kernels
// use only adds, subtracts, multiplies, compares, min/max and blends, which round each
// lane exactly like the scalar SSE2 code; no FMA is used, so all kernels give identical
// bits (TestKernelsMatchReference).
func kernelAvailable(k int) bool {
	switch k {
	case kernelScalar:
		return true
	case kernelAVX:
		return cpu.X86.HasAVX
	case kernelAVX512:
		return cpu.X86.HasAVX512F // includes the OS's saving of the ZMM and mask state
	}
	return false
}

// stepArgs is the argument block of the assembly kernels; they read it by offset, so
// the field order is part of the contract with kernel_amd64.s.
type stepArgs struct {
	cur, next    *float64 // V of the current and next block; A and I follow at +stride, +2·stride
	n            int
	stride       uintptr // (n² + statePad(n))·8 bytes
	alpha, theta float64
	vmin, vmax   float64  // field clamp, or ∓Inf when jitter comes before the clamp
	pad          *float64 // this band's windows after cur's V (A's and I's at +stride, +2·stride)
	r0, r1       int      // rows r0…r1−1
}

//go:noescape
func turingStepAVX(args *stepArgs)

//go:noescape
func turingStepAVX512(args *stepArgs)

// minVectorN is the smallest grid each vector kernel handles: its row's left and right
// windows (one vector each) must lie inside the row.
var minVectorN = [...]int{kernelAVX: 6, kernelAVX512: 9}

// vectorStep runs the selected vector kernel on rows r0…r1−1 when the arrays are laid
// out as newState lays them out, and reports whether it did.
func vectorStep(dv, da, di, v, a, in []float64, n int, alpha, theta float64, clampV bool, r0, r1, band int) bool {
	k := kernel
	if k == kernelScalar || n < minVectorN[k] || r0 >= r1 || band >= maxBands(n) ||
		!inState(v, a, in, n) || !inState(dv, da, di, n) {
		return false
	}
	nn := n * n
	args := stepArgs{
		cur: &v[0], next: &dv[0], n: n,
		stride: uintptr(nn+statePad(n)) * unsafe.Sizeof(float64(0)),
		alpha:  alpha, theta: theta,
		vmin: math.Inf(-1), vmax: math.Inf(1),
		pad: &v[:cap(v)][nn+band*bandPad],
		r0:  r0, r1: r1,
	}
	if clampV {
		args.vmin, args.vmax = FieldMinV, FieldMaxV
	}
	if k == kernelAVX512 {
		turingStepAVX512(&args)
	} else {
		turingStepAVX(&args)
	}
	return true
}

// rowArgs is the argument block of the row kernels (the same contract as stepArgs).
type rowArgs struct {
	up, mid, down       *float64 // V of the input rows; A and I at +inStride, +2·inStride
	out                 *float64 // V of the output row; A and I at +outStride, +2·outStride
	inStride, outStride uintptr  // bytes
	n                   int
	alpha, theta        float64
	vmin, vmax          float64
	pad                 *float64 // wrap-window scratch of the input (A's, I's at +inStride, +2·inStride)
}

//go:noescape
func turingRowAVX(args *rowArgs)

//go:noescape
func turingRowAVX512(args *rowArgs)

// vectorRow computes one row with the vector kernel in use and reports whether it did.
// The levels are laid out by block.go (offsets in cells).
func vectorRow(in, out *level, up, mid, down, o, n int, alpha, theta float64) bool {
	k := kernel
	if k == kernelScalar || n < minVectorN[k] {
		return false
	}
	const f = unsafe.Sizeof(float64(0))
	args := rowArgs{
		up: &in.blk[up], mid: &in.blk[mid], down: &in.blk[down], out: &out.blk[o],
		inStride: uintptr(in.stride) * f, outStride: uintptr(out.stride) * f,
		n: n, alpha: alpha, theta: theta, vmin: FieldMinV, vmax: FieldMaxV,
		pad: &in.blk[in.pad],
	}
	if k == kernelAVX512 {
		turingRowAVX512(&args)
	} else {
		turingRowAVX(&args)
	}
	return true
}

// row2Args is the argument block of the two-row kernel (the same contract as stepArgs).
type row2Args struct {
	up, mid0, mid1, down *float64 // V of the input rows above r, r, r+1, below r+1
	out0, out1           *float64 // V of output rows r and r+1
	inStride, outStride  uintptr  // bytes
	n                    int
	alpha, theta         float64
	vmin, vmax           float64
	pad                  *float64 // wrap-window scratch of the input (A's, I's at +inStride, +2·inStride)
}

//go:noescape
func turingRow2AVX512(args *row2Args)

// vectorRow2 computes two consecutive rows in one sweep with the AVX-512 kernel and
// reports whether it did; other kernels compute them one row at a time. up, mid0, mid1,
// down are the offsets of the input rows, o0 and o1 those of the output rows.
func vectorRow2(in, out *level, up, mid0, mid1, down, o0, o1, n int, alpha, theta float64) bool {
	if kernel != kernelAVX512 || n < minVectorN[kernelAVX512] {
		return false
	}
	const f = unsafe.Sizeof(float64(0))
	args := row2Args{
		up: &in.blk[up], mid0: &in.blk[mid0], mid1: &in.blk[mid1], down: &in.blk[down],
		out0: &out.blk[o0], out1: &out.blk[o1],
		inStride: uintptr(in.stride) * f, outStride: uintptr(out.stride) * f,
		n: n, alpha: alpha, theta: theta, vmin: FieldMinV, vmax: FieldMaxV,
		pad: &in.blk[in.pad],
	}
	turingRow2AVX512(&args)
	return true
}
