//go:build velocity

// Velocity kernel: POSIX signals as the Go runtime uses them.
//
// The runtime installs handlers with SA_SIGINFO|SA_ONSTACK|SA_RESTORER and
// relies on signals for two things: turning faults (nil dereference) into
// panics, and async preemption (tgkill SIGURG). Delivery builds the same
// rt_sigframe Linux builds, on the thread's sigaltstack, so the runtime's
// own sigtramp and sigreturn work unchanged.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	saSiginfo   = 0x4
	saOnstack   = 0x08000000
	saRestorer  = 0x04000000
	saNodefer   = 0x40000000
	saResethand = 0x80000000

	ssOnstack = 1
	ssDisable = 2

	vkSigIgn = 1

	// vkSigUnblockable: SIGKILL and SIGSTOP, which no mask may block
	// (rt_sigprocmask, rt_sigreturn and epoll_pwait drop them).
	vkSigUnblockable = 1<<(_SIGKILL-1) | 1<<(_SIGSTOP-1)
)

type vkSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

var vkSigactions [65]vkSigaction

func vkSignalHandled(sig uint32) bool {
	return sig < 65 && vkSigactions[sig].handler > vkSigIgn
}

func vkSysRtSigaction(sig uint32, act, old uintptr, size uintptr) uintptr {
	if sig < 1 || sig > 64 || size != 8 {
		return vkErr(vkEINVAL)
	}
	if old != 0 {
		if !vkUserOK(old, 32, true) {
			return vkErr(vkEFAULT)
		}
		*(*vkSigaction)(unsafe.Pointer(old)) = vkSigactions[sig]
	}
	if act != 0 {
		if sig == _SIGKILL || sig == _SIGSTOP {
			return vkErr(vkEINVAL)
		}
		if !vkUserOK(act, 32, false) {
			return vkErr(vkEFAULT)
		}
		vkSigactions[sig] = *(*vkSigaction)(unsafe.Pointer(act))
	}
	return 0
}

func vkSysRtSigprocmask(how int32, set, old uintptr, size uintptr) uintptr {
	if size != 8 {
		return vkErr(vkEINVAL)
	}
	t := vkCur()
	if old != 0 {
		if !vkUserOK(old, 8, true) {
			return vkErr(vkEFAULT)
		}
		*(*uint64)(unsafe.Pointer(old)) = t.sigmask
	}
	if set != 0 {
		if !vkUserOK(set, 8, false) {
			return vkErr(vkEFAULT)
		}
		s := *(*uint64)(unsafe.Pointer(set))
		switch how {
		case 0: // SIG_BLOCK
			t.sigmask |= s
		case 1: // SIG_UNBLOCK
			t.sigmask &^= s
		case 2: // SIG_SETMASK
			t.sigmask = s
		default:
			return vkErr(vkEINVAL)
		}
		t.sigmask &^= vkSigUnblockable
	}
	return 0
}

func vkSysSigaltstack(ss, old uintptr, f *vkFrame) uintptr {
	t := vkCur()
	on := t.altFlags&ssDisable == 0 && t.altSize != 0 &&
		uintptr(f.rsp) > t.altSP && uintptr(f.rsp) <= t.altSP+t.altSize
	if old != 0 {
		if !vkUserOK(old, 24, true) {
			return vkErr(vkEFAULT)
		}
		st := (*stackt)(unsafe.Pointer(old))
		*(*uintptr)(unsafe.Pointer(&st.ss_sp)) = t.altSP // no write barrier: kernel code
		st.ss_size = t.altSize
		st.ss_flags = t.altFlags
		if t.altSize == 0 {
			st.ss_flags = ssDisable
		} else if on {
			st.ss_flags = ssOnstack
		}
	}
	if ss != 0 {
		if on {
			return vkErr(vkEPERM)
		}
		if !vkUserOK(ss, 24, false) {
			return vkErr(vkEFAULT)
		}
		st := (*stackt)(unsafe.Pointer(ss))
		if mode := uint32(st.ss_flags) &^ (1 << 31); mode != 0 && mode != ssOnstack && mode != ssDisable {
			return vkErr(vkEINVAL) // only SS_ONSTACK, SS_DISABLE and SS_AUTODISARM exist
		}
		if st.ss_flags&ssDisable != 0 {
			t.altSP, t.altSize, t.altFlags = 0, 0, ssDisable
		} else {
			if st.ss_size < 2048 {
				return vkErr(vkENOMEM)
			}
			t.altSP, t.altSize, t.altFlags = uintptr(unsafe.Pointer(st.ss_sp)), st.ss_size, 0
		}
	}
	return 0
}

// vkSysKill queues sig for thread tid (tgkill/tkill).
func vkSysTgkill(tid int32, sig uint32) uintptr {
	t := vkThreadByTID(tid)
	if t == nil {
		return vkErr(vkESRCH)
	}
	if sig == 0 {
		return 0
	}
	if sig > 64 {
		return vkErr(vkEINVAL)
	}
	vkSigPost(t, sig)
	return 0
}

// vkSigPost makes sig pending for t and gets t to take it: an IPI if it
// runs on another CPU, a wake-up if it is blocked and does not block sig.
func vkSigPost(t *vkThread, sig uint32) {
	// Atomic: a full barrier between this store and the read of t.state
	// below, against vkSleep's store of the state and read of pending.
	atomic.Or64(&t.pending, 1<<(sig-1))
	// onCPU changes under run-queue locks, not this one: read it once.
	if on := atomic.Loadint32(&t.onCPU); on >= 0 && uint32(on) != vkThisCPU().id {
		// Running on another CPU: interrupt it so it takes the signal on
		// its way back to user code (Go's async preemption relies on it).
		vkSendIPI(vkCPUs[on].apicID, vkReschedVector)
	}
	if t.state == thBlocked && t.sigmask&(1<<(sig-1)) == 0 {
		// Linux interrupts the blocking call with EINTR; the runtime's
		// futex and nanosleep loops retry.
		vkWake(t, false)
	}
}

// vkERESTARTSYS is what a blocking call returns when a signal cut its
// wait short before it did anything (Linux's ERESTARTSYS); it never
// reaches user code: vkSyscallRestart turns it into EINTR, or makes the
// call again.
const vkERESTARTSYS = 512

const saRestart = 0x10000000

// vkSyscallRestart settles a system call that came back with
// -ERESTARTSYS, as Linux's signal delivery does: when the signal about
// to be handled has a handler without SA_RESTART (restart false) the call
// fails with EINTR; otherwise (SA_RESTART, as Go sets on every handler,
// or no handler runs) RIP goes back over the 2-byte SYSCALL and RAX holds
// the call's number again (kept in f.err by vkSyscallTrap), so the call
// is made again once the handler returns. Go's own loops retry EINTR,
// but a program's direct syscall.Read of a pipe did not, and failed when
// any signal reached its thread (std syscall
// TestAllThreadsSyscallBlockedSyscall).
func vkSyscallRestart(f *vkFrame, restart bool) {
	if f.vector != vkVectorSyscall || int64(f.rax) != -vkERESTARTSYS {
		return
	}
	if !restart {
		f.rax = uint64(vkErr(vkEINTR))
		return
	}
	f.rax = f.err
	f.rip -= 2
}

// vkDeliverSignals runs on the way back to user mode: the first pending,
// unblocked signal becomes a signal frame.
func vkDeliverSignals(f *vkFrame) {
	t := vkCur()
	ready := t.pending &^ t.sigmask
	if ready == 0 {
		vkSyscallRestart(f, true)
		vkRestoreSigmask(t)
		return
	}
	for sig := uint32(1); sig <= 64; sig++ {
		if ready&(1<<(sig-1)) == 0 {
			continue
		}
		t.pending &^= 1 << (sig - 1)
		code := int32(-6) // SI_TKILL: tgkill, tkill, kill
		if t.sigKernel&(1<<(sig-1)) != 0 {
			code = 0x80 // SI_KERNEL
		}
		var tid, over int32
		var value uint64
		if t.sigTimer&(1<<(sig-1)) != 0 {
			var ok bool
			if tid, over, value, ok = vkPTimerDelivered(t, sig); ok {
				code = vkSITimer // a timer's signal wins over the others it merged with
			}
		}
		t.sigKernel &^= 1 << (sig - 1)
		t.sigTimer &^= 1 << (sig - 1)
		a := &vkSigactions[sig]
		if a.handler == vkSigIgn || a.handler == 0 && (sig == _SIGURG || sig == _SIGCHLD || sig == _SIGWINCH) {
			continue // ignored, or the default action is to ignore
		}
		vkSyscallRestart(f, a.flags&saRestart != 0) // before the frame saves RIP and RAX
		if a.handler == 0 {
			vkPrint("\nvelocity: fatal signal ")
			vkPrintDec(int64(sig))
			vkPrint(" with no handler\n")
			vkExit(vkExitSignal + int(sig))
		}
		vkSignalFrame(f, sig, code, 0, false) // saves the mask to return to (restoreMask)
		if code == vkSITimer {
			si := uintptr(f.rsi) // si_timerid, si_overrun, si_value
			*(*int32)(unsafe.Pointer(si + 16)) = tid
			*(*int32)(unsafe.Pointer(si + 20)) = over
			*(*uint64)(unsafe.Pointer(si + 24)) = value
		}
		return
	}
	vkSyscallRestart(f, true) // every pending signal was ignored
	vkRestoreSigmask(t)
}

// vkRestoreSigmask ends a temporary signal mask (epoll_pwait's) that no
// signal frame took over: the thread's own mask comes back, as Linux's
// restore_saved_sigmask.
func vkRestoreSigmask(t *vkThread) {
	if t.restoreMask {
		t.sigmask, t.restoreMask = t.savedMask, false
	}
}

// Offsets inside the frame we build (Linux x86-64 rt_sigframe).
const (
	sfUcontext = 8             // after the return address (pretcode)
	ucStack    = 16            // stack_t uc_stack
	ucMcontext = 40            // struct sigcontext
	ucSigmask  = 40 + 256      // sigset_t
	sfSiginfo  = 8 + 304       // siginfo_t, 128 bytes
	sfSize     = 8 + 304 + 128 // 440
	vkRedZone  = 128
	vkFPUAlign = 64
)

// vkSignalFrame makes the user context enter the handler for sig. The
// interrupted registers go into the frame's ucontext, where the runtime may
// edit them (it does, to inject a call to sigpanic or asyncPreempt) before
// rt_sigreturn restores them.
func vkSignalFrame(f *vkFrame, sig uint32, code int32, addr uintptr, fault bool) {
	t := vkCur()
	a := &vkSigactions[sig]
	sp := uintptr(f.rsp)
	onAlt := t.altSize != 0 && sp > t.altSP && sp <= t.altSP+t.altSize
	if a.flags&saOnstack != 0 && t.altSize != 0 && t.altFlags&ssDisable == 0 && !onAlt {
		sp = t.altSP + t.altSize
	} else {
		sp -= vkRedZone
	}
	// FPU state (XSAVE layout with Linux's magics, or FXSAVE: vk_fpu.go),
	// then the frame, aligned so the handler starts with (rsp+8) % 16 == 0
	// as after a CALL.
	fpSize := vkSigFPSize()
	sp = (sp - fpSize) &^ (vkFPUAlign - 1)
	fpstate := sp
	sp = ((sp - sfSize) &^ 15) - 8
	if !vkUserOK(sp, fpstate+fpSize-sp, true) {
		vkPrint("\nvelocity: signal stack is not mapped; cannot deliver signal ")
		vkPrintDec(int64(sig))
		vkPrint("\n")
		vkReport(f, addr, true, true)
		vkExit(vkExitSignal + int(sig))
	}
	memclrNoHeapPointers(unsafe.Pointer(sp), fpstate-sp)
	ucFlags := vkSigFPStore(t, fpstate)

	put := func(off uintptr, v uint64) { *(*uint64)(unsafe.Pointer(sp + off)) = v }
	put(0, uint64(a.restorer))
	uc := uintptr(sfUcontext)
	put(uc, ucFlags)
	put(uc+ucStack, uint64(t.altSP))
	flags := uint64(0)
	if t.altSize == 0 {
		flags = ssDisable
	} else if onAlt {
		flags = ssOnstack
	}
	put(uc+ucStack+8, flags)
	put(uc+ucStack+16, uint64(t.altSize))
	mc := uc + ucMcontext
	for i, v := range [...]uint64{f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15,
		f.rdi, f.rsi, f.rbp, f.rbx, f.rdx, f.rax, f.rcx, f.rsp, f.rip, f.rflags} {
		put(mc+uintptr(i)*8, v)
	}
	put(mc+18*8, 0x33|0x2b<<48) // cs, gs, fs, ss as Linux reports a user thread
	if fault {
		put(mc+19*8, f.err)
		put(mc+20*8, f.vector)
		put(mc+22*8, uint64(addr))
	}
	saved := t.sigmask
	if t.restoreMask {
		// A call's temporary mask let this signal in (epoll_pwait): the
		// handler runs with it, and its return restores the thread's own.
		saved, t.restoreMask = t.savedMask, false
	}
	put(mc+21*8, saved)
	put(mc+23*8, uint64(fpstate))
	put(uc+ucSigmask, saved)
	si := uintptr(sfSiginfo)
	*(*int32)(unsafe.Pointer(sp + si)) = int32(sig)
	*(*int32)(unsafe.Pointer(sp + si + 8)) = code
	if fault {
		put(si+16, uint64(addr))
	} else {
		*(*int32)(unsafe.Pointer(sp + si + 16)) = 1           // si_pid
		*(*int32)(unsafe.Pointer(sp + si + 20)) = vkCur().tid // si_uid slot: harmless
	}

	t.sigmask |= a.mask
	if a.flags&saNodefer == 0 {
		t.sigmask |= 1 << (sig - 1)
	}
	if a.flags&saResethand != 0 {
		a.handler = 0
	}
	f.rsp = uint64(sp)
	f.rip = uint64(a.handler)
	f.rdi = uint64(sig)
	f.rsi = uint64(sp + si)
	f.rdx = uint64(sp + uc)
	f.rax = 0
	f.rflags &^= 1<<8 | 1<<10 // TF, DF
}

// vkSysRtSigreturn restores the context saved by vkSignalFrame, as edited
// by the handler.
func vkSysRtSigreturn(f *vkFrame) {
	sp := uintptr(f.rsp) - 8 // the handler's RET popped pretcode
	if !vkUserOK(sp, sfSize, false) {
		vkPrint("\nvelocity: rt_sigreturn with a bad frame\n")
		vkExit(vkExitSignal + _SIGSEGV)
	}
	get := func(off uintptr) uint64 { return *(*uint64)(unsafe.Pointer(sp + off)) }
	mc := uintptr(sfUcontext + ucMcontext)
	regs := [...]*uint64{&f.r8, &f.r9, &f.r10, &f.r11, &f.r12, &f.r13, &f.r14, &f.r15,
		&f.rdi, &f.rsi, &f.rbp, &f.rbx, &f.rdx, &f.rax, &f.rcx, &f.rsp, &f.rip}
	for i, r := range regs {
		*r = get(mc + uintptr(i)*8)
	}
	// Only the arithmetic flags, TF, DF and AC come from user space; IF stays on.
	const userFlags = 0x40DD5
	f.rflags = f.rflags&^userFlags | get(mc+17*8)&userFlags | 1<<9
	f.cs, f.ss = vkSelKernelCode, vkSelKernelData
	t := vkCur()
	t.sigmask = get(sfUcontext+ucSigmask) &^ vkSigUnblockable
	vkSigFPLoad(t, uintptr(get(mc+23*8))) // vk_fpu.go
}
