//go:build linux

#include "textflag.h"
#include "funcdata.h"

// Offsets into the state block (see compile.go).
#define stSavedSP 32
#define stEntrySP 40
#define stStackTop 48
#define stSavedG 112

// func callJIT(fn uintptr, st *state)
//
// Switches to the JIT stack in st, calls fn with R15 = st and returns
// when fn returns or a trap stub unwinds to the entry stack pointer.
// JIT code never calls back into Go, so no Go stack growth or
// preemption can happen while it runs; fuel bounds how long it runs.
TEXT ·callJIT(SB), NOSPLIT, $16-16
	NO_LOCAL_POINTERS
	MOVQ fn+0(FP), AX
	MOVQ st+8(FP), R15
	MOVQ R14, stSavedG(R15)
	MOVQ SP, stSavedSP(R15)
	MOVQ stStackTop(R15), SP
	LEAQ -8(SP), BX
	MOVQ BX, stEntrySP(R15)
	CALL AX
	MOVQ stSavedSP(R15), SP
	MOVQ stSavedG(R15), R14
	RET
