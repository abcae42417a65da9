#include "textflag.h"
#include "kernel_amd64.h"

// The AVX-512 step kernel: turingStepAVX (kernel_amd64.s) with 8 lanes. The per-lane
// operations and their order are the same, so the results are the same bits:
//   nv = c + α·((((vu+vd)+vl)+vr) − 4c)
//   na = ca + (Da·((((au+ad)+al)+ar) − 4ca) + ra·(ca·(1−ca) − ci))
//   ni = ci + (Di·((((iu+id)+il)+ir) − 4ci) + ri·(na − ci))
//   nv = na > θ ? nv + 0.005 : nv       (a compare into K1 and a merge-masked add)
//   clamps: VMAXPD(lo, x) = lo > x ? lo : x and VMINPD(hi, y) = hi < y ? hi : y keep NaN.
// Constants live in registers (Z6…Z17): with 32 vector registers none is a memory operand.

// BLOCK8X computes 8 cells. UO(UP), DO(DN): rows above and below at the cells; CT: the
// centre row one cell to the left; OUT: the output; R11: bytes from V to A (A to I) in
// the input, OS in the output. The offsets let the two-row kernel address one input row
// both as a centre (one cell to the left) and as the other row's neighbour.
#define BLOCK8X(UP, UO, DN, DO, CT, OUT, OS) \
	VMOVUPD UO(UP), Z0 \
	VADDPD DO(DN), Z0, Z0 \
	VADDPD (CT), Z0, Z0 \
	VADDPD 16(CT), Z0, Z0 \
	VMOVUPD 8(CT), Z1 \
	VMULPD Z6, Z1, Z2 \
	VSUBPD Z2, Z0, Z0 \
	VMULPD Z9, Z0, Z0 \
	VADDPD Z0, Z1, Z0 \
	VMOVUPD UO(UP)(R11*1), Z2 \
	VADDPD DO(DN)(R11*1), Z2, Z2 \
	VADDPD (CT)(R11*1), Z2, Z2 \
	VADDPD 16(CT)(R11*1), Z2, Z2 \
	VMOVUPD 8(CT)(R11*1), Z3 \
	VMULPD Z6, Z3, Z4 \
	VSUBPD Z4, Z2, Z2 \
	VMULPD Z13, Z2, Z2 \
	VSUBPD Z3, Z7, Z4 \
	VMULPD Z3, Z4, Z4 \
	VMOVUPD 8(CT)(R11*2), Z5 \
	VSUBPD Z5, Z4, Z4 \
	VMULPD Z14, Z4, Z4 \
	VADDPD Z4, Z2, Z2 \
	VADDPD Z2, Z3, Z2 \
	VMOVUPD UO(UP)(R11*2), Z3 \
	VADDPD DO(DN)(R11*2), Z3, Z3 \
	VADDPD (CT)(R11*2), Z3, Z3 \
	VADDPD 16(CT)(R11*2), Z3, Z3 \
	VMULPD Z6, Z5, Z4 \
	VSUBPD Z4, Z3, Z3 \
	VMULPD Z16, Z3, Z3 \
	VSUBPD Z5, Z2, Z4 \
	VMULPD Z17, Z4, Z4 \
	VADDPD Z4, Z3, Z3 \
	VADDPD Z3, Z5, Z3 \
	VCMPPD $0x1e, Z10, Z2, K1 \
	VADDPD Z15, Z0, K1, Z0 \
	VMAXPD Z0, Z11, Z0 \
	VMINPD Z0, Z12, Z0 \
	VMAXPD Z2, Z8, Z2 \
	VMINPD Z2, Z7, Z2 \
	VMAXPD Z3, Z8, Z3 \
	VMINPD Z3, Z7, Z3 \
	VMOVUPD Z0, (OUT) \
	VMOVUPD Z2, (OUT)(OS*1) \
	VMOVUPD Z3, (OUT)(OS*2)

// BLOCK8 is BLOCK8X for the single-row kernels: AX, BX rows above and below, DX the centre
// row one cell to the left, SI the output.
#define BLOCK8(OS) BLOCK8X(AX, 0, BX, 0, DX, SI, OS)

// HALO_LEFT8(IX, SC) copies the centre row's wrap window for columns 0…7 into the pad at
// DI (+IX·SC): pad[0:10] = [c[n−1], c[0], …, c[8]]. R15: c[0], R14: c[n−1].
#define HALO_LEFT8(IX, SC) \
	VMOVSD (R14)(IX*SC), X0 \
	VMOVSD X0, (DI)(IX*SC) \
	VMOVUPD (R15)(IX*SC), Z1 \
	VMOVUPD Z1, 8(DI)(IX*SC) \
	VMOVSD 64(R15)(IX*SC), X2 \
	VMOVSD X2, 72(DI)(IX*SC)

// HALO_RIGHT8(IX, SC): pad[16:26] = [c[n−9], …, c[n−1], c[0]] for columns n−8…n−1.
// R14: c[n−9].
#define HALO_RIGHT8(IX, SC) \
	VMOVUPD (R14)(IX*SC), Z0 \
	VMOVUPD Z0, 128(DI)(IX*SC) \
	VMOVSD 64(R14)(IX*SC), X1 \
	VMOVSD X1, 192(DI)(IX*SC) \
	VMOVSD (R15)(IX*SC), X2 \
	VMOVSD X2, 200(DI)(IX*SC)

// CONSTS8 loads the constant registers Z6…Z8 and Z13…Z17.
#define CONSTS8 \
	VBROADCASTSD ·avxFour(SB), Z6 \
	VBROADCASTSD ·avxOne(SB), Z7 \
	VPXORQ Z8, Z8, Z8 \
	VBROADCASTSD ·avxDa(SB), Z13 \
	VBROADCASTSD ·avxRa(SB), Z14 \
	VBROADCASTSD ·avxBoost(SB), Z15 \
	VBROADCASTSD ·avxDi(SB), Z16 \
	VBROADCASTSD ·avxRi(SB), Z17

// func turingStepAVX512(args *stepArgs)
//
// Every cell of rows r0…r1−1 (n ≥ 9), 8 at a time, laid out like turingStepAVX: columns
// 0…7 and n−8…n−1 read their centre-row neighbours from 10-cell wrap windows in the pad,
// written before the row's interior and read after it; a short last interior block is
// shifted left to overlap its neighbour, recomputing the same values.
TEXT ·turingStepAVX512(SB), NOSPLIT, $0-8
	MOVQ args+0(FP), DI
	MOVQ 0(DI), R8   // cur
	MOVQ 8(DI), R9   // next
	MOVQ 16(DI), R10 // n
	MOVQ 24(DI), R11 // stride
	VBROADCASTSD 32(DI), Z9  // alpha
	VBROADCASTSD 40(DI), Z10 // theta
	VBROADCASTSD 48(DI), Z11 // vmin
	VBROADCASTSD 56(DI), Z12 // vmax
	MOVQ 72(DI), R13 // r = r0
	MOVQ 64(DI), DI  // this band's pad after cur's V
	CONSTS8
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
	HALO_LEFT8(CX, 1)
	HALO_LEFT8(R11, 1)
	HALO_LEFT8(R11, 2)
	LEAQ -72(R15)(R12*1), R14 // c[n−9]
	HALO_RIGHT8(CX, 1)
	HALO_RIGHT8(R11, 1)
	HALO_RIGHT8(R11, 2)

	// Columns 8…n−9 in place; a remainder block is shifted left to end at n−9.
	ADDQ $64, AX
	ADDQ $64, BX
	LEAQ 56(R15), DX
	ADDQ $64, SI
	MOVQ R10, CX
	SUBQ $16, CX
	JLE edges

colloop:
	CMPQ CX, $8
	JLT tail
	BLOCK8(R11)
	ADDQ $64, AX
	ADDQ $64, BX
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $8, CX
	JMP colloop

tail:
	TESTQ CX, CX
	JEQ edges
	SUBQ $8, CX
	SHLQ $3, CX
	ADDQ CX, AX
	ADDQ CX, BX
	ADDQ CX, DX
	ADDQ CX, SI
	BLOCK8(R11)

edges:
	// Columns 0…7 through the left window.
	ROWPTRS
	MOVQ DI, DX
	BLOCK8(R11)
	// Columns n−8…n−1 through the right window.
	LEAQ -64(R12), CX
	ADDQ CX, AX
	ADDQ CX, BX
	ADDQ CX, SI
	LEAQ 128(DI), DX
	BLOCK8(R11)

	INCQ R13
	JMP rowloop

done:
	VZEROUPPER
	RET

// func turingRowAVX512(args *rowArgs)
//
// One row (n ≥ 9) from three input rows given by pointer, for the temporally blocked
// steps (block.go), whose intermediate levels live in small row rings rather than in a
// whole state. The input rows' A and I sit at +inStride and +2·inStride, and so do the
// wrap windows in the input's pad; the output's at +outStride and +2·outStride.
TEXT ·turingRowAVX512(SB), NOSPLIT, $0-8
	MOVQ args+0(FP), DI
	MOVQ 0(DI), R8   // up
	MOVQ 8(DI), R15  // centre
	MOVQ 16(DI), R9  // down
	MOVQ 24(DI), R13 // out
	MOVQ 32(DI), R11 // input stride
	MOVQ 40(DI), R12 // output stride
	MOVQ 48(DI), R10 // n
	VBROADCASTSD 56(DI), Z9  // alpha
	VBROADCASTSD 64(DI), Z10 // theta
	VBROADCASTSD 72(DI), Z11 // vmin
	VBROADCASTSD 80(DI), Z12 // vmax
	MOVQ 88(DI), DI  // pad of the input's V
	CONSTS8

	MOVQ R10, BX
	SHLQ $3, BX              // row bytes
	LEAQ -8(R15)(BX*1), R14  // c[n−1]
	XORQ CX, CX
	HALO_LEFT8(CX, 1)
	HALO_LEFT8(R11, 1)
	HALO_LEFT8(R11, 2)
	LEAQ -72(R15)(BX*1), R14 // c[n−9]
	HALO_RIGHT8(CX, 1)
	HALO_RIGHT8(R11, 1)
	HALO_RIGHT8(R11, 2)

	LEAQ 64(R8), AX
	LEAQ 64(R9), BX
	LEAQ 56(R15), DX
	LEAQ 64(R13), SI
	MOVQ R10, CX
	SUBQ $16, CX
	JLE redges

rcolloop:
	CMPQ CX, $8
	JLT rtail
	BLOCK8(R12)
	ADDQ $64, AX
	ADDQ $64, BX
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $8, CX
	JMP rcolloop

rtail:
	TESTQ CX, CX
	JEQ redges
	SUBQ $8, CX
	SHLQ $3, CX
	ADDQ CX, AX
	ADDQ CX, BX
	ADDQ CX, DX
	ADDQ CX, SI
	BLOCK8(R12)

redges:
	MOVQ R8, AX
	MOVQ R9, BX
	MOVQ R13, SI
	MOVQ DI, DX
	BLOCK8(R12)
	MOVQ R10, CX
	SHLQ $3, CX
	SUBQ $64, CX
	ADDQ CX, AX
	ADDQ CX, BX
	ADDQ CX, SI
	LEAQ 128(DI), DX
	BLOCK8(R12)

	VZEROUPPER
	RET

// BLOCK8X2 computes the same 8 columns of two consecutive output rows: row r (into SI)
// from AX (above, at the cells), DX (row r, one cell to the left) and R9 (row r+1, one
// cell to the left); then row r+1 (into R13) from DX, R9 and BX (below, at the cells).
// Rows r and r+1 are read by both halves, the second time from the L1.
#define BLOCK8X2 \
	BLOCK8X(AX, 0, R9, 8, DX, SI, R12) \
	BLOCK8X(DX, 8, BX, 0, R9, R13, R12)

// func turingRow2AVX512(args *row2Args)
//
// Two consecutive rows r and r+1 (n ≥ 9) from four input rows given by pointer (above r,
// r, r+1, below r+1), one sweep over the columns, for the temporally blocked steps: each
// input row is read once from beyond the L1 instead of up to three times by three
// single-row calls. Every cell goes through BLOCK8X like in turingRowAVX512, so the bits
// are the same. There is one pad for the wrap windows: row r's are written and its edge
// blocks computed first (their loads wait for the stores while the interior proceeds),
// then row r+1's windows are written, read only after the interior.
TEXT ·turingRow2AVX512(SB), NOSPLIT, $0-8
	MOVQ args+0(FP), R8      // kept: the row pointers are reloaded from it
	MOVQ 48(R8), R11         // input stride
	MOVQ 56(R8), R12         // output stride
	MOVQ 64(R8), R10
	SHLQ $3, R10             // row bytes
	VBROADCASTSD 72(R8), Z9  // alpha
	VBROADCASTSD 80(R8), Z10 // theta
	VBROADCASTSD 88(R8), Z11 // vmin
	VBROADCASTSD 96(R8), Z12 // vmax
	MOVQ 104(R8), DI         // pad of the input's V
	CONSTS8

	// Row r's wrap windows and edge blocks.
	MOVQ 8(R8), R15
	LEAQ -8(R15)(R10*1), R14  // c[n−1]
	XORQ CX, CX
	HALO_LEFT8(CX, 1)
	HALO_LEFT8(R11, 1)
	HALO_LEFT8(R11, 2)
	LEAQ -72(R15)(R10*1), R14 // c[n−9]
	HALO_RIGHT8(CX, 1)
	HALO_RIGHT8(R11, 1)
	HALO_RIGHT8(R11, 2)
	MOVQ 0(R8), AX
	MOVQ 16(R8), BX
	MOVQ 32(R8), SI
	MOVQ DI, DX
	BLOCK8(R12)
	LEAQ -64(R10), CX
	ADDQ CX, AX
	ADDQ CX, BX
	ADDQ CX, SI
	LEAQ 128(DI), DX
	BLOCK8(R12)

	// Row r+1's wrap windows.
	MOVQ 16(R8), R15
	LEAQ -8(R15)(R10*1), R14
	XORQ CX, CX
	HALO_LEFT8(CX, 1)
	HALO_LEFT8(R11, 1)
	HALO_LEFT8(R11, 2)
	LEAQ -72(R15)(R10*1), R14
	HALO_RIGHT8(CX, 1)
	HALO_RIGHT8(R11, 1)
	HALO_RIGHT8(R11, 2)

	// Columns 8…n−9 of both rows; a remainder block is shifted left to end at n−9.
	MOVQ 0(R8), AX
	ADDQ $64, AX
	MOVQ 8(R8), DX
	ADDQ $56, DX
	MOVQ 16(R8), R9
	ADDQ $56, R9
	MOVQ 24(R8), BX
	ADDQ $64, BX
	MOVQ 32(R8), SI
	ADDQ $64, SI
	MOVQ 40(R8), R13
	ADDQ $64, R13
	MOVQ R10, CX
	SHRQ $3, CX
	SUBQ $16, CX
	JLE r2edges

r2colloop:
	CMPQ CX, $8
	JLT r2tail
	BLOCK8X2
	ADDQ $64, AX
	ADDQ $64, DX
	ADDQ $64, R9
	ADDQ $64, BX
	ADDQ $64, SI
	ADDQ $64, R13
	SUBQ $8, CX
	JMP r2colloop

r2tail:
	TESTQ CX, CX
	JEQ r2edges
	SUBQ $8, CX
	SHLQ $3, CX
	ADDQ CX, AX
	ADDQ CX, DX
	ADDQ CX, R9
	ADDQ CX, BX
	ADDQ CX, SI
	ADDQ CX, R13
	BLOCK8X2

r2edges:
	// Row r+1's edge blocks.
	MOVQ 8(R8), AX
	MOVQ 24(R8), BX
	MOVQ 40(R8), SI
	MOVQ DI, DX
	BLOCK8(R12)
	LEAQ -64(R10), CX
	ADDQ CX, AX
	ADDQ CX, BX
	ADDQ CX, SI
	LEAQ 128(DI), DX
	BLOCK8(R12)

	VZEROUPPER
	RET
