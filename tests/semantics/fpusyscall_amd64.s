//go:build amd64

#include "textflag.h"

// Loads the seed pattern into X0-X14 (X15 stays zero, as Go's ABIInternal
// has it at a system call): state the kernel need not keep.
#define SEED_X0_X14 \
	MOVQ	AX, X0; INCQ AX; MOVQ AX, X1; INCQ AX; MOVQ AX, X2; INCQ AX; \
	MOVQ	AX, X3; INCQ AX; MOVQ AX, X4; INCQ AX; MOVQ AX, X5; INCQ AX; \
	MOVQ	AX, X6; INCQ AX; MOVQ AX, X7; INCQ AX; MOVQ AX, X8; INCQ AX; \
	MOVQ	AX, X9; INCQ AX; MOVQ AX, X10; INCQ AX; MOVQ AX, X11; INCQ AX; \
	MOVQ	AX, X12; INCQ AX; MOVQ AX, X13; INCQ AX; MOVQ AX, X14

// Stores X15 (both lanes OR'ed), MXCSR and the x87 control word as they
// are after the SYSCALL, then puts the ABI defaults back.
#define AFTER_SYSCALL(x15, mx, cw) \
	PSHUFD	$0x4E, X15, X14; \
	MOVQ	X14, BX; \
	MOVQ	X15, CX; \
	ORQ	BX, CX; \
	MOVQ	CX, x15; \
	STMXCSR	0(SP); \
	MOVL	0(SP), CX; \
	MOVQ	CX, mx; \
	FSTCW	0(SP); \
	MOVWQZX	0(SP), CX; \
	MOVQ	CX, cw; \
	MOVL	$0x1F80, 0(SP); \
	LDMXCSR	0(SP); \
	MOVW	$0x037F, 0(SP); \
	FLDCW	0(SP)

// func futexWaitHold(addr *uint32, val, mxcsr, fcw, seed uint64, ts *syscall.Timespec) (r, x15, mx, cw uint64)
TEXT ·futexWaitHold(SB),NOSPLIT,$8-80
	MOVQ	mxcsr+16(FP), AX
	MOVL	AX, 0(SP)
	LDMXCSR	0(SP)
	MOVQ	fcw+24(FP), AX
	MOVW	AX, 0(SP)
	FLDCW	0(SP)
	MOVQ	seed+32(FP), AX
	SEED_X0_X14
	PXOR	X15, X15
	MOVQ	addr+0(FP), DI
	MOVQ	$128, SI	// FUTEX_WAIT_PRIVATE
	MOVQ	val+8(FP), DX
	MOVQ	ts+40(FP), R10
	XORL	R8, R8
	XORL	R9, R9
	MOVQ	$202, AX	// futex
	SYSCALL
	MOVQ	AX, r+48(FP)
	AFTER_SYSCALL(x15+56(FP), mx+64(FP), cw+72(FP))
	RET

// func faultThenSignal(page, pid, tid, sig, mxcsr, fcw, pattern uint64) (r, x15, mx, cw uint64)
TEXT ·faultThenSignal(SB),NOSPLIT,$8-88
	MOVQ	pattern+48(FP), AX
	MOVQ	AX, X15
	PUNPCKLQDQ	X15, X15
	SEED_X0_X14
	// A page fault with X15 nonzero: the kernel saves the whole vector
	// state here, so its copy of X15 is the pattern from now on.
	MOVQ	page+0(FP), DI
	MOVB	$1, (DI)
	PXOR	X15, X15
	MOVQ	mxcsr+32(FP), AX
	MOVL	AX, 0(SP)
	LDMXCSR	0(SP)
	MOVQ	fcw+40(FP), AX
	MOVW	AX, 0(SP)
	FLDCW	0(SP)
	MOVQ	pid+8(FP), DI
	MOVQ	tid+16(FP), SI
	MOVQ	sig+24(FP), DX
	MOVQ	$234, AX	// tgkill: the signal is delivered on the way out
	SYSCALL
	MOVQ	AX, r+56(FP)
	AFTER_SYSCALL(x15+64(FP), mx+72(FP), cw+80(FP))
	RET
