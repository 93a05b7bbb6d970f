//go:build velocity

// Velocity kernel: the system call table's handlers for everything else:
// identities, uname, getrandom, resource limits, prctl, and Velocity's own
// calls (0x5600…, vk_velocity.go). Trap context with the kernel lock held:
// no allocation, no write barriers, no defer.

package runtime

// The identity calls; the credentials and their rules are in vk_cred.go.
func vkCallGetuid(f *vkFrame, canBlock bool) uintptr  { return vkSysGetid(0) }
func vkCallGeteuid(f *vkFrame, canBlock bool) uintptr { return vkSysGetid(1) }
func vkCallGetgid(f *vkFrame, canBlock bool) uintptr  { return vkSysGetid(2) }
func vkCallGetegid(f *vkFrame, canBlock bool) uintptr { return vkSysGetid(3) }

func vkCallSetuid(f *vkFrame, canBlock bool) uintptr { return vkSysSetid(false, uint32(f.rdi)) }
func vkCallSetgid(f *vkFrame, canBlock bool) uintptr { return vkSysSetid(true, uint32(f.rdi)) }

func vkCallSetreuid(f *vkFrame, canBlock bool) uintptr {
	return vkSysSetreid(false, uint32(f.rdi), uint32(f.rsi))
}

func vkCallSetregid(f *vkFrame, canBlock bool) uintptr {
	return vkSysSetreid(true, uint32(f.rdi), uint32(f.rsi))
}

func vkCallSetresuid(f *vkFrame, canBlock bool) uintptr {
	return vkSysSetresid(false, uint32(f.rdi), uint32(f.rsi), uint32(f.rdx))
}

func vkCallSetresgid(f *vkFrame, canBlock bool) uintptr {
	return vkSysSetresid(true, uint32(f.rdi), uint32(f.rsi), uint32(f.rdx))
}

func vkCallSetfsuid(f *vkFrame, canBlock bool) uintptr {
	return vkSysSetfsid(false, uint32(f.rdi))
}

func vkCallSetfsgid(f *vkFrame, canBlock bool) uintptr {
	return vkSysSetfsid(true, uint32(f.rdi))
}

func vkCallGetresuid(f *vkFrame, canBlock bool) uintptr {
	return vkSysGetres(false, uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallGetresgid(f *vkFrame, canBlock bool) uintptr {
	return vkSysGetres(true, uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallSetgroups(f *vkFrame, canBlock bool) uintptr {
	return vkSysSetgroups(int32(f.rdi), uintptr(f.rsi))
}

func vkCallCapget(f *vkFrame, canBlock bool) uintptr {
	return vkSysCapget(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallCapset(f *vkFrame, canBlock bool) uintptr {
	return vkSysCapset(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallGetpgid(f *vkFrame, canBlock bool) uintptr { return vkSysGetpgid(int32(f.rdi)) }

func vkCallUname(f *vkFrame, canBlock bool) uintptr {
	return vkSysUname(uintptr(f.rdi))
}

// vkCallGetrandom accepts GRND_NONBLOCK, GRND_RANDOM and GRND_INSECURE
// (the last two exclude each other). The source never blocks, so all mean
// the same.
func vkCallGetrandom(f *vkFrame, canBlock bool) uintptr {
	buf, n, flags := uintptr(f.rdi), uintptr(f.rsi), f.rdx
	if flags&^7 != 0 || flags&6 == 6 {
		return vkErr(vkEINVAL)
	}
	if n > 0x7ffff000 {
		n = 0x7ffff000 // Linux's MAX_RW_COUNT
	}
	return vkSysGetrandom(buf, vkUserPrefixOr(buf, n, true))
}

func vkCallPrlimit64(f *vkFrame, canBlock bool) uintptr {
	return vkSysPrlimit(int32(f.rdi), uint32(f.rsi), uintptr(f.rdx), uintptr(f.r10))
}

func vkCallGetrlimit(f *vkFrame, canBlock bool) uintptr {
	return vkSysGetrlimit(uint32(f.rdi), uintptr(f.rsi))
}

func vkCallSetrlimit(f *vkFrame, canBlock bool) uintptr {
	return vkSysSetrlimit(uint32(f.rdi), uintptr(f.rsi))
}

func vkCallPrctl(f *vkFrame, canBlock bool) uintptr {
	return vkSysPrctl(int32(f.rdi), uintptr(f.rsi))
}

func vkCallVelocityInfo(f *vkFrame, canBlock bool) uintptr {
	return vkSysInfo(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallVelocityCrash(f *vkFrame, canBlock bool) uintptr {
	return vkSysCrash(uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallVelocityPatch(f *vkFrame, canBlock bool) uintptr {
	return vkSysPatch(uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx), uintptr(f.r10))
}

func vkCallVelocityProfStart(f *vkFrame, canBlock bool) uintptr {
	return vkSysProfStart(uintptr(f.rdi))
}

func vkCallVelocityProfStop(f *vkFrame, canBlock bool) uintptr {
	return vkSysProfStop()
}

func vkCallVelocityProfRead(f *vkFrame, canBlock bool) uintptr {
	return vkSysProfRead(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallVelocityProfStats(f *vkFrame, canBlock bool) uintptr {
	return vkSysProfStats(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallVelocityFB(f *vkFrame, canBlock bool) uintptr {
	return vkSysFB(uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallGetgroups(f *vkFrame, canBlock bool) uintptr {
	return vkSysGetgroups(int32(f.rdi), uintptr(f.rsi))
}
