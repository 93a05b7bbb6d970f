//go:build velocity

// Velocity kernel: the system call table's handlers for the time family
// (clocks, sleeps, interval and POSIX timers). clock_gettime also has a lock-free
// path (vkSyscallLockFree), tried before the table. Bodies: vk_syscall.go,
// vk_sysargs.go, vk_itimer.go, vk_ptimer.go. Trap context with the kernel lock held: no
// allocation, no write barriers, no defer.

package runtime

import "unsafe"

func vkCallClockGettime(f *vkFrame, canBlock bool) uintptr {
	return vkSysClockGettime(int32(f.rdi), uintptr(f.rsi))
}

func vkCallClockGetres(f *vkFrame, canBlock bool) uintptr {
	return vkSysClockGetres(int32(f.rdi), uintptr(f.rsi))
}

func vkCallGettimeofday(f *vkFrame, canBlock bool) uintptr {
	return vkSysGettimeofday(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallTime(f *vkFrame, canBlock bool) uintptr {
	return vkSysTime(uintptr(f.rdi))
}

func vkCallNanosleep(f *vkFrame, canBlock bool) uintptr {
	return vkSysNanosleep(uintptr(f.rdi), uintptr(f.rsi), canBlock)
}

func vkCallClockNanosleep(f *vkFrame, canBlock bool) uintptr {
	return vkSysClockNanosleep(int32(f.rdi), int32(f.rsi), uintptr(f.rdx), uintptr(f.r10), canBlock)
}

// vkCallSetitimer: ITIMER_PROF, for Go's CPU profiler (vk_itimer.go).
func vkCallSetitimer(f *vkFrame, canBlock bool) uintptr {
	return vkSysSetitimer(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallGetitimer(f *vkFrame, canBlock bool) uintptr {
	return vkSysGetitimer(int32(f.rdi), uintptr(f.rsi))
}

// vkCallGetrusage: CPU time of the program or the caller (vk_rusage.go).
func vkCallGetrusage(f *vkFrame, canBlock bool) uintptr {
	return vkSysGetrusage(int32(f.rdi), uintptr(f.rsi))
}

// vkCallTimerCreate and the four below: POSIX timers (vk_ptimer.go).
func vkCallTimerCreate(f *vkFrame, canBlock bool) uintptr {
	return vkSysTimerCreate(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallTimerSettime(f *vkFrame, canBlock bool) uintptr {
	return vkSysTimerSettime(int32(f.rdi), int32(f.rsi), uintptr(f.rdx), uintptr(f.r10))
}

func vkCallTimerGettime(f *vkFrame, canBlock bool) uintptr {
	return vkSysTimerGettime(int32(f.rdi), uintptr(f.rsi))
}

func vkCallTimerGetoverrun(f *vkFrame, canBlock bool) uintptr {
	return vkSysTimerGetoverrun(int32(f.rdi))
}

func vkCallTimerDelete(f *vkFrame, canBlock bool) uintptr {
	return vkSysTimerDelete(int32(f.rdi))
}

// vkCallTimes is times(2): the process's CPU time in clock ticks (USER_HZ,
// 100 a second), all of it as user time as getrusage reports it, none for
// children (there are none); it returns the ticks since boot, where Linux
// counts from an arbitrary point.
func vkCallTimes(f *vkFrame, canBlock bool) uintptr {
	if p := uintptr(f.rdi); p != 0 {
		if !vkUserOK(p, 32, true) {
			return vkErr(vkEFAULT)
		}
		*(*[4]int64)(unsafe.Pointer(p)) = [4]int64{vkProcessCPUNs() / 1e7, 0, 0, 0}
	}
	return uintptr(vkNanotime() / 1e7)
}
