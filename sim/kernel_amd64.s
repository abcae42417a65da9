#include "textflag.h"
#include "kernel_amd64.h"

// Broadcast constants (4 lanes each).
DATA ·avxFour+0(SB)/8, $4.0
DATA ·avxFour+8(SB)/8, $4.0
DATA ·avxFour+16(SB)/8, $4.0
DATA ·avxFour+24(SB)/8, $4.0
GLOBL ·avxFour(SB), RODATA|NOPTR, $32

DATA ·avxOne+0(SB)/8, $1.0
DATA ·avxOne+8(SB)/8, $1.0
DATA ·avxOne+16(SB)/8, $1.0
DATA ·avxOne+24(SB)/8, $1.0
GLOBL ·avxOne(SB), RODATA|NOPTR, $32

DATA ·avxDa+0(SB)/8, $0.1
DATA ·avxDa+8(SB)/8, $0.1
DATA ·avxDa+16(SB)/8, $0.1
DATA ·avxDa+24(SB)/8, $0.1
GLOBL ·avxDa(SB), RODATA|NOPTR, $32

DATA ·avxDi+0(SB)/8, $0.05
DATA ·avxDi+8(SB)/8, $0.05
DATA ·avxDi+16(SB)/8, $0.05
DATA ·avxDi+24(SB)/8, $0.05
GLOBL ·avxDi(SB), RODATA|NOPTR, $32

DATA ·avxRa+0(SB)/8, $0.01
DATA ·avxRa+8(SB)/8, $0.01
DATA ·avxRa+16(SB)/8, $0.01
DATA ·avxRa+24(SB)/8, $0.01
GLOBL ·avxRa(SB), RODATA|NOPTR, $32

DATA ·avxRi+0(SB)/8, $0.02
DATA ·avxRi+8(SB)/8, $0.02
DATA ·avxRi+16(SB)/8, $0.02
DATA ·avxRi+24(SB)/8, $0.02
GLOBL ·avxRi(SB), RODATA|NOPTR, $32

DATA ·avxBoost+0(SB)/8, $0.005
DATA ·avxBoost+8(SB)/8, $0.005
DATA ·avxBoost+16(SB)/8, $0.005
DATA ·avxBoost+24(SB)/8, $0.005
GLOBL ·avxBoost(SB), RODATA|NOPTR, $32

// BLOCK computes 4 interior cells. AX, BX: rows above and below at the cells; DX: the
// centre row one cell to the left; SI: the output; R11: bytes from V to A (A to I) in the
// input, OS in the output. Per lane, exactly the scalar order of turingInterior (kernel.go):
//   nv = c + α·((((vu+vd)+vl)+vr) − 4c)
//   na = ca + (Da·((((au+ad)+al)+ar) − 4ca) + ra·(ca·(1−ca) − ci))
//   ni = ci + (Di·((((iu+id)+il)+ir) − 4ci) + ri·(na − ci))
//   nv = na > θ ? nv + 0.005 : nv
//   clamps: MAXPD(lo, x) = lo > x ? lo : x and MINPD(hi, y) = hi < y ? hi : y keep NaN
//   like numpy's clip; signed zeros cannot differ because −0 never arises.
#define BLOCK(OS) \
	VMOVUPD (AX), Y0 \
	VADDPD (BX), Y0, Y0 \
	VADDPD (DX), Y0, Y0 \
	VADDPD 16(DX), Y0, Y0 \
	VMOVUPD 8(DX), Y1 \
	VMULPD Y6, Y1, Y2 \
	VSUBPD Y2, Y0, Y0 \
	VMULPD Y9, Y0, Y0 \
	VADDPD Y0, Y1, Y0 \
	VMOVUPD (AX)(R11*1), Y2 \
	VADDPD (BX)(R11*1), Y2, Y2 \
	VADDPD (DX)(R11*1), Y2, Y2 \
	VADDPD 16(DX)(R11*1), Y2, Y2 \
	VMOVUPD 8(DX)(R11*1), Y3 \
	VMULPD Y6, Y3, Y4 \
	VSUBPD Y4, Y2, Y2 \
	VMULPD Y13, Y2, Y2 \
	VSUBPD Y3, Y7, Y4 \
	VMULPD Y3, Y4, Y4 \
	VMOVUPD 8(DX)(R11*2), Y5 \
	VSUBPD Y5, Y4, Y4 \
	VMULPD Y14, Y4, Y4 \
	VADDPD Y4, Y2, Y2 \
	VADDPD Y2, Y3, Y2 \
	VMOVUPD (AX)(R11*2), Y3 \
	VADDPD (BX)(R11*2), Y3, Y3 \
	VADDPD (DX)(R11*2), Y3, Y3 \
	VADDPD 16(DX)(R11*2), Y3, Y3 \
	VMULPD Y6, Y5, Y4 \
	VSUBPD Y4, Y3, Y3 \
	VMULPD ·avxDi(SB), Y3, Y3 \
	VSUBPD Y5, Y2, Y4 \
	VMULPD ·avxRi(SB), Y4, Y4 \
	VADDPD Y4, Y3, Y3 \
	VADDPD Y3, Y5, Y3 \
	VCMPPD $0x1e, Y10, Y2, Y4 \
	VADDPD Y15, Y0, Y5 \
	VBLENDVPD Y4, Y5, Y0, Y0 \
	VMAXPD Y0, Y11, Y0 \
	VMINPD Y0, Y12, Y0 \
	VMAXPD Y2, Y8, Y2 \
	VMINPD Y2, Y7, Y2 \
	VMAXPD Y3, Y8, Y3 \
	VMINPD Y3, Y7, Y3 \
	VMOVUPD Y0, (SI) \
	VMOVUPD Y2, (SI)(OS*1) \
	VMOVUPD Y3, (SI)(OS*2)

// HALO_LEFT(IX, SC) copies the centre row's wrap window for columns 0…3 into the pad at
// DI (+IX·SC): pad[0:6] = [c[n−1], c[0], c[1], c[2], c[3], c[4]]. R15: c[0], R14: c[n−1].
#define HALO_LEFT(IX, SC) \
	VMOVSD (R14)(IX*SC), X0 \
	VMOVSD X0, (DI)(IX*SC) \
	VMOVUPD (R15)(IX*SC), Y1 \
	VMOVUPD Y1, 8(DI)(IX*SC) \
	VMOVSD 32(R15)(IX*SC), X2 \
	VMOVSD X2, 40(DI)(IX*SC)

// HALO_RIGHT(IX, SC): pad[8:14] = [c[n−5], c[n−4], c[n−3], c[n−2], c[n−1], c[0]] for
// columns n−4…n−1. R14: c[n−5].
#define HALO_RIGHT(IX, SC) \
	VMOVUPD (R14)(IX*SC), Y0 \
	VMOVUPD Y0, 64(DI)(IX*SC) \
	VMOVSD 32(R14)(IX*SC), X1 \
	VMOVSD X1, 96(DI)(IX*SC) \
	VMOVSD (R15)(IX*SC), X2 \
	VMOVSD X2, 104(DI)(IX*SC)

// CONSTS4 loads the constant registers Y6…Y8 and Y13…Y15.
#define CONSTS4 \
	VMOVUPD ·avxFour(SB), Y6 \
	VMOVUPD ·avxOne(SB), Y7 \
	VXORPD Y8, Y8, Y8 \
	VMOVUPD ·avxDa(SB), Y13 \
	VMOVUPD ·avxRa(SB), Y14 \
	VMOVUPD ·avxBoost(SB), Y15

// func turingStepAVX(args *stepArgs)
//
// Every cell of rows r0…r1−1 (n ≥ 6), 4 at a time. Columns 0…3 and n−4…n−1 read their
// centre-row neighbours from 6-cell wrap windows copied into the pad that follows each
// array, so the periodic boundary needs no scalar code. The windows are written before
// the row's interior and read after it, so the loads never wait on the stores. Blocks
// that overlap recompute the same values, which is harmless because the inputs are
// never overwritten.
TEXT ·turingStepAVX(SB), NOSPLIT, $0-8
	MOVQ args+0(FP), DI
	MOVQ 0(DI), R8   // cur
	MOVQ 8(DI), R9   // next
	MOVQ 16(DI), R10 // n
	MOVQ 24(DI), R11 // stride
	VBROADCASTSD 32(DI), Y9  // alpha
	VBROADCASTSD 40(DI), Y10 // theta
	VBROADCASTSD 48(DI), Y11 // vmin
	VBROADCASTSD 56(DI), Y12 // vmax
	MOVQ 72(DI), R13 // r = r0
	MOVQ 64(DI), DI  // this band's pad after cur's V
	CONSTS4
	MOVQ R10, R12
	SHLQ $3, R12     // row bytes

rowloop:
	MOVQ args+0(FP), CX // no register is free for r1; the args block is in cache
	CMPQ R13, 80(CX)
	JGE done
	ROWPTRS

	// Wrap windows first.
	LEAQ -8(R15)(R12*1), R14 // c[n−1]
	XORQ CX, CX
	HALO_LEFT(CX, 1)
	HALO_LEFT(R11, 1)
	HALO_LEFT(R11, 2)
	LEAQ -40(R15)(R12*1), R14 // c[n−5]
	HALO_RIGHT(CX, 1)
	HALO_RIGHT(R11, 1)
	HALO_RIGHT(R11, 2)

	// Columns 4…n−5 in place; a remainder block is shifted left to end at n−5.
	ADDQ $32, AX
	ADDQ $32, BX
	LEAQ 24(R15), DX
	ADDQ $32, SI
	MOVQ R10, CX
	SUBQ $8, CX
	JLE edges

colloop:
	CMPQ CX, $4
	JLT tail
	BLOCK(R11)
	ADDQ $32, AX
	ADDQ $32, BX
	ADDQ $32, DX
	ADDQ $32, SI
	SUBQ $4, CX
	JMP colloop

tail:
	TESTQ CX, CX
	JEQ edges
	SUBQ $4, CX
	SHLQ $3, CX
	ADDQ CX, AX
	ADDQ CX, BX
	ADDQ CX, DX
	ADDQ CX, SI
	BLOCK(R11)

edges:
	// Columns 0…3 through the left window.
	ROWPTRS
	MOVQ DI, DX
	BLOCK(R11)
	// Columns n−4…n−1 through the right window.
	LEAQ -32(R12), CX
	ADDQ CX, AX
	ADDQ CX, BX
	ADDQ CX, SI
	LEAQ 64(DI), DX
	BLOCK(R11)

	INCQ R13
	JMP rowloop

done:
	VZEROUPPER
	RET

// func turingRowAVX(args *rowArgs)
//
// One row (n ≥ 6) from three input rows given by pointer, as turingRowAVX512
// (kernel_avx512_amd64.s) with 4 lanes.
TEXT ·turingRowAVX(SB), NOSPLIT, $0-8
	MOVQ args+0(FP), DI
	MOVQ 0(DI), R8   // up
	MOVQ 8(DI), R15  // centre
	MOVQ 16(DI), R9  // down
	MOVQ 24(DI), R13 // out
	MOVQ 32(DI), R11 // input stride
	MOVQ 40(DI), R12 // output stride
	MOVQ 48(DI), R10 // n
	VBROADCASTSD 56(DI), Y9  // alpha
	VBROADCASTSD 64(DI), Y10 // theta
	VBROADCASTSD 72(DI), Y11 // vmin
	VBROADCASTSD 80(DI), Y12 // vmax
	MOVQ 88(DI), DI  // pad of the input's V
	CONSTS4

	MOVQ R10, BX
	SHLQ $3, BX              // row bytes
	LEAQ -8(R15)(BX*1), R14  // c[n−1]
	XORQ CX, CX
	HALO_LEFT(CX, 1)
	HALO_LEFT(R11, 1)
	HALO_LEFT(R11, 2)
	LEAQ -40(R15)(BX*1), R14 // c[n−5]
	HALO_RIGHT(CX, 1)
	HALO_RIGHT(R11, 1)
	HALO_RIGHT(R11, 2)

	LEAQ 32(R8), AX
	LEAQ 32(R9), BX
	LEAQ 24(R15), DX
	LEAQ 32(R13), SI
	MOVQ R10, CX
	SUBQ $8, CX
	JLE redges

rcolloop:
	CMPQ CX, $4
	JLT rtail
	BLOCK(R12)
	ADDQ $32, AX
	ADDQ $32, BX
	ADDQ $32, DX
	ADDQ $32, SI
	SUBQ $4, CX
	JMP rcolloop

rtail:
	TESTQ CX, CX
	JEQ redges
	SUBQ $4, CX
	SHLQ $3, CX
	ADDQ CX, AX
	ADDQ CX, BX
	ADDQ CX, DX
	ADDQ CX, SI
	BLOCK(R12)

redges:
	MOVQ R8, AX
	MOVQ R9, BX
	MOVQ R13, SI
	MOVQ DI, DX
	BLOCK(R12)
	MOVQ R10, CX
	SHLQ $3, CX
	SUBQ $32, CX
	ADDQ CX, AX
	ADDQ CX, BX
	ADDQ CX, SI
	LEAQ 64(DI), DX
	BLOCK(R12)

	VZEROUPPER
	RET
