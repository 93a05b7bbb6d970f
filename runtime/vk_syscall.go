//go:build velocity

// Velocity kernel: the Linux system call ABI the Go runtime and the os,
// time and syscall packages use. Anything not implemented is logged once by
// name and fails with ENOSYS; nothing is silently faked.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkEPERM     = 1
	vkENOENT    = 2
	vkESRCH     = 3
	vkEINTR     = 4
	vkEIO       = 5
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
	vkEOVERFLOW = 75
)

func vkErr(e int) uintptr { return uintptr(-e) }

var vkSyscallLogged [vkSysLinuxCount]bool

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

// vkSyscallLockFree serves the system calls that read only the clock,
// the calling thread's own state or a futex bucket's waiter count without
// taking any lock: the Go scheduler asks for the time constantly, from
// every CPU, and wakes futexes that nobody sleeps on. It reports
// whether it handled the call. Pending signals are still delivered by the
// next locked entry (at the latest the next timer tick).
func vkSyscallLockFree(f *vkFrame, c *vkCPU) bool {
	var r uintptr
	switch f.rax {
	case 228: // clock_gettime
		if !vkMappedWritable(uintptr(f.rsi), 16) {
			return false // let the locked path fault the page in or say EFAULT
		}
		r = vkClockGettimeTo(int32(f.rdi), uintptr(f.rsi))
	case 186: // gettid
		r = uintptr(vkThreadOf(c.cur).tid)
	case 39: // getpid
		r = 1
	case 202: // futex: a private FUTEX_WAKE that finds nobody waiting
		// (most of the Go runtime's wake-ups): one bucket's count, read
		// atomically (vkFutexNoWaiters); a waiter queued just after is
		// one the wake would have missed anyway, as on Linux.
		// Not while device work waits for a lock holder: the fine path's
		// exit does it (vkTrapExitFine), and the Go runtime's wake-ups
		// are among the calls that come soonest after an interrupt.
		addr := uintptr(f.rdi)
		if int32(f.rsi) != futexWake|futexPrivateFlag || addr&3 != 0 || addr > vkUserMax-4 ||
			atomic.Load(&vkIRQPending) != 0 || !vkFutexNoWaiters(addr) {
			return false
		}
		r = 0
	default:
		return false
	}
	vkSysCount(c, f.rax)
	f.rax = uint64(r)
	return true
}

// vkMappedWritable reports whether [addr, addr+n) is resident and writable
// right now, reading the page tables only. Without the kernel lock this is
// still safe: page-table pages are never freed, and a frame another CPU
// unmaps cannot be reused before this CPU, running with interrupts off,
// acknowledges the TLB shootdown.
func vkMappedWritable(addr, n uintptr) bool {
	if addr < vkUserMin || addr+n < addr || addr+n > vkUserMax || vkGuarded(addr, addr+n) {
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

// vkSysFn is a system call handler: it reads its arguments from the
// frame (Linux's order: rdi, rsi, rdx, r10, r8, r9) and returns the value
// for rax, a result or vkErr(errno). canBlock is false for system calls
// made by kernel code itself: such a handler must not sleep.
type vkSysFn func(f *vkFrame, canBlock bool) uintptr

// vkSysLinux is the dispatch table for Linux's system call numbers, as
// gVisor's linux64.go is: one line per call, the handler named after the
// call and kept in the file of its family (vk_sys_fd.go, vk_sys_fs.go,
// vk_sys_mem.go, vk_sys_time.go, vk_sys_sched.go, vk_sys_signal.go,
// vk_sys_sockets.go, vk_sys_misc.go). The comment is the Linux name;
// internal/kernelrules checks it against vk_sysnames.go. A number without
// an entry is unimplemented: logged once by name, ENOSYS.
//
// The table is a package-level array of top-level functions, so the
// compiler lays it out as static data: no initialisation code runs, and
// nothing writes to it, so it is usable in trap context from the first
// instruction. Handlers must not refer back to it (Go would report an
// initialisation cycle).
var vkSysLinux = [vkSysLinuxCount]vkSysFn{
	0:   vkCallRead,                // read
	1:   vkCallWrite,               // write
	2:   vkCallOpen,                // open
	3:   vkCallClose,               // close
	4:   vkCallStat,                // stat
	5:   vkCallFstat,               // fstat
	6:   vkCallLstat,               // lstat
	7:   vkCallPoll,                // poll
	8:   vkCallLseek,               // lseek
	9:   vkCallMmap,                // mmap
	10:  vkCallMprotect,            // mprotect
	11:  vkCallMunmap,              // munmap
	13:  vkCallRtSigaction,         // rt_sigaction
	14:  vkCallRtSigprocmask,       // rt_sigprocmask
	15:  vkCallRtSigreturn,         // rt_sigreturn
	16:  vkCallIoctl,               // ioctl
	17:  vkCallPread64,             // pread64
	18:  vkCallPwrite64,            // pwrite64
	19:  vkCallReadv,               // readv
	20:  vkCallWritev,              // writev
	21:  vkCallAccess,              // access
	22:  vkCallPipe,                // pipe
	23:  vkCallSelect,              // select
	24:  vkCallSchedYield,          // sched_yield
	27:  vkCallMincore,             // mincore
	28:  vkCallMadvise,             // madvise
	32:  vkCallDup,                 // dup
	33:  vkCallDup2,                // dup2
	35:  vkCallNanosleep,           // nanosleep
	36:  vkCallGetitimer,           // getitimer
	38:  vkCallSetitimer,           // setitimer
	39:  vkCallGetpid,              // getpid
	40:  vkCallSendfile,            // sendfile
	41:  vkCallSocket,              // socket
	42:  vkCallSocket,              // connect
	43:  vkCallSocket,              // accept
	44:  vkCallSocket,              // sendto
	45:  vkCallSocket,              // recvfrom
	46:  vkCallSocket,              // sendmsg
	47:  vkCallSocket,              // recvmsg
	48:  vkCallSocket,              // shutdown
	49:  vkCallSocket,              // bind
	50:  vkCallSocket,              // listen
	51:  vkCallSocket,              // getsockname
	52:  vkCallSocket,              // getpeername
	53:  vkCallSocket,              // socketpair
	54:  vkCallSocket,              // setsockopt
	55:  vkCallSocket,              // getsockopt
	56:  vkCallClone,               // clone
	60:  vkCallExit,                // exit
	62:  vkCallKill,                // kill
	63:  vkCallUname,               // uname
	72:  vkCallFcntl,               // fcntl
	73:  vkCallFlock,               // flock
	74:  vkCallFsync,               // fsync
	75:  vkCallFsync,               // fdatasync
	76:  vkCallTruncate,            // truncate
	77:  vkCallFtruncate,           // ftruncate
	79:  vkCallGetcwd,              // getcwd
	80:  vkCallChdir,               // chdir
	81:  vkCallFchdir,              // fchdir
	82:  vkCallRename,              // rename
	83:  vkCallMkdir,               // mkdir
	84:  vkCallRmdir,               // rmdir
	85:  vkCallCreat,               // creat
	86:  vkCallLink,                // link
	87:  vkCallUnlink,              // unlink
	88:  vkCallSymlink,             // symlink
	89:  vkCallReadlink,            // readlink
	90:  vkCallChmod,               // chmod
	91:  vkCallFchmod,              // fchmod
	92:  vkCallChown,               // chown
	93:  vkCallFchown,              // fchown
	94:  vkCallLchown,              // lchown
	95:  vkCallUmask,               // umask
	96:  vkCallGettimeofday,        // gettimeofday
	97:  vkCallGetrlimit,           // getrlimit
	98:  vkCallGetrusage,           // getrusage
	100: vkCallTimes,               // times
	102: vkCallGetuid,              // getuid
	104: vkCallGetgid,              // getgid
	105: vkCallSetuid,              // setuid
	106: vkCallSetgid,              // setgid
	107: vkCallGeteuid,             // geteuid
	108: vkCallGetegid,             // getegid
	110: vkCallGetppid,             // getppid
	113: vkCallSetreuid,            // setreuid
	114: vkCallSetregid,            // setregid
	115: vkCallGetgroups,           // getgroups
	116: vkCallSetgroups,           // setgroups
	117: vkCallSetresuid,           // setresuid
	118: vkCallGetresuid,           // getresuid
	119: vkCallSetresgid,           // setresgid
	120: vkCallGetresgid,           // getresgid
	121: vkCallGetpgid,             // getpgid
	122: vkCallSetfsuid,            // setfsuid
	123: vkCallSetfsgid,            // setfsgid
	125: vkCallCapget,              // capget
	126: vkCallCapset,              // capset
	127: vkCallRtSigpending,        // rt_sigpending
	131: vkCallSigaltstack,         // sigaltstack
	133: vkCallMknod,               // mknod
	146: vkCallSchedGetPriorityMax, // sched_get_priority_max
	147: vkCallSchedGetPriorityMin, // sched_get_priority_min
	149: vkCallMlock,               // mlock
	150: vkCallMunlock,             // munlock
	151: vkCallMlockall,            // mlockall
	152: vkCallMunlockall,          // munlockall
	157: vkCallPrctl,               // prctl
	158: vkCallArchPrctl,           // arch_prctl
	160: vkCallSetrlimit,           // setrlimit
	162: vkCallSync,                // sync
	186: vkCallGettid,              // gettid
	200: vkCallTkill,               // tkill
	201: vkCallTime,                // time
	202: vkCallFutex,               // futex
	203: vkCallSchedSetaffinity,    // sched_setaffinity
	204: vkCallSchedGetaffinity,    // sched_getaffinity
	217: vkCallGetdents64,          // getdents64
	218: vkCallSetTidAddress,       // set_tid_address
	221: vkCallFadvise64,           // fadvise64
	222: vkCallTimerCreate,         // timer_create
	223: vkCallTimerSettime,        // timer_settime
	224: vkCallTimerGettime,        // timer_gettime
	225: vkCallTimerGetoverrun,     // timer_getoverrun
	226: vkCallTimerDelete,         // timer_delete
	228: vkCallClockGettime,        // clock_gettime
	229: vkCallClockGetres,         // clock_getres
	230: vkCallClockNanosleep,      // clock_nanosleep
	231: vkCallExitGroup,           // exit_group
	232: vkCallEpollWait,           // epoll_wait
	233: vkCallEpollCtl,            // epoll_ctl
	234: vkCallTgkill,              // tgkill
	257: vkCallOpenat,              // openat
	258: vkCallMkdirat,             // mkdirat
	259: vkCallMknodat,             // mknodat
	260: vkCallFchownat,            // fchownat
	262: vkCallNewfstatat,          // newfstatat
	263: vkCallUnlinkat,            // unlinkat
	264: vkCallRenameat,            // renameat
	265: vkCallLinkat,              // linkat
	266: vkCallSymlinkat,           // symlinkat
	267: vkCallReadlinkat,          // readlinkat
	268: vkCallFchmodat,            // fchmodat
	269: vkCallFaccessat,           // faccessat
	270: vkCallPselect6,            // pselect6
	271: vkCallPpoll,               // ppoll
	273: vkCallSetRobustList,       // set_robust_list
	275: vkCallSplice,              // splice
	276: vkCallTee,                 // tee
	280: vkCallUtimensat,           // utimensat
	281: vkCallEpollPwait,          // epoll_pwait
	288: vkCallSocket,              // accept4
	290: vkCallEventfd2,            // eventfd2
	291: vkCallEpollCreate1,        // epoll_create1
	292: vkCallDup3,                // dup3
	293: vkCallPipe2,               // pipe2
	295: vkCallPreadv,              // preadv
	296: vkCallPwritev,             // pwritev
	302: vkCallPrlimit64,           // prlimit64
	306: vkCallSyncfs,              // syncfs
	309: vkCallGetcpu,              // getcpu
	316: vkCallRenameat2,           // renameat2
	318: vkCallGetrandom,           // getrandom
	325: vkCallMlock2,              // mlock2
	326: vkCallCopyFileRange,       // copy_file_range
	334: vkCallRseq,                // rseq
	436: vkCallCloseRange,          // close_range
	439: vkCallFaccessat2,          // faccessat2
	452: vkCallFchmodat2,           // fchmodat2
}

// vkSysLinuxCount bounds Linux's numbers (the highest today is in the
// 460s); vkUnimplemented's once-only log uses the same bound.
const vkSysLinuxCount = 512

// vkSysOwn is the table for Velocity's own system calls, numbered from
// vkSysOwnBase: the program's (vk_velocity.go), the netstack server's
// (vk_net.go) and the device drivers' (vk_dev.go). vkSysOwnNames names
// them in fault reports; keep the two in step.
var vkSysOwn = [vkSysOwnCount]vkSysFn{
	vkSysVelocityInfo - vkSysOwnBase:      vkCallVelocityInfo,
	vkSysVelocityCrash - vkSysOwnBase:     vkCallVelocityCrash,
	vkSysVelocityPatch - vkSysOwnBase:     vkCallVelocityPatch,
	vkSysVelocityProfStart - vkSysOwnBase: vkCallVelocityProfStart,
	vkSysVelocityProfStop - vkSysOwnBase:  vkCallVelocityProfStop,
	vkSysVelocityProfRead - vkSysOwnBase:  vkCallVelocityProfRead,
	vkSysVelocityProfStats - vkSysOwnBase: vkCallVelocityProfStats,
	vkSysNetAttach - vkSysOwnBase:         vkCallNetAttach,
	vkSysNetWait - vkSysOwnBase:           vkCallNetWait,
	vkSysNetReply - vkSysOwnBase:          vkCallNetReply,
	vkSysNetReady - vkSysOwnBase:          vkCallNetReady,
	vkSysNetResolv - vkSysOwnBase:         vkCallNetResolv,
	vkSysNetRights - vkSysOwnBase:         vkCallNetRights,
	vkSysNetHold - vkSysOwnBase:           vkCallNetHold,
	vkSysNetAccept - vkSysOwnBase:         vkCallNetAccept,
	vkSysVelocityFB - vkSysOwnBase:        vkCallVelocityFB,
	vkSysVelocityLocks - vkSysOwnBase:     vkCallVelocityLocks,
	vkSysVelocityDump - vkSysOwnBase:      vkCallVelocityDump,
	vkSysVelocitySyscalls - vkSysOwnBase:  vkCallVelocitySyscalls,
	vkSysPCI - vkSysOwnBase:               vkCallPCI,
	vkSysIO - vkSysOwnBase:                vkCallIO,
	vkSysDMA - vkSysOwnBase:               vkCallDMA,
	vkSysIRQ - vkSysOwnBase:               vkCallIRQ,
	vkSysIRQWait - vkSysOwnBase:           vkCallIRQWait,
	vkSysMMIO - vkSysOwnBase:              vkCallMMIO,
	vkSysMSI - vkSysOwnBase:               vkCallMSI,
	vkSysNetStat - vkSysOwnBase:           vkCallNetStat,
	vkSysIRQFD - vkSysOwnBase:             vkCallIRQFD,
	vkSysMSIFree - vkSysOwnBase:           vkCallMSIFree,
}

var vkSysOwnNames = [vkSysOwnCount]string{
	vkSysVelocityInfo - vkSysOwnBase:      "velocity_info",
	vkSysVelocityCrash - vkSysOwnBase:     "velocity_crash",
	vkSysVelocityPatch - vkSysOwnBase:     "velocity_patch",
	vkSysVelocityProfStart - vkSysOwnBase: "velocity_prof_start",
	vkSysVelocityProfStop - vkSysOwnBase:  "velocity_prof_stop",
	vkSysVelocityProfRead - vkSysOwnBase:  "velocity_prof_read",
	vkSysVelocityProfStats - vkSysOwnBase: "velocity_prof_stats",
	vkSysNetAttach - vkSysOwnBase:         "velocity_net_attach",
	vkSysNetWait - vkSysOwnBase:           "velocity_net_wait",
	vkSysNetReply - vkSysOwnBase:          "velocity_net_reply",
	vkSysNetReady - vkSysOwnBase:          "velocity_net_ready",
	vkSysNetResolv - vkSysOwnBase:         "velocity_net_resolv",
	vkSysNetRights - vkSysOwnBase:         "velocity_net_rights",
	vkSysNetHold - vkSysOwnBase:           "velocity_net_hold",
	vkSysNetAccept - vkSysOwnBase:         "velocity_net_accept",
	vkSysVelocityFB - vkSysOwnBase:        "velocity_fb",
	vkSysVelocityLocks - vkSysOwnBase:     "velocity_locks",
	vkSysVelocityDump - vkSysOwnBase:      "velocity_dump",
	vkSysVelocitySyscalls - vkSysOwnBase:  "velocity_syscalls",
	vkSysPCI - vkSysOwnBase:               "velocity_pci",
	vkSysIO - vkSysOwnBase:                "velocity_io",
	vkSysDMA - vkSysOwnBase:               "velocity_dma",
	vkSysIRQ - vkSysOwnBase:               "velocity_irq",
	vkSysIRQWait - vkSysOwnBase:           "velocity_irq_wait",
	vkSysMMIO - vkSysOwnBase:              "velocity_mmio",
	vkSysMSI - vkSysOwnBase:               "velocity_msi",
	vkSysNetStat - vkSysOwnBase:           "velocity_net_stat",
	vkSysIRQFD - vkSysOwnBase:             "velocity_irqfd",
	vkSysMSIFree - vkSysOwnBase:           "velocity_msi_free",
}

const (
	vkSysOwnBase  = 0x5600
	vkSysOwnCount = 0x40
)

// vkSyscall dispatches one system call through the tables; the result
// goes to rax. canBlock is false for system calls made by kernel code
// itself.
func vkSyscall(f *vkFrame, canBlock bool) {
	nr := f.rax
	var h vkSysFn
	if nr < vkSysLinuxCount {
		h = vkSysLinux[nr]
	} else if nr-vkSysOwnBase < vkSysOwnCount {
		h = vkSysOwn[nr-vkSysOwnBase]
	}
	if h == nil {
		f.rax = uint64(vkUnimplemented(nr))
		return
	}
	f.rax = uint64(h(f, canBlock))
}

func vkSysWrite(fd int32, p, n uintptr) uintptr {
	if vkFD(fd, fdTmpFile) != nil || vkFD(fd, fdDevice) != nil || vkFD(fd, fdConsole) != nil {
		// A partly bad buffer: a short write, as Linux's file and
		// terminal writes give (its pipes and eventfds say EFAULT).
		n = vkUserPrefixOr(p, n, false)
	}
	if f := vkFD(fd, fdEventfd); f != nil {
		i := vkFileHold(f)                 // held while asleep: a close meanwhile does not free it
		r := vkEventfdWrite(f, p, n, true) // may wait, as a pipe write here does
		vkFilePut(i)
		return r
	}
	if f := vkFDFile(fd); f != nil && (f.kind == fdPipeWrite || f.kind == fdPipeRead && vkPipeRW(f)) {
		i := vkFileHold(f) // held while asleep
		r, _ := vkPipeWrite(f, p, n, true, true)
		vkFilePut(i)
		return r
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
	if f := vkFD(fd, fdConsole); f == nil || f.flags&oAccMode == 0 {
		return vkErr(vkEBADF) // closed, or the console's read side
	}
	if !vkUserOK(p, n, false) {
		return vkErr(vkEFAULT)
	}
	vkWrite(unsafe.Slice((*byte)(unsafe.Pointer(p)), n))
	return n
}

func vkSysWritev(fd int32, iov, cnt uintptr) uintptr { return vkSysIov(fd, iov, cnt, -1, true, false) }

// vkIovecCheck checks an iovec array as Linux's import_iovec does: more
// than UIO_MAXIOV (1024) entries EINVAL, an array that cannot be read
// EFAULT, a length above SSIZE_MAX EINVAL.
func vkIovecCheck(iov, cnt uintptr) uintptr {
	if cnt > 1024 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(iov, cnt*16, false) {
		return vkErr(vkEFAULT)
	}
	for i := uintptr(0); i < cnt; i++ {
		if int64(*(*uintptr)(unsafe.Pointer(iov + i*16 + 8))) < 0 {
			return vkErr(vkEINVAL)
		}
	}
	return 0
}

// vkSysIov reads (readv, preadv) or with write writes (writev, pwritev)
// cnt buffers of the iovec array at iov in turn, at fd's position, or
// with off >= 0 at that offset. A short transfer ends the call, and only
// the first read may wait (a pipe's later buffers take what is there):
// as Linux, what moved before an error is the answer. A read checks its
// fd before the vector, as Linux; a write's fd is checked by each write,
// as writev's always was.
func vkSysIov(fd int32, iov, cnt uintptr, off int64, write, canBlock bool) uintptr {
	if !write && !vkFDOpen(fd) {
		return vkErr(vkEBADF)
	}
	if e := vkIovecCheck(iov, cnt); e != 0 {
		return e
	}
	total := uintptr(0)
	for i := uintptr(0); i < cnt; i++ {
		base := *(*uintptr)(unsafe.Pointer(iov + i*16))
		n := *(*uintptr)(unsafe.Pointer(iov + i*16 + 8))
		var r uintptr
		switch {
		case write && off >= 0:
			r = vkSysPwrite64(fd, base, n, off+int64(total))
		case write:
			r = vkSysWrite(fd, base, n)
		case off >= 0:
			r = vkSysPread64(fd, base, n, off+int64(total))
		default:
			r = vkSysRead(fd, base, n, canBlock && total == 0)
		}
		if int64(r) < 0 {
			if total > 0 {
				return total
			}
			return r
		}
		total += r
		if r < n {
			break
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
		i := vkFileHold(f) // held while asleep
		r := vkEventfdRead(f, p, n, canBlock)
		vkFilePut(i)
		return r
	}
	if f := vkFD(fd, fdPipeRead); f != nil {
		i := vkFileHold(f) // held while asleep
		r, _ := vkPipeRead(f, p, n, canBlock, true)
		vkFilePut(i)
		return r
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
	if f := vkFD(fd, fdConsole); f != nil && f.flags&oAccMode != 1 {
		return vkConsoleRead(p, n, canBlock)
	}
	return vkErr(vkEBADF) // closed, or the console's write side
}

func vkSysClose(fd int32) uintptr {
	return vkFDClose(fd)
}

const (
	closeRangeUnshare = 1 << 1
	closeRangeCloexec = 1 << 2
)

// vkSysCloseRange is close_range(2): every open fd in [first, last] is
// closed, or with CLOSE_RANGE_CLOEXEC marked close-on-exec, as Linux
// does (fds past the table's end are none; first > last or an unknown
// flag is EINVAL). CLOSE_RANGE_UNSHARE asks for a private copy of the fd
// table first; every thread of Velocity's one process shares the one
// table and none can have its own, so that flag is EINVAL here, where
// Linux would copy the table.
func vkSysCloseRange(first, last uint32, flags uint32) uintptr {
	if flags&^(closeRangeUnshare|closeRangeCloexec) != 0 || first > last {
		return vkErr(vkEINVAL)
	}
	if flags&closeRangeUnshare != 0 {
		return vkErr(vkEINVAL)
	}
	if last >= vkMaxFDs {
		last = vkMaxFDs - 1
	}
	for fd := first; fd <= last && fd < vkMaxFDs; fd++ {
		if !vkFDOpen(int32(fd)) {
			continue
		}
		if flags&closeRangeCloexec != 0 {
			vkSpinLock(&vkFDLock)
			vkFDs[fd].cloexec = true
			vkSpinUnlock(&vkFDLock)
			continue
		}
		vkFDClose(int32(fd))
	}
	return 0
}

func vkSysFcntl(fd int32, cmd int32, arg uintptr, canBlock bool) uintptr {
	f := vkFDFile(fd)
	if f == nil {
		return vkErr(vkEBADF)
	}
	if r, ok := vkFcntlFast(fd, cmd, arg); ok {
		return r // the commands on the fd itself (vk_fd.go)
	}
	switch cmd {
	case 3: // F_GETFL: the description's access mode and status flags
		fl := uintptr(f.flags & (oAccMode | oAppend))
		if f.nonblock {
			fl |= oNonblock
		}
		return fl
	case 4: // F_SETFL: O_APPEND and O_NONBLOCK change, shared by every dup
		f.flags = f.flags&^oAppend | int32(arg)&oAppend
		f.nonblock = arg&oNonblock != 0
		return 0
	case fGetlk, fSetlk, fSetlkw, fOFDGetlk, fOFDSetlk, fOFDSetlw: // record locks (vk_flock.go)
		return vkSysFcntlLock(fd, cmd, arg, canBlock)
	}
	return vkErr(vkEINVAL)
}

// vkSysFstat describes the console as the character device it is.
func vkSysFstat(fd int32, st uintptr) uintptr {
	f := vkFDFile(fd)
	if f == nil {
		return vkErr(vkEBADF)
	}
	if !vkUserOK(st, 144, true) {
		return vkErr(vkEFAULT)
	}
	switch f.kind {
	case fdRegular, fdDir:
		return vkStatEnt(int(f.ent), vkFilePath(f), st)
	case fdTmpFile, fdTmpDir:
		return vkTmpStat(int(f.ent), st)
	}
	memclrNoHeapPointers(unsafe.Pointer(st), 144)
	*(*int64)(unsafe.Pointer(st + 56)) = 4096 // st_blksize
	switch f.kind {
	case fdConsole:
		*(*uint32)(unsafe.Pointer(st + 24)) = 0o20620   // S_IFCHR | rw--w----: the console
		*(*uint64)(unsafe.Pointer(st + 40)) = 4<<8 | 64 // st_rdev: ttyS0
	case fdPipeRead, fdPipeWrite:
		*(*uint32)(unsafe.Pointer(st + 24)) = 0o010600 // S_IFIFO
	case fdDevice:
		*(*uint32)(unsafe.Pointer(st + 24)) = 0o20666                  // S_IFCHR | rw-rw-rw-
		*(*uint64)(unsafe.Pointer(st + 40)) = 1<<8 | uint64(3+2*f.ent) // mem devices, major 1
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
	return vkClockGettimeTo(clock, ts)
}

// vkClockGettimeTo is clock_gettime once ts is known to be writable (the
// lock-free path has walked the page tables for it already).
func vkClockGettimeTo(clock int32, ts uintptr) uintptr {
	var ns int64
	switch clock {
	case 0, 5: // REALTIME, REALTIME_COARSE
		ns = vkWalltime()
	case 1, 4, 6, 7: // MONOTONIC, _RAW, _COARSE, BOOTTIME
		ns = vkNanotime()
	case 2: // PROCESS_CPUTIME_ID: every thread's (vk_rusage.go)
		ns = vkProcessCPUNs()
	case 3: // THREAD_CPUTIME_ID
		ns, _ = vkThreadCPUNs(vkCur(), vkNanotime())
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
	deadline := vkNanotime() + d
	if canBlock && !vkSleepUntil(deadline) {
		return vkNanosleepInterrupted(0, rem, deadline)
	}
	return 0
}

// vkNanosleepInterrupted is the answer of a nanosleep or clock_nanosleep
// that a signal ended before deadline: EINTR, with the time left written
// to rem for a relative sleep (Linux writes it for nanosleep, and for
// clock_nanosleep without TIMER_ABSTIME, when rem is not NULL), or EFAULT
// if rem cannot be written. Linux makes the call again instead when no
// handler runs; Go has a handler for every signal. The caller holds the
// kernel lock.
func vkNanosleepInterrupted(flags int32, rem uintptr, deadline int64) uintptr {
	if rem != 0 && flags&1 == 0 {
		left := deadline - vkNanotime()
		if left < 0 {
			left = 0
		}
		if !vkUserOK(rem, 16, true) {
			return vkErr(vkEFAULT)
		}
		*(*int64)(unsafe.Pointer(rem)) = left / 1e9
		*(*int64)(unsafe.Pointer(rem + 8)) = left % 1e9
	}
	return vkErr(vkEINTR)
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
	if canBlock && !vkSleepUntil(deadline) {
		return vkNanosleepInterrupted(flags, rem, deadline)
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
