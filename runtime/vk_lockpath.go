//go:build velocity

// Velocity kernel: the system calls and interrupts served without the big
// kernel lock, because their state has locks of its own:
//
//   - futex wait and private futex wake: a bucket lock of the futex hash
//     table (vk_sched.go) and run-queue locks;
//   - nanosleep and clock_nanosleep: the per-CPU timer heaps (vk_time.go)
//     and run-queue locks;
//   - sched_yield and the timer tick and reschedule IPI: this CPU's
//     run-queue lock;
//   - read and write on a pipe end: the fd table lock and the pipe's
//     (vk_pipe.go), when the user buffer is resident;
//   - epoll_wait, and epoll_pwait without a signal mask: the fd table
//     lock, which guards the interest records and ready lists (vk_fd.go),
//     when the events buffer is resident.
//
// vkTrap tries these before it takes vkBKL. A case that needs more (a
// futex word that is not resident yet, whose page fault needs the mapping
// list; a shared futex wake, which checks the mapping) returns false and
// goes the locked way. On the way out, vkTrapExitFine takes the kernel
// lock only if there is work that needs it: pending signals or deferred
// device work.
//
// User memory is read here through the page tables and the direct map
// (vkUserLoad32), never by a plain load: a page fault in kernel code
// without the kernel lock could not be resolved. A frame found that way
// cannot be reused while this CPU runs with interrupts off and does not
// answer the TLB shootdown of an unmap, and nothing here spins between the
// page-table read and the load.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

// vkUserPA translates the user address va to a direct-map address,
// reading the page tables only: ok is false unless the page is present
// (and writable, with write). 2 MiB and 1 GiB pages are followed.
func vkUserPA(va uintptr, write bool) (uintptr, bool) {
	if va < vkUserMin || va >= vkUserMax {
		return 0, false
	}
	table := vkPML4
	for level := 3; level >= 0; level-- {
		idx := va >> (12 + 9*uint(level)) & 511
		e := atomic.Load64((*uint64)(unsafe.Pointer(vkP2V(table) + idx*8)))
		if e&ptePresent == 0 {
			return 0, false
		}
		if level == 0 || level <= 2 && e&pteHuge != 0 {
			if write && e&pteWrite == 0 {
				return 0, false
			}
			size := uintptr(1) << (12 + 9*uint(level))
			return vkP2V(uintptr(e&pteAddr)&^(size-1) + va&(size-1)), true
		}
		table = uintptr(e & pteAddr)
	}
	return 0, false
}

// vkUserLoad32 reads the aligned 32-bit word at user address va without
// faulting: ok is false if its page is not resident.
func vkUserLoad32(va uintptr) (uint32, bool) {
	if vkGuarded(va, va+4) {
		return 0, false // a kernel variable: the locked path says EFAULT
	}
	p, ok := vkUserPA(va, false)
	if !ok {
		return 0, false
	}
	return atomic.Load((*uint32)(unsafe.Pointer(p))), true
}

// vkUserLoad64 reads 8 bytes at user address va (8-byte aligned, so on one
// page) without faulting.
func vkUserLoad64(va uintptr) (uint64, bool) {
	if va&7 != 0 || vkGuarded(va, va+8) {
		return 0, false
	}
	p, ok := vkUserPA(va, false)
	if !ok {
		return 0, false
	}
	return *(*uint64)(unsafe.Pointer(p)), true
}

// vkSyscallFine serves a system call without the kernel lock if it can,
// and reports whether it did.
func vkSyscallFine(f *vkFrame) bool {
	var r uintptr
	switch f.rax {
	case 202: // futex
		var ok bool
		if r, ok = vkSysFutexFast(uintptr(f.rdi), int32(f.rsi), uint32(f.rdx), uintptr(f.r10)); !ok {
			return false
		}
	case 35: // nanosleep
		var ok bool
		if r, ok = vkSysNanosleepFast(1, 0, uintptr(f.rdi), uintptr(f.rsi)); !ok {
			return false
		}
	case 230: // clock_nanosleep
		var ok bool
		if r, ok = vkSysNanosleepFast(int32(f.rdi), int32(f.rsi), uintptr(f.rdx), uintptr(f.r10)); !ok {
			return false
		}
	case 0, 1: // read, write: pipe ends only (vk_pipe.go)
		var ok bool
		if r, ok = vkPipeIOFast(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), f.rax == 1); !ok {
			return false
		}
	case 232, 281: // epoll_wait, epoll_pwait without a signal mask (vk_fd.go)
		if f.rax == 281 && f.r8 != 0 {
			return false
		}
		var ok bool
		if r, ok = vkEpollWaitFast(int32(f.rdi), uintptr(f.rsi), int32(f.rdx), int64(int32(f.r10))); !ok {
			return false
		}
	case 233: // epoll_ctl (vk_fd.go)
		var ok bool
		if r, ok = vkEpollCtlFast(int32(f.rdi), int32(f.rsi), int32(f.rdx), uintptr(f.r10)); !ok {
			return false
		}
	case 3: // close (vk_fd.go)
		var ok bool
		if r, ok = vkCloseFast(int32(f.rdi)); !ok {
			return false
		}
	case 32: // dup (vk_fd.go)
		r = vkSysDupFrom(int32(f.rdi), 0, false)
	case 33, 292: // dup2, dup3 (only dup3 has flags: dup2's rdx is not an argument)
		flags := int32(f.rdx)
		if f.rax == 33 {
			flags = 0
		}
		var ok bool
		if r, ok = vkDup3(int32(f.rdi), int32(f.rsi), flags, f.rax == 33, true); !ok {
			return false
		}
	case 72: // fcntl: the commands on the fd, not the description
		var ok bool
		if r, ok = vkFcntlFast(int32(f.rdi), int32(f.rsi), uintptr(f.rdx)); !ok {
			return false
		}
	case vkSysNetReady: // the network server's readiness reports (vk_net.go)
		var ok bool
		if r, ok = vkNetReady(int32(f.rdi), uint32(f.rsi), uintptr(f.rdx), uint64(f.r10), uint64(f.r8), uintptr(f.r9)); !ok {
			return false
		}
	case 24: // sched_yield
		vkRqLock()
		if vkThisCPU().runqLen > 0 {
			vkCur().requeue = true
			vkSchedule()
		}
		vkRqUnlock()
	default:
		return false
	}
	vkSysCount(vkThisCPU(), f.rax) // the CPU it returns on: each CPU writes only its own counts
	f.rax = uint64(r)
	return true
}

// vkSysFutexFast is futex wait and private wake without the kernel lock.
// It validates in Linux's order like vkSysFutex, and leaves to that one
// (ok false) everything that needs the mapping list.
func vkSysFutexFast(addr uintptr, op int32, val uint32, ts uintptr) (r uintptr, ok bool) {
	if addr&3 != 0 {
		return vkErr(vkEINVAL), true
	}
	if e := vkFutexOpCheck(addr, op); e != 0 {
		return vkErr(e), true
	}
	switch vkFutexCmd(op) {
	case futexWait, futexWaitBitset:
		deadline, errno, ok := vkFutexDeadline(op, ts, vkUserLoad64)
		if !ok {
			return 0, false // the timespec is not resident (or unaligned)
		}
		if errno != 0 {
			return vkErr(errno), true
		}
		return vkFutexWait(addr, val, deadline, false)
	case futexWake, futexWakeBitset:
		if op&futexPrivateFlag == 0 {
			return 0, false // a shared wake checks the mapping: EFAULT
		}
		if vkFutexNoWaiters(addr) {
			return 0, true // nobody to wake: no bucket lock (vk_sched.go)
		}
		return uintptr(vkFutexWake(addr, int(val))), true
	}
	return 0, false
}

// vkTrapTick handles the timer interrupt and the reschedule IPI taken in
// user code, without the kernel lock unless Go's profiling timer is on.
func vkTrapTick(f *vkFrame) {
	c := vkThisCPU()
	if f.vector == vkTimerVector {
		vkProfTick(f, true) // sampling profiler (vk_prof.go)
		c.ticks++
		if atomic.Load(&vkITimer.on) != 0 || vkPTimerDue(vkNanotime()) {
			vkLock()
			vkITimerTick() // SIGPROF for Go's CPU profiler (vk_itimer.go)
			vkPTimerTick() // timer_create's timers (vk_ptimer.go)
			vkUnlock()
		}
	}
	vkEOI()
	vkTimerTick()
	vkTrapExitFine(f)
}

// vkTickPending[cpu] is set when a timer tick or reschedule IPI arrives in
// kernel code: a CPU spinning for a lock takes interrupts in a short
// window (vkSpinPause), and the handler there may take no lock, so the
// tick's work (re-arming the timer, looking at a thread just queued here)
// is done by vkTickCheck on the way back to user code. Without it a CPU
// could return to a thread that never blocks with its timer disarmed and
// a queued thread waiting behind it.
var vkTickPending [vkMaxCPU]uint32

func vkTickDeferred(c *vkCPU) { atomic.Store(&vkTickPending[c.id], 1) }

// vkTickCheck runs a deferred tick; the caller holds no lock and returns
// to user code next.
func vkTickCheck() {
	if atomic.Load(&vkTickPending[vkThisCPU().id]) != 0 {
		vkTimerTick()
	}
}

// vkTrapExitFine finishes a trap served without the kernel lock: it takes
// the lock only to deliver a pending signal or to run device work that an
// interrupt deferred to a lock holder.
func vkTrapExitFine(f *vkFrame) {
	t := vkCur()
	if atomic.Load(&vkIRQPending) != 0 || atomic.Load64(&t.pending)&^t.sigmask != 0 {
		vkLock()
		vkIRQWork()
		vkDeliverSignals(f)
		vkTLBShootdown()
		vkUnlock()
	} else {
		vkSyscallRestart(f, true) // the signal that cut a wait short was taken elsewhere
	}
	vkTickCheck()
}

// vkSpinSleepMax is the longest relative sleep, in nanoseconds, served
// by spinning on the CPU instead of giving it up (kernel option
// spinsleep=US; 0 never spins). Go's scheduler sleeps 3 us (usleep(3) in
// runqgrab) before it steals the goroutine another P has just made ready:
// it wants the time to pass, not the CPU to change hands. A real sleep
// costs a switch away and back, a timer and its interrupt: about 23 us
// of CPU under TCG for 3 us of waiting, on each of the two cross-CPU
// wake-ups of a loopback ping-pong. The bound stays well below sysmon's
// shortest sleep (20 us, repeated while the program is busy), which must
// not turn into a CPU spinning for good. Figures: docs/locking.md, "Short
// sleeps".
var vkSpinSleepMax int64 = 5_000

// vkSpinSleepLimit bounds spinsleep= (us).
const vkSpinSleepLimit = 100

// vkSpinUntil waits for deadline on this CPU, as vkSleepUntilFine does
// without giving the CPU up, and reports whether it did: not while
// another thread is queued on the CPU, and not past a signal t does not
// block (the caller then sleeps the usual way, which ends the sleep as
// interrupted).
//
// It waits as the idle poll does (vk_idlepoll.go): interrupts on, so
// shootdowns and IPIs are answered, and without PAUSE, which under TCG
// leaves the translated code and takes QEMU's global lock, the device
// model's, on every turn: spinning with PAUSE cost one connection over
// the card 7-9% of its requests/s, spinning without it gains there too.
// A thread queued on the CPU meanwhile (a reschedule IPI) ends the spin,
// and the caller sleeps the rest, giving the CPU to that thread.
//
// Fine-path trap context: no lock held; an interrupt taken meanwhile only
// sets state (vkKernelTrapWork) that the trap's exit handles.
//
//go:nosplit
func vkSpinUntil(t *vkThread, deadline int64) bool {
	runq := (*int64)(unsafe.Pointer(&vkThisCPU().runqLen))
	if atomic.Loadint64(runq) != 0 {
		return false
	}
	vkIntrOn()
	for vkNanotime() < deadline && atomic.Load64(&t.pending)&^t.sigmask == 0 && atomic.Loadint64(runq) == 0 {
	}
	vkIntrOff()
	return vkNanotime() >= deadline
}

// vkSysNanosleepFast is nanosleep (clock 1, flags 0) and clock_nanosleep
// without the kernel lock, for the clocks Velocity sleeps on and a
// resident, aligned timespec; anything else goes the locked way, which
// gives the errors. A signal that t does not block ends the sleep, as on
// Linux (vkNanosleepInterrupted).
func vkSysNanosleepFast(clock, flags int32, req, rem uintptr) (uintptr, bool) {
	if clock != 0 && clock != 1 && clock != 7 || flags&^1 != 0 {
		return 0, false
	}
	s, ok1 := vkUserLoad64(req)
	ns, ok2 := vkUserLoad64(req + 8)
	if !ok1 || !ok2 {
		return 0, false
	}
	sec, nsec := int64(s), int64(ns)
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return vkErr(vkEINVAL), true
	}
	if sec > 9_000_000_000 {
		sec = 9_000_000_000 // about 285 years: saturate instead of overflowing
	}
	d := sec*1e9 + nsec
	deadline := vkNanotime() + d
	if flags&1 != 0 { // TIMER_ABSTIME
		deadline = d
		if clock == 0 {
			deadline -= vkWalltime() - vkNanotime()
		}
	}
	if flags&1 == 0 && d <= vkSpinSleepMax {
		if vkSpinUntil(vkCur(), deadline) {
			return 0, true
		}
		// Not spun, or cut short by a signal: sleep the rest the usual
		// way, which checks for the signal again.
	}
	if !vkSleepUntilFine(deadline) {
		vkLock() // to write rem, which may need a page fault resolved
		r := vkNanosleepInterrupted(flags, rem, deadline)
		vkUnlock()
		return r, true
	}
	return 0, true
}
