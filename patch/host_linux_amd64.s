// The host rewrite sequence of package patch (hostPoke). It is assembly
// so that nothing can stop the patching goroutine between its first and
// last store: assembly functions have no safe points, so neither a
// stop-the-world (GC) nor async preemption can park it while other
// goroutines spin on the EB FE self-loop at the entry (they cannot be
// preempted there either, so the two would wait for each other for
// ever), and raw SYSCALLs keep its P (a blocking syscall could let the
// spinners take every P, and the patcher would never get one back).

#include "textflag.h"

// func hostPokeSeq(entry uintptr, b *[5]byte, mode int, lo, n uintptr) (errno uintptr)
//
// mode 0: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) after each
// step; 1: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED); 2: mprotect(lo, n,
// RX) then mprotect(lo, n, RWX), whose TLB shootdown IPIs serialise the
// other cores. Every step is done even if a sync fails; errno is the first
// failure's.
TEXT ·hostPokeSeq(SB), NOSPLIT|NOFRAME, $0-48
	MOVQ entry+0(FP), R8
	MOVQ b+8(FP), R9
	MOVQ mode+16(FP), R10
	MOVQ lo+24(FP), R12
	MOVQ n+32(FP), R13
	XORQ BX, BX // first errno

	// 1. EB FE over bytes 0-1 in one store.
	MOVW $0xFEEB, (R8)
	CALL sync<>(SB)
	// 2. bytes 2-4.
	MOVB 2(R9), AX
	MOVB AX, 2(R8)
	MOVB 3(R9), AX
	MOVB AX, 3(R8)
	MOVB 4(R9), AX
	MOVB AX, 4(R8)
	CALL sync<>(SB)
	// 3. bytes 0-1 over the self-loop in one store.
	MOVW 0(R9), AX
	MOVW AX, (R8)
	CALL sync<>(SB)

	MOVQ BX, errno+40(FP)
	RET

// sync serialises the cores as mode (R10) says; records the first errno
// in BX. Clobbers AX, CX, DX, SI, DI, R11.
TEXT sync<>(SB), NOSPLIT|NOFRAME, $0-0
	CMPQ R10, $2
	JEQ  mprot
	MOVQ $324, AX // membarrier
	MOVQ $32, DI  // MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE
	CMPQ R10, $0
	JEQ  call
	MOVQ $8, DI   // MEMBARRIER_CMD_PRIVATE_EXPEDITED
call:
	XORQ SI, SI
	XORQ DX, DX
	SYSCALL
	JMP  check
mprot:
	MOVQ $10, AX  // mprotect
	MOVQ R12, DI
	MOVQ R13, SI
	MOVQ $5, DX   // PROT_READ|PROT_EXEC
	SYSCALL
	CMPQ AX, $0xfffffffffffff001
	JCC  fail
	MOVQ $10, AX
	MOVQ R12, DI
	MOVQ R13, SI
	MOVQ $7, DX   // PROT_READ|PROT_WRITE|PROT_EXEC
	SYSCALL
check:
	CMPQ AX, $0xfffffffffffff001
	JCS  ok
fail:
	TESTQ BX, BX
	JNE   ok
	NEGQ  AX
	MOVQ  AX, BX
ok:
	RET
