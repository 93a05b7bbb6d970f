//go:build velocity

// Velocity kernel: the system call table's handlers for the scheduling
// family (threads, futexes, affinity, exit, the thread's own ids and TLS).
// The bodies are in vk_sched.go and vk_syscall.go. Trap context with the
// kernel lock held: no allocation, no write barriers, no defer. Handlers
// that may sleep take canBlock and must not sleep when it is false (a
// system call made by kernel code itself).

package runtime

// vkCallGetpid: there is one process, and it is pid 1. getpid and gettid
// normally take the lock-free path; these entries serve them when the
// frame reaches the locked path anyway (a nested call).
func vkCallGetpid(f *vkFrame, canBlock bool) uintptr { return 1 }

func vkCallGetppid(f *vkFrame, canBlock bool) uintptr { return 0 }

func vkCallGettid(f *vkFrame, canBlock bool) uintptr { return uintptr(vkCur().tid) }

func vkCallSchedYield(f *vkFrame, canBlock bool) uintptr {
	if canBlock { // usually served without the kernel lock (vk_lockpath.go)
		vkYield()
	}
	return 0
}

func vkCallClone(f *vkFrame, canBlock bool) uintptr {
	return vkSysClone(f, uint64(f.rdi), uintptr(f.rsi), uintptr(f.rdx), uintptr(f.r10), uintptr(f.r8))
}

// vkCallExit ends the calling thread; it does not return.
func vkCallExit(f *vkFrame, canBlock bool) uintptr {
	if !canBlock {
		vkFatal("exit from kernel context")
	}
	vkThreadExit()
	return 0
}

func vkCallExitGroup(f *vkFrame, canBlock bool) uintptr {
	if !canBlock {
		// The Go runtime died (a panic, a throw) while running kernel
		// code: say which system call it was serving.
		vkPrintSyscallInFlight("velocity: the Go runtime exited in kernel code ")
	}
	vkExit(int(int32(f.rdi)))
	return 0
}

// vkCallFutex: a kernel-context caller (canBlock false) cannot sleep, so a
// FUTEX_WAIT from it answers EAGAIN, which the runtime retries.
func vkCallFutex(f *vkFrame, canBlock bool) uintptr {
	if !canBlock && (f.rsi&^(futexPrivateFlag|futexClockRT) == futexWait) {
		return vkErr(vkEAGAIN)
	}
	return vkSysFutex(uintptr(f.rdi), int32(f.rsi), uint32(f.rdx), uintptr(f.r10))
}

func vkCallSchedSetaffinity(f *vkFrame, canBlock bool) uintptr {
	return vkSysSchedSetaffinity(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallSchedGetaffinity(f *vkFrame, canBlock bool) uintptr {
	return vkSysSchedGetaffinity(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallGetcpu(f *vkFrame, canBlock bool) uintptr {
	return vkSysGetcpu(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallArchPrctl(f *vkFrame, canBlock bool) uintptr {
	return vkSysArchPrctl(int32(f.rdi), uintptr(f.rsi))
}

func vkCallSetTidAddress(f *vkFrame, canBlock bool) uintptr {
	t := vkCur()
	t.clearTID = uintptr(f.rdi)
	return uintptr(t.tid)
}

// vkCallSetRobustList: no robust futexes here, and saying so (ENOSYS,
// logged once), after the size check Linux makes first.
func vkCallSetRobustList(f *vkFrame, canBlock bool) uintptr {
	if f.rsi != 24 { // sizeof(struct robust_list_head)
		return vkErr(vkEINVAL)
	}
	return vkUnimplemented(f.rax)
}

// vkCallRseq: not offered; the runtime and libc handle ENOSYS, so it is
// not logged as missing.
func vkCallRseq(f *vkFrame, canBlock bool) uintptr { return vkErr(vkENOSYS) }

// vkSchedPriorityRange is Linux's range for a scheduling policy: 1 to
// 99 for SCHED_FIFO and SCHED_RR, 0 for SCHED_OTHER, SCHED_BATCH,
// SCHED_IDLE, SCHED_DEADLINE and SCHED_EXT (Linux 6.12); ok false (EINVAL)
// for any other.
func vkSchedPriorityRange(policy int32) (lo, hi uintptr, ok bool) {
	switch policy {
	case 1, 2:
		return 1, 99, true
	case 0, 3, 5, 6, 7:
		return 0, 0, true
	}
	return 0, 0, false
}

func vkCallSchedGetPriorityMax(f *vkFrame, canBlock bool) uintptr {
	if _, hi, ok := vkSchedPriorityRange(int32(f.rdi)); ok {
		return hi
	}
	return vkErr(vkEINVAL)
}

func vkCallSchedGetPriorityMin(f *vkFrame, canBlock bool) uintptr {
	if lo, _, ok := vkSchedPriorityRange(int32(f.rdi)); ok {
		return lo
	}
	return vkErr(vkEINVAL)
}
