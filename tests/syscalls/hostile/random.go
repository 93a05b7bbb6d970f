package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// The random phase: n calls chosen by a seeded generator, half of them
// aimed (a known call with arguments of the right kinds, some valid and
// some hostile), half of them any system call number with only hostile
// arguments. Then the program checks that it still works.
//
// What it never does, so that a failure is the kernel's: pass a pointer
// to memory the Go runtime owns; name an fd it did not open itself
// (fds are either its own or invalid in their low 32 bits); change its
// signal handlers, signal mask, alternate stack, TLS, or mappings other
// than its own; make a call that waits without a short timeout; kill,
// exit or clone. Pipes and eventfds it creates are non-blocking.

// Calls the any-number half never makes: they end, stall or reshape the
// program whatever their arguments, or manage memory (the aimed half
// does that on its own mappings).
var neverAny = map[uintptr]bool{
	syscall.SYS_EXIT: true, syscall.SYS_EXIT_GROUP: true, syscall.SYS_KILL: true, syscall.SYS_TKILL: true,
	syscall.SYS_TGKILL: true, syscall.SYS_RT_SIGRETURN: true, syscall.SYS_CLONE: true, syscall.SYS_FORK: true,
	syscall.SYS_VFORK: true, syscall.SYS_EXECVE: true, 322 /* execveat */ : true, 435 /* clone3 */ : true,
	syscall.SYS_ARCH_PRCTL: true, syscall.SYS_SET_TID_ADDRESS: true, syscall.SYS_RT_SIGACTION: true,
	syscall.SYS_RT_SIGPROCMASK: true, syscall.SYS_SIGALTSTACK: true, syscall.SYS_PAUSE: true,
	syscall.SYS_RT_SIGSUSPEND: true, syscall.SYS_RT_SIGTIMEDWAIT: true, syscall.SYS_WAIT4: true,
	syscall.SYS_WAITID: true, syscall.SYS_POLL: true, syscall.SYS_SELECT: true, syscall.SYS_PSELECT6: true,
	syscall.SYS_PPOLL: true, syscall.SYS_MMAP: true, syscall.SYS_MUNMAP: true, syscall.SYS_MPROTECT: true,
	syscall.SYS_MREMAP: true, syscall.SYS_MADVISE: true, syscall.SYS_BRK: true, syscall.SYS_SHMAT: true,
	syscall.SYS_REBOOT: true, syscall.SYS_SETRLIMIT: true, syscall.SYS_PRLIMIT64: true, 0x5601: true,
	syscall.SYS_SETSID: true, syscall.SYS_SETPGID: true, syscall.SYS_PRCTL: true, 317 /* seccomp */ : true,
	syscall.SYS_PTRACE: true, syscall.SYS_SCHED_SETSCHEDULER: true, syscall.SYS_SETUID: true, syscall.SYS_SETGID: true,
	syscall.SYS_SETREUID: true, syscall.SYS_SETRESUID: true, syscall.SYS_SETFSUID: true, syscall.SYS_SETFSGID: true, syscall.SYS_SETGROUPS: true, syscall.SYS_CAPSET: true,
	syscall.SYS_UNSHARE: true, syscall.SYS_PERSONALITY: true, syscall.SYS_IO_SETUP: true, syscall.SYS_FUTEX: true,
	syscall.SYS_READ: true, syscall.SYS_PREAD64: true, syscall.SYS_READV: true, syscall.SYS_EPOLL_WAIT: true,
	syscall.SYS_EPOLL_PWAIT: true, syscall.SYS_NANOSLEEP: true, syscall.SYS_CLOCK_NANOSLEEP: true,
	syscall.SYS_ACCEPT: true, syscall.SYS_ACCEPT4: true, syscall.SYS_RECVFROM: true, syscall.SYS_RECVMSG: true,
	syscall.SYS_MSGRCV: true, syscall.SYS_SEMOP: true, syscall.SYS_FLOCK: true, syscall.SYS_SYNC: true,
	syscall.SYS_SYSLOG: true, syscall.SYS_SWAPOFF: true, syscall.SYS_SWAPON: true, syscall.SYS_ACCT: true,
	syscall.SYS_KEXEC_LOAD: true, syscall.SYS_INIT_MODULE: true, syscall.SYS_DELETE_MODULE: true,
	syscall.SYS_VHANGUP: true, syscall.SYS_MOUNT: true, syscall.SYS_UMOUNT2: true, syscall.SYS_PIVOT_ROOT: true,
	syscall.SYS_CHROOT: true, syscall.SYS_SETTIMEOFDAY: true, syscall.SYS_CLOCK_SETTIME: true, syscall.SYS_ADJTIMEX: true,
	syscall.SYS_SETHOSTNAME: true, syscall.SYS_SETDOMAINNAME: true, syscall.SYS_IOPL: true, syscall.SYS_IOPERM: true,
	syscall.SYS_MLOCKALL: true, syscall.SYS_MUNLOCKALL: true, syscall.SYS_SCHED_SETAFFINITY: true,
	// A timer made from random bytes could send the program a fatal signal
	// at any rate; the aimed half makes timers that signal nothing.
	syscall.SYS_TIMER_CREATE: true,
	// A FIFO left at a random path would block the next random open of it
	// for reading forever (no writer comes); the aimed half unlinks its own.
	syscall.SYS_MKNOD: true, syscall.SYS_MKNODAT: true,
}

type gen struct {
	r       *mrand.Rand
	e       *env
	created []int     // fds this phase opened
	maps    []uintptr // pages this phase mapped (base, length pairs)
	// maxMaps bounds the mappings kept at once. Each can be split into a
	// mapping per page by mprotect, and every thread's count adds up, so
	// together they stay far below the kernel's table of mappings (2048
	// on Velocity): the Go runtime must still be able to map memory.
	maxMaps int
	slot    uintptr // scratch bytes for paths, timespecs and fd pairs
	fdBase  int     // 16 fd numbers of this thread's own, free for dup2 and dup3
	fifo    []byte  // the path of this thread's FIFO, NUL-terminated
}

func (g *gen) pick(n int) int { return g.r.IntN(n) }

// hostilePtr is an address no call may use: unmapped, guard, read-only,
// non-canonical, kernel, or a range running into one of those.
func (g *gen) hostilePtr() uintptr {
	e := g.e
	if len(kernelVars) > 0 && g.pick(13) == 0 {
		return g.kernelVarPtr() // inside Velocity only (-kernel-vars)
	}
	switch g.pick(12) {
	case 0:
		return 0
	case 1:
		return uintptr(g.pick(65536))
	case 2:
		return e.edge - uintptr(g.pick(64))
	case 3:
		return e.edge + uintptr(g.pick(page))
	case 4:
		return e.none + uintptr(g.pick(page))
	case 5:
		return e.ro + uintptr(g.pick(page))
	case 6:
		return nonCanonLow - uintptr(g.pick(64)) + uintptr(g.pick(128))
	case 7:
		return kernelHalf + uintptr(g.r.Uint64()&(1<<40-1))
	case 8:
		return kernelStacks + uintptr(g.r.Uint64()&(1<<30-1))
	case 9:
		return allOnes - uintptr(g.pick(8192))
	case 10:
		return e.scratch - uintptr(g.pick(page)) - 1 // the guard page below scratch
	}
	return uintptr(g.r.Uint64() | 1<<63)
}

// ptr is a scratch address (valid, or running into a guard page) or a
// hostile one.
func (g *gen) ptr() uintptr {
	if g.pick(2) == 0 {
		return g.e.scratch + uintptr(g.pick(4*page))
	}
	return g.hostilePtr()
}

func (g *gen) size() uintptr {
	switch g.pick(10) {
	case 0:
		return 0
	case 1:
		return uintptr(g.pick(17))
	case 2:
		return uintptr(g.pick(4*page + 64))
	case 3:
		return 1 << uint(g.pick(64))
	case 4:
		return allOnes - uintptr(g.pick(16))
	case 5:
		return uintptr(g.r.Uint64())
	case 6:
		return 0x7ffff000
	}
	return uintptr(g.pick(256))
}

// badFD is invalid in its low 32 bits, whatever the upper ones hold.
func (g *gen) badFD() uintptr {
	switch g.pick(6) {
	case 0:
		return allOnes
	case 1:
		return 0x80000000 + uintptr(g.pick(1<<20))
	case 2:
		// Below 4 MiB: taken as a pointer (any-number calls pass these
		// as every argument), it cannot reach the program's image,
		// which Linux loads at 4 MiB and Velocity at 16 MiB; there it
		// would be the Go runtime's own memory (mapped on Velocity,
		// unmapped on Linux at the same address). The kernel's variables
		// in that image are refused since (kernelVarPtr aims at them);
		// before, a velocity_syscalls call wrote its 23 KiB table over
		// the kernel stack allocator (seed 3).
		return uintptr(1024 + g.pick(1<<22-1024))
	case 3:
		return uintptr(g.r.Uint64())<<32 | uintptr(1024+g.pick(1<<20))
	case 4:
		return uintptr(g.r.Uint64()) | 0x80000000
	}
	return uintptr(g.e.closed)<<32 | 0xffff0000
}

func (g *gen) fd() uintptr {
	e := g.e
	switch g.pick(4) {
	case 0:
		return g.badFD()
	case 1:
		if len(g.created) > 0 {
			return uintptr(g.created[g.pick(len(g.created))])
		}
	}
	own := [...]int{e.pipeR, e.pipeW, e.tmpFile, e.roFile, e.root, e.ep, e.efd}
	return uintptr(own[g.pick(len(own))])
}

// value is a hostile integer argument for the any-number half: if the call
// reads it as an fd, it names none.
func (g *gen) value() uintptr {
	var v uintptr
	switch g.pick(4) {
	case 0:
		v = g.hostilePtr()
	case 1:
		v = g.badFD()
	case 2:
		v = allOnes - uintptr(g.pick(4096))
	default:
		v = uintptr(g.r.Uint64()) | 0x80000000
	}
	if int32(v) >= 0 && int32(v) < 1024 {
		// As an fd it could name one of the runtime's (its epoll) or
		// the console's (0 too: close(0) closes standard input).
		v |= 1024
	}
	return v
}

var paths = []string{"/", "/tmp", "", ".", "..", "/dev/null", "/dev/zero", "/dev/urandom", "/no/such", "/tmp/../tmp/.",
	"//", "/proc/self/exe", "x", strings.Repeat("a/", 2100), strings.Repeat("b", 300)}

func (g *gen) path() uintptr {
	if g.pick(4) == 0 {
		return g.hostilePtr()
	}
	var s string
	if g.pick(3) == 0 {
		s = fmt.Sprintf("%s/r%d", g.e.tmpDir, g.pick(40))
		if g.pick(2) == 0 {
			s += fmt.Sprintf("/s%d", g.pick(4))
		}
	} else {
		s = paths[g.pick(len(paths))]
	}
	b := bytesAt(g.slot, 2*page)
	n := copy(b[:len(b)-1], s)
	b[n] = 0
	return g.slot
}

// timespec writes a short, valid timeout (or a malformed one) to the slot.
func (g *gen) timespec() uintptr {
	if g.pick(5) == 0 {
		// Unreadable ones only: the read-only page holds "/", which as a
		// timespec is a 47-second sleep.
		switch g.pick(3) {
		case 0:
			return g.e.none + uintptr(g.pick(page))
		case 1:
			return g.e.edge - uintptr(g.pick(16))
		}
		return g.outsidePtr()
	}
	sec, nsec := int64(0), int64(g.pick(200_000))
	switch g.pick(8) {
	case 0:
		nsec = -1
	case 1:
		nsec = 1e9
	case 2:
		sec = -1
	}
	putWords(g.slot+3*page, u64(sec), u64(nsec))
	return g.slot + 3*page
}

func (g *gen) addFD(r uintptr) {
	if int(r) < 0 {
		return
	}
	for _, fd := range g.created {
		if fd == int(r) {
			return // dup2 onto one of them: already listed
		}
	}
	if len(g.created) >= 200 {
		sc(syscall.SYS_CLOSE, r) // keep some fds free for the checks at the end
		return
	}
	g.created = append(g.created, int(r))
}

// mapping returns one of this phase's own mappings or a hostile address.
func (g *gen) mapping() (uintptr, uintptr) {
	if len(g.maps) > 0 && g.pick(3) != 0 {
		i := g.pick(len(g.maps)/2) * 2
		base, n := g.maps[i], g.maps[i+1]
		off := uintptr(g.pick(int(n/page))) * page
		return base + off, uintptr(g.pick(int((n-off)/page))+1) * page
	}
	return g.outsidePtr() &^ (page - 1), g.size()
}

// outsidePtr is an address outside the user half (or in its first 64
// KiB): mprotect, madvise and munmap there can reach none of the
// program's memory whatever the length, unlike the hostile addresses next
// to its own pages.
func (g *gen) outsidePtr() uintptr {
	switch g.pick(6) {
	case 0:
		return 0
	case 1:
		return uintptr(g.pick(65536))
	case 2:
		return nonCanonLow - uintptr(g.pick(64)) + uintptr(g.pick(128))
	case 3:
		return kernelHalf + uintptr(g.r.Uint64()&(1<<40-1))
	case 4:
		return allOnes - uintptr(g.pick(8192))
	}
	return uintptr(g.r.Uint64() | 1<<63)
}

// aimed makes one known call with arguments of the right kinds.
func (g *gen) aimed() (uintptr, syscall.Errno) {
	const cwd = allOnes - 99 // AT_FDCWD
	dirfd := func() uintptr {
		if g.pick(3) == 0 {
			return cwd
		}
		return g.fd()
	}
	flags := func() uintptr { return uintptr(g.r.Uint32()) & uintptr(g.r.Uint32()) }
	switch g.pick(63) {
	case 0:
		return syscall.SYS_READ, sc(syscall.SYS_READ, g.fd(), g.ptr(), g.size())
	case 1:
		return syscall.SYS_WRITE, sc(syscall.SYS_WRITE, g.fd(), g.ptr(), g.size())
	case 2:
		return syscall.SYS_PREAD64, sc(syscall.SYS_PREAD64, g.fd(), g.ptr(), g.size(), g.size())
	case 3:
		return syscall.SYS_PWRITE64, sc(syscall.SYS_PWRITE64, g.fd(), g.ptr(), g.size()&0xffff, uintptr(g.pick(1<<22)))
	case 4:
		return syscall.SYS_WRITEV, sc(syscall.SYS_WRITEV, g.fd(), g.ptr(), g.size())
	case 5:
		fl := flags() &^ 0o10000000 // not O_PATH
		if g.pick(2) == 0 {
			fl = uintptr(g.pick(4)) | syscall.O_CREAT
		}
		r, err := sc1(syscall.SYS_OPENAT, dirfd(), g.path(), fl|syscall.O_NONBLOCK, uintptr(g.pick(0o10000)))
		if err == 0 {
			g.addFD(r)
		}
		return syscall.SYS_OPENAT, err
	case 6:
		if len(g.created) == 0 || g.pick(4) == 0 {
			return syscall.SYS_CLOSE, sc(syscall.SYS_CLOSE, g.badFD())
		}
		i := g.pick(len(g.created))
		fd := g.created[i]
		g.created = append(g.created[:i], g.created[i+1:]...)
		return syscall.SYS_CLOSE, sc(syscall.SYS_CLOSE, uintptr(fd))
	case 7:
		return syscall.SYS_FSTAT, sc(syscall.SYS_FSTAT, g.fd(), g.ptr())
	case 8:
		return syscall.SYS_NEWFSTATAT, sc(syscall.SYS_NEWFSTATAT, dirfd(), g.path(), g.ptr(), flags())
	case 9:
		return syscall.SYS_LSEEK, sc(syscall.SYS_LSEEK, g.fd(), g.size(), uintptr(g.pick(6)))
	case 10:
		return syscall.SYS_GETDENTS64, sc(syscall.SYS_GETDENTS64, g.fd(), g.ptr(), g.size())
	case 11:
		cmds := [...]uintptr{syscall.F_GETFD, syscall.F_SETFD, syscall.F_GETFL, 9999, allOnes}
		if g.pick(3) == 0 {
			// Record locks, never the waiting forms (F_SETLKW, F_OFD_SETLKW):
			// an OFD lock of another description could make them wait forever.
			locks := [...]uintptr{fGetlk, fSetlk, fOFDGetlk, fOFDSetlk}
			return syscall.SYS_FCNTL, sc(syscall.SYS_FCNTL, g.fd(), locks[g.pick(len(locks))], g.ptr())
		}
		return syscall.SYS_FCNTL, sc(syscall.SYS_FCNTL, g.fd(), cmds[g.pick(len(cmds))], g.size())
	case 12:
		return syscall.SYS_FTRUNCATE, sc(syscall.SYS_FTRUNCATE, g.fd(), g.size()&(1<<24-1)|uintptr(g.pick(2))<<63)
	case 13:
		return syscall.SYS_FSYNC, sc(syscall.SYS_FSYNC, g.fd())
	case 14:
		return syscall.SYS_MKDIRAT, sc(syscall.SYS_MKDIRAT, dirfd(), g.path(), uintptr(g.pick(0o10000)))
	case 15:
		return syscall.SYS_UNLINKAT, sc(syscall.SYS_UNLINKAT, dirfd(), g.path(), uintptr(g.pick(2))*0x200)
	case 16:
		from := g.path()
		var old [256]byte
		if from == g.slot {
			copy(old[:255], bytesAt(from, 255))
		}
		to := g.path()
		if from == g.slot && to == g.slot {
			copy(bytesAt(g.slot+page, 256), old[:])
			from = g.slot + page
		}
		return syscall.SYS_RENAMEAT, sc(syscall.SYS_RENAMEAT, dirfd(), from, dirfd(), to)
	case 17:
		return syscall.SYS_FCHMODAT, sc(syscall.SYS_FCHMODAT, dirfd(), g.path(), uintptr(g.pick(0o10000)))
	case 18:
		return syscall.SYS_FCHOWNAT, sc(syscall.SYS_FCHOWNAT, dirfd(), g.path(), g.size(), g.size(), flags()&0x1100)
	case 19:
		return syscall.SYS_READLINKAT, sc(syscall.SYS_READLINKAT, dirfd(), g.path(), g.ptr(), g.size())
	case 20:
		return syscall.SYS_FACCESSAT, sc(syscall.SYS_FACCESSAT, dirfd(), g.path(), uintptr(g.pick(16)))
	case 21:
		return syscall.SYS_GETCWD, sc(syscall.SYS_GETCWD, g.ptr(), g.size())
	case 22:
		return syscall.SYS_CHDIR, sc(syscall.SYS_CHDIR, g.path())
	case 23:
		return syscall.SYS_TRUNCATE, sc(syscall.SYS_TRUNCATE, g.path(), g.size()&(1<<24-1))
	case 24:
		p := g.slot + 3*page + 64
		if g.pick(4) == 0 {
			p = g.hostilePtr()
		}
		r, err := sc1(syscall.SYS_PIPE2, p, flags()|syscall.O_NONBLOCK)
		_ = r
		if err == 0 && p == g.slot+3*page+64 {
			b := bytesAt(p, 8)
			g.addFD(uintptr(int32(binary.LittleEndian.Uint32(b))))
			g.addFD(uintptr(int32(binary.LittleEndian.Uint32(b[4:]))))
		}
		return syscall.SYS_PIPE2, err
	case 25:
		r, err := sc1(syscall.SYS_EVENTFD2, g.size(), flags()|syscall.O_NONBLOCK)
		if err == 0 {
			g.addFD(r)
		}
		return syscall.SYS_EVENTFD2, err
	case 26:
		r, err := sc1(syscall.SYS_EPOLL_CREATE1, flags()&(syscall.EPOLL_CLOEXEC|uintptr(g.pick(2))))
		if err == 0 {
			g.addFD(r)
		}
		return syscall.SYS_EPOLL_CREATE1, err
	case 27:
		return syscall.SYS_EPOLL_CTL, sc(syscall.SYS_EPOLL_CTL, g.fd(), uintptr(g.pick(5)), g.fd(), g.ptr())
	case 28:
		return syscall.SYS_EPOLL_PWAIT, sc(syscall.SYS_EPOLL_PWAIT, g.fd(), g.ptr(), g.size(), 0, 0, 8)
	case 29:
		n := uintptr(g.pick(16)+1) * page
		fl := uintptr(syscall.MAP_PRIVATE | syscall.MAP_ANON)
		if g.pick(8) == 0 {
			fl = flags() &^ (syscall.MAP_FIXED | 0x100000)
		}
		a, err := sc1(syscall.SYS_MMAP, g.outsidePtr()&^(page-1), n, uintptr(g.pick(8)), fl, g.badFD(), 0)
		if err == 0 {
			if len(g.maps)/2 < g.maxMaps {
				g.maps = append(g.maps, a, n)
			} else {
				sc(syscall.SYS_MUNMAP, a, n) // keep within the kernel's mapping table
			}
		}
		return syscall.SYS_MMAP, err
	case 30:
		a, n := g.mapping()
		return syscall.SYS_MPROTECT, sc(syscall.SYS_MPROTECT, a, n, uintptr(g.pick(8)))
	case 31:
		a, n := g.mapping()
		return syscall.SYS_MADVISE, sc(syscall.SYS_MADVISE, a, n, uintptr(g.pick(24)))
	case 32:
		if len(g.maps) > 0 && g.pick(2) == 0 {
			i := g.pick(len(g.maps)/2) * 2
			a, n := g.maps[i], g.maps[i+1]
			g.maps = append(g.maps[:i], g.maps[i+2:]...)
			return syscall.SYS_MUNMAP, sc(syscall.SYS_MUNMAP, a, n)
		}
		a, n := g.mapping()
		if a >= nonCanonLow || a < 1<<16 {
			return syscall.SYS_MUNMAP, sc(syscall.SYS_MUNMAP, a|uintptr(g.pick(2)), n) // outside, maybe unaligned
		}
		return syscall.SYS_MUNMAP, sc(syscall.SYS_MUNMAP, a+1+uintptr(g.pick(page-1)), n) // unaligned: never unmaps
	case 33:
		return syscall.SYS_CLOCK_GETTIME, sc(syscall.SYS_CLOCK_GETTIME, uintptr(g.pick(16))|uintptr(g.pick(2))<<31, g.ptr())
	case 34:
		return syscall.SYS_CLOCK_GETRES, sc(syscall.SYS_CLOCK_GETRES, uintptr(g.pick(16)), g.ptr())
	case 35:
		return syscall.SYS_GETTIMEOFDAY, sc(syscall.SYS_GETTIMEOFDAY, g.ptr(), 0)
	case 36:
		return syscall.SYS_NANOSLEEP, sc(syscall.SYS_NANOSLEEP, g.timespec(), g.ptr())
	case 37:
		return syscall.SYS_CLOCK_NANOSLEEP, sc(syscall.SYS_CLOCK_NANOSLEEP, uintptr(g.pick(12)), 0, g.timespec(), g.ptr())
	case 38:
		// FUTEX_WAKE anywhere; FUTEX_WAIT only with a short timeout.
		addr := g.ptr() &^ 3
		if g.pick(2) == 0 {
			return syscall.SYS_FUTEX, sc(syscall.SYS_FUTEX, addr|uintptr(g.pick(2)), 0x81, g.size(), 0)
		}
		return syscall.SYS_FUTEX, sc(syscall.SYS_FUTEX, addr, 0x80, uintptr(g.pick(2)), g.timespec())
	case 39:
		return sysGetrandom, sc(sysGetrandom, g.ptr(), g.size()&0xffff, uintptr(g.pick(9)))
	case 40:
		return syscall.SYS_UNAME, sc(syscall.SYS_UNAME, g.ptr())
	case 41:
		return syscall.SYS_SCHED_GETAFFINITY, sc(syscall.SYS_SCHED_GETAFFINITY, uintptr(g.pick(3))*0x3fffffff, g.size(), g.ptr())
	case 42:
		return syscall.SYS_RT_SIGPROCMASK, sc(syscall.SYS_RT_SIGPROCMASK, uintptr(g.pick(4)), 0, g.ptr(), uintptr(g.pick(10)))
	case 44:
		return syscall.SYS_RT_SIGACTION, sc(syscall.SYS_RT_SIGACTION, uintptr(g.pick(70)), 0, g.ptr(), uintptr(g.pick(10)))
	case 45:
		return syscall.SYS_SIGALTSTACK, sc(syscall.SYS_SIGALTSTACK, 0, g.ptr())
	case 46:
		return syscall.SYS_FCHDIR, sc(syscall.SYS_FCHDIR, g.fd())
	case 47:
		return syscall.SYS_LINKAT, sc(syscall.SYS_LINKAT, dirfd(), g.path(), dirfd(), g.ptr(), flags()&0x1401)
	case 48:
		return syscall.SYS_SYMLINKAT, sc(syscall.SYS_SYMLINKAT, g.ptr(), dirfd(), g.path())
	case 49:
		return syscall.SYS_FCHOWN, sc(syscall.SYS_FCHOWN, g.fd(), g.size(), g.size())
	case 50:
		return syscall.SYS_FCHMOD, sc(syscall.SYS_FCHMOD, g.fd(), uintptr(g.pick(0o10000)))
	case 51:
		return syscall.SYS_PRLIMIT64, sc(syscall.SYS_PRLIMIT64, uintptr(g.pick(2)), uintptr(g.pick(20)), 0, g.ptr())
	case 52:
		return 309, sc(309, g.ptr(), g.ptr(), 0) // getcpu
	case 54:
		return g.dup()
	case 55: // offsets read from and written back to scratch or a hostile pointer
		return 326, sc(326 /* copy_file_range */, g.fd(), g.ptr(), g.fd(), g.ptr(), g.size(), uintptr(g.pick(2)))
	case 56:
		return syscall.SYS_CAPGET, sc(syscall.SYS_CAPGET, g.ptr(), g.ptr())
	case 57:
		// A timer on any clock that signals nothing (SIGEV_NONE), or a
		// sigevent Linux refuses, or an unreadable one; the any-number
		// half then sets, reads and deletes whatever ids exist.
		ev := g.slot + 3*page + 256
		putWords(ev, g.r.Uint64(), 0, 0, 0, 0, 0, 0, 0)
		put32s(ev+8, uint32(g.pick(70)), []uint32{1, 3, 5, 4}[g.pick(4)], g.r.Uint32()|0x40000000) // never one of our threads
		if g.pick(4) == 0 {
			ev = g.hostilePtr()
		}
		return syscall.SYS_TIMER_CREATE, sc(syscall.SYS_TIMER_CREATE, uintptr(g.pick(14)), ev, g.ptr())
	case 58:
		// Any node type but a FIFO (case 59 makes those: a path in the
		// slot may be changed by another thread's call before it is
		// unlinked) at a random path, unlinked again at once if made.
		modes := []uintptr{0o100000, 0, 0o040000, 0o020000, 0o070000, uintptr(g.r.Uint32())}
		mode := modes[g.pick(len(modes))] | uintptr(g.pick(0o10000))
		if mode&0o170000 == 0o010000 {
			mode ^= 0o110000 // S_IFIFO becomes S_IFREG
		}
		d, p := dirfd(), g.path()
		r := sc(syscall.SYS_MKNODAT, d, p, mode, g.size())
		if r == 0 {
			sc(syscall.SYS_UNLINKAT, d, p, 0)
		}
		return syscall.SYS_MKNODAT, r
	case 59:
		// A FIFO of this thread's own, opened without waiting in any mode,
		// read and written with hostile buffers, closed and unlinked.
		if g.fifo == nil { // in the Go heap, which no call of this phase writes
			g.fifo = append([]byte(fmt.Sprintf("%s/fifo%d", g.e.tmpDir, g.fdBase)), 0)
		}
		p := uintptr(unsafe.Pointer(&g.fifo[0]))
		sc(syscall.SYS_MKNODAT, cwd, p, 0o010600, 0)
		fd, err := sc1(syscall.SYS_OPENAT, cwd, p, uintptr(g.pick(4))|syscall.O_NONBLOCK|flags()&syscall.O_CLOEXEC)
		if err == 0 {
			sc(syscall.SYS_WRITE, fd, g.ptr(), g.size())
			sc(syscall.SYS_READ, fd, g.ptr(), g.size())
			syscall.Close(int(fd))
		}
		sc(syscall.SYS_UNLINKAT, cwd, p, 0)
		return syscall.SYS_OPENAT, err
	case 60: // every pipe here is non-blocking, so none of these three waits
		return syscall.SYS_SENDFILE, sc(syscall.SYS_SENDFILE, g.fd(), g.fd(), g.ptr()*uintptr(g.pick(2)), g.size())
	case 61:
		return syscall.SYS_SPLICE, sc(syscall.SYS_SPLICE, g.fd(), g.ptr()*uintptr(g.pick(2)), g.fd(),
			g.ptr()*uintptr(g.pick(2)), g.size(), uintptr(g.pick(32)))
	case 62:
		return syscall.SYS_TEE, sc(syscall.SYS_TEE, g.fd(), g.fd(), g.size(), uintptr(g.pick(32)))
	}
	// This thread's affinity: a mask naming CPU 0 (always there), or one
	// that is empty, names CPUs that do not exist, or is unreadable.
	mask := g.slot + 3*page + 128
	putWords(mask, uint64(1|g.r.Uint64()&^1*uint64(g.pick(2))), 0)
	if g.pick(4) == 0 {
		mask = g.hostilePtr()
	}
	r := sc(syscall.SYS_SCHED_SETAFFINITY, 0, uintptr(8*(g.pick(3))), mask)
	putWords(g.slot+3*page+128, 1<<64-1, 0)
	sc(syscall.SYS_SCHED_SETAFFINITY, 0, 8, g.slot+3*page+128) // back to every CPU
	return syscall.SYS_SCHED_SETAFFINITY, r
}

// anyNumber makes any system call not in neverAny with hostile arguments.
// ownCalls are the Velocity calls (ENOSYS on Linux) that random
// arguments may reach: they read or report, and check what they are
// given. The others drive devices, the network server's queue
// (velocity_net_wait would take its requests, velocity_net_reply answer
// them, velocity_net_rights drop the kernel's references) or print pages
// of text.
var ownCalls = []uintptr{
	0x5600, // velocity_info
	0x5606, // velocity_prof_stats
	0x5607, // velocity_locks
	0x5609, // velocity_syscalls
	0x5613, // velocity_net_ready: a sid and an identity that must agree
	0x5616, // velocity_net_hold: a call id that must be in flight
	0x5617, // velocity_net_accept: a listener's identity, or a sid that must be reserved
	0x5637, // velocity_net_stat
}

func (g *gen) anyNumber() (uintptr, syscall.Errno) {
	var nr uintptr
	for {
		nr = uintptr(g.pick(336))
		switch g.pick(16) {
		case 0, 1:
			nr = uintptr(424 + g.pick(40))
		case 2:
			nr = ownCalls[g.pick(len(ownCalls))]
		}
		if !neverAny[nr] {
			break
		}
	}
	var a [6]uintptr
	for i := range a {
		a[i] = g.value()
	}
	if tracing {
		fmt.Printf("random: syscall %d(%#x)\n", nr, a)
	}
	_, _, err := syscall.RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	return nr, err
}

// traceFrom, if not negative, prints every call from that index on (to
// find the call a failing seed stops at).
var traceFrom = -1

type outcome struct {
	nr  uintptr
	err syscall.Errno
}

// run makes n calls, counting their outcomes.
func (g *gen) run(n int, outcomes map[outcome]int, progress bool) {
	start := time.Now()
	for i := 0; i < n; i++ {
		var nr uintptr
		var err syscall.Errno
		tracing = traceFrom >= 0 && i >= traceFrom
		if g.pick(2) == 0 {
			nr, err = g.aimed()
		} else {
			nr, err = g.anyNumber()
		}
		outcomes[outcome{nr, err}]++
		if tracing {
			fmt.Printf("random: call %d: %d -> %s\n", i, nr, result(err))
		}
		if progress && (i+1)%20000 == 0 {
			fmt.Printf("random: %d calls, %d distinct outcomes, %.1fs\n", i+1, len(outcomes), time.Since(start).Seconds())
		}
	}
}

// release closes and unmaps what the calls made.
func (g *gen) release() {
	for _, fd := range g.created {
		if err := sc(syscall.SYS_CLOSE, uintptr(fd)); err != 0 {
			fail("close of fd %d the random phase opened: %v", fd, err)
		}
	}
	for i := 0; i < len(g.maps); i += 2 {
		if err := sc(syscall.SYS_MUNMAP, g.maps[i], g.maps[i+1]); err != 0 {
			fail("munmap of %#x the random phase mapped: %v", g.maps[i], err)
		}
	}
}

// guardedScratch maps 4 writable pages between two PROT_NONE pages.
func guardedScratch() uintptr {
	g := mmap(6*page, syscall.PROT_READ|syscall.PROT_WRITE)
	for _, a := range []uintptr{g, g + 5*page} {
		if _, _, err := syscall.RawSyscall(syscall.SYS_MPROTECT, a, page, syscall.PROT_NONE); err != 0 {
			fail("mprotect guard: %v", err)
		}
	}
	return g + page
}

// randomPhase makes n random calls from threads threads (each on its own
// OS thread, with its own generator, slot and fds), then checks that the
// program still works. One thread makes the same calls for the same seed.
func randomPhase(n int, seed uint64, threads int) {
	e := setup()
	// Let the runtime open what it opens (the network poller's epoll and
	// eventfd) before the phase starts, so every fd it may name is known.
	pr, pw, err := os.Pipe()
	if err != nil {
		fail("os.Pipe: %v", err)
	}
	pr.Close()
	pw.Close()
	time.Sleep(time.Millisecond)
	// Keep the hole after e.edge unusable: the phase's own mmaps could
	// otherwise fill it, and a "hostile" pointer there would become
	// memory whose contents nobody chose (a timespec of centuries).
	if _, err := sc1(syscall.SYS_MMAP, e.edge, page, syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_FIXED, allOnes, 0); err != 0 {
		fail("mmap over the hole: %v", err)
	}
	if threads < 1 {
		threads = 1
	}
	if threads > 1 {
		traceFrom = -1 // one trace at a time
	}
	start := time.Now()
	gens := make([]*gen, threads)
	counts := make([]map[outcome]int, threads)
	for i := range gens {
		slot := e.scratch
		if i > 0 {
			slot = guardedScratch()
		}
		gens[i] = &gen{r: mrand.New(mrand.NewPCG(seed, seed^0x5eed+uint64(i))), e: e, slot: slot, maxMaps: max(96/threads, 8), fdBase: 3000 + 16*i}
		counts[i] = map[outcome]int{}
	}
	var wg sync.WaitGroup
	for i := range gens {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			gens[i].run(n/threads, counts[i], i == 0)
		}(i)
	}
	wg.Wait()
	outcomes := map[outcome]int{}
	for _, c := range counts {
		for k, v := range c {
			outcomes[k] += v
		}
	}
	// A compact summary: per call, its errnos and counts.
	per := map[uintptr][]string{}
	for k, c := range outcomes {
		per[k.nr] = append(per[k.nr], fmt.Sprintf("%s:%d", result(k.err), c))
	}
	var nrs []int
	for nr := range per {
		nrs = append(nrs, int(nr))
	}
	sort.Ints(nrs)
	var line []string
	for _, nr := range nrs {
		sort.Strings(per[uintptr(nr)])
		line = append(line, fmt.Sprintf("%d[%s]", nr, strings.Join(per[uintptr(nr)], " ")))
	}
	fmt.Printf("random: seed %d: %d calls from %d threads to %d system call numbers, %d distinct outcomes in %.1fs\n",
		seed, n/threads*threads, threads, len(nrs), len(outcomes), time.Since(start).Seconds())
	fmt.Printf("random: outcomes %s\n", strings.Join(line, " "))
	// Give back what the phase made, then check the program still works.
	for _, g := range gens {
		g.release()
	}
	removeMade(e)
	alive()
}

// removeMade deletes the files the random phase made under e.tmpDir (the
// r0-r39 names, and FIFOs) and empties e.tmpFile, which random writes and
// truncations may have grown: otherwise what they hold stays in /tmp,
// and a phase that happened to fill it left alive's own write with
// ENOSPC (seen once at 4 threads). Linux's /tmp is a disk; Velocity's is
// RAM with a budget.
func removeMade(e *env) {
	names, err := os.ReadDir(e.tmpDir)
	if err != nil {
		fail("random: reading %s: %v", e.tmpDir, err)
	}
	for _, d := range names {
		if n := d.Name(); strings.HasPrefix(n, "r") || strings.HasPrefix(n, "fifo") {
			if err := os.RemoveAll(e.tmpDir + "/" + n); err != nil {
				fail("random: removing %s: %v", n, err)
			}
		}
	}
	if err := sc(syscall.SYS_FTRUNCATE, uintptr(e.tmpFile), 0); err != 0 {
		fail("random: emptying the shared file: %v", err)
	}
}

// alive checks that the program still works after the random phase:
// the heap and the collector, goroutines and channels across threads,
// timers, pipes through the network poller, files under /tmp and random
// numbers.
func alive() {
	var keep [][]byte
	for i := 0; i < 64; i++ {
		b := make([]byte, 1<<20)
		b[i] = byte(i)
		keep = append(keep, b)
		if i%8 == 0 {
			keep = keep[:0]
		}
	}
	runtime.GC()
	debug.FreeOSMemory()

	var wg sync.WaitGroup
	ch := make(chan int)
	sum := 0
	done := make(chan bool)
	go func() {
		for v := range ch {
			sum += v
		}
		done <- true
	}()
	for g := 0; g < 100; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				ch <- g
			}
		}(g)
	}
	wg.Wait()
	close(ch)
	<-done
	if sum != 10*99*100/2 {
		fail("alive: channel sum %d", sum)
	}

	t0 := time.Now()
	time.Sleep(20 * time.Millisecond)
	if d := time.Since(t0); d < 20*time.Millisecond || d > 5*time.Second {
		fail("alive: sleep of 20ms took %v", d)
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		fail("alive: pipe: %v", err)
	}
	go func() {
		pw.Write([]byte("ping"))
		pw.Close()
	}()
	pr.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [8]byte
	if n, err := pr.Read(b[:]); err != nil || string(b[:n]) != "ping" {
		fail("alive: pipe read %q, %v", b[:n], err)
	}
	pr.Close()

	dir, err := os.MkdirTemp("", "alive")
	if err != nil {
		fail("alive: %v", err)
	}
	f := dir + "/check"
	if err := os.WriteFile(f, []byte("still here"), 0o600); err != nil {
		fail("alive: %v", err)
	}
	if got, err := os.ReadFile(f); err != nil || string(got) != "still here" {
		fail("alive: read back %q, %v", got, err)
	}
	os.RemoveAll(dir)

	var r [32]byte
	if _, err := rand.Read(r[:]); err != nil || r == [32]byte{} {
		fail("alive: crypto/rand: %v", err)
	}
	fmt.Println("random: alive: heap, GC, goroutines, channels, timers, pipes, /tmp and getrandom work")
}

// dup makes one of the dup family's calls: the old fd is any (own, made
// here, or bad), the new one a bad fd, a free number of this thread's, or
// one it made; never one of the program's own fds or another thread's.
func (g *gen) dup() (uintptr, syscall.Errno) {
	target := uintptr(g.fdBase + g.pick(16))
	switch g.pick(3) {
	case 0:
		// Bad as an fd, but not always as a new one: keep those that could
		// name a free fd (below 1<<20, Linux's largest limit) for the
		// range of this thread's own.
		if t := g.badFD(); uint32(t) >= 1<<20 {
			target = t
		}
	case 1:
		if len(g.created) > 0 {
			target = uintptr(g.created[g.pick(len(g.created))])
		}
	}
	var nr uintptr
	var r uintptr
	var err syscall.Errno
	switch g.pick(4) {
	case 0:
		nr = syscall.SYS_DUP
		r, err = sc1(nr, g.fd())
	case 1:
		nr = syscall.SYS_DUP2
		r, err = sc1(nr, g.fd(), target)
	case 2:
		nr = syscall.SYS_DUP3
		flags := [...]uintptr{0, syscall.O_CLOEXEC, syscall.O_NONBLOCK, allOnes}
		r, err = sc1(nr, g.fd(), target, flags[g.pick(len(flags))])
	default:
		nr = syscall.SYS_FCNTL
		cmd := uintptr(0) // F_DUPFD
		if g.pick(2) == 0 {
			cmd = 1030 // F_DUPFD_CLOEXEC
		}
		// The lowest free fd at or above the argument: from 0, or a bad
		// one; from this thread's range it could spill into another's.
		from := uintptr(0)
		if t := g.badFD(); uint32(t) >= 1<<20 && g.pick(2) == 0 {
			from = t
		}
		r, err = sc1(nr, g.fd(), cmd, from)
	}
	if err == 0 {
		g.addFD(r)
	}
	return nr, err
}
