//go:build velocity

// Every CALL from here into Go reaches a function marked
// //go:nowritebarrierrec (the compiler then rejects a write barrier anywhere
// below it) and listed in internal/kernelrules, which checks both.
//
// Kernel entry and exit paths: the boot entry from BOOT_ND.BIN, the SYSCALL
// entry, interrupt and exception stubs, and the thread switch.
//
// Register conventions while "in the kernel" (vkCPU.inKernel != 0):
//   - GS base = this CPU's vkCPU. Go on linux/amd64 never uses GS.
//   - FS base = this CPU's kernel TLS, whose -8 slot holds vkKernelG, a g
//     with stackguard0 = 0. ABI wrappers load R14 from FS-8, so kernel Go
//     code never sees a user g and its stack checks always pass on the
//     kernel stacks (which are not goroutine stacks). Entry and exit
//     switch it with WRFSBASE where the CPU has FSGSBASE (vkCPU.fsgsbase;
//     CR4.FSGSBASE is set by vkCPUInit), else with WRMSR IA32_FS_BASE,
//     which serialises (and under TCG ends the translation block).
//   - interrupts are off. The kernel is not preemptible.
//
// Every entry builds a vkFrame (see vk_trap.go) on the kernel stack of the
// current thread:
//   r15 r14 r13 r12 r11 r10 r9 r8 bp di si dx cx bx ax vector err rip cs flags sp ss
//
// FPU state (x87, SSE, AVX and, where the CPU has it, AVX-512; the full
// story is at the top of vk_fpu.go):
//   - every interrupt or exception from user code saves the user thread's
//     state into its vkThread.fpu area (GS:vkCPU_fpu) before kernel Go
//     code runs, and the exit restores the then-current thread's area, so
//     vkSwtch moves no FPU state and kernel code may use SSE/AVX freely
//     (memmove does);
//   - a SYSCALL from user code saves nothing: Go keeps no vector register
//     live across the SYSCALL instruction (all of them are caller-saved
//     in both Go ABIs) and needs only X15 = 0 and its x87 control word
//     and MXCSR back. The entry stores those two in the area and marks it
//     stale (vkThread.fpuStale), and records the thread in vkCPU.fpuLive.
//     The exit of a stale thread restores nothing if this CPU has not
//     switched threads since (vkSchedule clears fpuLive; kernel code
//     never changes the control registers or the x87 stack), else it
//     loads the initial state with the saved control word and MXCSR
//     (FNINIT, FLDCW, LDMXCSR); either way it zeroes X15. Go code that
//     reads or replaces a stale area first makes it whole
//     (vkFPUMaterialize);
//   - a trap taken in kernel code saves the interrupted kernel state on
//     its own stack (vkKernelTrap), since that code may hold live YMMs;
//   - with vkXSaveOn the instructions are XSAVE64/XRSTOR64 with EDX:EAX =
//     all ones (XCR0 alone decides the components; standard layout,
//     64-byte-aligned areas of vkFPUSize bytes), otherwise FXSAVE64/
//     FXRSTOR64 with 512-byte areas. vkXSaveOn is set once, at boot,
//     before any AP or user thread exists.

#include "go_asm.h"
#include "textflag.h"

// The assembler has no segment overrides; these emit GS-relative
// instructions with a 32-bit absolute displacement (ModRM+SIB, no base).
#define GS_TO_SP(off)	BYTE $0x65; BYTE $0x48; BYTE $0x8B; BYTE $0x24; BYTE $0x25; LONG $off
#define SP_TO_GS(off)	BYTE $0x65; BYTE $0x48; BYTE $0x89; BYTE $0x24; BYTE $0x25; LONG $off
#define GS_TO_AX(off)	BYTE $0x65; BYTE $0x48; BYTE $0x8B; BYTE $0x04; BYTE $0x25; LONG $off
#define PUSH_GS(off)	BYTE $0x65; BYTE $0xFF; BYTE $0x34; BYTE $0x25; LONG $off
#define CMP_GS_0(off)	BYTE $0x65; BYTE $0x48; BYTE $0x83; BYTE $0x3C; BYTE $0x25; LONG $off; BYTE $0x00
#define SET_GS(off, imm)	BYTE $0x65; BYTE $0x48; BYTE $0xC7; BYTE $0x04; BYTE $0x25; LONG $off; LONG $imm
#define AX_TO_GS(off)	BYTE $0x65; BYTE $0x48; BYTE $0x89; BYTE $0x04; BYTE $0x25; LONG $off
#define CMP_AX_GS(off)	BYTE $0x65; BYTE $0x48; BYTE $0x3B; BYTE $0x04; BYTE $0x25; LONG $off

#define PUSH_REGS \
	PUSHQ AX; PUSHQ BX; PUSHQ CX; PUSHQ DX; PUSHQ SI; PUSHQ DI; PUSHQ BP; \
	PUSHQ R8; PUSHQ R9; PUSHQ R10; PUSHQ R11; PUSHQ R12; PUSHQ R13; PUSHQ R14; PUSHQ R15

#define POP_REGS \
	POPQ R15; POPQ R14; POPQ R13; POPQ R12; POPQ R11; POPQ R10; POPQ R9; POPQ R8; \
	POPQ BP; POPQ DI; POPQ SI; POPQ DX; POPQ CX; POPQ BX; POPQ AX

#define WRITE_FS_AX \
	MOVQ AX, DX; SHRQ $32, DX; MOVL $0xC0000100, CX; WRMSR

// SET_FS_AX sets the FS base to AX: WRFSBASE where the CPU has FSGSBASE
// (vkCPU.fsgsbase), else WRMSR. Its labels are local to the TEXT that
// uses it, so it may appear once per function.
#define SET_FS_AX \
	CMP_GS_0(vkCPU_fsgsbase); JEQ fsmsr; WRFSBASEQ AX; JMP fsdone; \
fsmsr: WRITE_FS_AX; \
fsdone:

// LOAD_GDT loads vkGDT and reloads every segment register. Loading FS and
// GS selectors clears their bases, so the MSRs are written afterwards.
#define LOAD_GDT \
	MOVQ	$runtime·vkGDT(SB), AX; \
	SUBQ	$16, SP; \
	MOVW	$(8*const_vkGDTEntries-1), 0(SP); \
	MOVQ	AX, 2(SP); \
	LGDT	0(SP); \
	ADDQ	$16, SP; \
	MOVL	$0x10, AX; \
	MOVW	AX, DS; \
	MOVW	AX, ES; \
	MOVW	AX, SS; \
	XORL	AX, AX; \
	MOVW	AX, FS; \
	MOVW	AX, GS

// CPU_BASES points GS at the vkCPU in BX and FS at its kernel TLS, whose
// -8 slot holds &vkKernelG, and marks the CPU as running kernel code.
#define CPU_BASES \
	MOVQ	BX, AX; \
	MOVQ	AX, DX; \
	SHRQ	$32, DX; \
	MOVL	$0xC0000101, CX; \
	WRMSR; \
	MOVQ	$runtime·vkKernelG(SB), AX; \
	MOVQ	AX, vkCPU_tls(BX); \
	LEAQ	(vkCPU_tls+8)(BX), AX; \
	MOVQ	AX, vkCPU_kernelFS(BX); \
	WRITE_FS_AX; \
	MOVQ	$1, vkCPU_inKernel(BX)

// rt0Velocity is the ELF entry point (-ldflags -E runtime.rt0Velocity).
// BOOT_ND.BIN jumps here in long mode with RDI = boot info, RSP = its stack.
TEXT runtime·rt0Velocity(SB),NOSPLIT|NOFRAME|TOPFRAME,$0
	CLI
	MOVQ	DI, R12
	LOAD_GDT
	// Far return to reload CS = 0x08.
	MOVQ	$runtime·vkReloadedCS(SB), AX
	PUSHQ	$0x08
	PUSHQ	AX
	BYTE	$0x48; BYTE $0xCB	// LRETQ

TEXT runtime·vkReloadedCS(SB),NOSPLIT|NOFRAME,$0
	MOVQ	$runtime·vkCPUs(SB), BX
	CPU_BASES
	// Call vkBoot(bootinfo) with the ABI0 convention.
	SUBQ	$16, SP
	MOVQ	R12, 0(SP)
	CALL	runtime·vkBoot(SB) // Go entry: //go:nowritebarrierrec (internal/kernelrules)
	MOVQ	8(SP), AX	// frame of the first thread
	MOVQ	AX, SP
	JMP	runtime·vkExitToUser(SB)

// vkAPEntry is where the AP trampoline (in BOOT_ND.BIN) lands: long mode,
// RDI = this CPU's vkCPU, RSP = its idle thread's kernel stack.
TEXT runtime·vkAPEntry(SB),NOSPLIT|NOFRAME|TOPFRAME,$0
	CLI
	MOVQ	DI, R12
	LOAD_GDT
	MOVQ	$runtime·vkAPReloadedCS(SB), AX
	PUSHQ	$0x08
	PUSHQ	AX
	BYTE	$0x48; BYTE $0xCB	// LRETQ

TEXT runtime·vkAPReloadedCS(SB),NOSPLIT|NOFRAME,$0
	MOVQ	R12, BX
	CPU_BASES
	SUBQ	$16, SP
	MOVQ	R12, 0(SP)
	CALL	runtime·vkAPMain(SB) // Go entry: //go:nowritebarrierrec (internal/kernelrules)
	JMP	runtime·vkHaltForever(SB)

// func vkAPEntryPC() uintptr
TEXT runtime·vkAPEntryPC(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$runtime·vkAPEntry(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkSpinPause()  lets interrupts in for a moment while spinning on
// the kernel lock: the holder may be waiting for this CPU to acknowledge a
// TLB shootdown. The NOP takes STI's one-instruction shadow: QEMU's TCG
// leaves the translated code at PAUSE with the shadow still set and then
// runs CLI, so STI; PAUSE; CLI never let an interrupt in there (hardware
// and KVM take it before CLI). Without it CI, which runs under TCG, never
// saw an interrupt land in a spin.
TEXT runtime·vkSpinPause(SB),NOSPLIT|NOFRAME,$0-0
	STI
	BYTE	$0x90 // NOP
	PAUSE
	CLI
	RET

// vkSyscallEntry is IA32_LSTAR. SYSCALL at CPL 0 does not switch stacks;
// RCX = return RIP, R11 = RFLAGS, and IA32_FMASK has cleared IF.
TEXT runtime·vkSyscallEntry(SB),NOSPLIT|NOFRAME,$0
	CMP_GS_0(vkCPU_inKernel)
	JNE	nested
	SP_TO_GS(vkCPU_scratch)
	GS_TO_SP(vkCPU_kstackTop)
	PUSHQ	$0x10
	PUSH_GS(vkCPU_scratch)
	PUSHQ	R11
	PUSHQ	$0x08
	PUSHQ	CX
	PUSHQ	$0
	PUSHQ	$256
	PUSH_REGS
	// No FPU save (see the top of this file): the thread's area keeps
	// only its x87 control word and MXCSR and is marked stale, and this
	// CPU notes whose control state its registers hold.
	SET_GS(vkCPU_inKernel, 1)
	GS_TO_AX(vkCPU_fpu)
	FSTCW	0(AX)
	STMXCSR	const_vkMXCSROff(AX)
	MOVQ	$1, vkThread_fpuStale(AX)
	AX_TO_GS(vkCPU_fpuLive)
	GS_TO_AX(vkCPU_kernelFS)
	SET_FS_AX
	// vkSyscallTrap(frame, this CPU's vkCPU): straight to the system
	// call paths, past vkTrap's interrupt and exception cases.
	MOVQ	SP, AX
	SUBQ	$16, SP
	MOVQ	AX, 0(SP)
	GS_TO_AX(vkCPU_self)
	MOVQ	AX, 8(SP)
	CALL	runtime·vkSyscallTrap(SB) // Go entry: //go:nowritebarrierrec (internal/kernelrules)
	ADDQ	$16, SP
	JMP	runtime·vkExitToUser(SB)
nested:
	// A syscall made by kernel code (the runtime's print while reporting
	// a fault, for example): handled on the current stack, never blocks.
	SP_TO_GS(vkCPU_scratch)
	PUSHQ	$0x10
	PUSH_GS(vkCPU_scratch)
	PUSHQ	R11
	PUSHQ	$0x08
	PUSHQ	CX
	PUSHQ	$0
	PUSHQ	$257
	PUSH_REGS
	JMP	runtime·vkKernelTrap(SB)

// vkTrapCommon: interrupt and exception stubs arrive here on IST1 with the
// vector and error code pushed.
TEXT runtime·vkTrapCommon(SB),NOSPLIT|NOFRAME,$0
	PUSH_REGS
	CMP_GS_0(vkCPU_inKernel)
	JEQ	fromuser
	JMP	runtime·vkKernelTrap(SB)
fromuser:
	// From user code: move the frame to the thread's kernel stack so the
	// handler may switch threads and IST1 is free for the next trap.
	GS_TO_AX(vkCPU_kstackTop)
	SUBQ	$const_vkFrameSize, AX
	MOVQ	SP, SI
	MOVQ	AX, DI
	MOVQ	$(const_vkFrameSize/8), CX
	CLD
	REP;	MOVSQ
	MOVQ	AX, SP
	JMP	runtime·vkEnterFromUser(SB)

// vkEnterFromUser: SP = vkFrame on the thread's kernel stack.
TEXT runtime·vkEnterFromUser(SB),NOSPLIT|NOFRAME,$0
	SET_GS(vkCPU_inKernel, 1)
	GS_TO_AX(vkCPU_fpu)
	MOVQ	AX, CX
	CMPB	runtime·vkXSaveOn(SB), $0
	JEQ	fxsave
	MOVL	$-1, AX
	MOVL	$-1, DX
	XSAVE64	(CX)
	JMP	saved
fxsave:
	FXSAVE64	(CX)
saved:
	MOVQ	$0, vkThread_fpuStale(CX)
	JMP	runtime·vkEnterKernel(SB)

// vkEnterKernel: SP = vkFrame on the thread's kernel stack, the FPU state
// saved.
TEXT runtime·vkEnterKernel(SB),NOSPLIT|NOFRAME,$0
	GS_TO_AX(vkCPU_kernelFS)
	SET_FS_AX
	MOVQ	SP, AX
	SUBQ	$16, SP
	MOVQ	AX, 0(SP)
	CALL	runtime·vkTrap(SB) // Go entry: //go:nowritebarrierrec (internal/kernelrules)
	ADDQ	$16, SP
	JMP	runtime·vkExitToUser(SB)

// vkExitToUser: SP = vkFrame of the current thread; interrupts off.
TEXT runtime·vkExitToUser(SB),NOSPLIT|NOFRAME,$0
	GS_TO_AX(vkCPU_userFS)
	SET_FS_AX
	GS_TO_AX(vkCPU_fpu)
	CMPQ	vkThread_fpuStale(AX), $0
	JNE	stale
	MOVQ	AX, CX
	CMPB	runtime·vkXSaveOn(SB), $0
	JEQ	fxrstor
	MOVL	$-1, AX
	MOVL	$-1, DX
	XRSTOR64	(CX)
	JMP	restored
fxrstor:
	FXRSTOR64	(CX)
	JMP	restored
stale:
	// Back from a system call that saved nothing. If this CPU switched
	// threads since (vkSchedule clears vkCPU.fpuLive), its registers hold
	// another thread's control state: give this one the initial state
	// with its own x87 control word and MXCSR.
	CMP_AX_GS(vkCPU_fpuLive)
	JEQ	live
	FINIT
	FLDCW	0(AX)
	LDMXCSR	const_vkMXCSROff(AX)
	AX_TO_GS(vkCPU_fpuLive)
live:
	XORPS	X15, X15	// Go's ABIInternal zero register
restored:
	SET_GS(vkCPU_inKernel, 0)
	POP_REGS
	ADDQ	$16, SP
	IRETQ

// vkKernelTrap: a trap taken while already in the kernel. It is handled
// below the interrupted stack pointer when that is the thread's kernel
// stack with room, else on the stack it arrived on, and never switches
// threads. The interrupted
// kernel code may hold live SSE/AVX registers (memmove does, and a page
// fault in the middle of it runs memclr), so the FPU state is saved around
// the handler on this stack, in a 64-byte-aligned area of vkFPUSize bytes
// whose XSAVE header is zeroed first: XSAVE writes only the XSTATE_BV
// bits it saves and keeps the others, and XRSTOR faults on a bit outside
// XCR0 there or on anything but zeros in the rest of the header. (On IST1
// the header happened to be valid from the last trap; on a kernel stack
// the area holds old frames.)
TEXT runtime·vkKernelTrap(SB),NOSPLIT|NOFRAME,$0
	// Off IST1, below the interrupted stack pointer, as a CPU without
	// IST would run it (and Linux does for all but NMI, #DF, #MC and
	// #DB): an interrupt let in by vkSpinPause's window while this
	// handler spins (a kernel page fault waiting for a lock)
	// then starts on a free IST1, not on this frame. Only from IST1 (a
	// system call made by kernel code arrives on its own stack), only
	// onto the current thread's kernel stack, whose size is known, below
	// a 128-byte gap, and only with the FPU area and vkKernelTrapRoom to
	// spare; anything else (the boot stack, a switch in progress, an
	// overflow) stays on IST1. Plain assembly: a Go call here would
	// clobber X15 before the XSAVE below. AX, CX, DX, SI, DI are in the
	// frame already.
	GS_TO_AX(vkCPU_ist1)
	CMPQ	SP, AX
	JAE	stay
	SUBQ	$const_vkISTStackSize, AX
	CMPQ	SP, AX
	JB	stay
	MOVQ	const_vkFrameRSP(SP), DX	// the interrupted stack pointer
	GS_TO_AX(vkCPU_kstackTop)
	TESTQ	AX, AX
	JEQ	stay
	CMPQ	DX, AX
	JA	stay
	MOVQ	AX, CX
	SUBQ	$const_vkKStackSize, CX	// the kernel stack's bottom
	CMPQ	DX, CX
	JBE	stay
	MOVQ	DX, DI
	SUBQ	$(128+const_vkFrameSize), DI
	ANDQ	$~15, DI
	ADDQ	runtime·vkFPUSize(SB), CX
	ADDQ	$(64+const_vkKernelTrapRoom), CX
	CMPQ	DI, CX
	JB	stay
	MOVQ	SP, SI
	MOVQ	DI, AX
	MOVQ	$(const_vkFrameSize/8), CX
	CLD
	REP;	MOVSQ
	MOVQ	AX, SP
stay:
	MOVQ	SP, SI
	MOVQ	SP, BX
	SUBQ	runtime·vkFPUSize(SB), SP
	ANDQ	$~63, SP
	CMPB	runtime·vkXSaveOn(SB), $0
	JEQ	fxsave
	XORL	AX, AX
	MOVQ	AX, (const_vkXHeader+0)(SP)
	MOVQ	AX, (const_vkXHeader+8)(SP)
	MOVQ	AX, (const_vkXHeader+16)(SP)
	MOVQ	AX, (const_vkXHeader+24)(SP)
	MOVQ	AX, (const_vkXHeader+32)(SP)
	MOVQ	AX, (const_vkXHeader+40)(SP)
	MOVQ	AX, (const_vkXHeader+48)(SP)
	MOVQ	AX, (const_vkXHeader+56)(SP)
	MOVL	$-1, AX
	MOVL	$-1, DX
	XSAVE64	0(SP)
	JMP	saved
fxsave:
	FXSAVE64	0(SP)
saved:
	PUSHQ	BX
	SUBQ	$8, SP
	MOVQ	SI, 0(SP)
	CALL	runtime·vkTrap(SB) // Go entry: //go:nowritebarrierrec (internal/kernelrules)
	ADDQ	$8, SP
	POPQ	BX
	CMPB	runtime·vkXSaveOn(SB), $0
	JEQ	fxrstor
	MOVL	$-1, AX
	MOVL	$-1, DX
	XRSTOR64	0(SP)
	JMP	restored
fxrstor:
	FXRSTOR64	0(SP)
restored:
	MOVQ	BX, SP
	POP_REGS
	ADDQ	$16, SP
	IRETQ

// func vkSwtch(save *uintptr, next uintptr)
// Saves the kernel stack pointer of the current thread in *save and resumes
// the thread whose kernel stack pointer is next. Go code treats every
// register but SP and BP as clobbered across a call, so BP is all we keep.
TEXT runtime·vkSwtch(SB),NOSPLIT|NOFRAME,$0-16
	MOVQ	save+0(FP), AX
	MOVQ	next+8(FP), BX
	PUSHQ	BP
	MOVQ	SP, (AX)
	MOVQ	BX, SP
	POPQ	BP
	RET

// vkThreadStart is where a new thread's first vkSwtch returns: its kernel
// stack holds only the user frame it will start from.
TEXT runtime·vkThreadStart(SB),NOSPLIT|NOFRAME,$0
	SUBQ	$16, SP
	CALL	runtime·vkThreadBegin(SB) // Go entry: //go:nowritebarrierrec (internal/kernelrules)
	ADDQ	$16, SP
	JMP	runtime·vkExitToUser(SB)

// vkIdleStart is where the BSP's idle thread starts (APs run their idle
// loop straight from vkAPMain).
TEXT runtime·vkIdleStart(SB),NOSPLIT|NOFRAME,$0
	CALL	runtime·vkIdleLoop(SB) // Go entry: //go:nowritebarrierrec (internal/kernelrules)
	JMP	runtime·vkHaltForever(SB)

// func vkIdleStartPC() uintptr
TEXT runtime·vkIdleStartPC(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$runtime·vkIdleStart(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkThreadStartPC() uintptr
TEXT runtime·vkThreadStartPC(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$runtime·vkThreadStart(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkSyscallEntryPC() uintptr
TEXT runtime·vkSyscallEntryPC(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$runtime·vkSyscallEntry(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkRuntimeEntryPC() uintptr: where the stock runtime starts.
TEXT runtime·vkRuntimeEntryPC(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$_rt0_amd64_linux(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// vkVDSOClockGettime is the vDSO's __vdso_clock_gettime (vk_vdso.go),
// called with the C convention: DI = clock id, SI = *timespec, result in
// AX. It uses only caller-saved registers and no stack. Monotonic clocks
// are the TSC scaled by vkVDSOMult (ns = c_hi*m + (c_lo*m)>>32, as
// vkCyclesToNs); realtime adds vkVDSOWallOff. Other clocks take the
// system call.
TEXT runtime·vkVDSOClockGettime(SB),NOSPLIT|NOFRAME,$0
	CMPL	DI, $1	// MONOTONIC
	JEQ	mono
	CMPL	DI, $4	// MONOTONIC_RAW
	JEQ	mono
	CMPL	DI, $6	// MONOTONIC_COARSE
	JEQ	mono
	CMPL	DI, $7	// BOOTTIME
	JEQ	mono
	CMPL	DI, $0	// REALTIME
	JEQ	wall
	CMPL	DI, $5	// REALTIME_COARSE
	JEQ	wall
	MOVL	$228, AX
	SYSCALL
	RET
wall:
	MOVQ	runtime·vkVDSOWallOff(SB), R11
	JMP	now
mono:
	XORL	R11, R11
now:
	MOVQ	SI, R9
	LFENCE
	RDTSC
	MOVQ	runtime·vkVDSOMult(SB), R8
	MOVQ	DX, R10	// c_hi
	MOVL	AX, AX	// c_lo
	MULQ	R8	// DX:AX = c_lo * m
	SHRQ	$32, AX
	SHLQ	$32, DX
	ORQ	DX, AX	// (c_lo*m) >> 32
	IMULQ	R8, R10	// c_hi * m
	ADDQ	R10, AX
	ADDQ	R11, AX	// + wall offset
	XORL	DX, DX
	MOVQ	$1000000000, CX
	DIVQ	CX
	MOVQ	AX, 0(R9)
	MOVQ	DX, 8(R9)
	XORL	AX, AX
	RET

// func vkVDSOClockGettimePC() uintptr
TEXT runtime·vkVDSOClockGettimePC(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$runtime·vkVDSOClockGettime(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkThisCPUAddr() uintptr: the GS base, this CPU's vkCPU.
TEXT runtime·vkThisCPUAddr(SB),NOSPLIT|NOFRAME,$0-8
	GS_TO_AX(0)
	MOVQ	AX, ret+0(FP)
	RET

// func vkVecTabAddr() uintptr
TEXT runtime·vkVecTabAddr(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$runtime·vkVecTab(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT runtime·vkVec0(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$0
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec1(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$1
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec2(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$2
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec3(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$3
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec4(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$4
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec5(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$5
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec6(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$6
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec7(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$7
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec8(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$8
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec9(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$9
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec10(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$10
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec11(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$11
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec12(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$12
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec13(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$13
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec14(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$14
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec15(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$15
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec16(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$16
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec17(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$17
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec18(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$18
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec19(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$19
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec20(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$20
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec21(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$21
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec22(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$22
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec23(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$23
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec24(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$24
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec25(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$25
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec26(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$26
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec27(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$27
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec28(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$28
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec29(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$29
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec30(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$30
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec31(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$31
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec32(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$32
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec33(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$33
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec34(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$34
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec35(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$35
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec36(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$36
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec37(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$37
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec38(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$38
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec39(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$39
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec40(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$40
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec41(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$41
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec42(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$42
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec43(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$43
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec44(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$44
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec45(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$45
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec46(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$46
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec47(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$47
	JMP	runtime·vkTrapCommon(SB)

// MSI vectors for device drivers (vk_dev.go).
TEXT runtime·vkVec48(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$48
	JMP	runtime·vkTrapCommon(SB)
TEXT runtime·vkVec49(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$49
	JMP	runtime·vkTrapCommon(SB)
TEXT runtime·vkVec50(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$50
	JMP	runtime·vkTrapCommon(SB)
TEXT runtime·vkVec51(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$51
	JMP	runtime·vkTrapCommon(SB)
TEXT runtime·vkVec52(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$52
	JMP	runtime·vkTrapCommon(SB)
TEXT runtime·vkVec53(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$53
	JMP	runtime·vkTrapCommon(SB)
TEXT runtime·vkVec54(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$54
	JMP	runtime·vkTrapCommon(SB)
TEXT runtime·vkVec55(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$55
	JMP	runtime·vkTrapCommon(SB)
TEXT runtime·vkVec240(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$240
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec241(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$241
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec242(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$242
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec243(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$243
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec244(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$244
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec254(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$254
	JMP	runtime·vkTrapCommon(SB)

TEXT runtime·vkVec255(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	$0
	PUSHQ	$255
	JMP	runtime·vkTrapCommon(SB)

// vkVecTab lists (vector, entry) pairs for the IDT.
DATA runtime·vkVecTab+0(SB)/8, $0
DATA runtime·vkVecTab+8(SB)/8, $runtime·vkVec0(SB)
DATA runtime·vkVecTab+16(SB)/8, $1
DATA runtime·vkVecTab+24(SB)/8, $runtime·vkVec1(SB)
DATA runtime·vkVecTab+32(SB)/8, $2
DATA runtime·vkVecTab+40(SB)/8, $runtime·vkVec2(SB)
DATA runtime·vkVecTab+48(SB)/8, $3
DATA runtime·vkVecTab+56(SB)/8, $runtime·vkVec3(SB)
DATA runtime·vkVecTab+64(SB)/8, $4
DATA runtime·vkVecTab+72(SB)/8, $runtime·vkVec4(SB)
DATA runtime·vkVecTab+80(SB)/8, $5
DATA runtime·vkVecTab+88(SB)/8, $runtime·vkVec5(SB)
DATA runtime·vkVecTab+96(SB)/8, $6
DATA runtime·vkVecTab+104(SB)/8, $runtime·vkVec6(SB)
DATA runtime·vkVecTab+112(SB)/8, $7
DATA runtime·vkVecTab+120(SB)/8, $runtime·vkVec7(SB)
DATA runtime·vkVecTab+128(SB)/8, $8
DATA runtime·vkVecTab+136(SB)/8, $runtime·vkVec8(SB)
DATA runtime·vkVecTab+144(SB)/8, $9
DATA runtime·vkVecTab+152(SB)/8, $runtime·vkVec9(SB)
DATA runtime·vkVecTab+160(SB)/8, $10
DATA runtime·vkVecTab+168(SB)/8, $runtime·vkVec10(SB)
DATA runtime·vkVecTab+176(SB)/8, $11
DATA runtime·vkVecTab+184(SB)/8, $runtime·vkVec11(SB)
DATA runtime·vkVecTab+192(SB)/8, $12
DATA runtime·vkVecTab+200(SB)/8, $runtime·vkVec12(SB)
DATA runtime·vkVecTab+208(SB)/8, $13
DATA runtime·vkVecTab+216(SB)/8, $runtime·vkVec13(SB)
DATA runtime·vkVecTab+224(SB)/8, $14
DATA runtime·vkVecTab+232(SB)/8, $runtime·vkVec14(SB)
DATA runtime·vkVecTab+240(SB)/8, $15
DATA runtime·vkVecTab+248(SB)/8, $runtime·vkVec15(SB)
DATA runtime·vkVecTab+256(SB)/8, $16
DATA runtime·vkVecTab+264(SB)/8, $runtime·vkVec16(SB)
DATA runtime·vkVecTab+272(SB)/8, $17
DATA runtime·vkVecTab+280(SB)/8, $runtime·vkVec17(SB)
DATA runtime·vkVecTab+288(SB)/8, $18
DATA runtime·vkVecTab+296(SB)/8, $runtime·vkVec18(SB)
DATA runtime·vkVecTab+304(SB)/8, $19
DATA runtime·vkVecTab+312(SB)/8, $runtime·vkVec19(SB)
DATA runtime·vkVecTab+320(SB)/8, $20
DATA runtime·vkVecTab+328(SB)/8, $runtime·vkVec20(SB)
DATA runtime·vkVecTab+336(SB)/8, $21
DATA runtime·vkVecTab+344(SB)/8, $runtime·vkVec21(SB)
DATA runtime·vkVecTab+352(SB)/8, $22
DATA runtime·vkVecTab+360(SB)/8, $runtime·vkVec22(SB)
DATA runtime·vkVecTab+368(SB)/8, $23
DATA runtime·vkVecTab+376(SB)/8, $runtime·vkVec23(SB)
DATA runtime·vkVecTab+384(SB)/8, $24
DATA runtime·vkVecTab+392(SB)/8, $runtime·vkVec24(SB)
DATA runtime·vkVecTab+400(SB)/8, $25
DATA runtime·vkVecTab+408(SB)/8, $runtime·vkVec25(SB)
DATA runtime·vkVecTab+416(SB)/8, $26
DATA runtime·vkVecTab+424(SB)/8, $runtime·vkVec26(SB)
DATA runtime·vkVecTab+432(SB)/8, $27
DATA runtime·vkVecTab+440(SB)/8, $runtime·vkVec27(SB)
DATA runtime·vkVecTab+448(SB)/8, $28
DATA runtime·vkVecTab+456(SB)/8, $runtime·vkVec28(SB)
DATA runtime·vkVecTab+464(SB)/8, $29
DATA runtime·vkVecTab+472(SB)/8, $runtime·vkVec29(SB)
DATA runtime·vkVecTab+480(SB)/8, $30
DATA runtime·vkVecTab+488(SB)/8, $runtime·vkVec30(SB)
DATA runtime·vkVecTab+496(SB)/8, $31
DATA runtime·vkVecTab+504(SB)/8, $runtime·vkVec31(SB)
DATA runtime·vkVecTab+512(SB)/8, $32
DATA runtime·vkVecTab+520(SB)/8, $runtime·vkVec32(SB)
DATA runtime·vkVecTab+528(SB)/8, $33
DATA runtime·vkVecTab+536(SB)/8, $runtime·vkVec33(SB)
DATA runtime·vkVecTab+544(SB)/8, $34
DATA runtime·vkVecTab+552(SB)/8, $runtime·vkVec34(SB)
DATA runtime·vkVecTab+560(SB)/8, $35
DATA runtime·vkVecTab+568(SB)/8, $runtime·vkVec35(SB)
DATA runtime·vkVecTab+576(SB)/8, $36
DATA runtime·vkVecTab+584(SB)/8, $runtime·vkVec36(SB)
DATA runtime·vkVecTab+592(SB)/8, $37
DATA runtime·vkVecTab+600(SB)/8, $runtime·vkVec37(SB)
DATA runtime·vkVecTab+608(SB)/8, $38
DATA runtime·vkVecTab+616(SB)/8, $runtime·vkVec38(SB)
DATA runtime·vkVecTab+624(SB)/8, $39
DATA runtime·vkVecTab+632(SB)/8, $runtime·vkVec39(SB)
DATA runtime·vkVecTab+640(SB)/8, $40
DATA runtime·vkVecTab+648(SB)/8, $runtime·vkVec40(SB)
DATA runtime·vkVecTab+656(SB)/8, $41
DATA runtime·vkVecTab+664(SB)/8, $runtime·vkVec41(SB)
DATA runtime·vkVecTab+672(SB)/8, $42
DATA runtime·vkVecTab+680(SB)/8, $runtime·vkVec42(SB)
DATA runtime·vkVecTab+688(SB)/8, $43
DATA runtime·vkVecTab+696(SB)/8, $runtime·vkVec43(SB)
DATA runtime·vkVecTab+704(SB)/8, $44
DATA runtime·vkVecTab+712(SB)/8, $runtime·vkVec44(SB)
DATA runtime·vkVecTab+720(SB)/8, $45
DATA runtime·vkVecTab+728(SB)/8, $runtime·vkVec45(SB)
DATA runtime·vkVecTab+736(SB)/8, $46
DATA runtime·vkVecTab+744(SB)/8, $runtime·vkVec46(SB)
DATA runtime·vkVecTab+752(SB)/8, $47
DATA runtime·vkVecTab+760(SB)/8, $runtime·vkVec47(SB)
DATA runtime·vkVecTab+768(SB)/8, $240
DATA runtime·vkVecTab+776(SB)/8, $runtime·vkVec240(SB)
DATA runtime·vkVecTab+784(SB)/8, $241
DATA runtime·vkVecTab+792(SB)/8, $runtime·vkVec241(SB)
DATA runtime·vkVecTab+800(SB)/8, $242
DATA runtime·vkVecTab+808(SB)/8, $runtime·vkVec242(SB)
DATA runtime·vkVecTab+816(SB)/8, $254
DATA runtime·vkVecTab+824(SB)/8, $runtime·vkVec254(SB)
DATA runtime·vkVecTab+832(SB)/8, $255
DATA runtime·vkVecTab+840(SB)/8, $runtime·vkVec255(SB)
DATA runtime·vkVecTab+848(SB)/8, $243
DATA runtime·vkVecTab+856(SB)/8, $runtime·vkVec243(SB)
DATA runtime·vkVecTab+864(SB)/8, $48
DATA runtime·vkVecTab+872(SB)/8, $runtime·vkVec48(SB)
DATA runtime·vkVecTab+880(SB)/8, $49
DATA runtime·vkVecTab+888(SB)/8, $runtime·vkVec49(SB)
DATA runtime·vkVecTab+896(SB)/8, $50
DATA runtime·vkVecTab+904(SB)/8, $runtime·vkVec50(SB)
DATA runtime·vkVecTab+912(SB)/8, $51
DATA runtime·vkVecTab+920(SB)/8, $runtime·vkVec51(SB)
DATA runtime·vkVecTab+928(SB)/8, $52
DATA runtime·vkVecTab+936(SB)/8, $runtime·vkVec52(SB)
DATA runtime·vkVecTab+944(SB)/8, $53
DATA runtime·vkVecTab+952(SB)/8, $runtime·vkVec53(SB)
DATA runtime·vkVecTab+960(SB)/8, $54
DATA runtime·vkVecTab+968(SB)/8, $runtime·vkVec54(SB)
DATA runtime·vkVecTab+976(SB)/8, $55
DATA runtime·vkVecTab+984(SB)/8, $runtime·vkVec55(SB)
DATA runtime·vkVecTab+992(SB)/8, $244
DATA runtime·vkVecTab+1000(SB)/8, $runtime·vkVec244(SB)
GLOBL runtime·vkVecTab(SB), RODATA, $1008

// func vkNestProbe(magic uint64) uint64 (vk_velocity.go): BX and R12 hold
// magic across a trap taken in kernel code that lets a timer tick in; it
// returns R12, or 0 when the trap saw no tick (AX = 0) or BX changed.
TEXT runtime·vkNestProbe(SB),NOSPLIT,$0-16
	MOVQ	magic+0(FP), BX
	MOVQ	BX, R12
	INT	$const_vkNestTestVector
	TESTQ	AX, AX
	JEQ	none
	CMPQ	BX, R12
	JNE	changed
	MOVQ	R12, ret+8(FP)
	RET
changed:
	MOVQ	$1, ret+8(FP)
	RET
none:
	MOVQ	$0, ret+8(FP)
	RET
