package semantics

import (
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// File locks: flock(2) and fcntl's record locks (POSIX and open file
// description locks), as Linux has them for one process. Velocity had
// neither (flock was ENOSYS, F_SETLK EINVAL).

const (
	fOFDGetlk = 36
	fOFDSetlk = 37
	fOFDSetlw = 38
)

// lockFile makes an empty file and opens it n times read-write (n
// descriptions of one file).
func lockFile(t *testing.T, n int) (string, []int) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "lock")
	if err := os.WriteFile(name, make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	var fds []int
	for i := 0; i < n; i++ {
		fd, err := syscall.Open(name, syscall.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	t.Cleanup(func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	})
	return name, fds
}

func flockIs(t *testing.T, fd, how int, want error) {
	t.Helper()
	if err := syscall.Flock(fd, how); err != want {
		t.Fatalf("flock(%d, %#x) = %v, want %v", fd, how, err, want)
	}
}

// TestFlock: two descriptions of one file conflict, dups share one lock,
// shared locks coexist and convert, and a lock goes with LOCK_UN or the
// description's last fd.
func TestFlock(t *testing.T) {
	_, fds := lockFile(t, 2)
	a, b := fds[0], fds[1]
	flockIs(t, a, syscall.LOCK_EX|syscall.LOCK_NB, nil)
	flockIs(t, b, syscall.LOCK_SH|syscall.LOCK_NB, syscall.EWOULDBLOCK)
	flockIs(t, b, syscall.LOCK_EX|syscall.LOCK_NB, syscall.EWOULDBLOCK)
	flockIs(t, a, syscall.LOCK_EX|syscall.LOCK_NB, nil) // again: no change

	d, err := syscall.Dup(a)
	if err != nil {
		t.Fatal(err)
	}
	flockIs(t, d, syscall.LOCK_EX|syscall.LOCK_NB, nil) // the dup shares a's lock
	flockIs(t, d, syscall.LOCK_SH|syscall.LOCK_NB, nil) // converts it
	flockIs(t, b, syscall.LOCK_SH|syscall.LOCK_NB, nil) // shared with shared
	flockIs(t, b, syscall.LOCK_EX|syscall.LOCK_NB, syscall.EWOULDBLOCK)
	flockIs(t, b, syscall.LOCK_UN, nil)
	flockIs(t, a, syscall.LOCK_EX|syscall.LOCK_NB, nil) // converts back

	// Closing a keeps the lock: d still refers to the description.
	syscall.Close(a)
	fds[0] = -1
	flockIs(t, b, syscall.LOCK_SH|syscall.LOCK_NB, syscall.EWOULDBLOCK)
	syscall.Close(d) // the last reference: released
	flockIs(t, b, syscall.LOCK_EX|syscall.LOCK_NB, nil)
	flockIs(t, b, syscall.LOCK_UN, nil)
	flockIs(t, b, syscall.LOCK_UN, nil) // unlocking nothing is fine
}

// TestFlockWait: a blocked LOCK_EX sleeps through signals (flock is made
// again after an SA_RESTART handler, as on Linux: never EINTR to Go) and
// gets the lock when the holder lets go.
func TestFlockWait(t *testing.T) {
	_, fds := lockFile(t, 2)
	a, b := fds[0], fds[1]
	flockIs(t, a, syscall.LOCK_SH, nil)
	ch := make(chan os.Signal, 100)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)
	tid := make(chan int)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- syscall.Gettid()
		done <- syscall.Flock(b, syscall.LOCK_EX)
	}()
	waiter := <-tid
	time.Sleep(50 * time.Millisecond) // let it block
	for i := 0; i < 10; i++ {
		if err := syscall.Tgkill(syscall.Getpid(), waiter, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the blocked flock returned %v while the lock was held", err)
	default:
	}
	flockIs(t, a, syscall.LOCK_UN, nil)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the blocked flock returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked flock was not woken when the holder unlocked")
	}
	flockIs(t, a, syscall.LOCK_SH|syscall.LOCK_NB, syscall.EWOULDBLOCK)
	select {
	case <-ch:
	default:
		t.Error("no SIGUSR1 was delivered")
	}
}

func lk(typ int16, start, n int64) *syscall.Flock_t {
	return &syscall.Flock_t{Type: typ, Whence: 0, Start: start, Len: n}
}

func setlk(t *testing.T, fd, cmd int, l *syscall.Flock_t, want error) {
	t.Helper()
	if err := syscall.FcntlFlock(uintptr(fd), cmd, l); err != want {
		t.Fatalf("fcntl(%d, %d, %+v) = %v, want %v", fd, cmd, *l, err, want)
	}
}

// getlk checks what F_GETLK (or F_OFD_GETLK) reports for a write lock of
// [start, start+n) through fd: F_UNLCK, or the holder's lock.
func getlk(t *testing.T, fd, cmd int, start, n int64, want syscall.Flock_t) {
	t.Helper()
	l := lk(syscall.F_WRLCK, start, n)
	if err := syscall.FcntlFlock(uintptr(fd), cmd, l); err != nil {
		t.Fatalf("fcntl(%d, %d) = %v", fd, cmd, err)
	}
	if want.Type == syscall.F_UNLCK {
		want = syscall.Flock_t{Type: syscall.F_UNLCK, Start: start, Len: n} // the rest is left as it was
	}
	if *l != want {
		t.Fatalf("fcntl(%d, %d) of [%d, +%d) reports %+v, want %+v", fd, cmd, start, n, *l, want)
	}
}

// TestFcntlLocks: the process's POSIX locks never conflict with each
// other; OFD locks conflict across descriptions and with POSIX locks;
// unlocking the middle of a range splits it; closing any fd of a file
// drops the process's POSIX locks on it but not OFD locks.
func TestFcntlLocks(t *testing.T) {
	name, fds := lockFile(t, 3)
	a, b, c := fds[0], fds[1], fds[2]
	pid := int32(syscall.Getpid())
	unl := syscall.Flock_t{Type: syscall.F_UNLCK}

	// POSIX within the process: no conflict, F_GETLK says F_UNLCK.
	setlk(t, a, syscall.F_SETLK, lk(syscall.F_WRLCK, 0, 100), nil)
	setlk(t, b, syscall.F_SETLK, lk(syscall.F_WRLCK, 50, 100), nil)
	getlk(t, c, syscall.F_GETLK, 0, 0, unl)
	// OFD against them: conflict, the holder's pid reported.
	setlk(t, c, fOFDSetlk, lk(syscall.F_RDLCK, 10, 1), syscall.EAGAIN)
	getlk(t, c, fOFDGetlk, 120, 5, syscall.Flock_t{Type: syscall.F_WRLCK, Start: 0, Len: 150, Pid: pid})

	// Unlocking the middle splits the (merged) range [0, 150).
	setlk(t, a, syscall.F_SETLK, lk(syscall.F_UNLCK, 40, 20), nil)
	getlk(t, c, fOFDGetlk, 40, 20, unl)
	getlk(t, c, fOFDGetlk, 30, 11, syscall.Flock_t{Type: syscall.F_WRLCK, Start: 0, Len: 40, Pid: pid})
	getlk(t, c, fOFDGetlk, 59, 2, syscall.Flock_t{Type: syscall.F_WRLCK, Start: 60, Len: 90, Pid: pid})
	// Downgrading part of it to a read lock lets OFD readers in there.
	setlk(t, a, syscall.F_SETLK, lk(syscall.F_RDLCK, 100, 0), nil)
	setlk(t, c, fOFDSetlk, lk(syscall.F_RDLCK, 200, 10), nil)
	setlk(t, c, fOFDSetlk, lk(syscall.F_WRLCK, 200, 10), syscall.EAGAIN)
	setlk(t, c, fOFDSetlk, lk(syscall.F_UNLCK, 0, 0), nil)

	// Closing another fd of the file drops every POSIX lock on it.
	o, err := syscall.Open(name, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(o)
	getlk(t, c, fOFDGetlk, 0, 0, unl)

	// OFD against OFD: two descriptions conflict, a reports it with pid -1;
	// a POSIX request conflicts with it too.
	setlk(t, b, fOFDSetlk, lk(syscall.F_WRLCK, 10, 10), nil)
	setlk(t, b, fOFDSetlk, lk(syscall.F_WRLCK, 15, 10), nil) // its own: no conflict
	setlk(t, c, fOFDSetlk, lk(syscall.F_RDLCK, 24, 1), syscall.EAGAIN)
	setlk(t, c, fOFDSetlk, lk(syscall.F_RDLCK, 25, 1), nil)
	setlk(t, c, fOFDSetlk, lk(syscall.F_UNLCK, 25, 1), nil)
	getlk(t, a, fOFDGetlk, 0, 0, syscall.Flock_t{Type: syscall.F_WRLCK, Start: 10, Len: 15, Pid: -1})
	getlk(t, a, syscall.F_GETLK, 0, 20, syscall.Flock_t{Type: syscall.F_WRLCK, Start: 10, Len: 15, Pid: -1})
	setlk(t, a, syscall.F_SETLK, lk(syscall.F_RDLCK, 5, 10), syscall.EAGAIN)
	// Closing an fd drops no OFD lock of another description.
	o, err = syscall.Open(name, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(o)
	setlk(t, a, syscall.F_SETLK, lk(syscall.F_RDLCK, 5, 10), syscall.EAGAIN)

	// F_SETLKW waits for the OFD lock and gets the range when it goes.
	done := make(chan error, 1)
	go func() { done <- syscall.FcntlFlock(uintptr(a), syscall.F_SETLKW, lk(syscall.F_WRLCK, 0, 20)) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("F_SETLKW returned %v while the range was locked", err)
	default:
	}
	// Its last fd closed, b's OFD locks go.
	syscall.Close(b)
	fds[1] = -1
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("F_SETLKW returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("F_SETLKW was not woken when the OFD lock went")
	}
	getlk(t, c, fOFDGetlk, 0, 30, syscall.Flock_t{Type: syscall.F_WRLCK, Start: 0, Len: 20, Pid: pid})
}

// TestFcntlLockWaitRestart: an F_SETLKW waiting for another description's
// OFD lock sleeps through signals (restarted after Go's SA_RESTART
// handlers, as Linux does: never EINTR) and gets the range when the OFD
// lock is released.
func TestFcntlLockWaitRestart(t *testing.T) {
	_, fds := lockFile(t, 2)
	a, b := fds[0], fds[1]
	setlk(t, a, fOFDSetlk, lk(syscall.F_RDLCK, 0, 0), nil)
	ch := make(chan os.Signal, 100)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)
	tid := make(chan int)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- syscall.Gettid()
		done <- syscall.FcntlFlock(uintptr(b), fOFDSetlw, lk(syscall.F_WRLCK, 10, 10))
	}()
	waiter := <-tid
	time.Sleep(50 * time.Millisecond) // let it block
	for i := 0; i < 10; i++ {
		if err := syscall.Tgkill(syscall.Getpid(), waiter, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the blocked F_OFD_SETLKW returned %v while the range was locked", err)
	default:
	}
	setlk(t, a, fOFDSetlk, lk(syscall.F_UNLCK, 0, 0), nil)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the blocked F_OFD_SETLKW returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked F_OFD_SETLKW was not woken when the lock went")
	}
	getlk(t, a, fOFDGetlk, 0, 0, syscall.Flock_t{Type: syscall.F_WRLCK, Start: 10, Len: 10, Pid: -1})
}
