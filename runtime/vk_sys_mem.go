//go:build velocity

// Velocity kernel: the system call table's handlers for the memory family
// (mmap, mprotect, munmap, madvise). The bodies, with the page tables and
// the mapping list, are in vk_mem.go. Trap context with the kernel lock
// held: no allocation, no write barriers, no defer.

package runtime

func vkCallMmap(f *vkFrame, canBlock bool) uintptr {
	return vkSysMmap(uintptr(f.rdi), uintptr(f.rsi), uint32(f.rdx), uint32(f.r10), int32(f.r8))
}

func vkCallMprotect(f *vkFrame, canBlock bool) uintptr {
	return vkSysMprotect(uintptr(f.rdi), uintptr(f.rsi), uint32(f.rdx))
}

func vkCallMunmap(f *vkFrame, canBlock bool) uintptr {
	return vkSysMunmap(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallMadvise(f *vkFrame, canBlock bool) uintptr {
	return vkSysMadvise(uintptr(f.rdi), uintptr(f.rsi), int32(f.rdx))
}

func vkCallMlock(f *vkFrame, canBlock bool) uintptr {
	return vkSysMlock(uintptr(f.rdi), uintptr(f.rsi), true)
}

func vkCallMunlock(f *vkFrame, canBlock bool) uintptr {
	return vkSysMlock(uintptr(f.rdi), uintptr(f.rsi), false)
}

// vkCallMlock2: mlock with flags, MLOCK_ONFAULT the only one (the pages
// are then locked as they are touched, so none is faulted in now).
func vkCallMlock2(f *vkFrame, canBlock bool) uintptr {
	if f.rdx&^mlockOnFault != 0 {
		return vkErr(vkEINVAL)
	}
	return vkSysMlock(uintptr(f.rdi), uintptr(f.rsi), f.rdx&mlockOnFault == 0)
}

func vkCallMlockall(f *vkFrame, canBlock bool) uintptr { return vkSysMlockall(uintptr(f.rdi)) }

func vkCallMunlockall(f *vkFrame, canBlock bool) uintptr { return 0 }
