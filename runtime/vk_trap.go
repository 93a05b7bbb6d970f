//go:build velocity

// Velocity kernel: the trap dispatcher, exception reports and exit.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

// vkFrame is the register state saved at every kernel entry; its layout is
// fixed by the push order in vk_entry_amd64.s.
type vkFrame struct {
	r15, r14, r13, r12, r11, r10, r9, r8 uint64
	rbp, rdi, rsi, rdx, rcx, rbx, rax    uint64
	vector, err                          uint64
	rip, cs, rflags, rsp, ss             uint64
}

const (
	vkFrameSize      = 22 * 8
	vkFrameRSP       = 20 * 8 // offset of rsp, for the assembly
	vkVectorSyscall  = 256
	vkVectorNestedSC = 257
)

var vkExceptionNames = [32]string{
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
	"#BR bound range", "#UD invalid opcode", "#NM device not available",
	"#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check",
	"#MC machine check", "#XM SIMD error", "#VE virtualization", "#CP control protection",
	"reserved 22", "reserved 23", "reserved 24", "reserved 25", "reserved 26",
	"reserved 27", "#HV hypervisor injection", "#VC VMM communication", "#SX security", "reserved 31",
}

// vkIdleNoHalt moves a context interrupted on vkIdle's HLT past it, to
// the CLI that follows, so that the interrupted idle loop or lock waiter
// looks at its work again instead of halting.
//
// STI's one-instruction shadow keeps maskable interrupts off the HLT, which
// is what makes STI;HLT wait safely, but it does not hold off an NMI (nor
// a debug trap). One taken between the two returns onto the HLT with
// interrupts on, so an interrupt that came meanwhile (a tick, a device
// line, a wake-up IPI: the NMI dump prints for milliseconds) is taken
// there too; its handler, in kernel code, only records the work
// (vkKernelTrapWork, vkIRQPending) and returns onto the HLT, which then
// sleeps past that work until some later interrupt. vkTrap calls this
// for the NMI and for every interrupt (vector 32 and up), so whatever let
// an interrupt in on the HLT, its work is looked at; exceptions, such as a
// debugger's single step, keep their address. A one-CPU guest whose
// card used INTx was found that way after the NMI dumps of tests/netboot
// TestDriverPaths: a frame's interrupt taken and deferred, the tick
// disarmed, and the CPU halted for the 3.7 s until the next dump
// (tests/gdb TestNMIOnIdleHalt stops a guest on that HLT, sends the NMI
// there and checks that the guest runs on).
//
// Trap context: no lock, no allocation; a compare and a store.
//
//go:nosplit
func vkIdleNoHalt(f *vkFrame) {
	if f.rip == uint64(vkIdleHaltPC()) {
		f.rip++ // HLT is one byte
	}
}

// vkIdleCheck verifies at boot that vkIdleHaltPC names vkIdle's HLT, between
// its STI and its CLI, as vkIdleNoHalt assumes.
func vkIdleCheck() {
	if b := (*[3]byte)(unsafe.Pointer(vkIdleHaltPC() - 1)); *b != [3]byte{0xFB, 0xF4, 0xFA} {
		vkFatal("vkIdle is not STI; HLT; CLI: vkIdleHaltPC is wrong")
	}
}

// vkSignalFor maps a CPU exception in user code to the signal Linux sends.
func vkSignalFor(vec uint64) uint32 {
	switch vec {
	case 0, 16, 19:
		return _SIGFPE
	case 6:
		return _SIGILL
	case 3, 1:
		return _SIGTRAP
	case 17:
		return _SIGBUS
	}
	return _SIGSEGV
}

// vkTrap is called by the assembly for every kernel entry with the frame of
// the interrupted context.
//
// No write barriers: trap context has no P, and kernel structures are not
// Go heap; the compiler checks everything vkTrap calls.
//
//go:nowritebarrierrec
func vkTrap(f *vkFrame) {
	if f.vector == 2 {
		vkNMI(f) // a dump of every CPU and thread (vk_dump.go)
		vkIdleNoHalt(f)
		return
	}
	if f.vector >= 32 {
		vkIdleNoHalt(f) // exceptions (a debugger's step, a breakpoint) are left as they are
	}
	if f.vector == 3 && vkPatchTrap(f) {
		return // the INT3 of a code patch in flight (vk_patch.go)
	}
	if vkGdb.on && vkGdbTrap(f) {
		return // breakpoint, single step, debugger IPI or Ctrl-C (vk_gdb.go)
	}
	if vkDevIRQ(f.vector) {
		// A device line, acknowledged. In user code, count it and wake the
		// driver now; in kernel code the lock may be ours or another
		// CPU's, and the next holder does it (vkIRQWork).
		if vkFromUser(f) {
			vkLock()
			vkIRQWork()
			vkUnlock()
			vkTickCheck()
		}
		return
	}
	switch f.vector {
	case vkTLBVector:
		// Answered without the kernel lock: the CPU that sent it holds it.
		vkTLBFlushLocal()
		vkEOI()
		return
	case vkHaltVector:
		vkHaltForever()
	case vkVectorNestedSC:
		vkSyscall(f, false)
		return
	}
	if !vkFromUser(f) {
		vkKernelTrapWork(f)
		return
	}
	if f.vector == vkTimerVector || f.vector == vkReschedVector {
		vkTrapTick(f) // this CPU's run-queue lock only (vk_lockpath.go)
		return
	}
	var cr2 uintptr
	if f.vector == 14 {
		// Demand-zero faults take the mapping list shared, not the
		// kernel lock (vkHandlePageFault); only a fault that becomes a
		// signal goes on below.
		cr2 = vkReadCR2()
		if vkHandlePageFault(cr2, f.err&2 != 0, f.err&16 != 0) {
			vkTrapExitFine(f)
			return
		}
	}
	vkLock()
	switch {
	case f.vector == vkSpuriousVector:
		// Spurious LAPIC interrupts need no EOI.
	case f.vector == vkSerialVector:
		vkEOI()
		vkSerialPoll()
	case f.vector >= 32:
		vkEOI()
	case f.vector == 14:
		vkFault(f, cr2, true) // not a page the program may touch
	default:
		vkFault(f, 0, true)
	}
	vkTrapUnlock(f)
}

// vkSyscallTrap is called by the assembly for every SYSCALL from user code
// (vector vkVectorSyscall) with its frame and this CPU, instead of vkTrap:
// none of vkTrap's cases before the system calls (a patch INT3, the gdb
// stub, device lines, IPIs) can be a system call, and the frame is known
// to be user code's. The lock-free and fine-grained paths come first.
//
//go:nowritebarrierrec
func vkSyscallTrap(f *vkFrame, c *vkCPU) {
	f.err = f.rax // the call's number, as Linux's orig_rax: a restart makes it again (vkSyscallRestart)
	if vkSyscallLockFree(f, c) {
		return // clocks and ids: no shared state, so no kernel lock
	}
	nr, t := f.rax, vkThreadOf(c.cur)
	vkSysTimeBegin(t)
	if vkSyscallFine(f) {
		vkSysTimeEnd(t, nr)
		vkTrapExitFine(f) // futex, nanosleep, sched_yield: their own locks (vk_lockpath.go)
		return
	}
	vkLock()
	vkSysCount(c, f.rax) // before the call, which may block and resume on another CPU
	vkSyscall(f, true)
	vkSysTimeEnd(t, nr)
	vkTrapUnlock(f)
}

// vkTrapUnlock ends a trap that took the kernel lock: deferred device
// work, signals for the thread returning to user code, a pending TLB
// shootdown, then a tick deferred while spinning (vk_lockpath.go).
func vkTrapUnlock(f *vkFrame) {
	vkIRQWork()
	vkDeliverSignals(f)
	vkTLBShootdown()
	vkUnlock()
	vkTickCheck()
}

// vkFromUser reports whether f interrupted the Go program rather than the
// kernel; the assembly knows, and recorded it by choosing the stack.
func vkFromUser(f *vkFrame) bool {
	a := uintptr(unsafe.Pointer(f))
	return a+vkFrameSize == vkThisCPU().kstackTop
}

// vkKernelTrapRoom is the stack a trap taken in kernel code keeps free
// below the FPU save area when vkKernelTrap moves it off IST1: vkTrap's
// deepest path (a fault report with its traceback), which fits in IST1's
// 16 KiB today with room to spare.
const vkKernelTrapRoom = 12 << 10

// vkKernelTrapWork handles a trap that interrupted kernel code: a page
// fault on user memory touched by a syscall (the kernel lock is held, so
// no writer of the mapping list can be in the middle of a change, and the
// fault takes the list shared like any other), or
// an interrupt that woke an idle or lock-spinning CPU (it is not). Nothing
// here may take the lock or switch threads.
func vkKernelTrapWork(f *vkFrame) {
	c := vkThisCPU()
	switch {
	case f.vector == vkTimerVector:
		c.ticks++
		c.deadline = 0
		vkEOI()
		vkProfTick(f, false)
		vkTickDeferred(c) // re-armed on the way back to user code (vk_lockpath.go)
	case f.vector == vkReschedVector:
		vkEOI()
		vkTickDeferred(c) // a thread was queued here: looked at on the way out
	case f.vector == vkSpuriousVector:
	case f.vector == vkSerialVector:
		// The lock may not be ours: the next holder reads the UART.
		atomic.Store(&vkIRQPending, 1)
		vkEOI()
	case f.vector == vkNestTestVector:
		vkNestTrap(f) // a software interrupt: no EOI
	case f.vector >= 32:
		vkEOI()
	case f.vector == 14:
		cr2 := vkReadCR2()
		if cr2 < vkDMAP && vkHandlePageFault(cr2, f.err&2 != 0, f.err&16 != 0) {
			return
		}
		vkFault(f, cr2, false)
	default:
		vkFault(f, 0, false)
	}
}

// vkFault handles an exception that paging could not resolve. In user code
// with a handler installed, it becomes the signal Linux would send, so the
// Go runtime reports a nil dereference as a panic. Otherwise the kernel
// prints a report and exits.
func vkFault(f *vkFrame, addr uintptr, fromUser bool) {
	sig := vkSignalFor(f.vector)
	if fromUser && vkSignalHandled(sig) && vkCur().sigmask&(1<<(sig-1)) == 0 {
		if f.vector != 14 || f.err&16 != 0 {
			// Page faults are routine (nil checks, recover), but not an
			// instruction fetch from a no-execute page (a jump into
			// data): that, and anything else, gets the kernel's register
			// report before Go's own.
			vkReport(f, addr, fromUser, false)
		}
		code := int32(1) // SEGV_MAPERR, ILL_ILLOPC, FPE_INTDIV, TRAP_BRKPT
		if f.vector == 14 && f.err&1 != 0 {
			code = 2 // SEGV_ACCERR
		}
		if f.vector == 13 {
			code = 0x80 // SI_KERNEL, as Linux reports #GP
		}
		vkSignalFrame(f, sig, code, addr, true)
		return
	}
	vkReport(f, addr, fromUser, true)
	if vkGdbFault(f, sig) {
		return // gdb saw it; the instruction runs again unless gdb moved rip
	}
	vkExit(vkExitSignal + int(sig))
}

// vkReport prints the exception, the registers and, with traceback set, the
// Go stack of the faulting goroutine.
func vkReport(f *vkFrame, addr uintptr, fromUser, traceback bool) {
	vkPrint("\n=== velocity: CPU exception ")
	vkPrintDec(int64(f.vector))
	if f.vector < 32 {
		vkPrint(" (")
		vkPrint(vkExceptionNames[f.vector])
		vkPrint(")")
	}
	if fromUser {
		vkPrint(" in Go code")
	} else {
		vkPrint(" in kernel code")
	}
	vkPrint(" on CPU ")
	vkPrintDec(int64(vkThisCPU().id))
	if t := vkCur(); t != nil {
		vkPrint(", thread ")
		vkPrintDec(int64(t.tid))
	}
	vkPrint(" ===\n  error code ")
	vkPrintHex(f.err)
	if f.vector == 14 {
		vkPrint(" (")
		if f.err&1 == 0 {
			vkPrint("not present, ")
		} else {
			vkPrint("protection, ")
		}
		if f.err&2 != 0 {
			vkPrint("write")
		} else {
			vkPrint("read")
		}
		if f.err&16 != 0 {
			vkPrint(", instruction fetch")
		}
		vkPrint(")")
		if addr >= vkKStackBase && addr < vkKStackBase+1<<39 {
			vkPrint(" -- kernel stack overflow")
		}
		if f.err&0x11 == 0x11 {
			vkPrint(" -- jump into a no-execute page (data, heap or stack)")
		}
	}
	vkPrint("  cr2 ")
	vkPrintHex(uint64(addr))
	regs := [...]struct {
		name string
		v    uint64
	}{
		{"rip", f.rip}, {"rsp", f.rsp}, {"rflags", f.rflags}, {"cs", f.cs},
		{"rax", f.rax}, {"rbx", f.rbx}, {"rcx", f.rcx}, {"rdx", f.rdx},
		{"rsi", f.rsi}, {"rdi", f.rdi}, {"rbp", f.rbp}, {"r8", f.r8},
		{"r9", f.r9}, {"r10", f.r10}, {"r11", f.r11}, {"r12", f.r12},
		{"r13", f.r13}, {"r14", f.r14}, {"r15", f.r15},
	}
	for i, r := range regs {
		if i%4 == 0 {
			vkPrint("\n ")
		}
		vkPrint(" ")
		for n := len(r.name); n < 6; n++ {
			vkPrint(" ")
		}
		vkPrint(r.name)
		vkPrint(" ")
		vkPrintHex(r.v)
	}
	vkPrint("\n  cr3 ")
	vkPrintHex(uint64(vkReadCR3()))
	vkPrint("\n")
	if !fromUser {
		vkPrintSyscallInFlight("  ") // vk_sysfault.go
	}
	if traceback {
		vkGoTraceback(f)
	}
}

// vkGoTraceback prints the Go stack of the faulting context when it is a
// goroutine the runtime knows (user code: R14 holds its g).
func vkGoTraceback(f *vkFrame) {
	if !vkFromUser(f) || f.r14 == 0 {
		vkPrint("  (no Go traceback: the fault is in kernel code)\n")
		return
	}
	gp := (*g)(unsafe.Pointer(uintptr(f.r14)))
	if uintptr(f.rsp) < gp.stack.lo || uintptr(f.rsp) >= gp.stack.hi && gp.m == nil {
		vkPrint("  (no Go traceback: r14 is not a goroutine)\n")
		return
	}
	vkPrint("Go traceback (goroutine ")
	vkPrintDec(int64(gp.goid))
	vkPrint("):\n")
	tracebacktrap(uintptr(f.rip), uintptr(f.rsp), 0, gp)
}

// vkFatal reports a kernel bug or an unusable machine and exits.
func vkFatal(msg string) {
	vkPrint("\nvelocity: fatal: ")
	vkPrint(msg)
	vkPrint("\n")
	vkGdbFatal()
	vkExit(vkExitFatal)
}

// Exit codes of a machine the kernel ends. QEMU's isa-debug-exit makes the
// process status (code<<1)|1 and a status has 8 bits, so codes are 0-127;
// the Linux shell convention of 128+signal would not survive the trip.
const (
	vkExitFatal  = 3  // kernel bug or unusable machine (also BOOT_ND.BIN's)
	vkExitSignal = 64 // + signal number: a fault nothing could handle
	vkExitOOM    = 120
)

// vkExit ends the machine. Under QEMU, isa-debug-exit turns code into the
// process exit status (code<<1)|1; on hardware the write is harmless and
// the CPU halts with interrupts off (no reboot loop).
func vkExit(code int) {
	if code < 0 || code > 127 {
		vkPrint("velocity: exit status ")
		vkPrintDec(int64(code))
		vkPrint(" does not fit the 7 bits QEMU passes on; exiting with 127\n")
		code = 127
	}
	vkGdbExit(code)
	vkStopOthers()
	vkOutl(0xF4, uint32(code))
	vkHaltForever()
}

// vkPICDisable remaps the legacy 8259 PICs away from the exception vectors
// and masks them: the LAPIC delivers every interrupt we use.
func vkPICDisable() {
	vkOutb(0x20, 0x11)
	vkOutb(0xA0, 0x11)
	vkOutb(0x21, 0x20)
	vkOutb(0xA1, 0x28)
	vkOutb(0x21, 0x04)
	vkOutb(0xA1, 0x02)
	vkOutb(0x21, 0x01)
	vkOutb(0xA1, 0x01)
	vkOutb(0x21, 0xFF)
	vkOutb(0xA1, 0xFF)
}
