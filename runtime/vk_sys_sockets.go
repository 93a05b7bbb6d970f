//go:build velocity

// Velocity kernel: the system call table's handlers for the socket family:
// the socket calls themselves, the fd calls (read, write, close, ...) when
// the fd is a socket, the netstack server's own calls (0x5610…) and the
// device drivers' (0x5630…, vk_dev.go). The bodies are in vk_net.go,
// which checks every socket call and forwards it to the netstack server
// (docs/net.md). Trap context with the kernel lock held: no allocation, no
// write barriers, no defer.

package runtime

// vkCallSocket serves the calls that take a socket: socket, connect,
// accept, sendto, ... (and read, write, ... on a socket fd, through the fd
// family's handlers). Never sleep in socket, socketpair, getsockname or
// getpeername: package syscall makes them with RawSyscall (vk_net.go).
func vkCallSocket(f *vkFrame, canBlock bool) uintptr {
	return vkNetSyscall(f.rax, [6]uintptr{uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx),
		uintptr(f.r10), uintptr(f.r8), uintptr(f.r9)}, canBlock)
}

// vkSocketFD reports whether the fd call in f names a socket, and so goes
// to vkCallSocket. The fd is read with all 64 bits, as vkNetSyscall does.
func vkSocketFD(f *vkFrame) bool { return vkNetFDArg(uintptr(f.rdi)) }

// vkCallReadv: readv is offered on sockets only; elsewhere it is not
// implemented (Go's os package does not use it).
func vkCallReadv(f *vkFrame, canBlock bool) uintptr {
	if vkSocketFD(f) {
		return vkCallSocket(f, canBlock)
	}
	return vkSysIov(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), -1, false, canBlock)
}

// vkCallSendfile, vkCallSplice and vkCallTee: sendfile, splice and tee
// (vk_splice.go), between files, pipes and sockets.
func vkCallSendfile(f *vkFrame, canBlock bool) uintptr {
	return vkSysSendfile(int32(f.rdi), int32(f.rsi), uintptr(f.rdx), uintptr(f.r10), canBlock)
}

func vkCallSplice(f *vkFrame, canBlock bool) uintptr {
	return vkSysSplice(int32(f.rdi), uintptr(f.rsi), int32(f.rdx), uintptr(f.r10), uintptr(f.r8), uint32(f.r9), canBlock)
}

func vkCallTee(f *vkFrame, canBlock bool) uintptr {
	return vkSysTee(int32(f.rdi), int32(f.rsi), uintptr(f.rdx), uint32(f.r10), canBlock)
}

// vkCallNetAttach: the netstack server announces itself (once, at its init).
// vkCallNetAttach: the netstack server exists (flags 0), and with flags
// vkNetAttachDoorbell the eventfd fd is its doorbell (vkNetWake).
func vkCallNetAttach(f *vkFrame, canBlock bool) uintptr {
	flags, fd := f.rdi, f.rsi
	if flags&^vkNetAttachDoorbell != 0 {
		return vkErr(vkEINVAL)
	}
	if flags&vkNetAttachDoorbell != 0 {
		if fd > 1<<31-1 {
			return vkErr(vkEBADF)
		}
		if r := vkNetSetDoorbell(int32(fd)); r != 0 {
			return r
		}
	}
	vkNet.attached = true
	return 0
}

// Flags of velocity_net_attach and velocity_net_wait.
const (
	vkNetAttachDoorbell = 1 // rsi is an eventfd for vkNetWake to count on
	vkNetWaitNonblock   = 1 // EAGAIN rather than blocking when nothing waits
)

func vkCallNetWait(f *vkFrame, canBlock bool) uintptr {
	return vkNetWait(uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx), canBlock)
}

func vkCallNetReply(f *vkFrame, canBlock bool) uintptr {
	return vkNetAnswer(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallNetReady(f *vkFrame, canBlock bool) uintptr {
	out := uintptr(f.r9)
	if uintptr(f.rdx)&vkNetReadyDeliver != 0 {
		if !vkUserOK(out, 16, true) {
			return vkErr(vkEFAULT)
		}
		vkUserFaultIn(out, 16, true) // vkNetReady writes it through its physical address
	}
	r, ok := vkNetReady(int32(f.rdi), uint32(f.rsi), uintptr(f.rdx), uint64(f.r10), uint64(f.r8), out)
	if !ok {
		return vkErr(vkEFAULT)
	}
	return r
}

// vkCallNetRights: the netstack server drops (op 0) or duplicates (op 1)
// SCM_RIGHTS references (vk_netrights.go).
func vkCallNetRights(f *vkFrame, canBlock bool) uintptr {
	return vkNetRights(uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

// vkCallNetHold: the netstack server says a blocking call waits for its
// condition, or takes it back (vk_net.go).
func vkCallNetHold(f *vkFrame, canBlock bool) uintptr {
	return vkNetHold(f.rdi, uintptr(f.rsi), int64(f.rdx), uintptr(f.r10))
}

// vkCallNetResolv: the netstack server replaces /etc/resolv.conf, or
// /proc/net/igmp or igmp6, with the text it made (vk_etc.go).
func vkCallNetResolv(f *vkFrame, canBlock bool) uintptr {
	return vkSetStackFile(uintptr(f.rdx), uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallPCI(f *vkFrame, canBlock bool) uintptr {
	return vkSysPCIConfig(uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx), uint32(f.r10), f.r8 != 0)
}

func vkCallIO(f *vkFrame, canBlock bool) uintptr {
	return vkSysIOPort(uintptr(f.rdi), uintptr(f.rsi), uint32(f.rdx), f.r10 != 0)
}

func vkCallDMA(f *vkFrame, canBlock bool) uintptr {
	return vkSysDMAAlloc(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallIRQ(f *vkFrame, canBlock bool) uintptr {
	return vkSysIRQAttach(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallIRQWait(f *vkFrame, canBlock bool) uintptr {
	return vkSysIRQWaitLine(uintptr(f.rdi), uint64(f.rsi), canBlock)
}

func vkCallIRQFD(f *vkFrame, canBlock bool) uintptr {
	return vkSysIRQFDBind(uintptr(f.rdi), int32(f.rsi))
}

func vkCallMMIO(f *vkFrame, canBlock bool) uintptr {
	return vkSysMMIOMap(uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallMSI(f *vkFrame, canBlock bool) uintptr {
	return vkSysMSIAlloc(uintptr(f.rdi))
}

func vkCallMSIFree(f *vkFrame, canBlock bool) uintptr {
	return vkSysMSIRelease(uintptr(f.rdi))
}

func vkCallNetStat(f *vkFrame, canBlock bool) uintptr {
	return vkSysNetStats(uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}
