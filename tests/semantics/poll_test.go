package semantics

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// pollFd is struct pollfd.
type pollFd struct {
	fd             int32
	events, revent int16
}

// Poll's bits, as Linux numbers them.
const (
	pollIn, pollOut, pollErr, pollHup, pollNval = 0x1, 0x4, 0x8, 0x10, 0x20
	pollRdNorm, pollWrNorm                      = 0x40, 0x100
)

// poll is poll(2), made again with the time left when a signal ends it
// (EINTR, which Linux gives when a handler runs, whatever SA_RESTART
// says; Go's runtime signals its threads to preempt them).
func poll(fds []pollFd, ms int) (int, syscall.Errno) {
	var p unsafe.Pointer
	if len(fds) > 0 {
		p = unsafe.Pointer(&fds[0])
	}
	deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
	for {
		n, _, e := syscall.Syscall(syscall.SYS_POLL, uintptr(p), uintptr(len(fds)), uintptr(ms))
		if e != syscall.EINTR || ms <= 0 {
			return int(n), e
		}
		ms = max(int(time.Until(deadline).Milliseconds()), 0)
	}
}

// selectRetry is syscall.Select made again when a signal ends it, as
// poll: the sets are left as they were on EINTR and tv holds the time
// left, as Linux leaves them.
func selectRetry(nfd int, r, w *syscall.FdSet, tv *syscall.Timeval) (int, error) {
	for {
		n, err := syscall.Select(nfd, r, w, nil, tv)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// TestPollReadiness: what poll(2) reports for each kind of fd, without
// waiting: pipes (empty, written, with the other end closed), an eventfd,
// a tmpfs file, a closed fd (POLLNVAL) and a negative one (skipped). Runs
// on the host too, so Linux checks the test.
func TestPollReadiness(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	efd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 1, syscall.O_CLOEXEC, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer syscall.Close(int(efd))
	f, err := os.Create(filepath.Join(t.TempDir(), "file"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	closed, err := syscall.Dup(p[0])
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(closed)
	const all = pollIn | pollOut | pollRdNorm | pollWrNorm
	fds := []pollFd{
		{fd: int32(p[0]), events: all},
		{fd: int32(p[1]), events: all},
		{fd: int32(efd), events: pollIn},
		{fd: int32(f.Fd()), events: all},
		{fd: int32(closed), events: pollIn},
		{fd: -1, events: pollIn, revent: 0x7fff},
		{fd: int32(p[1]), events: pollIn}, // a write end asked only for input
	}
	n, e := poll(fds, 0)
	want := []int16{0, pollOut | pollWrNorm, pollIn, all, pollNval, 0, 0}
	if e != 0 || n != 4 {
		t.Errorf("poll: %d, %v; want 4 ready", n, e)
	}
	for i, w := range want {
		if fds[i].revent != w {
			t.Errorf("fd %d (entry %d): revents %#x, want %#x", fds[i].fd, i, fds[i].revent, w)
		}
	}
	// Data in the pipe, then its write end closed: readable, then hung
	// up as well.
	syscall.Write(p[1], []byte("x"))
	fds = []pollFd{{fd: int32(p[0]), events: pollIn}}
	if n, e := poll(fds, 0); n != 1 || e != 0 || fds[0].revent != pollIn {
		t.Errorf("pipe with data: %d, %v, revents %#x; want 1, POLLIN", n, e, fds[0].revent)
	}
	syscall.Close(p[1])
	fds[0].revent = 0
	if n, e := poll(fds, 0); n != 1 || e != 0 || fds[0].revent != pollIn|pollHup {
		t.Errorf("pipe with data, writer gone: %d, %v, revents %#x; want POLLIN|POLLHUP", n, e, fds[0].revent)
	}
	// Drained, with its writer gone: hung up, and not readable.
	var b [1]byte
	syscall.Read(p[0], b[:])
	fds[0].revent = 0
	if n, e := poll(fds, 0); n != 1 || e != 0 || fds[0].revent != pollHup {
		t.Errorf("empty pipe, writer gone: %d, %v, revents %#x; want POLLHUP", n, e, fds[0].revent)
	}
	// A write end whose reader is gone: POLLERR whatever was asked.
	var q [2]int
	if err := syscall.Pipe2(q[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	syscall.Close(q[0])
	fds = []pollFd{{fd: int32(q[1]), events: pollOut}}
	if n, e := poll(fds, 0); n != 1 || e != 0 || fds[0].revent&pollErr == 0 {
		t.Errorf("write end, reader gone: %d, %v, revents %#x; want POLLERR", n, e, fds[0].revent)
	}
	syscall.Close(q[1])
	// Bad arguments: more fds than RLIMIT_NOFILE, an array that is not
	// there.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_POLL, 0, uintptr(lim.Cur)+1, 0); e != syscall.EINVAL {
		t.Errorf("poll of RLIMIT_NOFILE+1 fds: %v, want EINVAL", e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_POLL, 8, 1, 0); e != syscall.EFAULT {
		t.Errorf("poll of an unmapped array: %v, want EFAULT", e)
	}
	if n, _, e := syscall.Syscall(syscall.SYS_POLL, 0, 0, 0); n != 0 || e != 0 {
		t.Errorf("poll of no fds: %d, %v", n, e)
	}
}

// TestPollWaits: a poll waits until another thread makes one of its fds
// ready, or until its timeout; ppoll writes the time left back.
func TestPollWaits(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	start := time.Now()
	fds := []pollFd{{fd: int32(p[0]), events: pollIn}}
	if n, e := poll(fds, 100); n != 0 || e != 0 {
		t.Fatalf("poll of an empty pipe: %d, %v; want 0 after the timeout", n, e)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("a poll with a 100 ms timeout returned after %v", d)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		syscall.Write(p[1], []byte("x"))
	}()
	start = time.Now()
	if n, e := poll(fds, 20_000); n != 1 || e != 0 || fds[0].revent != pollIn {
		t.Fatalf("poll woken by a write: %d, %v, revents %#x", n, e, fds[0].revent)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the write woke the poll after %v", d)
	}
	var b [1]byte
	syscall.Read(p[0], b[:])
	// ppoll with a timespec of 10 s, woken after about 50 ms: the time
	// left comes back in the timespec.
	go func() {
		time.Sleep(50 * time.Millisecond)
		syscall.Write(p[1], []byte("y"))
	}()
	ts := syscall.Timespec{Sec: 10}
	n, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	for e == syscall.EINTR { // the time left is in ts already
		n, _, e = syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	}
	if n != 1 || e != 0 {
		t.Fatalf("ppoll woken by a write: %d, %v", n, e)
	}
	if left := time.Duration(ts.Nano()); left <= 0 || left >= 10*time.Second {
		t.Errorf("ppoll left %v of its 10 s in the timespec", left)
	}
	bad := syscall.Timespec{Sec: 0, Nsec: 1e9}
	if _, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1, uintptr(unsafe.Pointer(&bad)), 0, 0, 0); e != syscall.EINVAL {
		t.Errorf("ppoll with tv_nsec 1e9: %v, want EINVAL", e)
	}
	var mask uint64
	if _, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&mask)), 7, 0); e != syscall.EINVAL {
		t.Errorf("ppoll with a 7-byte signal mask: %v, want EINVAL", e)
	}
}

func fdSet(fds ...int) *syscall.FdSet {
	var s syscall.FdSet
	for _, fd := range fds {
		s.Bits[fd/64] |= 1 << (uint(fd) % 64)
	}
	return &s
}

func fdIsSet(s *syscall.FdSet, fd int) bool { return s.Bits[fd/64]&(1<<(uint(fd)%64)) != 0 }

// TestSelect: select(2) and pselect6(2) report the ready fds of each set
// and clear the rest, fail with EBADF for a closed fd in a set and
// EINVAL for a negative count or timeout, wait until a write
// makes an fd ready or the timeout passes, and write the time left back.
// Runs on the host too, so Linux checks the test.
func TestSelect(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	nfd := max(p[0], p[1]) + 1
	r, w := fdSet(p[0], p[1]), fdSet(p[0], p[1])
	n, err := selectRetry(nfd, r, w, &syscall.Timeval{})
	if err != nil || n != 1 || fdIsSet(r, p[0]) || fdIsSet(r, p[1]) || !fdIsSet(w, p[1]) || fdIsSet(w, p[0]) {
		t.Errorf("select of an empty pipe: %d, %v, read %v write %v; want only the write end writable", n, err, fdIsSet(r, p[0]), fdIsSet(w, p[1]))
	}
	syscall.Write(p[1], []byte("x"))
	r, w = fdSet(p[0]), fdSet(p[1])
	if n, err := selectRetry(nfd, r, w, nil); err != nil || n != 2 || !fdIsSet(r, p[0]) || !fdIsSet(w, p[1]) {
		t.Errorf("select of a pipe with data: %d, %v; want both ends", n, err)
	}
	var b [1]byte
	syscall.Read(p[0], b[:])
	closed, _ := syscall.Dup(p[0])
	syscall.Close(closed)
	if _, err := syscall.Select(closed+1, fdSet(closed), nil, nil, &syscall.Timeval{}); err != syscall.EBADF {
		t.Errorf("select of a closed fd: %v, want EBADF", err)
	}
	if _, err := syscall.Select(-1, nil, nil, nil, &syscall.Timeval{}); err != syscall.EINVAL {
		t.Errorf("select with nfds -1: %v, want EINVAL", err)
	}
	if _, err := syscall.Select(nfd, fdSet(p[0]), nil, nil, &syscall.Timeval{Usec: -1}); err != syscall.EINVAL {
		t.Errorf("select with tv_usec -1: %v, want EINVAL", err)
	}
	// Microseconds past a second carry into the seconds, as Linux takes
	// them: a ready fd answers at once all the same.
	syscall.Write(p[1], []byte("z"))
	if n, err := selectRetry(nfd, fdSet(p[0]), nil, &syscall.Timeval{Usec: 1_500_000}); n != 1 || err != nil {
		t.Errorf("select with tv_usec 1.5e6 and a ready fd: %d, %v", n, err)
	}
	syscall.Read(p[0], b[:])
	// The timeout passes: nothing ready, the set cleared, no time left.
	r = fdSet(p[0])
	tv := syscall.Timeval{Usec: 100_000}
	start := time.Now()
	if n, err := selectRetry(nfd, r, nil, &tv); n != 0 || err != nil || fdIsSet(r, p[0]) {
		t.Errorf("select of an empty pipe for 100 ms: %d, %v, still set %v", n, err, fdIsSet(r, p[0]))
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("a select with a 100 ms timeout returned after %v", d)
	}
	if tv.Sec != 0 || tv.Usec != 0 {
		t.Errorf("select left %v in its timeval after its timeout", tv)
	}
	// Woken by another thread's write, with time left.
	go func() {
		time.Sleep(50 * time.Millisecond)
		syscall.Write(p[1], []byte("y"))
	}()
	r = fdSet(p[0])
	tv = syscall.Timeval{Sec: 10}
	if n, err := selectRetry(nfd, r, nil, &tv); n != 1 || err != nil || !fdIsSet(r, p[0]) {
		t.Fatalf("select woken by a write: %d, %v", n, err)
	}
	if left := time.Duration(tv.Nano()); left <= 0 || left >= 10*time.Second {
		t.Errorf("select left %v of its 10 s in the timeval", left)
	}
	// pselect6: a signal mask of the wrong size is EINVAL.
	var mask uint64
	pack := [2]uintptr{uintptr(unsafe.Pointer(&mask)), 7}
	ts := syscall.Timespec{}
	if _, _, e := syscall.Syscall6(syscall.SYS_PSELECT6, uintptr(nfd), uintptr(unsafe.Pointer(fdSet(p[0]))), 0, 0, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&pack))); e != syscall.EINVAL {
		t.Errorf("pselect6 with a 7-byte signal mask: %v, want EINVAL", e)
	}
	pack[1] = 8
	if n, _, e := syscall.Syscall6(syscall.SYS_PSELECT6, uintptr(nfd), uintptr(unsafe.Pointer(fdSet(p[0]))), 0, 0, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&pack))); n != 1 || e != 0 {
		t.Errorf("pselect6 of a pipe with data: %d, %v; want 1", n, e)
	}
}
