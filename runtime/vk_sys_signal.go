//go:build velocity

// Velocity kernel: the system call table's handlers for the signal family
// (handlers, masks, the alternate stack, sigreturn, kill). The bodies are
// in vk_signal.go. Trap context with the kernel lock held: no allocation,
// no write barriers, no defer.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

func vkCallRtSigaction(f *vkFrame, canBlock bool) uintptr {
	return vkSysRtSigaction(uint32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), uintptr(f.r10))
}

func vkCallRtSigprocmask(f *vkFrame, canBlock bool) uintptr {
	return vkSysRtSigprocmask(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), uintptr(f.r10))
}

// vkCallRtSigreturn restores the whole frame from the signal frame; its
// rax is the interrupted code's, so the result is that value.
func vkCallRtSigreturn(f *vkFrame, canBlock bool) uintptr {
	vkSysRtSigreturn(f)
	return uintptr(f.rax)
}

func vkCallSigaltstack(f *vkFrame, canBlock bool) uintptr {
	return vkSysSigaltstack(uintptr(f.rdi), uintptr(f.rsi), f)
}

// vkCallKill: the one process is pid 1 (0 means the caller's group).
func vkCallKill(f *vkFrame, canBlock bool) uintptr {
	if f.rdi != 1 && int(f.rdi) != 0 {
		return vkErr(vkESRCH)
	}
	return vkSysTgkill(vkCur().tid, uint32(f.rsi))
}

func vkCallTkill(f *vkFrame, canBlock bool) uintptr {
	return vkSysTgkill(int32(f.rdi), uint32(f.rsi))
}

func vkCallTgkill(f *vkFrame, canBlock bool) uintptr {
	if f.rdi != 1 {
		return vkErr(vkESRCH)
	}
	return vkSysTgkill(int32(f.rsi), uint32(f.rdx))
}

// vkCallRtSigpending writes the caller's pending signals, the first size
// bytes of the mask (at most 8, as Linux allows any size up to its
// sigset_t's). A signal sent to the process is made pending for one of
// its threads at once (vkSigPost), so the thread's set is the whole set.
func vkCallRtSigpending(f *vkFrame, canBlock bool) uintptr {
	set, size := uintptr(f.rdi), uintptr(f.rsi)
	if size > 8 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(set, size, true) {
		return vkErr(vkEFAULT)
	}
	v := atomic.Load64(&vkCur().pending)
	for i := uintptr(0); i < size; i++ {
		*(*byte)(unsafe.Pointer(set + i)) = byte(v >> (8 * i))
	}
	return 0
}
