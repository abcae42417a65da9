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

// BLOCK8 computes 8 interior cells. AX, BX: rows above and below at the cells; DX: the
// centre row one cell to the left; SI: the output; R11: bytes from V to A (A to I) in the
// input, OS in the output.
#define BLOCK8(OS) \
	VMOVUPD (AX), Z0 \
	VADDPD (BX), Z0, Z0 \
	VADDPD (DX), Z0, Z0 \
	VADDPD 16(DX), Z0, Z0 \
	VMOVUPD 8(DX), Z1 \
	VMULPD Z6, Z1, Z2 \
	VSUBPD Z2, Z0, Z0 \
	VMULPD Z9, Z0, Z0 \
	VADDPD Z0, Z1, Z0 \
	VMOVUPD (AX)(R11*1), Z2 \
	VADDPD (BX)(R11*1), Z2, Z2 \
	VADDPD (DX)(R11*1), Z2, Z2 \
	VADDPD 16(DX)(R11*1), Z2, Z2 \
	VMOVUPD 8(DX)(R11*1), Z3 \
	VMULPD Z6, Z3, Z4 \
	VSUBPD Z4, Z2, Z2 \
	VMULPD Z13, Z2, Z2 \
	VSUBPD Z3, Z7, Z4 \
	VMULPD Z3, Z4, Z4 \
	VMOVUPD 8(DX)(R11*2), Z5 \
	VSUBPD Z5, Z4, Z4 \
	VMULPD Z14, Z4, Z4 \
	VADDPD Z4, Z2, Z2 \
	VADDPD Z2, Z3, Z2 \
	VMOVUPD (AX)(R11*2), Z3 \
	VADDPD (BX)(R11*2), Z3, Z3 \
	VADDPD (DX)(R11*2), Z3, Z3 \
	VADDPD 16(DX)(R11*2), Z3, Z3 \
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
	VMOVUPD Z0, (SI) \
	VMOVUPD Z2, (SI)(OS*1) \
	VMOVUPD Z3, (SI)(OS*2)

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
