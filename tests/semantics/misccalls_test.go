package semantics

import (
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// These calls were ENOSYS in Velocity until 2026-12-06 (readv: on
// anything but a socket). Each test runs on
// the host too, so Linux checks what it asserts.

// TestTimes: times(2) counts the CPU time the process burns, in clock
// ticks (100 a second), and returns ticks that advance with the clock.
func TestTimes(t *testing.T) {
	var a, b syscall.Tms
	ta, err := syscall.Times(&a)
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
	}
	tb, err := syscall.Times(&b)
	if err != nil {
		t.Fatal(err)
	}
	if used := (b.Utime + b.Stime) - (a.Utime + a.Stime); used < 5 {
		t.Errorf("200 ms of spinning counted %d ticks of CPU time", used)
	}
	if d := tb - ta; d < 15 || d > 2000 {
		t.Errorf("times' result advanced %d ticks over about 200 ms", d)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_TIMES, 0, 0, 0); e != 0 {
		t.Errorf("times(NULL): %v", e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_TIMES, 8, 0, 0); e != syscall.EFAULT {
		t.Errorf("times of an unmapped buffer: %v, want EFAULT", e)
	}
}

// TestSchedPriorityRange: the priority range of each scheduling policy.
// (Policy 7, SCHED_EXT, exists from Linux 6.12 on, so hosts differ.)
func TestSchedPriorityRange(t *testing.T) {
	for policy, want := range map[int][2]int{0: {0, 0}, 1: {99, 1}, 2: {99, 1}, 3: {0, 0}, 5: {0, 0}, 6: {0, 0}, 4: {-1, -1}, 8: {-1, -1}, -1: {-1, -1}} {
		hi, _, e1 := syscall.Syscall(syscall.SYS_SCHED_GET_PRIORITY_MAX, uintptr(policy), 0, 0)
		lo, _, e2 := syscall.Syscall(syscall.SYS_SCHED_GET_PRIORITY_MIN, uintptr(policy), 0, 0)
		if want[0] < 0 {
			if e1 != syscall.EINVAL || e2 != syscall.EINVAL {
				t.Errorf("policy %d: %v, %v; want EINVAL", policy, e1, e2)
			}
			continue
		}
		if e1 != 0 || e2 != 0 || int(hi) != want[0] || int(lo) != want[1] {
			t.Errorf("policy %d: max %d (%v), min %d (%v); want %d, %d", policy, hi, e1, lo, e2, want[0], want[1])
		}
	}
}

// TestSigpending: a signal the thread blocks stays pending, and
// rt_sigpending says so, with Linux's bounds on the set's size.
func TestSigpending(t *testing.T) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR2)
	defer signal.Stop(ch)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	bit := uint64(1) << (syscall.SIGUSR2 - 1)
	var old uint64
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 0 /* SIG_BLOCK */, uintptr(unsafe.Pointer(&bit)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		t.Fatal(e)
	}
	if err := syscall.Tgkill(syscall.Getpid(), syscall.Gettid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	var set uint64
	_, _, e := syscall.RawSyscall(syscall.SYS_RT_SIGPENDING, uintptr(unsafe.Pointer(&set)), 8, 0)
	var half [2]uint32
	half[1] = 0xdeadbeef
	_, _, e4 := syscall.RawSyscall(syscall.SYS_RT_SIGPENDING, uintptr(unsafe.Pointer(&half[0])), 4, 0)
	_, _, e9 := syscall.RawSyscall(syscall.SYS_RT_SIGPENDING, uintptr(unsafe.Pointer(&set)), 9, 0)
	_, _, ef := syscall.RawSyscall(syscall.SYS_RT_SIGPENDING, 8, 8, 0)
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2 /* SIG_SETMASK */, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	if e != 0 || set&bit == 0 {
		t.Errorf("rt_sigpending with SIGUSR2 blocked and sent: %#x, %v", set, e)
	}
	if e4 != 0 || half[0]&uint32(bit) == 0 || half[1] != 0xdeadbeef {
		t.Errorf("rt_sigpending of 4 bytes: %#x %#x, %v; want the low half only", half[0], half[1], e4)
	}
	if e9 != syscall.EINVAL || ef != syscall.EFAULT {
		t.Errorf("rt_sigpending of 9 bytes: %v (want EINVAL); into an unmapped page: %v (want EFAULT)", e9, ef)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Error("SIGUSR2 was not delivered once unblocked")
	}
}

// TestFadviseAndSync: fadvise64 checks its fd and advice and otherwise
// succeeds; sync and syncfs succeed on any open fd.
func TestFadviseAndSync(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fadvise := func(fd int, off, n int64, advice int) syscall.Errno {
		_, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, uintptr(fd), uintptr(off), uintptr(n), uintptr(advice), 0, 0)
		return e
	}
	for advice := 0; advice <= 5; advice++ {
		if e := fadvise(int(f.Fd()), 0, 0, advice); e != 0 {
			t.Errorf("fadvise advice %d on a file: %v", advice, e)
		}
	}
	if e := fadvise(int(f.Fd()), 0, 0, 6); e != syscall.EINVAL {
		t.Errorf("fadvise advice 6: %v, want EINVAL", e)
	}
	if e := fadvise(int(f.Fd()), 0, -1, 0); e != syscall.EINVAL {
		t.Errorf("fadvise of a negative length: %v, want EINVAL", e)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if e := fadvise(p[0], 0, 0, 99); e != syscall.ESPIPE {
		t.Errorf("fadvise on a pipe: %v, want ESPIPE", e)
	}
	syscall.Close(p[0])
	syscall.Close(p[1])
	if e := fadvise(p[0], 0, 0, 0); e != syscall.EBADF {
		t.Errorf("fadvise on a closed fd: %v, want EBADF", e)
	}
	syscall.Sync()
	if _, _, e := syscall.Syscall(306 /* syncfs */, f.Fd(), 0, 0); e != 0 {
		t.Errorf("syncfs of a file: %v", e)
	}
	if _, _, e := syscall.Syscall(306 /* syncfs */, uintptr(p[0]), 0, 0); e != syscall.EBADF {
		t.Errorf("syncfs of a closed fd: %v, want EBADF", e)
	}
}

// TestMlock: mlock faults a range in (mincore then finds every page
// resident) and checks it is mapped; mlock2's MLOCK_ONFAULT does not
// fault; the flags of mlock2 and mlockall are checked.
func TestMlock(t *testing.T) {
	const n = 4 * 4096
	resident := func(b []byte) int {
		var vec [4]byte
		if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), n, uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			t.Fatal(e)
		}
		k := 0
		for _, v := range vec {
			k += int(v & 1)
		}
		return k
	}
	call := func(nr uintptr, b []byte, size, flags uintptr) syscall.Errno {
		_, _, e := syscall.Syscall(nr, uintptr(unsafe.Pointer(&b[0])), size, flags)
		return e
	}
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(b)
	if k := resident(b); k != 0 {
		t.Fatalf("%d pages of a fresh mapping resident", k)
	}
	if e := call(syscall.SYS_MLOCK, b[100:], n-100, 0); e != 0 {
		t.Fatalf("mlock: %v", e)
	}
	if k := resident(b); k != 4 {
		t.Errorf("after mlock %d of 4 pages resident", k)
	}
	if e := call(syscall.SYS_MUNLOCK, b, n, 0); e != 0 {
		t.Errorf("munlock: %v", e)
	}
	if e := call(syscall.SYS_MLOCK, b, 0, 0); e != 0 {
		t.Errorf("mlock of nothing: %v", e)
	}
	c, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	if e := call(325 /* mlock2 */, c, n, 2); e != syscall.EINVAL {
		t.Errorf("mlock2 with flag 2: %v, want EINVAL", e)
	}
	if e := call(325, c, n, 1 /* MLOCK_ONFAULT */); e != 0 {
		t.Errorf("mlock2 MLOCK_ONFAULT: %v", e)
	}
	if k := resident(c); k != 0 {
		t.Errorf("after mlock2 MLOCK_ONFAULT %d pages resident, want 0", k)
	}
	syscall.Munmap(c)
	if e := call(syscall.SYS_MLOCK, c, n, 0); e != syscall.ENOMEM {
		t.Errorf("mlock of an unmapped range: %v, want ENOMEM", e)
	}
	if e := call(syscall.SYS_MUNLOCK, c, n, 0); e != syscall.ENOMEM {
		t.Errorf("munlock of an unmapped range: %v, want ENOMEM", e)
	}
	for _, flags := range []uintptr{0, 4 /* MCL_ONFAULT alone */, 8} {
		if _, _, e := syscall.Syscall(syscall.SYS_MLOCKALL, flags, 0, 0); e != syscall.EINVAL {
			t.Errorf("mlockall(%#x): %v, want EINVAL", flags, e)
		}
	}
	if _, _, e := syscall.Syscall(syscall.SYS_MUNLOCKALL, 0, 0, 0); e != 0 {
		t.Errorf("munlockall: %v", e)
	}
}

// TestReadvPreadv: readv fills its buffers in turn from the file position
// (and from a pipe takes what is there without waiting again), preadv
// and pwritev work at an offset without moving the position, and the
// errors come in Linux's order.
func TestReadvPreadv(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	fd := f.Fd()
	iovec := func(bufs ...[]byte) []syscall.Iovec {
		v := make([]syscall.Iovec, len(bufs))
		for i, b := range bufs {
			v[i].Base = &b[0]
			v[i].SetLen(len(b))
		}
		return v
	}
	rw := func(nr, fd uintptr, v []syscall.Iovec, off int64) (int, syscall.Errno) {
		n, _, e := syscall.Syscall6(nr, fd, uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)), uintptr(off), 0, 0)
		return int(n), e
	}
	if _, err := f.Seek(2, 0); err != nil {
		t.Fatal(err)
	}
	a, b := make([]byte, 3), make([]byte, 4)
	if n, e := rw(syscall.SYS_READV, fd, iovec(a, b), 0); n != 7 || e != 0 || string(a)+string(b) != "2345678" {
		t.Errorf("readv: %d, %v, %q %q", n, e, a, b)
	}
	if n, e := rw(syscall.SYS_PREADV, fd, iovec(a, b), 10); n != 6 || e != 0 || string(a)+string(b[:3]) != "abcdef" {
		t.Errorf("preadv at 10: %d, %v, %q %q; want the 6 bytes left", n, e, a, b)
	}
	if n, e := rw(syscall.SYS_PWRITEV, fd, iovec([]byte("XY"), []byte("Z")), 4); n != 3 || e != 0 {
		t.Errorf("pwritev at 4: %d, %v", n, e)
	}
	if pos, _ := f.Seek(0, 1); pos != 9 {
		t.Errorf("after readv, preadv and pwritev the position is %d, want 9", pos)
	}
	got := make([]byte, 16)
	if _, err := f.ReadAt(got, 0); err != nil || string(got) != "0123XYZ789abcdef" {
		t.Errorf("the file after pwritev: %q, %v", got, err)
	}
	if _, e := rw(syscall.SYS_PREADV, fd, iovec(a), -1); e != syscall.EINVAL {
		t.Errorf("preadv at -1: %v, want EINVAL", e)
	}
	many := make([]syscall.Iovec, 1025)
	for i := range many {
		many[i] = iovec(a)[0]
	}
	if _, e := rw(syscall.SYS_READV, fd, many, 0); e != syscall.EINVAL {
		t.Errorf("readv of 1025 buffers: %v, want EINVAL", e)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	syscall.Write(p[1], []byte("abc"))
	c, d := make([]byte, 2), make([]byte, 5)
	if n, e := rw(syscall.SYS_READV, uintptr(p[0]), iovec(c, d), 0); n != 3 || e != 0 || string(c)+string(d[:1]) != "abc" {
		t.Errorf("readv of a pipe holding 3 bytes: %d, %v, %q %q", n, e, c, d)
	}
	if _, e := rw(syscall.SYS_PREADV, uintptr(p[0]), iovec(c), 0); e != syscall.ESPIPE {
		t.Errorf("preadv of a pipe: %v, want ESPIPE", e)
	}
	syscall.Close(p[0])
	syscall.Close(p[1])
	if _, e := rw(syscall.SYS_READV, uintptr(p[0]), iovec(c), 0); e != syscall.EBADF {
		t.Errorf("readv of a closed fd: %v, want EBADF", e)
	}
}
