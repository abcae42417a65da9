// Macros shared by the AVX and AVX-512 step kernels (kernel_amd64.s,
// kernel_avx512_amd64.s). Registers: R8 cur, R9 next, R10 n, R12 row bytes, R13 row.

// ROWPTRS sets AX = up[0], BX = down[0], SI = out[0] and R15 = c[0] for row R13.
#define ROWPTRS \
	MOVQ R13, R14 \
	DECQ R14 \
	JGE 3(PC) \
	MOVQ R10, R14 \
	DECQ R14 \
	IMULQ R12, R14 \
	LEAQ (R8)(R14*1), AX \
	MOVQ R13, R14 \
	INCQ R14 \
	CMPQ R14, R10 \
	JLT 2(PC) \
	XORQ R14, R14 \
	IMULQ R12, R14 \
	LEAQ (R8)(R14*1), BX \
	MOVQ R13, R14 \
	IMULQ R12, R14 \
	LEAQ (R8)(R14*1), R15 \
	LEAQ (R9)(R14*1), SI
