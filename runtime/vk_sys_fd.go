//go:build velocity

// Velocity kernel: the system call table's handlers for the fd family
// (read, write, close, stat of an fd, pipes, eventfd, epoll, fcntl). Each
// handler only unpacks the registers into the types Linux gives them and
// calls the body, which lives with the object it works on (vk_fd.go,
// vk_pipe.go, vk_syscall.go). The calls that also work on sockets hand a
// socket fd to the socket family first (vk_sys_sockets.go). Trap context
// with the kernel lock held: no allocation, no write barriers, no defer
// (internal/kernelrules checks).

package runtime

import "unsafe"

func vkCallRead(f *vkFrame, canBlock bool) uintptr {
	if vkSocketFD(f) {
		return vkCallSocket(f, canBlock)
	}
	return vkSysRead(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), canBlock)
}

func vkCallWrite(f *vkFrame, canBlock bool) uintptr {
	if vkSocketFD(f) {
		return vkCallSocket(f, canBlock)
	}
	return vkSysWrite(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallWritev(f *vkFrame, canBlock bool) uintptr {
	if vkSocketFD(f) {
		return vkCallSocket(f, canBlock)
	}
	return vkSysWritev(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

// vkCallClose closes any fd: a socket's endpoint is closed with the
// description's last reference (vkFilePut).
func vkCallClose(f *vkFrame, canBlock bool) uintptr {
	return vkSysClose(int32(f.rdi))
}

func vkCallCloseRange(f *vkFrame, canBlock bool) uintptr {
	return vkSysCloseRange(uint32(f.rdi), uint32(f.rsi), uint32(f.rdx))
}

func vkCallDup(f *vkFrame, canBlock bool) uintptr {
	return vkSysDupFrom(int32(f.rdi), 0, false)
}

func vkCallDup2(f *vkFrame, canBlock bool) uintptr {
	return vkSysDup3(int32(f.rdi), int32(f.rsi), 0, true)
}

func vkCallDup3(f *vkFrame, canBlock bool) uintptr {
	return vkSysDup3(int32(f.rdi), int32(f.rsi), int32(f.rdx), false)
}

func vkCallFstat(f *vkFrame, canBlock bool) uintptr {
	if vkSocketFD(f) {
		return vkCallSocket(f, canBlock)
	}
	return vkSysFstat(int32(f.rdi), uintptr(f.rsi))
}

func vkCallLseek(f *vkFrame, canBlock bool) uintptr {
	return vkSysLseek(int32(f.rdi), int64(f.rsi), int32(f.rdx))
}

func vkCallFcntl(f *vkFrame, canBlock bool) uintptr {
	return vkSysFcntl(int32(f.rdi), int32(f.rsi), uintptr(f.rdx), canBlock)
}

func vkCallFlock(f *vkFrame, canBlock bool) uintptr {
	return vkSysFlock(int32(f.rdi), int32(f.rsi), canBlock)
}

// ioctl requests served (Linux's numbers).
const (
	vkFIONREAD = 0x541B // SIOCINQ on sockets: the bytes a read would find
	vkSIOCOUTQ = 0x5411 // sockets: the bytes sent and not yet acknowledged
	vkFIONBIO  = 0x5421 // O_NONBLOCK from an int
	vkFIONCLEX = 0x5450 // clear FD_CLOEXEC
	vkFIOCLEX  = 0x5451 // set FD_CLOEXEC
)

// vkCallIoctl serves the requests Linux serves on every fd (FIONBIO,
// FIOCLEX, FIONCLEX, as fcntl's F_SETFL and F_SETFD do) and, on sockets,
// FIONREAD and SIOCOUTQ (the network stack answers them). No fd here is
// a terminal or takes device requests: anything else is ENOTTY. Linux
// takes the request as an unsigned int.
func vkCallIoctl(f *vkFrame, canBlock bool) uintptr {
	fd, arg := int32(f.rdi), uintptr(f.rdx)
	if !vkFDOpen(fd) {
		return vkErr(vkEBADF)
	}
	switch uint32(f.rsi) {
	case vkFIOCLEX:
		return vkSysFcntl(fd, 2, fdCloexec, canBlock) // F_SETFD
	case vkFIONCLEX:
		return vkSysFcntl(fd, 2, 0, canBlock)
	case vkFIONBIO:
		if !vkUserOK(arg, 4, false) {
			return vkErr(vkEFAULT)
		}
		fl := vkSysFcntl(fd, 3, 0, canBlock) // F_GETFL
		if int64(fl) < 0 {
			return fl
		}
		fl &^= oNonblock
		if *(*int32)(unsafe.Pointer(arg)) != 0 {
			fl |= oNonblock
		}
		return vkSysFcntl(fd, 4, fl, canBlock) // F_SETFL
	case vkFIONREAD, vkSIOCOUTQ:
		if vkSocketFD(f) {
			return vkCallSocket(f, canBlock)
		}
	}
	return vkErr(vkENOTTY)
}

func vkCallPread64(f *vkFrame, canBlock bool) uintptr {
	if vkSocketFD(f) {
		return vkCallSocket(f, canBlock)
	}
	return vkSysPread64(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), int64(f.r10))
}

// vkSysPread64 reads n bytes at p from fd's offset off, leaving the file
// position alone: files only (a pipe is ESPIPE, a directory EISDIR).
func vkSysPread64(fd int32, buf, n uintptr, off int64) uintptr {
	n = vkUserPrefixOr(buf, n, true)
	if !vkFDOpen(fd) {
		return vkErr(vkEBADF)
	}
	if off < 0 && (vkFD(fd, fdTmpFile) != nil || vkFD(fd, fdRegular) != nil) {
		return vkErr(vkEINVAL)
	}
	if t := vkFD(fd, fdTmpFile); t != nil {
		return vkTmpRead(t, buf, n, off, false)
	}
	if r := vkFD(fd, fdRegular); r != nil {
		return vkFileRead(r, buf, n, off, false)
	}
	if vkFD(fd, fdDir) != nil {
		return vkErr(vkEISDIR)
	}
	return vkErr(vkESPIPE)
}

// vkCallPreadv and vkCallPwritev: readv and writev at an offset (x86-64
// passes it whole in pos_l; pos_h adds nothing on a 64-bit kernel), on
// files only, as pread64 and pwrite64. Linux's order: a negative offset
// EINVAL, then EBADF, then a file that cannot be read or written at an
// offset ESPIPE, then the vector's checks.
func vkCallPreadv(f *vkFrame, canBlock bool) uintptr {
	return vkSysPrwv(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), int64(f.r10), false, canBlock)
}

func vkCallPwritev(f *vkFrame, canBlock bool) uintptr {
	return vkSysPrwv(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), int64(f.r10), true, canBlock)
}

func vkSysPrwv(fd int32, iov, cnt uintptr, off int64, write, canBlock bool) uintptr {
	if off < 0 {
		return vkErr(vkEINVAL)
	}
	if !vkFDOpen(fd) {
		return vkErr(vkEBADF)
	}
	if vkFD(fd, fdTmpFile) == nil && vkFD(fd, fdRegular) == nil && vkFD(fd, fdDevice) == nil {
		if vkFD(fd, fdDir) != nil || vkFD(fd, fdTmpDir) != nil {
			if write {
				return vkErr(vkEBADF) // a directory is never open for writing
			}
			return vkErr(vkEISDIR)
		}
		return vkErr(vkESPIPE)
	}
	return vkSysIov(fd, iov, cnt, off, write, canBlock)
}

func vkCallPwrite64(f *vkFrame, canBlock bool) uintptr {
	if vkSocketFD(f) {
		return vkCallSocket(f, canBlock)
	}
	return vkSysPwrite64(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), int64(f.r10))
}

// vkCallFsync serves fsync and fdatasync: RAM is as durable as it gets.
// Linux takes the fd as an unsigned int: the upper 32 bits of the register
// are ignored, and only the lower ones index.
func vkCallFsync(f *vkFrame, canBlock bool) uintptr {
	if !vkFDOpen(int32(f.rdi)) {
		return vkErr(vkEBADF)
	}
	return 0
}

func vkCallFtruncate(f *vkFrame, canBlock bool) uintptr {
	fd, size := int32(f.rdi), int64(f.rsi)
	if !vkFDOpen(fd) {
		return vkErr(vkEBADF)
	}
	t := vkFD(fd, fdTmpFile)
	if t == nil || t.flags&oAccMode == 0 {
		return vkErr(vkEINVAL) // not a file of /tmp open for writing
	}
	if size < 0 {
		return vkErr(vkEINVAL)
	}
	vkTmpTruncate(&vkTmp.ents[t.ent], size)
	return 0
}

func vkCallPipe(f *vkFrame, canBlock bool) uintptr {
	return vkSysPipe2(uintptr(f.rdi), 0)
}

func vkCallPipe2(f *vkFrame, canBlock bool) uintptr {
	return vkSysPipe2(uintptr(f.rdi), int32(f.rsi))
}

func vkCallEventfd2(f *vkFrame, canBlock bool) uintptr {
	if f.rsi&^(0x80000|efdNonblock|efdSemaphore) != 0 {
		return vkErr(vkEINVAL)
	}
	return vkSysEventfd(uint32(f.rdi), int32(f.rsi))
}

func vkCallEpollCreate1(f *vkFrame, canBlock bool) uintptr {
	if f.rdi&^0x80000 != 0 { // only EPOLL_CLOEXEC
		return vkErr(vkEINVAL)
	}
	return vkSysEpollCreate(int32(f.rdi))
}

func vkCallEpollCtl(f *vkFrame, canBlock bool) uintptr {
	return vkSysEpollCtl(int32(f.rdi), int32(f.rsi), int32(f.rdx), uintptr(f.r10))
}

// vkCallEpollWait serves epoll_wait and epoll_pwait (the signal mask of
// the latter is not applied: Go's runtime passes none).
func vkCallEpollWait(f *vkFrame, canBlock bool) uintptr {
	return vkSysEpollWait(int32(f.rdi), uintptr(f.rsi), int32(f.rdx), int64(int32(f.r10)), canBlock)
}

func vkCallEpollPwait(f *vkFrame, canBlock bool) uintptr {
	return vkSysEpollPwait(int32(f.rdi), uintptr(f.rsi), int32(f.rdx), int64(int32(f.r10)), uintptr(f.r8), uintptr(f.r9), canBlock)
}

// vkCallPoll serves poll(fds, nfds, timeout in ms; negative: none).
func vkCallPoll(f *vkFrame, canBlock bool) uintptr {
	deadline := int64(-1)
	if ms := int64(int32(f.rdx)); ms == 0 {
		deadline = 0
	} else if ms > 0 {
		deadline = vkNanotime() + ms*1_000_000
	}
	return vkSysPoll(uintptr(f.rdi), uintptr(f.rsi), deadline, canBlock)
}

// vkCallPpoll serves ppoll(fds, nfds, timeout, sigmask, sigsetsize).
func vkCallPpoll(f *vkFrame, canBlock bool) uintptr {
	return vkSysPpoll(uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx), uintptr(f.r10), uintptr(f.r8), canBlock)
}

// vkCallSelect serves select(nfds, readfds, writefds, exceptfds, timeout).
func vkCallSelect(f *vkFrame, canBlock bool) uintptr {
	return vkSysSelectTime(int64(int32(f.rdi)), [3]uintptr{uintptr(f.rsi), uintptr(f.rdx), uintptr(f.r10)}, uintptr(f.r8), true, 0, canBlock)
}

// vkCallPselect6 serves pselect6(nfds, readfds, writefds, exceptfds,
// timeout, {sigmask, sigsetsize}). Linux's order: the timespec, then the
// pair (EFAULT), the size (EINVAL) and the mask (EFAULT), then select's
// checks.
func vkCallPselect6(f *vkFrame, canBlock bool) uintptr {
	ts, pack := uintptr(f.r8), uintptr(f.r9)
	if ts != 0 {
		if !vkUserOK(ts, 16, false) {
			return vkErr(vkEFAULT)
		}
		if v := *(*[2]int64)(unsafe.Pointer(ts)); v[0] < 0 || v[1] < 0 || v[1] >= 1e9 {
			return vkErr(vkEINVAL)
		}
	}
	mask := uintptr(0)
	if pack != 0 {
		if !vkUserOK(pack, 16, false) {
			return vkErr(vkEFAULT)
		}
		pm := *(*[2]uint64)(unsafe.Pointer(pack))
		if e := vkWaitMaskCheck(uintptr(pm[0]), uintptr(pm[1])); e != 0 {
			return e
		}
		mask = uintptr(pm[0])
	}
	return vkSysSelectTime(int64(int32(f.rdi)), [3]uintptr{uintptr(f.rsi), uintptr(f.rdx), uintptr(f.r10)}, ts, false, mask, canBlock)
}

// vkCallFadvise64: the advice is checked and then has nothing to act on
// (files live in RAM, and nothing is read ahead or written back), as for
// Linux's file systems without a backing device. Linux's order: EBADF, a
// pipe ESPIPE, a negative length EINVAL, an advice beyond
// POSIX_FADV_NOREUSE (5) EINVAL.
func vkCallFadvise64(f *vkFrame, canBlock bool) uintptr {
	fd := int32(f.rdi)
	if !vkFDOpen(fd) {
		return vkErr(vkEBADF)
	}
	if k := vkFDKind(fd); k == fdPipeRead || k == fdPipeWrite {
		return vkErr(vkESPIPE)
	}
	if int64(f.rdx) < 0 || uint32(f.r10) > 5 {
		return vkErr(vkEINVAL)
	}
	return 0
}

// vkCallSyncfs: every file system here is in RAM, so there is nothing to
// write back; a bad fd is still EBADF.
func vkCallSyncfs(f *vkFrame, canBlock bool) uintptr {
	if !vkFDOpen(int32(f.rdi)) {
		return vkErr(vkEBADF)
	}
	return 0
}

// vkCallSync: nothing to write back (see vkCallSyncfs); sync never fails.
func vkCallSync(f *vkFrame, canBlock bool) uintptr { return 0 }
