//go:build velocity

// Velocity kernel: the Linux system call ABI the Go runtime and the os,
// time and syscall packages use. Anything not implemented is logged once by
// name and fails with ENOSYS; nothing is silently faked.

package runtime

import "unsafe"

const (
	vkEPERM     = 1
	vkENOENT    = 2
	vkESRCH     = 3
	vkEINTR     = 4
	vkEBADF     = 9
	vkEAGAIN    = 11
	vkENOMEM    = 12
	vkEFAULT    = 14
	vkEEXIST    = 17
	vkENODEV    = 19
	vkENOTDIR   = 20
	vkEINVAL    = 22
	vkENOTTY    = 25
	vkEMFILE    = 24
	vkENOSPC    = 28
	vkENFILE    = 23
	vkEPIPE     = 32
	vkESPIPE    = 29
	vkERANGE    = 34
	vkENOSYS    = 38
	vkETIMEDOUT = 110
	vkEBUSY     = 16
	vkENXIO     = 6
	vkEXDEV     = 18
)

func vkErr(e int) uintptr { return uintptr(-e) }

var vkSyscallLogged [512]bool

func vkUnimplemented(nr uint64) uintptr {
	if nr < uint64(len(vkSyscallLogged)) {
		if vkSyscallLogged[nr] {
			return vkErr(vkENOSYS)
		}
		vkSyscallLogged[nr] = true
	}
	vkPrint("velocity: unimplemented syscall ")
	if nr < uint64(len(vkSyscallNames)) && vkSyscallNames[nr] != "" {
		vkPrint(vkSyscallNames[nr])
		vkPrint(" (")
		vkPrintDec(int64(nr))
		vkPrint(")")
	} else {
		vkPrintDec(int64(nr))
	}
	vkPrint(" -> ENOSYS\n")
	return vkErr(vkENOSYS)
}

// vkSyscallLockFree serves the system calls that read only the clock and
// the calling thread's own state without taking the kernel lock: the Go
// scheduler asks for the time constantly, from every CPU. It reports
// whether it handled the call. Pending signals are still delivered by the
// next locked entry (at the latest the next timer tick).
func vkSyscallLockFree(f *vkFrame) bool {
	var r uintptr
	switch f.rax {
	case 228: // clock_gettime
		if !vkMappedWritable(uintptr(f.rsi), 16) {
			return false // let the locked path fault the page in or say EFAULT
		}
		r = vkSysClockGettime(int32(f.rdi), uintptr(f.rsi))
	case 186: // gettid
		r = uintptr(vkCur().tid)
	case 39: // getpid
		r = 1
	default:
		return false
	}
	vkThisCPU().syscalls++
	f.rax = uint64(r)
	return true
}

// vkMappedWritable reports whether [addr, addr+n) is resident and writable
// right now, reading the page tables only. Without the kernel lock this is
// still safe: page-table pages are never freed, and a frame another CPU
// unmaps cannot be reused before this CPU, running with interrupts off,
// acknowledges the TLB shootdown.
func vkMappedWritable(addr, n uintptr) bool {
	if addr < vkUserMin || addr+n < addr || addr+n > vkUserMax {
		return false
	}
	for va := addr &^ 4095; va < addr+n; va += vkPageSize {
		pte := vkPTE(va, false)
		if pte == nil || *pte&(ptePresent|pteWrite) != ptePresent|pteWrite {
			return false
		}
	}
	return true
}

// vkSyscall dispatches one system call. Arguments follow the Linux
// convention: rdi, rsi, rdx, r10, r8, r9; the result goes to rax.
// canBlock is false for syscalls made by kernel code itself.
func vkSyscall(f *vkFrame, canBlock bool) {
	if vkNetCall(f, canBlock) { // sockets, and fd calls on sockets (vk_net.go)
		return
	}
	nr := f.rax
	a0, a1, a2, a3, a4 := uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx), uintptr(f.r10), uintptr(f.r8)
	var r uintptr
	switch nr {
	case 0: // read
		r = vkSysRead(int32(a0), a1, a2, canBlock)
	case 1: // write
		r = vkSysWrite(int32(a0), a1, a2)
	case 293: // pipe2
		r = vkSysPipe2(a0, int32(a1))
	case 22: // pipe
		r = vkSysPipe2(a0, 0)
	case 290: // eventfd2
		if a1&^(0x80000|efdNonblock|efdSemaphore) != 0 {
			r = vkErr(vkEINVAL)
		} else {
			r = vkSysEventfd(uint32(a0), int32(a1))
		}
	case 291: // epoll_create1
		if a0&^0x80000 != 0 { // only EPOLL_CLOEXEC
			r = vkErr(vkEINVAL)
		} else {
			r = vkSysEpollCreate()
		}
	case 233: // epoll_ctl
		r = vkSysEpollCtl(int32(a0), int32(a1), int32(a2), a3)
	case 232, 281: // epoll_wait, epoll_pwait
		r = vkSysEpollWait(int32(a0), a1, int32(a2), int64(int32(a3)), canBlock)
	case 2: // open
		r = vkSysOpenat(atFDCWD, a0, int32(a1), uint32(a2))
	case 85: // creat
		r = vkSysOpenat(atFDCWD, a0, oCreat|oTrunc|1, uint32(a1))
	case 257: // openat
		r = vkSysOpenat(int32(a0), a1, int32(a2), uint32(a3))
	case 18: // pwrite64
		r = vkSysPwrite64(int32(a0), a1, a2, int64(a3))
	case 83: // mkdir
		r = vkSysMkdirat(atFDCWD, a0, uint32(a1))
	case 258: // mkdirat
		r = vkSysMkdirat(int32(a0), a1, uint32(a2))
	case 87: // unlink
		r = vkSysUnlinkat(atFDCWD, a0, 0)
	case 84: // rmdir
		r = vkSysUnlinkat(atFDCWD, a0, atRemoveD)
	case 263: // unlinkat
		if a2&^atRemoveD != 0 {
			r = vkErr(vkEINVAL)
		} else {
			r = vkSysUnlinkat(int32(a0), a1, int32(a2))
		}
	case 82: // rename
		r = vkSysRenameat(atFDCWD, a0, atFDCWD, a1)
	case 264: // renameat
		r = vkSysRenameat(int32(a0), a1, int32(a2), a3)
	case 316: // renameat2
		r = vkSysRenameat2(int32(a0), a1, int32(a2), a3, uint32(a4))
	case 77: // ftruncate
		if !vkFDOpen(int32(a0)) {
			r = vkErr(vkEBADF)
		} else if f := vkFD(int32(a0), fdTmpFile); f != nil && f.flags&oAccMode != 0 && int64(a1) < 0 {
			r = vkErr(vkEINVAL)
		} else if f != nil && f.flags&oAccMode != 0 {
			vkTmpTruncate(&vkTmp.ents[f.ent], int64(a1))
		} else {
			r = vkErr(vkEINVAL)
		}
	case 74, 75: // fsync, fdatasync: RAM is as durable as it gets
		// Linux takes the fd as an unsigned int: the upper 32 bits of
		// the register are ignored, and only the lower ones index.
		if fd := int32(a0); fd < 0 || fd >= vkMaxFDs || vkFDs[fd].kind == fdNone && fd > 2 {
			r = vkErr(vkEBADF)
		}
	case 91: // fchmod
		r = vkSysFchmod(int32(a0), uint32(a1))
	case 90: // chmod
		r = vkSysFchmodat(atFDCWD, a0, uint32(a1))
	case 268: // fchmodat
		r = vkSysFchmodat(int32(a0), a1, uint32(a2))
	case 452: // fchmodat2
		r = vkSysFchmodat2(int32(a0), a1, uint32(a2), a3)
	case 92: // chown
		r = vkSysFchownat(atFDCWD, a0, uint32(a1), uint32(a2), 0)
	case 93: // fchown
		r = vkSysFchown(int32(a0), uint32(a1), uint32(a2))
	case 94: // lchown
		r = vkSysFchownat(atFDCWD, a0, uint32(a1), uint32(a2), atSymlinkNofollow)
	case 260: // fchownat
		r = vkSysFchownat(int32(a0), a1, uint32(a2), uint32(a3), int32(a4))
	case 17: // pread64
		a2 = vkUserPrefixOr(a1, a2, true)
		if !vkFDOpen(int32(a0)) {
			r = vkErr(vkEBADF)
		} else if int64(a3) < 0 && (vkFD(int32(a0), fdTmpFile) != nil || vkFD(int32(a0), fdRegular) != nil) {
			r = vkErr(vkEINVAL)
		} else if f := vkFD(int32(a0), fdTmpFile); f != nil {
			r = vkTmpRead(f, a1, a2, int64(a3), false)
		} else if f := vkFD(int32(a0), fdRegular); f != nil {
			r = vkFileRead(f, a1, a2, int64(a3), false)
		} else if f := vkFD(int32(a0), fdDir); f != nil {
			r = vkErr(vkEISDIR)
		} else {
			r = vkErr(vkESPIPE)
		}
	case 217: // getdents64
		r = vkSysGetdents64(int32(a0), a1, a2)
	case 80: // chdir
		r = vkSysChdir(a0)
	case 81: // fchdir
		r = vkSysFchdir(int32(a0))
	case 76: // truncate
		r = vkSysTruncate(a0, int64(a1))
	case 86: // link
		r = vkSysLinkat(atFDCWD, a0, atFDCWD, a1, 0)
	case 265: // linkat
		r = vkSysLinkat(int32(a0), a1, int32(a2), a3, uint32(a4))
	case 88: // symlink
		r = vkSysSymlinkat(a0, atFDCWD, a1)
	case 266: // symlinkat
		r = vkSysSymlinkat(a0, int32(a1), a2)
	case 3: // close
		r = vkSysClose(int32(a0))
	case 5: // fstat
		r = vkSysFstat(int32(a0), a1)
	case 9: // mmap
		r = vkSysMmap(a0, a1, uint32(a2), uint32(a3), int32(a4))
	case 10: // mprotect
		r = vkSysMprotect(a0, a1, uint32(a2))
	case 11: // munmap
		r = vkSysMunmap(a0, a1)
	case 28: // madvise
		r = vkSysMadvise(a0, a1, int32(a2))
	case 13: // rt_sigaction
		r = vkSysRtSigaction(uint32(a0), a1, a2, a3)
	case 14: // rt_sigprocmask
		r = vkSysRtSigprocmask(int32(a0), a1, a2, a3)
	case 15: // rt_sigreturn: the frame is the result
		vkSysRtSigreturn(f)
		return
	case 131: // sigaltstack
		r = vkSysSigaltstack(a0, a1, f)
	case 16: // ioctl
		if !vkFDOpen(int32(a0)) {
			r = vkErr(vkEBADF)
		} else {
			r = vkErr(vkENOTTY)
		}
	case 20: // writev
		r = vkSysWritev(int32(a0), a1, a2)
	case 24: // sched_yield (usually served without the lock: vk_lockpath.go)
		if canBlock {
			vkYield()
		}
	case 38: // setitimer: ITIMER_PROF, for Go's CPU profiler (vk_itimer.go)
		r = vkSysSetitimer(int32(a0), a1, a2)
	case 36: // getitimer
		r = vkSysGetitimer(int32(a0), a1)
	case 35: // nanosleep
		r = vkSysNanosleep(a0, a1, canBlock)
	case 230: // clock_nanosleep
		r = vkSysClockNanosleep(int32(a0), int32(a1), a2, a3, canBlock)
	case 39: // getpid
		r = 1
	case 110: // getppid
		r = 0
	case 186: // gettid
		r = uintptr(vkCur().tid)
	case 102, 104, 107, 108: // getuid, getgid, geteuid, getegid
		r = 0
	case 56: // clone
		r = vkSysClone(f, uint64(a0), a1, a2, a3, a4)
	case 60: // exit: this thread
		if !canBlock {
			vkFatal("exit from kernel context")
		}
		vkThreadExit()
	case 231: // exit_group
		if !canBlock {
			// The Go runtime died (a panic, a throw) while running kernel
			// code: say which system call it was serving.
			vkPrintSyscallInFlight("velocity: the Go runtime exited in kernel code ")
		}
		vkExit(int(int32(a0)))
	case 62: // kill
		if a0 != 1 && int(a0) != 0 {
			r = vkErr(vkESRCH)
		} else {
			r = vkSysTgkill(vkCur().tid, uint32(a1))
		}
	case 200: // tkill
		r = vkSysTgkill(int32(a0), uint32(a1))
	case 234: // tgkill
		if a0 != 1 {
			r = vkErr(vkESRCH)
		} else {
			r = vkSysTgkill(int32(a1), uint32(a2))
		}
	case 158: // arch_prctl
		r = vkSysArchPrctl(int32(a0), a1)
	case 202: // futex
		if !canBlock && (a1&^(futexPrivateFlag|futexClockRT) == futexWait) {
			r = vkErr(vkEAGAIN)
		} else {
			r = vkSysFutex(a0, int32(a1), uint32(a2), a3)
		}
	case 228: // clock_gettime
		r = vkSysClockGettime(int32(a0), a1)
	case 229: // clock_getres
		r = vkSysClockGetres(int32(a0), a1)
	case 96: // gettimeofday
		r = vkSysGettimeofday(a0, a1)
	case 201: // time
		r = vkSysTime(a0)
	case 203: // sched_setaffinity
		r = vkSysSchedSetaffinity(int32(a0), a1, a2)
	case 204: // sched_getaffinity
		r = vkSysSchedGetaffinity(int32(a0), a1, a2)
	case 318: // getrandom
		// GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE; the last two exclude
		// each other. The source never blocks, so all mean the same.
		if a2&^7 != 0 || a2&6 == 6 {
			r = vkErr(vkEINVAL)
		} else {
			if a1 > 0x7ffff000 {
				a1 = 0x7ffff000 // Linux's MAX_RW_COUNT
			}
			r = vkSysGetrandom(a0, vkUserPrefixOr(a0, a1, true))
		}
	case 63: // uname
		r = vkSysUname(a0)
	case 302: // prlimit64
		r = vkSysPrlimit(int32(a0), int32(a1), a2, a3)
	case 97: // getrlimit
		if a1 == 0 {
			r = vkErr(vkEFAULT) // unlike prlimit64's, its result pointer is not optional
		} else {
			r = vkSysPrlimit(0, int32(a0), 0, a1)
		}
	case 157: // prctl
		r = vkErr(vkEINVAL)
	case 218: // set_tid_address
		vkCur().clearTID = a0
		r = uintptr(vkCur().tid)
	case 273: // set_robust_list: no robust futexes here, and saying so
		if a1 != 24 { // sizeof(struct robust_list_head)
			r = vkErr(vkEINVAL)
		} else {
			r = vkUnimplemented(nr)
		}
	case 334: // rseq: not offered; the runtime and libc handle ENOSYS
		r = vkErr(vkENOSYS)
	case 72: // fcntl
		r = vkSysFcntl(int32(a0), int32(a1), a2)
	case 79: // getcwd
		r = vkSysGetcwd(a0, a1)
	case 8: // lseek
		r = vkSysLseek(int32(a0), int64(a1), int32(a2))
	case 4, 6: // stat, lstat
		r = vkSysNewfstatat(atFDCWD, a0, a1, 0)
	case 262: // newfstatat
		r = vkSysNewfstatat(int32(a0), a1, a2, int32(a3))
	case 21: // access
		r = vkSysFaccessat2(atFDCWD, a0, a1, 0)
	case 269: // faccessat
		r = vkSysFaccessat2(int32(a0), a1, a2, 0)
	case 439: // faccessat2
		r = vkSysFaccessat2(int32(a0), a1, a2, a3)
	case 89: // readlink
		r = vkSysReadlinkat(atFDCWD, a0, a1, a2)
	case 267: // readlinkat
		r = vkSysReadlinkat(int32(a0), a1, a2, a3)
	case 309: // getcpu
		r = vkSysGetcpu(a0, a1)
	case vkSysVelocityInfo:
		r = vkSysInfo(a0, a1)
	case vkSysVelocityCrash:
		r = vkSysCrash(a0)
	case vkSysVelocityPatch:
		r = vkSysPatch(a0, a1, a2, a3)
	case vkSysVelocityProfStart:
		r = vkSysProfStart(a0)
	case vkSysVelocityProfStop:
		r = vkSysProfStop()
	case vkSysVelocityProfRead:
		r = vkSysProfRead(a0, a1)
	case vkSysVelocityProfStats:
		r = vkSysProfStats(a0, a1)
	case vkSysVelocityFB:
		r = vkSysFB(a0, a1, a2)
	case vkSysVelocityLocks: // lock contention counters (vk_lock.go)
		r = vkSysLocks(a0, a1)
	default:
		r = vkUnimplemented(nr)
	}
	f.rax = uint64(r)
}

func vkSysWrite(fd int32, p, n uintptr) uintptr {
	if vkFD(fd, fdTmpFile) != nil || vkFD(fd, fdDevice) != nil || fd == 1 || fd == 2 {
		// A partly bad buffer: a short write, as Linux's file and
		// terminal writes give (its pipes and eventfds say EFAULT).
		n = vkUserPrefixOr(p, n, false)
	}
	if f := vkFD(fd, fdEventfd); f != nil {
		return vkEventfdWrite(f, fd, p, n)
	}
	if f := vkFD(fd, fdPipeWrite); f != nil {
		return vkPipeWrite(f, p, n, true)
	}
	if f := vkFD(fd, fdTmpFile); f != nil {
		return vkTmpWrite(f, p, n, f.off, true)
	}
	if vkFD(fd, fdDevice) != nil {
		if !vkUserOK(p, n, false) {
			return vkErr(vkEFAULT)
		}
		return n // every device here discards what is written
	}
	if fd != 1 && fd != 2 {
		return vkErr(vkEBADF)
	}
	if !vkUserOK(p, n, false) {
		return vkErr(vkEFAULT)
	}
	vkWrite(unsafe.Slice((*byte)(unsafe.Pointer(p)), n))
	return n
}

func vkSysWritev(fd int32, iov, cnt uintptr) uintptr {
	if cnt > 1024 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(iov, cnt*16, false) {
		return vkErr(vkEFAULT)
	}
	for i := uintptr(0); i < cnt; i++ {
		if int64(*(*uintptr)(unsafe.Pointer(iov + i*16 + 8))) < 0 {
			return vkErr(vkEINVAL) // a length above SSIZE_MAX
		}
	}
	total := uintptr(0)
	for i := uintptr(0); i < cnt; i++ {
		base := *(*uintptr)(unsafe.Pointer(iov + i*16))
		n := *(*uintptr)(unsafe.Pointer(iov + i*16 + 8))
		r := vkSysWrite(fd, base, n)
		if int64(r) < 0 {
			if total > 0 {
				return total // as Linux: what was written before the error
			}
			return r
		}
		total += r
		if r < n {
			break // a short write ends the call
		}
	}
	return total
}

// vkSysRead: standard input is the serial console (vk_ioapic.go).
func vkSysRead(fd int32, p, n uintptr, canBlock bool) uintptr {
	if vkFD(fd, fdRegular) != nil || vkFD(fd, fdTmpFile) != nil || vkFD(fd, fdDevice) != nil {
		// A partly bad buffer: a short read, as Linux's file reads give
		// (its pipes and eventfds say EFAULT instead).
		n = vkUserPrefixOr(p, n, true)
	}
	if f := vkFD(fd, fdEventfd); f != nil {
		return vkEventfdRead(f, p, n, canBlock)
	}
	if f := vkFD(fd, fdPipeRead); f != nil {
		return vkPipeRead(f, p, n, canBlock)
	}
	if f := vkFD(fd, fdRegular); f != nil {
		return vkFileRead(f, p, n, f.off, true)
	}
	if f := vkFD(fd, fdTmpFile); f != nil {
		return vkTmpRead(f, p, n, f.off, true)
	}
	if f := vkFD(fd, fdDevice); f != nil {
		return vkDeviceRead(f, p, n)
	}
	if vkFD(fd, fdDir) != nil || vkFD(fd, fdTmpDir) != nil {
		return vkErr(vkEISDIR)
	}
	if fd == 0 {
		return vkConsoleRead(p, n, canBlock)
	}
	return vkErr(vkEBADF)
}

func vkSysClose(fd int32) uintptr {
	if fd >= 0 && fd <= 2 {
		return 0
	}
	if fd >= 3 && fd < vkMaxFDs && vkFDs[fd].kind != fdNone {
		switch vkFDs[fd].kind {
		case fdPipeRead, fdPipeWrite:
			vkPipeClose(&vkFDs[fd])
		case fdTmpFile, fdTmpDir:
			vkTmpClose(&vkFDs[fd])
		}
		vkFDFree(fd)
		return 0
	}
	return vkErr(vkEBADF)
}

func vkSysFcntl(fd int32, cmd int32, arg uintptr) uintptr {
	if fd < 0 || fd >= vkMaxFDs || fd > 2 && vkFDs[fd].kind == fdNone {
		return vkErr(vkEBADF)
	}
	f := &vkFDs[fd]
	switch cmd {
	case 1: // F_GETFD
		return 0
	case 2: // F_SETFD
		return 0
	case 3: // F_GETFL
		fl := uintptr(2) // O_RDWR
		switch {
		case f.kind == fdTmpFile || f.kind == fdTmpDir:
			fl = uintptr(f.flags & (oAccMode | oAppend))
		case fd == 0 || f.kind == fdPipeRead || f.kind == fdRegular || f.kind == fdDir:
			fl = 0
		case fd <= 2 || f.kind == fdPipeWrite:
			fl = 1
		}
		if f.nonblock {
			fl |= oNonblock
		}
		return fl
	case 4: // F_SETFL
		if fd > 2 {
			f.nonblock = arg&oNonblock != 0
		}
		return 0
	case 1030: // F_DUPFD_CLOEXEC
		return vkErr(vkEINVAL)
	}
	return vkErr(vkEINVAL)
}

// vkSysFstat describes fds 0-2 as the character device they are.
func vkSysFstat(fd int32, st uintptr) uintptr {
	if fd < 0 || fd >= vkMaxFDs || fd > 2 && vkFDs[fd].kind == fdNone {
		return vkErr(vkEBADF)
	}
	if !vkUserOK(st, 144, true) {
		return vkErr(vkEFAULT)
	}
	switch vkFDs[fd].kind {
	case fdRegular, fdDir:
		if fd > 2 {
			return vkStatEnt(int(vkFDs[fd].ent), st)
		}
	case fdTmpFile, fdTmpDir:
		if fd > 2 {
			return vkTmpStat(int(vkFDs[fd].ent), st)
		}
	}
	memclrNoHeapPointers(unsafe.Pointer(st), 144)
	*(*int64)(unsafe.Pointer(st + 56)) = 4096 // st_blksize
	if fd <= 2 {
		*(*uint32)(unsafe.Pointer(st + 24)) = 0o20620   // S_IFCHR | rw--w----: the console
		*(*uint64)(unsafe.Pointer(st + 40)) = 4<<8 | 64 // st_rdev: ttyS0
		return 0
	}
	switch vkFDs[fd].kind {
	case fdPipeRead, fdPipeWrite:
		*(*uint32)(unsafe.Pointer(st + 24)) = 0o010600 // S_IFIFO
	case fdDevice:
		*(*uint32)(unsafe.Pointer(st + 24)) = 0o20666                          // S_IFCHR | rw-rw-rw-
		*(*uint64)(unsafe.Pointer(st + 40)) = 1<<8 | uint64(3+2*vkFDs[fd].ent) // mem devices, major 1
	default:
		*(*uint32)(unsafe.Pointer(st + 24)) = 0o600 // eventfd, epoll: anonymous inodes
	}
	return 0
}

func vkSysArchPrctl(code int32, addr uintptr) uintptr {
	const setFS, getFS = 0x1002, 0x1003
	t := vkCur()
	switch code {
	case setFS:
		t.fsBase = addr
		vkThisCPU().userFS = addr
		return 0
	case getFS:
		if !vkUserOK(addr, 8, true) {
			return vkErr(vkEFAULT)
		}
		*(*uintptr)(unsafe.Pointer(addr)) = t.fsBase
		return 0
	}
	return vkErr(vkEINVAL)
}

func vkSysClockGettime(clock int32, ts uintptr) uintptr {
	if !vkMappedWritable(ts, 16) && !vkUserOK(ts, 16, true) {
		return vkErr(vkEFAULT)
	}
	var ns int64
	switch clock {
	case 0, 5: // REALTIME, REALTIME_COARSE
		ns = vkWalltime()
	case 1, 4, 6, 7: // MONOTONIC, _RAW, _COARSE, BOOTTIME
		ns = vkNanotime()
	case 2, 3: // PROCESS_CPUTIME_ID, THREAD_CPUTIME_ID
		t := vkCur()
		ns = t.cpuNs + vkNanotime() - t.lastRun
	default:
		return vkErr(vkEINVAL)
	}
	*(*[2]int64)(unsafe.Pointer(ts)) = [2]int64{ns / 1e9, ns % 1e9}
	return 0
}

// vkReadTimespec reads a struct timespec: EFAULT if it cannot, EINVAL if
// it is not a valid time (0 when it is).
func vkReadTimespec(ts uintptr) (int64, uintptr) {
	if !vkUserOK(ts, 16, false) {
		return 0, vkErr(vkEFAULT)
	}
	v := *(*[2]int64)(unsafe.Pointer(ts))
	if v[0] < 0 || v[1] < 0 || v[1] >= 1e9 {
		return 0, vkErr(vkEINVAL)
	}
	if v[0] > 9_000_000_000 {
		v[0] = 9_000_000_000 // about 285 years: saturate instead of overflowing
	}
	return v[0]*1e9 + v[1], 0
}

func vkSysNanosleep(req, rem uintptr, canBlock bool) uintptr {
	d, e := vkReadTimespec(req)
	if e != 0 {
		return e
	}
	if canBlock {
		vkSleepUntil(vkNanotime() + d)
	}
	return 0
}

func vkSysClockNanosleep(clock, flags int32, req, rem uintptr, canBlock bool) uintptr {
	switch clock {
	case 0, 1, 7: // REALTIME, MONOTONIC, BOOTTIME
	case 2, 3, 4, 5, 6, 8, 9, 11:
		// CPU-time, raw, coarse, alarm and TAI clocks: Linux has no sleep
		// on most of them (EOPNOTSUPP); Velocity on none of them.
		return vkErr(vkEOPNOTSUPP)
	default:
		return vkErr(vkEINVAL)
	}
	d, e := vkReadTimespec(req)
	if e != 0 {
		return e
	}
	deadline := vkNanotime() + d
	if flags&1 != 0 { // TIMER_ABSTIME
		deadline = d
		if clock == 0 {
			deadline -= vkWalltime() - vkNanotime()
		}
	}
	if canBlock {
		vkSleepUntil(deadline)
	}
	return 0
}

func vkSysSchedGetaffinity(pid int32, size, mask uintptr) uintptr {
	n := uintptr((vkCPUCount + 63) / 64 * 8)
	if size < n || size&7 != 0 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(mask, n, true) {
		return vkErr(vkEFAULT)
	}
	t := vkCur()
	if pid != 0 {
		if t = vkThreadByTID(pid); t == nil {
			return vkErr(vkESRCH)
		}
	}
	all := vkAllCPUs()
	memclrNoHeapPointers(unsafe.Pointer(mask), n)
	*(*uint64)(unsafe.Pointer(mask)) = t.affinity & all
	return n
}

func vkSysSchedSetaffinity(pid int32, size, mask uintptr) uintptr {
	if size < 8 || !vkUserOK(mask, 8, false) {
		return vkErr(vkEFAULT)
	}
	t := vkCur()
	if pid != 0 {
		if t = vkThreadByTID(pid); t == nil {
			return vkErr(vkESRCH)
		}
	}
	if size > 128 {
		size = 128
	}
	if !vkUserOK(mask, size, false) {
		return vkErr(vkEFAULT)
	}
	for off := uintptr(8); off+8 <= size; off += 8 {
		if *(*uint64)(unsafe.Pointer(mask + off)) != 0 {
			return vkErr(vkEINVAL) // CPUs beyond 63 do not exist
		}
	}
	m := *(*uint64)(unsafe.Pointer(mask))
	if m == 0 || m&^vkAllCPUs() != 0 {
		return vkErr(vkEINVAL) // empty, or names CPUs that do not exist
	}
	t.affinity = m
	if t == vkCur() && m&(1<<vkThisCPU().id) == 0 {
		vkYield() // move to an allowed CPU now, as Linux does
	}
	return 0
}

// vkSysGetrandom fills the whole buffer from RDSEED, else RDRAND, or, on
// CPUs with neither, from a ChaCha-free fallback: TSC jitter mixed through
// wyhash-style multiply-xorshift, which boot announces as weak
// (vk_random.go). It never returns short.
var vkRandState uint64

func vkRandom64() uint64 {
	if vkHasRdseed {
		if v, ok := vkRdseed(); ok {
			return v
		}
	}
	if vkHasRdrand {
		if v, ok := vkRdrand(); ok {
			return v
		}
	}
	vkRandState += 0xa0761d6478bd642f ^ vkRdtsc()
	hi, lo := vkMul64(vkRandState, vkRandState^0xe7037ed1a0b428db)
	return hi ^ lo
}

func vkMul64(x, y uint64) (hi, lo uint64) {
	const mask32 = 1<<32 - 1
	x0, x1 := x&mask32, x>>32
	y0, y1 := y&mask32, y>>32
	w0 := x0 * y0
	t := x1*y0 + w0>>32
	w1, w2 := t&mask32, t>>32
	w1 += x0 * y1
	return x1*y1 + w2 + w1>>32, x * y
}

func vkSysGetrandom(buf, n uintptr) uintptr {
	if !vkUserOK(buf, n, true) {
		return vkErr(vkEFAULT)
	}
	for i := uintptr(0); i < n; i += 8 {
		v := vkRandom64()
		for j := uintptr(0); j < 8 && i+j < n; j++ {
			*(*byte)(unsafe.Pointer(buf + i + j)) = byte(v >> (8 * j))
		}
	}
	return n
}

func vkSysUname(buf uintptr) uintptr {
	if !vkUserOK(buf, 6*65, true) {
		return vkErr(vkEFAULT)
	}
	memclrNoHeapPointers(unsafe.Pointer(buf), 6*65)
	fields := [6]string{"Linux", "velocity", "6.1.0-velocity", "#1 SMP Velocity unikernel", "x86_64", "(none)"}
	for i, s := range fields {
		for j := 0; j < len(s); j++ {
			*(*byte)(unsafe.Pointer(buf + uintptr(i*65+j))) = s[j]
		}
	}
	return 0
}

func vkSysPrlimit(pid, res int32, newp, oldp uintptr) uintptr {
	if pid != 0 && pid != 1 {
		return vkErr(vkESRCH)
	}
	if res < 0 || res >= 16 {
		return vkErr(vkEINVAL)
	}
	if oldp != 0 {
		if !vkUserOK(oldp, 16, true) {
			return vkErr(vkEFAULT)
		}
		inf := ^uint64(0)
		lim := [2]uint64{inf, inf}
		switch res {
		case 3: // RLIMIT_STACK
			lim = [2]uint64{8 << 20, inf}
		case 7: // RLIMIT_NOFILE
			lim = [2]uint64{1024, 4096}
		}
		*(*[2]uint64)(unsafe.Pointer(oldp)) = lim
	}
	if newp != 0 {
		return vkErr(vkEPERM)
	}
	return 0
}

func vkSysGetcpu(cpu, node uintptr) uintptr {
	id := vkThisCPU().id
	if cpu != 0 {
		if !vkUserOK(cpu, 4, true) {
			return vkErr(vkEFAULT)
		}
		*(*uint32)(unsafe.Pointer(cpu)) = id
	}
	if node != 0 {
		if !vkUserOK(node, 4, true) {
			return vkErr(vkEFAULT)
		}
		*(*uint32)(unsafe.Pointer(node)) = 0
	}
	return 0
}
