#include "textflag.h"

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

// func turingRowAVX(args *rowArgs)
//
// Per lane, exactly the scalar order of turingInterior (kernel.go):
//   nv = c + α·((((vu+vd)+vl)+vr) − 4c)
//   na = ca + (Da·((((au+ad)+al)+ar) − 4ca) + ra·(ca·(1−ca) − ci))
//   ni = ci + (Di·((((iu+id)+il)+ir) − 4ci) + ri·(na − ci))
//   nv = na > θ ? nv + 0.005 : nv
//   clamps: MAXPD(lo, x) = lo > x ? lo : x and MINPD(hi, y) = hi < y ? hi : y keep NaN
//   like numpy's clip; signed zeros cannot differ because −0 never arises.
TEXT ·turingRowAVX(SB), NOSPLIT, $0-8
	MOVQ args+0(FP), DI
	MOVQ 0(DI), AX   // ov
	MOVQ 8(DI), BX   // oa
	MOVQ 16(DI), CX  // oi
	MOVQ 24(DI), DX  // vu
	MOVQ 32(DI), SI  // vd
	MOVQ 40(DI), R8  // vc (column 0)
	MOVQ 48(DI), R9  // au
	MOVQ 56(DI), R10 // ad
	MOVQ 64(DI), R11 // ac
	MOVQ 72(DI), R12 // iu
	MOVQ 80(DI), R13 // id
	MOVQ 88(DI), R14 // ic
	MOVQ 96(DI), R15 // nbytes
	VBROADCASTSD 104(DI), Y9  // alpha
	VBROADCASTSD 112(DI), Y10 // theta
	VBROADCASTSD 120(DI), Y11 // vmin
	VBROADCASTSD 128(DI), Y12 // vmax
	VMOVUPD ·avxFour(SB), Y6
	VMOVUPD ·avxOne(SB), Y7
	VXORPD Y8, Y8, Y8         // zero
	XORQ DI, DI

loop:
	CMPQ DI, R15
	JGE done

	// V: Y0 = ((vu + vd) + vl) + vr; Y1 = c
	VMOVUPD (DX)(DI*1), Y0
	VADDPD (SI)(DI*1), Y0, Y0
	VADDPD (R8)(DI*1), Y0, Y0
	VADDPD 16(R8)(DI*1), Y0, Y0
	VMOVUPD 8(R8)(DI*1), Y1
	VMULPD Y6, Y1, Y2
	VSUBPD Y2, Y0, Y0         // Y0 = Y0 − 4c
	VMULPD Y9, Y0, Y0         // α·L
	VADDPD Y0, Y1, Y0         // nv = c + α·L

	// A: Y2 = LA; Y3 = ca; Y5 = ci
	VMOVUPD (R9)(DI*1), Y2
	VADDPD (R10)(DI*1), Y2, Y2
	VADDPD (R11)(DI*1), Y2, Y2
	VADDPD 16(R11)(DI*1), Y2, Y2
	VMOVUPD 8(R11)(DI*1), Y3
	VMULPD Y6, Y3, Y4
	VSUBPD Y4, Y2, Y2         // LA
	VMULPD ·avxDa(SB), Y2, Y2 // t1 = Da·LA
	VSUBPD Y3, Y7, Y4         // 1 − ca
	VMULPD Y3, Y4, Y4         // ca·(1 − ca)
	VMOVUPD 8(R14)(DI*1), Y5  // ci
	VSUBPD Y5, Y4, Y4         // t3 = t2 − ci
	VMULPD ·avxRa(SB), Y4, Y4 // t4 = ra·t3
	VADDPD Y4, Y2, Y2         // t1 + t4
	VADDPD Y2, Y3, Y2         // na = ca + (t1 + t4)

	// I: Y3 = LI
	VMOVUPD (R12)(DI*1), Y3
	VADDPD (R13)(DI*1), Y3, Y3
	VADDPD (R14)(DI*1), Y3, Y3
	VADDPD 16(R14)(DI*1), Y3, Y3
	VMULPD Y6, Y5, Y4
	VSUBPD Y4, Y3, Y3         // LI
	VMULPD ·avxDi(SB), Y3, Y3 // Di·LI
	VSUBPD Y5, Y2, Y4         // na − ci
	VMULPD ·avxRi(SB), Y4, Y4 // ri·(na − ci)
	VADDPD Y4, Y3, Y3
	VADDPD Y3, Y5, Y3         // ni = ci + (…)

	// Turing mask: where na > θ, nv += 0.005.
	VCMPPD $0x1e, Y10, Y2, Y4 // GT_OQ: na > θ
	VADDPD ·avxBoost(SB), Y0, Y5
	VBLENDVPD Y4, Y5, Y0, Y0

	// Clamps.
	VMAXPD Y0, Y11, Y0
	VMINPD Y0, Y12, Y0
	VMAXPD Y2, Y8, Y2
	VMINPD Y2, Y7, Y2
	VMAXPD Y3, Y8, Y3
	VMINPD Y3, Y7, Y3

	VMOVUPD Y0, (AX)(DI*1)
	VMOVUPD Y2, (BX)(DI*1)
	VMOVUPD Y3, (CX)(DI*1)
	ADDQ $32, DI
	JMP loop

done:
	VZEROUPPER
	RET
