// Command hostile calls the kernel with hostile arguments and prints what
// it answers. The same static binary runs on the Linux host and inside
// Velocity, and tests/syscalls compares the two case by case.
//
// Usage:
//
//	hostile -cases                       one line per case: "case NAME RESULT"
//	hostile -random N -seed S [-threads T]
//	                                     N random hostile calls (from T threads
//	                                     at once), then checks that the
//	                                     program still works
//
// RESULT is "ok" or the errno's name (EFAULT, EBADF, ...). Pointers are
// nil, unmapped, PROT_NONE, read-only, non-canonical, in the kernel half,
// or ranges that start in mapped memory and run into one of those; fds
// are negative, closed, out of any table, or carry junk in the upper 32
// bits; sizes and flags are out of range.
//
// The random phase never passes a pointer to memory the Go runtime owns:
// only its own scratch pages and hostile addresses, so that whatever the
// kernel writes cannot corrupt the program, and a failure is the kernel's.
// It leaves out calls that would legitimately end or stall the program
// (exit, kill of itself, blocking reads and waits, changing its signal
// handlers, TLS or mappings it does not own).
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unsafe"
)

const page = 4096

// System calls package syscall has no number for.
const (
	sysGetrandom  = 318
	sysRenameat2  = 316
	sysFaccessat2 = 439
)

// Hostile addresses.
const (
	nonCanonLow  = uintptr(0x0000800000000000) // first non-canonical address
	nonCanonHigh = uintptr(0x8000000000000000)
	kernelHalf   = uintptr(0xffff800000000000) // Linux's direct map; Velocity's too
	kernelStacks = uintptr(0xffffc00000000000) // Velocity's kernel stacks
	kernelTop    = uintptr(0xfffffffffffff000)
	allOnes      = ^uintptr(0)
)

// env holds what the cases point at.
type env struct {
	scratch uintptr // 4 writable pages owned by this program (no Go pointers)
	edge    uintptr // first byte of an unmapped page right after a writable one
	none    uintptr // a PROT_NONE page
	ro      uintptr // a read-only page (holds a NUL-terminated "/" at its start)
	text    uintptr // the program's own code: read-only on Linux
	pipeR   int
	pipeW   int
	root    int // "/" opened O_RDONLY|O_DIRECTORY
	tmpDir  string
	tmpFile int // a file in tmpDir, O_RDWR
	roFile  int // the same file, O_RDONLY
	ep      int // an epoll instance
	efd     int // a nonblocking eventfd
	closed  int // an fd number that was opened and closed
}

// regions are the program's own mappings, which it writes through
// slices (never through an integer turned into a pointer).
var regions [][]byte

func mmap(n uintptr, prot int) uintptr {
	b, err := syscall.Mmap(-1, 0, int(n), prot, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		fail("mmap: %v", err)
	}
	regions = append(regions, b)
	return uintptr(unsafe.Pointer(&b[0]))
}

// mmapFar maps n writable bytes at one of a few fixed remote addresses
// (MAP_FIXED_NOREPLACE: never over anything).
func mmapFar(n uintptr) uintptr {
	for hint := uintptr(0x3f0000000000); hint < 0x3f8000000000; hint += 0x10000000 {
		a, _, err := syscall.RawSyscall6(syscall.SYS_MMAP, hint, n, syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANON|0x100000, allOnes, 0)
		if err == 0 && a == hint {
			p := *(*unsafe.Pointer)(unsafe.Pointer(&a)) // memory of our own, not Go's heap
			regions = append(regions, unsafe.Slice((*byte)(p), n))
			return a
		}
	}
	fail("mmap: no room at the remote hints")
	return 0
}

// bytesAt returns the n bytes at addr, which must lie in a region.
func bytesAt(addr uintptr, n int) []byte {
	for _, r := range regions {
		base := uintptr(unsafe.Pointer(&r[0]))
		if addr >= base && addr+uintptr(n) <= base+uintptr(len(r)) {
			off := int(addr - base)
			return r[off : off+n]
		}
	}
	fail("bytesAt %#x: not the program's own memory", addr)
	return nil
}

// putWords stores 64-bit words at addr; put32s 32-bit ones.
func putWords(addr uintptr, v ...uint64) {
	b := bytesAt(addr, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], x)
	}
}

func put32s(addr uintptr, v ...uint32) {
	b := bytesAt(addr, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
}

func u64(i int64) uint64 { return uint64(i) }

func fail(format string, args ...any) {
	fmt.Printf("hostile: FAIL "+format+"\n", args...)
	os.Exit(1)
}

// cstr returns s as a NUL-terminated C string. The buffer is kept in
// cstrs for the program's life (cases build some of their paths up
// front): a uintptr alone does not keep it alive, and a collection
// between cstr and the system call could free and reuse it (a case then
// acted on another path, now and then). The cases make a few thousand.
func cstr(s string) uintptr {
	b := append([]byte(s), 0)
	cstrs = append(cstrs, b)
	return uintptr(unsafe.Pointer(&b[0]))
}

var cstrs [][]byte

func setup() *env {
	e := &env{}
	// Scratch: 4 writable pages between two PROT_NONE guard pages, so a
	// range that starts in it and runs past it faults instead of reaching
	// memory the Go runtime owns.
	g := mmap(6*page, syscall.PROT_READ|syscall.PROT_WRITE)
	for _, a := range []uintptr{g, g + 5*page} {
		if _, _, err := syscall.RawSyscall(syscall.SYS_MPROTECT, a, page, syscall.PROT_NONE); err != 0 {
			fail("mprotect guard: %v", err)
		}
	}
	e.scratch = g + page
	// The hole: a writable page, then an unmapped one, far below where
	// the kernel (Linux or Velocity, both top-down) places new mappings
	// and far above Go's heap, so nothing the runtime maps later fills it.
	two := mmapFar(2 * page)
	if _, _, err := syscall.RawSyscall(syscall.SYS_MUNMAP, two+page, page, 0); err != 0 {
		fail("munmap: %v", err)
	}
	e.edge = two + page
	e.none = mmap(page, syscall.PROT_NONE)
	e.ro = mmap(page, syscall.PROT_READ|syscall.PROT_WRITE)
	copy(bytesAt(e.ro, 2), "/\x00")
	if _, _, err := syscall.RawSyscall(syscall.SYS_MPROTECT, e.ro, page, syscall.PROT_READ); err != 0 {
		fail("mprotect: %v", err)
	}
	e.text = funcPC()
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		fail("pipe2: %v", err)
	}
	e.pipeR, e.pipeW = p[0], p[1]
	var err error
	if e.root, err = syscall.Open("/", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0); err != nil {
		fail("open /: %v", err)
	}
	if e.tmpDir, err = os.MkdirTemp("/tmp", "hostile"); err != nil {
		fail("%v", err)
	}
	name := e.tmpDir + "/f"
	if e.tmpFile, err = syscall.Open(name, syscall.O_RDWR|syscall.O_CREAT|syscall.O_CLOEXEC, 0o644); err != nil {
		fail("create %s: %v", name, err)
	}
	if _, err := syscall.Write(e.tmpFile, []byte("hostile file contents\n")); err != nil {
		fail("write: %v", err)
	}
	if e.roFile, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != nil {
		fail("open: %v", err)
	}
	if e.ep, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		fail("epoll_create1: %v", err)
	}
	r, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		fail("eventfd2: %v", errno)
	}
	e.efd = int(r)
	if e.closed, err = syscall.Open("/", syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != nil {
		fail("open: %v", err)
	}
	syscall.Close(e.closed)
	return e
}

//go:noinline
func funcPC() uintptr {
	f := setup
	return **(**uintptr)(unsafe.Pointer(&f))
}

var errnoNames = map[syscall.Errno]string{
	syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.ESRCH: "ESRCH", syscall.EINTR: "EINTR",
	syscall.EIO: "EIO", syscall.EBADF: "EBADF", syscall.EAGAIN: "EAGAIN", syscall.ENOMEM: "ENOMEM",
	syscall.EACCES: "EACCES", syscall.EFAULT: "EFAULT", syscall.EBUSY: "EBUSY", syscall.EEXIST: "EEXIST",
	syscall.EXDEV: "EXDEV", syscall.ENODEV: "ENODEV", syscall.ENOTDIR: "ENOTDIR", syscall.EISDIR: "EISDIR",
	syscall.EINVAL: "EINVAL", syscall.ENFILE: "ENFILE", syscall.EMFILE: "EMFILE", syscall.ENOTTY: "ENOTTY",
	syscall.EFBIG: "EFBIG", syscall.ENOSPC: "ENOSPC", syscall.ESPIPE: "ESPIPE", syscall.EROFS: "EROFS",
	syscall.EPIPE: "EPIPE", syscall.ERANGE: "ERANGE", syscall.ENAMETOOLONG: "ENAMETOOLONG",
	syscall.ENOSYS: "ENOSYS", syscall.ENOTEMPTY: "ENOTEMPTY", syscall.ELOOP: "ELOOP",
	syscall.EOVERFLOW: "EOVERFLOW", syscall.ETIMEDOUT: "ETIMEDOUT", syscall.EOPNOTSUPP: "EOPNOTSUPP",
}

func result(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return fmt.Sprintf("errno%d", int(e))
}

// tracing prints every call before it is made.
var tracing bool

func sc(nr uintptr, a ...uintptr) syscall.Errno {
	var x [6]uintptr
	copy(x[:], a)
	if tracing {
		fmt.Printf("random: syscall %d(%#x)\n", nr, x)
	}
	_, _, e := syscall.RawSyscall6(nr, x[0], x[1], x[2], x[3], x[4], x[5])
	return e
}

// sc1 also returns the result register.
func sc1(nr uintptr, a ...uintptr) (uintptr, syscall.Errno) {
	var x [6]uintptr
	copy(x[:], a)
	if tracing {
		fmt.Printf("random: syscall %d(%#x)\n", nr, x)
	}
	r, _, e := syscall.RawSyscall6(nr, x[0], x[1], x[2], x[3], x[4], x[5])
	return r, e
}

type testCase struct {
	name string
	run  func(e *env) syscall.Errno
}

// u turns an int (a negative fd, -1 for "no change") into a register.
func u(i int) uintptr { return uintptr(i) }

// badFDs are fd values that name no open file, as Linux reads them (an
// unsigned int: the upper 32 bits of the register are ignored).
func badFDs(e *env) []struct {
	name string
	fd   uintptr
} {
	return []struct {
		name string
		fd   uintptr
	}{
		{"minus1", allOnes},
		{"minus1_32", 0xffffffff},
		{"int32min", 0x80000000},
		{"closed", u(e.closed)},
		{"200", 200},
		{"256", 256},
		{"1M", 1 << 20},
		{"high_closed", 1<<32 | u(e.closed)},
		{"high_200", 0xdead_0000_0000_0000 | 200},
	}
}

func cases(e *env) []testCase {
	var cs []testCase
	add := func(name string, run func(e *env) syscall.Errno) { cs = append(cs, testCase{name, run}) }
	buf := e.scratch
	partial := e.edge - 4 // 4 mapped bytes, then the unmapped page

	// Bad file descriptors, for every call that takes one.
	for _, b := range badFDs(e) {
		fd := b.fd
		add("read/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_READ, fd, buf, 16) })
		add("write/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_WRITE, fd, buf, 16) })
		add("pread64/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_PREAD64, fd, buf, 16, 0) })
		add("pwrite64/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_PWRITE64, fd, buf, 16, 0) })
		add("close/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_CLOSE, fd) })
		add("fstat/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_FSTAT, fd, buf) })
		add("lseek/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_LSEEK, fd, 0, 0) })
		add("fsync/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_FSYNC, fd) })
		add("fdatasync/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_FDATASYNC, fd) })
		add("ftruncate/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_FTRUNCATE, fd, 0) })
		add("fcntl_getfl/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_FCNTL, fd, syscall.F_GETFL) })
		add("fchmod/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_FCHMOD, fd, 0o644) })
		add("fchown/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_FCHOWN, fd, 0, 0) })
		add("fchdir/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_FCHDIR, fd) })
		add("getdents64/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_GETDENTS64, fd, buf, 4096) })
		add("ioctl/fd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_IOCTL, fd, syscall.TCGETS, buf) })
		add("writev/fd_"+b.name, func(e *env) syscall.Errno {
			putWords(buf+1024, uint64(buf), uint64(8))
			return sc(syscall.SYS_WRITEV, fd, buf+1024, 1)
		})
		add("openat/dirfd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_OPENAT, fd, cstr("x"), syscall.O_RDONLY) })
		add("newfstatat/dirfd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_NEWFSTATAT, fd, cstr("x"), buf, 0) })
		add("newfstatat_empty/dirfd_"+b.name, func(*env) syscall.Errno {
			return sc(syscall.SYS_NEWFSTATAT, fd, cstr(""), buf, 0x1000)
		})
		add("mkdirat/dirfd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_MKDIRAT, fd, cstr("x"), 0o755) })
		add("unlinkat/dirfd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_UNLINKAT, fd, cstr("x"), 0) })
		add("faccessat/dirfd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_FACCESSAT, fd, cstr("x"), 0) })
		add("fchownat/dirfd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_FCHOWNAT, fd, cstr("x"), 0, 0, 0) })
		add("fchmodat/dirfd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_FCHMODAT, fd, cstr("x"), 0o644) })
		add("readlinkat/dirfd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_READLINKAT, fd, cstr("x"), buf, 64) })
		add("epoll_ctl/epfd_"+b.name, func(e *env) syscall.Errno {
			return sc(syscall.SYS_EPOLL_CTL, fd, syscall.EPOLL_CTL_ADD, u(e.pipeR), buf)
		})
		add("epoll_ctl/fd_"+b.name, func(e *env) syscall.Errno {
			put32s(buf, syscall.EPOLLIN, 0, 0)
			return sc(syscall.SYS_EPOLL_CTL, u(e.ep), syscall.EPOLL_CTL_ADD, fd, buf)
		})
		add("epoll_pwait/epfd_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_EPOLL_PWAIT, fd, buf, 1, 0, 0, 8) })
		add("mmap_file/fd_"+b.name, func(*env) syscall.Errno {
			return sc(syscall.SYS_MMAP, 0, page, syscall.PROT_READ, syscall.MAP_PRIVATE, fd, 0)
		})
	}

	// Bad pointers.
	type ptr struct {
		name string
		p    uintptr
	}
	ptrs := []ptr{
		{"nil", 0},
		{"low", 0x1000},
		{"unmapped", e.edge},
		{"partial", partial},
		{"protnone", e.none},
		{"noncanon", nonCanonLow},
		{"noncanon_high", nonCanonHigh},
		{"kernel", kernelHalf},
		{"kstacks", kernelStacks},
		{"kernel_top", kernelTop},
		{"minus1", allOnes},
		{"before_noncanon", nonCanonLow - 8}, // 8 bytes below the hole: partly user, partly not
	}
	// Calls that write a struct to the pointer: all must say EFAULT.
	for _, p := range append(ptrs, ptr{"readonly", e.ro}, ptr{"text", e.text}) {
		p, name := p.p, p.name
		add("clock_gettime/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_CLOCK_GETTIME, 1, p) })
		add("clock_getres/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_CLOCK_GETRES, 1, p) })
		add("gettimeofday/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_GETTIMEOFDAY, p, 0) })
		add("time/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_TIME, p) })
		add("uname/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_UNAME, p) })
		add("fstat/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_FSTAT, u(e.roFile), p) })
		add("newfstatat_buf/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_NEWFSTATAT, allOnes-99, cstr("/"), p, 0) })
		add("getcwd/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_GETCWD, p, 4096) })
		add("poll/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_POLL, p, 1, 0) })
		add("ppoll/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_PPOLL, p, 1, 0, 0, 8) })
		add("getrandom/"+name, func(*env) syscall.Errno { return sc(sysGetrandom, p, 16, 0) })
		add("pipe2/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_PIPE2, p, syscall.O_CLOEXEC) })
		add("sched_getaffinity/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_SCHED_GETAFFINITY, 0, 8, p) })
		add("prlimit64_old/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_PRLIMIT64, 0, syscall.RLIMIT_NOFILE, 0, p) })
		add("getrlimit/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_GETRLIMIT, syscall.RLIMIT_NOFILE, p) })
		add("getrusage_self/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_GETRUSAGE, 0, p) })
		add("mincore_vec/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_MINCORE, e.scratch, 4096, p) })
		add("getrusage_thread/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_GETRUSAGE, 1, p) })
		add("arch_prctl_getfs/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_ARCH_PRCTL, 0x1003, p) })
		add("getcpu/"+name, func(*env) syscall.Errno { return sc(309, p, 0, 0) })
		add("rt_sigprocmask_old/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_RT_SIGPROCMASK, 0, 0, p, 8) })
		add("rt_sigaction_old/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGUSR1), 0, p, 8) })
		add("sigaltstack_old/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_SIGALTSTACK, 0, p) })
		add("read_file/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_PREAD64, u(e.roFile), p, 16, 0) })
		add("read_root_file/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_GETDENTS64, u(e.root), p, 4096) })
		add("epoll_pwait/"+name, func(e *env) syscall.Errno {
			sc(syscall.SYS_WRITE, u(e.efd), buf, 8) // make the eventfd ready: there is an event to store
			putWords(buf, 1)
			sc(syscall.SYS_WRITE, u(e.efd), buf, 8)
			put32s(buf, syscall.EPOLLIN, 0, 0)
			sc(syscall.SYS_EPOLL_CTL, u(e.ep), syscall.EPOLL_CTL_ADD, u(e.efd), buf)
			r := sc(syscall.SYS_EPOLL_PWAIT, u(e.ep), p, 1, 0, 0, 8)
			sc(syscall.SYS_EPOLL_CTL, u(e.ep), syscall.EPOLL_CTL_DEL, u(e.efd), 0)
			sc(syscall.SYS_READ, u(e.efd), buf, 8)
			return r
		})
	}
	// Calls that read from the pointer: read-only and text are fine.
	for _, p := range ptrs {
		p, name := p.p, p.name
		add("openat_path/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_OPENAT, allOnes-99, p, syscall.O_RDONLY) })
		add("newfstatat_path/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_NEWFSTATAT, allOnes-99, p, buf, 0) })
		add("chdir/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_CHDIR, p) })
		add("select_set/"+name, func(*env) syscall.Errno {
			putWords(buf+128, 0, 0) // a zero timeval: no wait
			return sc(syscall.SYS_SELECT, 64, p, 0, 0, buf+128)
		})
		add("select_timeout/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_SELECT, 0, 0, 0, 0, p) })
		add("pselect6_mask/"+name, func(*env) syscall.Errno {
			putWords(buf+128, 0, 0, uint64(p), 8) // a zero timespec, then the mask's pair
			return sc(syscall.SYS_PSELECT6, 0, 0, 0, 0, buf+128, buf+144)
		})
		add("mkdir/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_MKDIR, p, 0o755) })
		add("unlink/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_UNLINK, p) })
		add("access/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_ACCESS, p, 0) })
		add("readlink/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_READLINK, p, buf, 64) })
		add("chown/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_CHOWN, p, 0, 0) })
		add("truncate/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_TRUNCATE, p, 0) })
		add("nanosleep/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_NANOSLEEP, p, 0) })
		add("clock_nanosleep/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_CLOCK_NANOSLEEP, 1, 0, p, 0) })
		add("write_pipe/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_WRITE, u(e.pipeW), p, 16) })
		add("write_tmpfile/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_PWRITE64, u(e.tmpFile), p, 16, 0) })
		add("writev_iov/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_WRITEV, u(e.pipeW), p, 1) })
		add("writev_base/"+name, func(e *env) syscall.Errno {
			putWords(buf+2048, uint64(p), uint64(16))
			return sc(syscall.SYS_WRITEV, u(e.pipeW), buf+2048, 1)
		})
		add("rt_sigaction_new/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGUSR1), p, 0, 8) })
		add("rt_sigprocmask_new/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_RT_SIGPROCMASK, 0, p, 0, 8) })
		add("sched_setaffinity/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_SCHED_SETAFFINITY, 0, 8, p) })
		add("epoll_ctl_event/"+name, func(e *env) syscall.Errno {
			return sc(syscall.SYS_EPOLL_CTL, u(e.ep), syscall.EPOLL_CTL_ADD, u(e.pipeR), p)
		})
		add("futex_wait/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_FUTEX, p, 0x80, 0, 0) }) // FUTEX_WAIT_PRIVATE, val 0
		add("futex_wake/"+name, func(*env) syscall.Errno { return sc(syscall.SYS_FUTEX, p, 0x81, 1, 0) }) // FUTEX_WAKE_PRIVATE: nobody waits
		add("eventfd_write/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_WRITE, u(e.efd), p, 8) })
		add("link_old/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_LINK, p, cstr(e.tmpDir+"/l")) })
		add("link_new/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_LINK, cstr(e.tmpDir+"/f"), p) })
		add("symlink_target/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_SYMLINK, p, cstr(e.tmpDir+"/l")) })
		add("symlink_name/"+name, func(e *env) syscall.Errno { return sc(syscall.SYS_SYMLINK, cstr("x"), p) })
	}
	// A read from a pipe that holds data, into a bad buffer: EFAULT, and
	// the data stays (it is drained afterwards).
	for _, p := range ptrs {
		p, name := p.p, p.name
		add("read_pipe/"+name, func(e *env) syscall.Errno {
			sc(syscall.SYS_WRITE, u(e.pipeW), cstr("0123456789abcdef"), 16)
			r := sc(syscall.SYS_READ, u(e.pipeR), p, 16)
			for sc(syscall.SYS_READ, u(e.pipeR), buf, 4096) == 0 {
			}
			return r
		})
	}

	// Sizes, flags and values.
	add("path/too_long", func(*env) syscall.Errno {
		return sc(syscall.SYS_OPENAT, allOnes-99, cstr("/"+strings.Repeat("a", 5000)), syscall.O_RDONLY)
	})
	add("path/component_too_long", func(*env) syscall.Errno {
		return sc(syscall.SYS_OPENAT, allOnes-99, cstr("/tmp/"+strings.Repeat("a", 300)), syscall.O_RDONLY)
	})
	add("path/empty", func(*env) syscall.Errno { return sc(syscall.SYS_OPENAT, allOnes-99, cstr(""), syscall.O_RDONLY) })
	add("path/missing", func(*env) syscall.Errno {
		return sc(syscall.SYS_OPENAT, allOnes-99, cstr("/no/such/file"), syscall.O_RDONLY)
	})
	add("path/unterminated_readonly", func(e *env) syscall.Errno {
		return sc(syscall.SYS_OPENAT, allOnes-99, e.edge-3, syscall.O_RDONLY) // "\0\0\0" then the hole: the empty path
	})
	add("path/unterminated", func(e *env) syscall.Errno {
		copy(bytesAt(e.edge-3, 3), "abc")
		return sc(syscall.SYS_OPENAT, allOnes-99, e.edge-3, syscall.O_RDONLY)
	})
	add("openat/root_for_writing", func(*env) syscall.Errno { return sc(syscall.SYS_OPENAT, allOnes-99, cstr("/"), syscall.O_WRONLY) })
	add("openat/tmpdir_for_writing", func(e *env) syscall.Errno { return sc(syscall.SYS_OPENAT, allOnes-99, cstr(e.tmpDir), syscall.O_RDWR) })
	add("openat/file_as_directory", func(e *env) syscall.Errno {
		return sc(syscall.SYS_OPENAT, allOnes-99, cstr(e.tmpDir+"/f"), syscall.O_RDONLY|syscall.O_DIRECTORY)
	})
	add("openat/excl_existing", func(e *env) syscall.Errno {
		return sc(syscall.SYS_OPENAT, allOnes-99, cstr(e.tmpDir+"/f"), syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL, 0o600)
	})
	add("openat/create_in_missing_dir", func(e *env) syscall.Errno {
		return sc(syscall.SYS_OPENAT, allOnes-99, cstr(e.tmpDir+"/nodir/f"), syscall.O_RDWR|syscall.O_CREAT, 0o600)
	})
	add("openat/relative_to_file", func(e *env) syscall.Errno { return sc(syscall.SYS_OPENAT, u(e.roFile), cstr("x"), syscall.O_RDONLY) })
	add("read/directory", func(e *env) syscall.Errno { return sc(syscall.SYS_READ, u(e.root), buf, 16) })
	add("write/readonly_fd", func(e *env) syscall.Errno { return sc(syscall.SYS_WRITE, u(e.roFile), buf, 16) })
	add("read/write_end_of_pipe", func(e *env) syscall.Errno { return sc(syscall.SYS_READ, u(e.pipeW), buf, 16) })
	add("write/read_end_of_pipe", func(e *env) syscall.Errno { return sc(syscall.SYS_WRITE, u(e.pipeR), buf, 16) })
	add("read/empty_nonblocking_pipe", func(e *env) syscall.Errno { return sc(syscall.SYS_READ, u(e.pipeR), buf, 16) })
	// A count of 0 with a buffer in the last page: nothing is touched,
	// Linux returns 0 (the kernel once walked on past the top of the
	// address space looking for pages to fault in, and never returned).
	add("read/pipe_zero_count_top_page", func(e *env) syscall.Errno { return sc(syscall.SYS_READ, u(e.pipeR), 0xfffffffffffffda5, 0) })
	add("write/pipe_zero_count_top_page", func(e *env) syscall.Errno { return sc(syscall.SYS_WRITE, u(e.pipeW), 0xfffffffffffffda5, 0) })
	add("read/huge_count_file", func(e *env) syscall.Errno { return sc(syscall.SYS_PREAD64, u(e.roFile), buf, 1<<62, 0) })
	add("pread64/negative_offset", func(e *env) syscall.Errno { return sc(syscall.SYS_PREAD64, u(e.roFile), buf, 16, allOnes) })
	add("pwrite64/negative_offset", func(e *env) syscall.Errno { return sc(syscall.SYS_PWRITE64, u(e.tmpFile), buf, 16, allOnes-4095) })
	add("pwrite64/pipe", func(e *env) syscall.Errno { return sc(syscall.SYS_PWRITE64, u(e.pipeW), buf, 16, 0) })
	add("pwrite64/readonly_fd", func(e *env) syscall.Errno { return sc(syscall.SYS_PWRITE64, u(e.roFile), buf, 16, 0) })
	add("pwrite64/directory", func(e *env) syscall.Errno { return sc(syscall.SYS_PWRITE64, u(e.root), buf, 16, 0) })
	add("pwrite64/eventfd", func(e *env) syscall.Errno { return sc(syscall.SYS_PWRITE64, u(e.efd), buf, 8, 0) })
	add("pwrite64/dev_null", func(e *env) syscall.Errno {
		fd, err := syscall.Open("/dev/null", syscall.O_WRONLY, 0)
		if err != nil {
			return err.(syscall.Errno)
		}
		defer syscall.Close(fd)
		return sc(syscall.SYS_PWRITE64, u(fd), buf, 16, 0)
	})
	add("pread64/pipe", func(e *env) syscall.Errno { return sc(syscall.SYS_PREAD64, u(e.pipeR), buf, 16, 0) })
	add("lseek/pipe", func(e *env) syscall.Errno { return sc(syscall.SYS_LSEEK, u(e.pipeR), 0, 0) })
	add("lseek/bad_whence", func(e *env) syscall.Errno { return sc(syscall.SYS_LSEEK, u(e.roFile), 0, 7) })
	add("lseek/negative", func(e *env) syscall.Errno { return sc(syscall.SYS_LSEEK, u(e.roFile), allOnes, 0) })
	add("ftruncate/negative", func(e *env) syscall.Errno { return sc(syscall.SYS_FTRUNCATE, u(e.tmpFile), allOnes) })
	add("ftruncate/readonly_fd", func(e *env) syscall.Errno { return sc(syscall.SYS_FTRUNCATE, u(e.roFile), 0) })
	add("ftruncate/pipe", func(e *env) syscall.Errno { return sc(syscall.SYS_FTRUNCATE, u(e.pipeW), 0) })
	add("truncate/negative", func(e *env) syscall.Errno { return sc(syscall.SYS_TRUNCATE, cstr(e.tmpDir+"/f"), allOnes) })
	add("getdents64/not_a_directory", func(e *env) syscall.Errno { return sc(syscall.SYS_GETDENTS64, u(e.roFile), buf, 4096) })
	add("getdents64/tiny_buffer", func(e *env) syscall.Errno {
		fd, err := syscall.Open(e.tmpDir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		if err != nil {
			return err.(syscall.Errno)
		}
		defer syscall.Close(fd)
		return sc(syscall.SYS_GETDENTS64, u(fd), buf, 1)
	})
	add("getcwd/zero_size", func(*env) syscall.Errno { return sc(syscall.SYS_GETCWD, buf, 0) })
	add("getcwd/one_byte", func(*env) syscall.Errno { return sc(syscall.SYS_GETCWD, buf, 1) })
	add("readlink/not_a_link", func(*env) syscall.Errno { return sc(syscall.SYS_READLINK, cstr("/"), buf, 64) })
	add("readlink/zero_size", func(*env) syscall.Errno { return sc(syscall.SYS_READLINK, cstr("/"), buf, 0) })
	add("access/bad_mode", func(*env) syscall.Errno { return sc(syscall.SYS_ACCESS, cstr("/"), 0x10) })
	add("faccessat/bad_flags", func(*env) syscall.Errno { return sc(sysFaccessat2, allOnes-99, cstr("/"), 0, 0x1) })
	add("fchownat/bad_flags", func(*env) syscall.Errno { return sc(syscall.SYS_FCHOWNAT, allOnes-99, cstr("/"), 0, 0, 0x4000) })
	add("chown/missing", func(*env) syscall.Errno { return sc(syscall.SYS_CHOWN, cstr("/no/such/file"), 0, 0) })
	add("fchown/pipe_nochange", func(e *env) syscall.Errno { return sc(syscall.SYS_FCHOWN, u(e.tmpFile), allOnes, allOnes) })
	add("unlinkat/bad_flags", func(e *env) syscall.Errno { return sc(syscall.SYS_UNLINKAT, allOnes-99, cstr(e.tmpDir+"/nope"), 0x1) })
	add("unlinkat/missing", func(e *env) syscall.Errno { return sc(syscall.SYS_UNLINKAT, allOnes-99, cstr(e.tmpDir+"/nope"), 0) })
	add("rmdir/not_empty", func(e *env) syscall.Errno { return sc(syscall.SYS_RMDIR, cstr(e.tmpDir)) })
	add("rmdir/file", func(e *env) syscall.Errno { return sc(syscall.SYS_RMDIR, cstr(e.tmpDir+"/f")) })
	add("unlink/directory", func(e *env) syscall.Errno { return sc(syscall.SYS_UNLINK, cstr(e.tmpDir)) })
	add("mkdir/existing", func(e *env) syscall.Errno { return sc(syscall.SYS_MKDIR, cstr(e.tmpDir), 0o755) })
	add("mkdir/root", func(*env) syscall.Errno { return sc(syscall.SYS_MKDIR, cstr("/"), 0o755) })
	add("rename/missing", func(e *env) syscall.Errno {
		return sc(syscall.SYS_RENAME, cstr(e.tmpDir+"/nope"), cstr(e.tmpDir+"/nope2"))
	})
	add("renameat2/bad_flags", func(e *env) syscall.Errno {
		return sc(sysRenameat2, allOnes-99, cstr(e.tmpDir+"/f"), allOnes-99, cstr(e.tmpDir+"/g"), 0x80)
	})
	add("link/missing", func(e *env) syscall.Errno { return sc(syscall.SYS_LINK, cstr(e.tmpDir+"/nope"), cstr(e.tmpDir+"/l")) })
	add("link/existing_name", func(e *env) syscall.Errno { return sc(syscall.SYS_LINK, cstr(e.tmpDir+"/f"), cstr(e.tmpDir)) })
	add("link/into_missing_dir", func(e *env) syscall.Errno {
		return sc(syscall.SYS_LINK, cstr(e.tmpDir+"/f"), cstr(e.tmpDir+"/nodir/l"))
	})
	add("link/in_tmp", func(e *env) syscall.Errno {
		r := sc(syscall.SYS_LINK, cstr(e.tmpDir+"/f"), cstr(e.tmpDir+"/hard"))
		sc(syscall.SYS_UNLINK, cstr(e.tmpDir+"/hard"))
		return r
	})
	// A hard link keeps the file when the first name goes, and renaming
	// one name of a file onto another leaves both.
	add("link/outlives_first_name", func(e *env) syscall.Errno {
		h1, h2 := cstr(e.tmpDir+"/h1"), cstr(e.tmpDir+"/h2")
		fd, _, _ := syscall.Syscall6(syscall.SYS_OPENAT, allOnes-99, h1, syscall.O_CREAT|syscall.O_WRONLY, 0o644, 0, 0)
		syscall.Close(int(fd))
		sc(syscall.SYS_LINK, h1, h2)
		sc(syscall.SYS_UNLINK, h1)
		r := sc(syscall.SYS_NEWFSTATAT, allOnes-99, h2, buf, 0)
		sc(syscall.SYS_UNLINK, h2)
		return r
	})
	add("link/rename_onto_same_file", func(e *env) syscall.Errno {
		h1, h2 := cstr(e.tmpDir+"/h1"), cstr(e.tmpDir+"/h2")
		fd, _, _ := syscall.Syscall6(syscall.SYS_OPENAT, allOnes-99, h1, syscall.O_CREAT|syscall.O_WRONLY, 0o644, 0, 0)
		syscall.Close(int(fd))
		sc(syscall.SYS_LINK, h1, h2)
		r := sc(syscall.SYS_RENAME, h1, h2)
		if sc(syscall.SYS_NEWFSTATAT, allOnes-99, h1, buf, 0) != 0 {
			r = syscall.ENOENT // Linux leaves both names
		}
		sc(syscall.SYS_UNLINK, h1)
		sc(syscall.SYS_UNLINK, h2)
		return r
	})
	add("link/dir", func(e *env) syscall.Errno { return sc(syscall.SYS_LINK, cstr(e.tmpDir), cstr(e.tmpDir+"/dirlink")) })
	add("linkat/bad_flags", func(e *env) syscall.Errno {
		return sc(syscall.SYS_LINKAT, allOnes-99, cstr(e.tmpDir+"/f"), allOnes-99, cstr(e.tmpDir+"/l"), 0x1)
	})
	add("symlink/empty_target", func(e *env) syscall.Errno { return sc(syscall.SYS_SYMLINK, cstr(""), cstr(e.tmpDir+"/l")) })
	add("symlink/existing_name", func(e *env) syscall.Errno { return sc(syscall.SYS_SYMLINK, cstr("x"), cstr(e.tmpDir+"/f")) })
	add("symlink/into_missing_dir", func(e *env) syscall.Errno { return sc(syscall.SYS_SYMLINK, cstr("x"), cstr(e.tmpDir+"/nodir/l")) })
	add("symlink/in_tmp", func(e *env) syscall.Errno {
		r := sc(syscall.SYS_SYMLINK, cstr("f"), cstr(e.tmpDir+"/soft"))
		sc(syscall.SYS_UNLINK, cstr(e.tmpDir+"/soft"))
		return r
	})
	// Symbolic links in /tmp, followed (or not) as Linux does.
	withLink := func(target string, f func(link uintptr) syscall.Errno) func(*env) syscall.Errno {
		return func(e *env) syscall.Errno {
			link := cstr(e.tmpDir + "/soft")
			sc(syscall.SYS_SYMLINK, cstr(target), link)
			r := f(link)
			sc(syscall.SYS_UNLINK, link)
			return r
		}
	}
	openErr := func(p, flags uintptr) syscall.Errno {
		fd, _, errno := syscall.Syscall6(syscall.SYS_OPENAT, allOnes-99, p, flags, 0, 0, 0)
		if errno == 0 {
			syscall.Close(int(fd))
		}
		return errno
	}
	add("symlink/open_follows", withLink("f", func(l uintptr) syscall.Errno { return openErr(l, syscall.O_RDONLY) }))
	add("symlink/open_nofollow", withLink("f", func(l uintptr) syscall.Errno { return openErr(l, syscall.O_RDONLY|syscall.O_NOFOLLOW) }))
	add("symlink/open_excl", withLink("f", func(l uintptr) syscall.Errno { return openErr(l, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL) }))
	add("symlink/loop", withLink("soft", func(l uintptr) syscall.Errno { return openErr(l, syscall.O_RDONLY) }))
	add("symlink/dangling", withLink("nowhere", func(l uintptr) syscall.Errno { return openErr(l, syscall.O_RDONLY) }))
	add("symlink/to_file_slash", withLink("f/", func(l uintptr) syscall.Errno { return openErr(l, syscall.O_RDONLY) }))
	add("symlink/to_parent_dir", withLink("..", func(l uintptr) syscall.Errno { return openErr(l, syscall.O_RDONLY|syscall.O_DIRECTORY) }))
	add("symlink/readlink", withLink("f", func(l uintptr) syscall.Errno { return sc(syscall.SYS_READLINK, l, buf, 64) }))
	add("symlink/readlink_file", func(e *env) syscall.Errno { return sc(syscall.SYS_READLINK, cstr(e.tmpDir+"/f"), buf, 64) })
	add("symlink/lstat", withLink("nowhere", func(l uintptr) syscall.Errno {
		return sc(syscall.SYS_NEWFSTATAT, allOnes-99, l, buf, 0x100)
	}))
	add("symlink/mkdir_over", withLink("nowhere", func(l uintptr) syscall.Errno { return sc(syscall.SYS_MKDIR, l, 0o755) }))
	// File times under /tmp (utimensat): now, given times, bad ones.
	add("utimensat/now", func(e *env) syscall.Errno { return sc(syscall.SYS_UTIMENSAT, allOnes-99, cstr(e.tmpDir+"/f"), 0, 0) })
	add("utimensat/times", func(e *env) syscall.Errno {
		ts := bytesAt(buf, 32)
		clear(ts)
		ts[0], ts[16] = 1, 2 // atime 1 s, mtime 2 s after the epoch
		return sc(syscall.SYS_UTIMENSAT, allOnes-99, cstr(e.tmpDir+"/f"), buf, 0)
	})
	add("utimensat/bad_nsec", func(e *env) syscall.Errno {
		ts := bytesAt(buf, 32)
		clear(ts)
		ts[8], ts[9], ts[10], ts[11] = 0xff, 0xff, 0xff, 0x7f // tv_nsec far past 999,999,999
		return sc(syscall.SYS_UTIMENSAT, allOnes-99, cstr(e.tmpDir+"/f"), buf, 0)
	})
	add("utimensat/null_path_cwd", func(*env) syscall.Errno { return sc(syscall.SYS_UTIMENSAT, allOnes-99, 0, 0, 0) })
	add("utimensat/bad_flags", func(e *env) syscall.Errno { return sc(syscall.SYS_UTIMENSAT, allOnes-99, cstr(e.tmpDir+"/f"), 0, 0x8) })
	add("utimensat/missing", func(e *env) syscall.Errno { return sc(syscall.SYS_UTIMENSAT, allOnes-99, cstr(e.tmpDir+"/nope"), 0, 0) })
	add("eventfd2/unknown_flag", func(*env) syscall.Errno { return sc(syscall.SYS_EVENTFD2, 0, 2) })
	add("set_robust_list/bad_length", func(*env) syscall.Errno { return sc(syscall.SYS_SET_ROBUST_LIST, buf, 7) })
	add("set_robust_list/valid", func(*env) syscall.Errno {
		clear(bytesAt(buf, 24))
		return sc(syscall.SYS_SET_ROBUST_LIST, buf, 24)
	})
	// The namespace: directories where files are expected and back.
	add("rename/dir_into_itself", func(e *env) syscall.Errno {
		os.Mkdir(e.tmpDir+"/d", 0o755)
		defer os.RemoveAll(e.tmpDir + "/d")
		return sc(syscall.SYS_RENAME, cstr(e.tmpDir+"/d"), cstr(e.tmpDir+"/d/sub"))
	})
	add("rename/file_over_dir", func(e *env) syscall.Errno {
		os.Mkdir(e.tmpDir+"/d", 0o755)
		defer os.RemoveAll(e.tmpDir + "/d")
		return sc(syscall.SYS_RENAME, cstr(e.tmpDir+"/f"), cstr(e.tmpDir+"/d"))
	})
	add("rename/dir_over_file", func(e *env) syscall.Errno {
		os.Mkdir(e.tmpDir+"/d", 0o755)
		defer os.RemoveAll(e.tmpDir + "/d")
		return sc(syscall.SYS_RENAME, cstr(e.tmpDir+"/d"), cstr(e.tmpDir+"/f"))
	})
	add("rename/dir_over_nonempty_dir", func(e *env) syscall.Errno {
		os.MkdirAll(e.tmpDir+"/d", 0o755)
		os.MkdirAll(e.tmpDir+"/e/x", 0o755)
		defer os.RemoveAll(e.tmpDir + "/d")
		defer os.RemoveAll(e.tmpDir + "/e")
		return sc(syscall.SYS_RENAME, cstr(e.tmpDir+"/d"), cstr(e.tmpDir+"/e"))
	})
	add("rename/noreplace_existing", func(e *env) syscall.Errno {
		os.WriteFile(e.tmpDir+"/g", nil, 0o644)
		defer os.Remove(e.tmpDir + "/g")
		return sc(sysRenameat2, allOnes-99, cstr(e.tmpDir+"/f"), allOnes-99, cstr(e.tmpDir+"/g"), 1)
	})
	add("unlink/root", func(*env) syscall.Errno { return sc(syscall.SYS_UNLINK, cstr("/")) })
	add("rmdir/root", func(*env) syscall.Errno { return sc(syscall.SYS_RMDIR, cstr("/")) })
	add("rmdir/dot", func(e *env) syscall.Errno { return sc(syscall.SYS_RMDIR, cstr(e.tmpDir+"/.")) })
	add("truncate/directory", func(e *env) syscall.Errno { return sc(syscall.SYS_TRUNCATE, cstr(e.tmpDir), 0) })
	add("truncate/root", func(*env) syscall.Errno { return sc(syscall.SYS_TRUNCATE, cstr("/"), 0) })
	add("openat/create_directory_flag", func(e *env) syscall.Errno {
		return sc(syscall.SYS_OPENAT, allOnes-99, cstr(e.tmpDir+"/new"), syscall.O_RDWR|syscall.O_CREAT|syscall.O_DIRECTORY, 0o644)
	})
	add("openat/trunc_directory", func(e *env) syscall.Errno {
		return sc(syscall.SYS_OPENAT, allOnes-99, cstr(e.tmpDir), syscall.O_RDONLY|syscall.O_TRUNC)
	})
	add("openat/create_existing_directory", func(e *env) syscall.Errno {
		return sc(syscall.SYS_OPENAT, allOnes-99, cstr(e.tmpDir), syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	})
	add("openat/absolute_ignores_bad_dirfd", func(e *env) syscall.Errno {
		r, err := sc1(syscall.SYS_OPENAT, 1<<20, cstr("/tmp"), syscall.O_RDONLY|syscall.O_DIRECTORY)
		if err == 0 {
			sc(syscall.SYS_CLOSE, r)
		}
		return err
	})
	add("openat/trailing_slash_on_file", func(e *env) syscall.Errno {
		return sc(syscall.SYS_OPENAT, allOnes-99, cstr(e.tmpDir+"/f/"), syscall.O_RDONLY)
	})
	add("mkdir/long_path_in_tmp", func(e *env) syscall.Errno {
		long := e.tmpDir + "/" + strings.Repeat("d", 200)
		os.Mkdir(long, 0o755)
		defer os.RemoveAll(e.tmpDir + "/" + strings.Repeat("d", 200))
		return sc(syscall.SYS_MKDIR, cstr(long+"/"+strings.Repeat("e", 200)), 0o755)
	})
	add("mkdir/in_missing_dir", func(e *env) syscall.Errno { return sc(syscall.SYS_MKDIR, cstr(e.tmpDir+"/nodir/x"), 0o755) })
	add("mkdir/under_file", func(e *env) syscall.Errno { return sc(syscall.SYS_MKDIR, cstr(e.tmpDir+"/f/x"), 0o755) })
	add("newfstatat/bad_flags", func(e *env) syscall.Errno { return sc(syscall.SYS_NEWFSTATAT, allOnes-99, cstr("/"), buf, 0x1) })
	add("newfstatat/under_file", func(e *env) syscall.Errno {
		return sc(syscall.SYS_NEWFSTATAT, allOnes-99, cstr(e.tmpDir+"/f/x"), buf, 0)
	})
	add("fchmodat2/bad_flags", func(e *env) syscall.Errno { return sc(452, allOnes-99, cstr(e.tmpDir+"/f"), 0o644, 0x1) })
	add("readlink/zero_size_bad_path", func(*env) syscall.Errno { return sc(syscall.SYS_READLINK, 0, buf, 0) })
	add("lseek/seek_data", func(e *env) syscall.Errno { return sc(syscall.SYS_LSEEK, u(e.roFile), 0, 3) })
	add("lseek/seek_hole", func(e *env) syscall.Errno { return sc(syscall.SYS_LSEEK, u(e.roFile), 0, 4) })
	add("lseek/seek_data_past_end", func(e *env) syscall.Errno { return sc(syscall.SYS_LSEEK, u(e.roFile), 1000, 3) })
	add("sigaltstack/bad_flags", func(*env) syscall.Errno {
		putWords(buf+512, uint64(buf), 0x1234, 1<<16)
		return sc(syscall.SYS_SIGALTSTACK, buf+512, 0)
	})
	add("sigaltstack/too_small", func(*env) syscall.Errno {
		putWords(buf+512, uint64(buf), 0, 16)
		return sc(syscall.SYS_SIGALTSTACK, buf+512, 0)
	})
	add("chdir/file", func(e *env) syscall.Errno { return sc(syscall.SYS_CHDIR, cstr(e.tmpDir+"/f")) })
	add("fchdir/file", func(e *env) syscall.Errno { return sc(syscall.SYS_FCHDIR, u(e.roFile)) })
	add("fchdir/pipe", func(e *env) syscall.Errno { return sc(syscall.SYS_FCHDIR, u(e.pipeR)) })
	add("fchdir/root", func(e *env) syscall.Errno {
		r := sc(syscall.SYS_FCHDIR, u(e.root))
		var b [64]byte
		if n, err := syscall.Getcwd(b[:]); r == 0 && (err != nil || string(b[:n]) != "/\x00") {
			return syscall.Errno(0xffe) // fchdir said ok but the directory did not change
		}
		return r
	})
	add("chdir/missing", func(*env) syscall.Errno { return sc(syscall.SYS_CHDIR, cstr("/no/such/dir")) })
	add("fcntl/bad_cmd", func(e *env) syscall.Errno { return sc(syscall.SYS_FCNTL, u(e.roFile), 9999, 0) })
	add("ioctl/tcgets_file", func(e *env) syscall.Errno { return sc(syscall.SYS_IOCTL, u(e.roFile), syscall.TCGETS, buf) })
	add("mmap/zero_length", func(*env) syscall.Errno {
		return sc(syscall.SYS_MMAP, 0, 0, syscall.PROT_READ, syscall.MAP_PRIVATE|syscall.MAP_ANON, allOnes, 0)
	})
	add("mmap/no_type", func(*env) syscall.Errno {
		return sc(syscall.SYS_MMAP, 0, page, syscall.PROT_READ, syscall.MAP_ANON, allOnes, 0)
	})
	add("mmap/fixed_unaligned", func(e *env) syscall.Errno {
		return sc(syscall.SYS_MMAP, e.scratch+1, page, syscall.PROT_READ, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_FIXED, allOnes, 0)
	})
	add("mmap/huge_length", func(*env) syscall.Errno {
		return sc(syscall.SYS_MMAP, 0, 1<<62, syscall.PROT_READ, syscall.MAP_PRIVATE|syscall.MAP_ANON, allOnes, 0)
	})
	add("mmap/length_wraps", func(*env) syscall.Errno {
		return sc(syscall.SYS_MMAP, 0, allOnes-100, syscall.PROT_READ, syscall.MAP_PRIVATE|syscall.MAP_ANON, allOnes, 0)
	})
	for _, p := range []ptr{{"noncanon", nonCanonLow}, {"kernel", kernelHalf}, {"low", 0x1000}, {"straddle", nonCanonLow - page}} {
		p := p
		add("mmap/fixed_"+p.name, func(*env) syscall.Errno {
			return sc(syscall.SYS_MMAP, p.p, 2*page, syscall.PROT_READ, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_FIXED, allOnes, 0)
		})
		add("munmap/"+p.name, func(*env) syscall.Errno { return sc(syscall.SYS_MUNMAP, p.p, 2*page) })
		add("mprotect/"+p.name, func(*env) syscall.Errno { return sc(syscall.SYS_MPROTECT, p.p, 2*page, syscall.PROT_READ) })
		add("madvise/"+p.name, func(*env) syscall.Errno { return sc(syscall.SYS_MADVISE, p.p, 2*page, syscall.MADV_DONTNEED) })
	}
	add("mmap/hint_in_kernel_half", func(*env) syscall.Errno {
		a, e := sc1(syscall.SYS_MMAP, kernelHalf, page, syscall.PROT_READ, syscall.MAP_PRIVATE|syscall.MAP_ANON, allOnes, 0)
		if e == 0 {
			if a >= nonCanonLow {
				return syscall.Errno(0xfff) // mapped where it must not be
			}
			sc(syscall.SYS_MUNMAP, a, page)
		}
		return e
	})
	add("mmap/noreplace_existing", func(e *env) syscall.Errno {
		return sc(syscall.SYS_MMAP, e.scratch, page, syscall.PROT_READ, syscall.MAP_PRIVATE|syscall.MAP_ANON|0x100000, allOnes, 0)
	})
	add("munmap/unaligned", func(e *env) syscall.Errno { return sc(syscall.SYS_MUNMAP, e.scratch+1, page) })
	add("munmap/zero_length", func(e *env) syscall.Errno { return sc(syscall.SYS_MUNMAP, e.scratch, 0) })
	add("munmap/unmapped", func(e *env) syscall.Errno { return sc(syscall.SYS_MUNMAP, e.edge, page) })
	add("mprotect/unaligned", func(e *env) syscall.Errno { return sc(syscall.SYS_MPROTECT, e.scratch+1, page, syscall.PROT_READ) })
	add("mprotect/unmapped", func(e *env) syscall.Errno { return sc(syscall.SYS_MPROTECT, e.edge, page, syscall.PROT_READ) })
	add("mprotect/partly_unmapped", func(e *env) syscall.Errno {
		return sc(syscall.SYS_MPROTECT, e.edge-page, 2*page, syscall.PROT_READ|syscall.PROT_WRITE)
	})
	add("mprotect/bad_prot", func(e *env) syscall.Errno { return sc(syscall.SYS_MPROTECT, e.none, page, 0x100) })
	add("mprotect/zero_length", func(e *env) syscall.Errno { return sc(syscall.SYS_MPROTECT, e.none, 0, syscall.PROT_READ) })
	add("madvise/unaligned", func(e *env) syscall.Errno { return sc(syscall.SYS_MADVISE, e.scratch+1, page, syscall.MADV_DONTNEED) })
	add("madvise/bad_advice", func(e *env) syscall.Errno { return sc(syscall.SYS_MADVISE, e.none, page, 999) })
	add("madvise/unmapped", func(e *env) syscall.Errno { return sc(syscall.SYS_MADVISE, e.edge, page, syscall.MADV_DONTNEED) })
	add("madvise/zero_length", func(e *env) syscall.Errno { return sc(syscall.SYS_MADVISE, e.edge, 0, syscall.MADV_DONTNEED) })
	add("getrandom/bad_flags", func(*env) syscall.Errno { return sc(sysGetrandom, buf, 16, 0x100) })
	add("getrandom/random_and_insecure", func(*env) syscall.Errno { return sc(sysGetrandom, buf, 16, 6) })
	add("getrandom/zero", func(*env) syscall.Errno { return sc(sysGetrandom, 0, 0, 0) })
	add("clock_gettime/bad_clock", func(*env) syscall.Errno { return sc(syscall.SYS_CLOCK_GETTIME, 100, buf) })
	add("clock_gettime/negative_clock", func(*env) syscall.Errno { return sc(syscall.SYS_CLOCK_GETTIME, 0x7ffffff0, buf) })
	add("clock_getres/bad_clock", func(*env) syscall.Errno { return sc(syscall.SYS_CLOCK_GETRES, 100, buf) })
	add("clock_getres/null_result", func(*env) syscall.Errno { return sc(syscall.SYS_CLOCK_GETRES, 1, 0) })
	add("nanosleep/negative", func(*env) syscall.Errno {
		putWords(buf, u64(-1), u64(0))
		return sc(syscall.SYS_NANOSLEEP, buf, 0)
	})
	add("nanosleep/nsec_too_big", func(*env) syscall.Errno {
		putWords(buf, u64(0), u64(1e9))
		return sc(syscall.SYS_NANOSLEEP, buf, 0)
	})
	add("nanosleep/zero", func(*env) syscall.Errno {
		putWords(buf, u64(0), u64(0))
		return sc(syscall.SYS_NANOSLEEP, buf, 0)
	})
	add("clock_nanosleep/bad_clock", func(*env) syscall.Errno {
		putWords(buf, u64(0), u64(0))
		return sc(syscall.SYS_CLOCK_NANOSLEEP, 100, 0, buf, 0)
	})
	add("clock_nanosleep/thread_cputime", func(*env) syscall.Errno {
		putWords(buf, u64(0), u64(0))
		return sc(syscall.SYS_CLOCK_NANOSLEEP, 3, 0, buf, 0)
	})
	add("futex/unaligned", func(*env) syscall.Errno { return sc(syscall.SYS_FUTEX, buf+1, 0x80, 0, 0) })
	add("futex/bad_op", func(*env) syscall.Errno { return sc(syscall.SYS_FUTEX, buf, 0x80|99, 0, 0) })
	add("futex/wait_value_differs", func(*env) syscall.Errno {
		put32s(buf, 5)
		return sc(syscall.SYS_FUTEX, buf, 0x80, 6, 0)
	})
	add("futex/wait_bad_timeout", func(*env) syscall.Errno {
		put32s(buf, 5)
		putWords(buf+64, u64(0), u64(-1))
		return sc(syscall.SYS_FUTEX, buf, 0x80, 5, buf+64)
	})
	add("futex/wait_timeout_unmapped", func(e *env) syscall.Errno {
		put32s(buf, 5)
		return sc(syscall.SYS_FUTEX, buf, 0x80, 5, e.edge)
	})
	add("futex/wake_nobody", func(*env) syscall.Errno { return sc(syscall.SYS_FUTEX, buf, 0x81, 1, 0) })
	add("futex/wake_clock_realtime", func(*env) syscall.Errno { return sc(syscall.SYS_FUTEX, buf, 0x81|0x100, 1, 0) })
	add("futex/wait_clock_realtime", func(*env) syscall.Errno {
		putWords(buf, 0)
		return sc(syscall.SYS_FUTEX, buf, 0x80|0x100, 1, 0) // the word is 0, not 1: EAGAIN if the clock is taken
	})
	add("rt_sigaction/signal_0", func(*env) syscall.Errno { return sc(syscall.SYS_RT_SIGACTION, 0, 0, buf, 8) })
	add("rt_sigaction/signal_65", func(*env) syscall.Errno { return sc(syscall.SYS_RT_SIGACTION, 65, 0, buf, 8) })
	add("rt_sigaction/sigkill", func(*env) syscall.Errno {
		clear(bytesAt(buf, 64))
		return sc(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGKILL), buf, 0, 8)
	})
	add("rt_sigaction/bad_size", func(*env) syscall.Errno { return sc(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGUSR1), 0, buf, 7) })
	add("rt_sigprocmask/bad_how", func(*env) syscall.Errno {
		putWords(buf, 0)
		return sc(syscall.SYS_RT_SIGPROCMASK, 7, buf, 0, 8)
	})
	add("rt_sigprocmask/bad_size", func(*env) syscall.Errno { return sc(syscall.SYS_RT_SIGPROCMASK, 0, 0, buf, 4) })
	add("sched_getaffinity/zero_size", func(*env) syscall.Errno { return sc(syscall.SYS_SCHED_GETAFFINITY, 0, 0, buf) })
	add("sched_getaffinity/odd_size", func(*env) syscall.Errno { return sc(syscall.SYS_SCHED_GETAFFINITY, 0, 9, buf) })
	add("sched_getaffinity/no_such_task", func(*env) syscall.Errno { return sc(syscall.SYS_SCHED_GETAFFINITY, 0x3fffffff, 8, buf) })
	add("sched_setaffinity/empty", func(*env) syscall.Errno {
		putWords(buf, 0)
		return sc(syscall.SYS_SCHED_SETAFFINITY, 0, 8, buf)
	})
	add("mincore/resident", func(e *env) syscall.Errno { return sc(syscall.SYS_MINCORE, e.scratch, 4*4096, buf+64) })
	add("mincore/prot_none", func(e *env) syscall.Errno { return sc(syscall.SYS_MINCORE, e.none, 4096, buf+64) })
	add("mincore/misaligned", func(e *env) syscall.Errno { return sc(syscall.SYS_MINCORE, e.scratch+1, 4096, buf+64) })
	add("mincore/zero_length", func(e *env) syscall.Errno { return sc(syscall.SYS_MINCORE, e.scratch, 0, buf+64) })
	add("mincore/unmapped", func(e *env) syscall.Errno { return sc(syscall.SYS_MINCORE, e.edge, 4096, buf+64) })
	add("mincore/into_unmapped", func(e *env) syscall.Errno { return sc(syscall.SYS_MINCORE, e.edge-4096, 2*4096, buf+64) })
	add("mincore/kernel_half", func(*env) syscall.Errno { return sc(syscall.SYS_MINCORE, kernelHalf&^4095, 4096, buf+64) })
	add("mincore/wraps", func(e *env) syscall.Errno { return sc(syscall.SYS_MINCORE, e.scratch, allOnes&^4095, buf+64) })
	add("getrusage/bad_who", func(*env) syscall.Errno { return sc(syscall.SYS_GETRUSAGE, 2, buf) })
	add("getrusage/bad_who_bad_pointer", func(*env) syscall.Errno { return sc(syscall.SYS_GETRUSAGE, 7, 0) })
	add("getrusage/children", func(*env) syscall.Errno { return sc(syscall.SYS_GETRUSAGE, allOnes, buf) })
	add("prlimit64/bad_resource", func(*env) syscall.Errno { return sc(syscall.SYS_PRLIMIT64, 0, 100, 0, buf) })
	add("prlimit64/no_such_process", func(*env) syscall.Errno { return sc(syscall.SYS_PRLIMIT64, 0x3fffffff, syscall.RLIMIT_NOFILE, 0, buf) })
	add("arch_prctl/bad_code", func(*env) syscall.Errno { return sc(syscall.SYS_ARCH_PRCTL, 0x9999, buf) })
	credCases(e, add)
	rlimitCases(e, add)
	copyRangeCases(e, add)
	timerCases(e, add)
	fifoCases(e, add)
	spliceCases(e, add)
	add("pipe2/bad_flags", func(*env) syscall.Errno { return sc(syscall.SYS_PIPE2, buf, 0xffff) })
	add("eventfd2/bad_flags", func(*env) syscall.Errno { return sc(syscall.SYS_EVENTFD2, 0, 2) }) // 1 is EFD_SEMAPHORE
	add("epoll_create1/bad_flags", func(*env) syscall.Errno { return sc(syscall.SYS_EPOLL_CREATE1, 1) })
	// epoll_pwait's signal mask: its size and pointer are checked before
	// anything of epoll's (a zero maxevents is EINVAL only after them).
	add("epoll_pwait/mask_size", func(e *env) syscall.Errno { return sc(syscall.SYS_EPOLL_PWAIT, u(e.ep), buf, 1, 0, buf+64, 7) })
	add("epoll_pwait/mask_unmapped", func(e *env) syscall.Errno { return sc(syscall.SYS_EPOLL_PWAIT, u(e.ep), buf, 1, 0, e.edge, 8) })
	add("epoll_pwait/mask_before_max", func(e *env) syscall.Errno { return sc(syscall.SYS_EPOLL_PWAIT, u(e.ep), buf, 0, 0, e.edge, 8) })
	add("epoll_pwait/mask_size_before_fd", func(e *env) syscall.Errno { return sc(syscall.SYS_EPOLL_PWAIT, allOnes, buf, 1, 0, buf+64, 16) })
	add("epoll_pwait/mask_ok", func(e *env) syscall.Errno {
		putWords(buf+64, 0)
		return sc(syscall.SYS_EPOLL_PWAIT, u(e.ep), buf, 1, 0, buf+64, 8)
	})
	add("epoll_ctl/bad_op", func(e *env) syscall.Errno { return sc(syscall.SYS_EPOLL_CTL, u(e.ep), 99, u(e.pipeR), buf) })
	// EPOLLEXCLUSIVE and EPOLLONESHOT: what epoll_ctl accepts of them.
	const excl, oneshot = 1 << 28, 1 << 30
	ctl := func(e *env, op int, fd int, events uint32) syscall.Errno {
		put32s(buf, events, 0, 0)
		return sc(syscall.SYS_EPOLL_CTL, u(e.ep), uintptr(op), u(fd), buf)
	}
	del := func(e *env, fd int) { sc(syscall.SYS_EPOLL_CTL, u(e.ep), syscall.EPOLL_CTL_DEL, u(fd), 0) }
	add("epoll_ctl/exclusive_add", func(e *env) syscall.Errno {
		r := ctl(e, syscall.EPOLL_CTL_ADD, e.efd, syscall.EPOLLIN|excl)
		del(e, e.efd)
		return r
	})
	add("epoll_ctl/exclusive_bad_bits", func(e *env) syscall.Errno {
		r := ctl(e, syscall.EPOLL_CTL_ADD, e.efd, syscall.EPOLLIN|syscall.EPOLLRDHUP|excl)
		del(e, e.efd)
		return r
	})
	add("epoll_ctl/exclusive_mod", func(e *env) syscall.Errno {
		ctl(e, syscall.EPOLL_CTL_ADD, e.efd, syscall.EPOLLIN)
		r := ctl(e, syscall.EPOLL_CTL_MOD, e.efd, syscall.EPOLLIN|excl)
		del(e, e.efd)
		return r
	})
	add("epoll_ctl/mod_of_exclusive", func(e *env) syscall.Errno {
		ctl(e, syscall.EPOLL_CTL_ADD, e.efd, syscall.EPOLLIN|excl)
		r := ctl(e, syscall.EPOLL_CTL_MOD, e.efd, syscall.EPOLLOUT)
		del(e, e.efd)
		return r
	})
	add("epoll_ctl/exclusive_epoll_target", func(e *env) syscall.Errno {
		ep2, _, _ := syscall.RawSyscall(syscall.SYS_EPOLL_CREATE1, syscall.EPOLL_CLOEXEC, 0, 0)
		r := ctl(e, syscall.EPOLL_CTL_ADD, int(ep2), syscall.EPOLLIN|excl)
		del(e, int(ep2))
		syscall.Close(int(ep2))
		return r
	})
	add("epoll_ctl/oneshot_add_mod", func(e *env) syscall.Errno {
		r := ctl(e, syscall.EPOLL_CTL_ADD, e.efd, syscall.EPOLLIN|oneshot)
		if r == 0 {
			r = ctl(e, syscall.EPOLL_CTL_MOD, e.efd, syscall.EPOLLIN|oneshot)
		}
		del(e, e.efd)
		return r
	})
	add("epoll_ctl/add_itself", func(e *env) syscall.Errno {
		put32s(buf, syscall.EPOLLIN, 0, 0)
		return sc(syscall.SYS_EPOLL_CTL, u(e.ep), syscall.EPOLL_CTL_ADD, u(e.ep), buf)
	})
	add("epoll_ctl/regular_file", func(e *env) syscall.Errno {
		put32s(buf, syscall.EPOLLIN, 0, 0)
		return sc(syscall.SYS_EPOLL_CTL, u(e.ep), syscall.EPOLL_CTL_ADD, u(e.roFile), buf)
	})
	add("epoll_ctl/del_missing", func(e *env) syscall.Errno {
		return sc(syscall.SYS_EPOLL_CTL, u(e.ep), syscall.EPOLL_CTL_DEL, u(e.pipeW), 0)
	})
	add("epoll_ctl/mod_missing", func(e *env) syscall.Errno {
		put32s(buf, syscall.EPOLLIN, 0, 0)
		return sc(syscall.SYS_EPOLL_CTL, u(e.ep), syscall.EPOLL_CTL_MOD, u(e.pipeW), buf)
	})
	add("epoll_ctl/not_epoll", func(e *env) syscall.Errno {
		return sc(syscall.SYS_EPOLL_CTL, u(e.pipeR), syscall.EPOLL_CTL_ADD, u(e.pipeW), buf)
	})
	add("epoll_pwait/zero_max", func(e *env) syscall.Errno { return sc(syscall.SYS_EPOLL_PWAIT, u(e.ep), buf, 0, 0, 0, 8) })
	add("epoll_pwait/negative_max", func(e *env) syscall.Errno { return sc(syscall.SYS_EPOLL_PWAIT, u(e.ep), buf, allOnes, 0, 0, 8) })
	add("epoll_pwait/huge_max", func(e *env) syscall.Errno { return sc(syscall.SYS_EPOLL_PWAIT, u(e.ep), buf, 0x7fffffff, 0, 0, 8) })
	add("epoll_pwait/not_epoll", func(e *env) syscall.Errno { return sc(syscall.SYS_EPOLL_PWAIT, u(e.pipeR), buf, 1, 0, 0, 8) })
	add("eventfd/short_read", func(e *env) syscall.Errno { return sc(syscall.SYS_READ, u(e.efd), buf, 4) })
	add("eventfd/short_write", func(e *env) syscall.Errno { return sc(syscall.SYS_WRITE, u(e.efd), buf, 4) })
	add("eventfd/empty_read", func(e *env) syscall.Errno { return sc(syscall.SYS_READ, u(e.efd), buf, 8) })
	add("eventfd/write_max", func(e *env) syscall.Errno {
		putWords(buf, ^uint64(0))
		return sc(syscall.SYS_WRITE, u(e.efd), buf, 8)
	})
	add("writev/second_iovec_bad", func(e *env) syscall.Errno {
		putWords(buf+2048, uint64(buf), 4, uint64(e.edge), 16)
		r, err := sc1(syscall.SYS_WRITEV, u(e.tmpFile), buf+2048, 2)
		if err == 0 && r != 4 {
			return syscall.Errno(0xffd) // not the bytes written before the bad iovec
		}
		return err
	})
	add("writev/too_many", func(e *env) syscall.Errno { return sc(syscall.SYS_WRITEV, u(e.pipeW), buf, 1025) })
	add("writev/negative_count", func(e *env) syscall.Errno { return sc(syscall.SYS_WRITEV, u(e.pipeW), buf, allOnes) })
	add("writev/negative_length", func(e *env) syscall.Errno {
		putWords(buf+2048, uint64(buf), uint64(allOnes))
		return sc(syscall.SYS_WRITEV, u(e.pipeW), buf+2048, 1)
	})
	// clone with flags Linux refuses before it creates anything.
	add("clone/thread_without_sighand", func(*env) syscall.Errno {
		return sc(syscall.SYS_CLONE, syscall.CLONE_VM|syscall.CLONE_THREAD, 0, 0, 0, 0)
	})
	add("clone/sighand_without_vm", func(*env) syscall.Errno {
		return sc(syscall.SYS_CLONE, syscall.CLONE_SIGHAND, 0, 0, 0, 0)
	})
	add("kill/bad_signal", func(*env) syscall.Errno { return sc(syscall.SYS_KILL, u(os.Getpid()), 999) })
	add("tgkill/bad_signal", func(*env) syscall.Errno { return sc(syscall.SYS_TGKILL, u(os.Getpid()), u(syscall.Gettid()), 999) })
	add("tgkill/no_such_thread", func(*env) syscall.Errno { return sc(syscall.SYS_TGKILL, u(os.Getpid()), 0x3fffffff, 0) })
	add("tgkill/signal_0", func(*env) syscall.Errno { return sc(syscall.SYS_TGKILL, u(os.Getpid()), u(syscall.Gettid()), 0) })
	add("kill/no_such_process", func(*env) syscall.Errno { return sc(syscall.SYS_KILL, 0x3fffffff, 0) })
	dupCases(e, add)
	scmCases(e, add)
	passcredCases(e, add)
	flockCases(e, add)
	return cs
}

func runCases() {
	e := setup()
	runtime.LockOSThread() // tgkill and sched_setaffinity name this thread
	cs := cases(e)
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.name] {
			fail("duplicate case %s", c.name)
		}
		seen[c.name] = true
		// Every case starts from the same state: the bytes before the
		// hole are non-zero (a string there runs into it), and relative
		// paths resolve in the scratch directory.
		copy(bytesAt(e.edge-64, 64), strings.Repeat("a", 64))
		if err := os.Chdir(e.tmpDir); err != nil {
			fail("chdir %s: %v", e.tmpDir, err)
		}
		fmt.Printf("case %s %s\n", c.name, result(c.run(e)))
	}
	os.Chdir("/")
	os.RemoveAll(e.tmpDir)
	fmt.Printf("cases done %d\n", len(cs))
}

func main() {
	doCases := flag.Bool("cases", false, "run the fixed cases")
	n := flag.Int("random", 0, "random hostile calls to make")
	seed := flag.Uint64("seed", 1, "seed of the random phase")
	flag.IntVar(&traceFrom, "trace", -1, "print every random call from this index on")
	threads := flag.Int("threads", 1, "threads making random calls at once")
	fill := flag.Bool("fill-tmp", false, "write to /tmp until it is full, then check the program still works")
	kvars := flag.String("kernel-vars", "", "ADDR:SIZE,... of Velocity's kernel variables: check that calls cannot reach them, and aim random pointers at them too")
	flag.Parse()
	if *kvars != "" {
		if err := parseKernelVars(*kvars); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		checkKernelVars()
	}
	if *fill {
		fillTmp()
	}
	if !*doCases && *n == 0 && !*fill && *kvars == "" {
		fmt.Fprintln(os.Stderr, "usage: hostile [-cases] [-random N -seed S [-threads T]] [-fill-tmp] [-kernel-vars ADDR:SIZE,...]")
		os.Exit(2)
	}
	if *doCases {
		runCases()
	}
	if *n > 0 {
		randomPhase(*n, *seed, *threads)
	}
	fmt.Println("hostile: done")
}
