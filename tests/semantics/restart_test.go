package semantics

import (
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestSyscallRestart: a blocking read of a pipe that a signal interrupts
// before any data came is made again when the handler returns (Go
// installs its handlers with SA_RESTART), as on Linux: the program sees
// the data, never EINTR. Before, the kernel returned EINTR to a plain
// syscall.Read (std syscall TestAllThreadsSyscallBlockedSyscall).
func TestSyscallRestart(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	ch := make(chan os.Signal, 100)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)

	tid := make(chan int)
	type result struct {
		n   int
		err error
		b   byte
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- syscall.Gettid()
		var b [1]byte
		n, err := syscall.Read(p[0], b[:]) // blocks: no poller
		done <- result{n, err, b[0]}
	}()
	reader := <-tid
	time.Sleep(50 * time.Millisecond) // let it block in read
	for i := 0; i < 20; i++ {
		if err := syscall.Tgkill(syscall.Getpid(), reader, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("the blocked read returned %d, %v before any data was written", r.n, r.err)
	default:
	}
	if _, err := syscall.Write(p[1], []byte{'x'}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.n != 1 || r.err != nil || r.b != 'x' {
			t.Errorf("read after the signals: %d, %v, %q; want 1, nil, 'x'", r.n, r.err, r.b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not return after the write")
	}
	if got := len(ch); got == 0 {
		t.Errorf("no SIGUSR1 reached the handler")
	}
}

// TestNanosleepInterrupted: a signal ends a nanosleep early with EINTR
// and the time left in rem, as on Linux, where nanosleep is not made again
// for an SA_RESTART handler. Before, Velocity slept on to the end with
// the signal pending, so a thread in a long syscall.Nanosleep held up
// AllThreadsSyscall (which waits for every thread to run its handler)
// and took SIGPROF late.
func TestNanosleepInterrupted(t *testing.T) {
	ch := make(chan os.Signal, 10)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)

	type result struct {
		err     error
		rem     syscall.Timespec
		elapsed time.Duration
	}
	tid := make(chan int)
	done := make(chan result)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- syscall.Gettid()
		start := time.Now()
		var rem syscall.Timespec
		err := syscall.Nanosleep(&syscall.Timespec{Sec: 20}, &rem)
		done <- result{err, rem, time.Since(start)}
	}()
	sleeper := <-tid
	time.Sleep(200 * time.Millisecond) // let it fall asleep
	if err := syscall.Tgkill(syscall.Getpid(), sleeper, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		left := time.Duration(r.rem.Nano())
		t.Logf("nanosleep(20s): %v after %v, %v left", r.err, r.elapsed, left)
		if r.err != syscall.EINTR {
			t.Errorf("nanosleep returned %v; want EINTR", r.err)
		}
		if left < 10*time.Second || left > 20*time.Second {
			t.Errorf("rem says %v left of 20s after %v", left, r.elapsed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a signal did not end a 20 s nanosleep within 10 s")
	}
}

// TestAllThreadsSyscallKeepsUp: syscall.AllThreadsSyscall stops the world
// and then signals every thread, and waits until each has run the call in
// its handler. With a thread blocked in a pipe read and the network
// server's thread in its wait, 300 rounds take a fraction of a second on
// Linux and in Velocity. Before, a signal sent while a thread entered a
// blocking call could stay pending while it slept (the round never
// ended), and the server left its wait on every signal, re-entering it
// just as the next stop-the-world began, which Go 1.26 resolves only
// when sysmon wakes (a minute).
func TestAllThreadsSyscallKeepsUp(t *testing.T) {
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_GETPID, 0, 0, 0); e == syscall.ENOTSUP {
		t.Skip("AllThreadsSyscall is not available with cgo")
	}
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	done := make(chan struct{})
	go func() {
		var b [1]byte
		syscall.Read(p[0], b[:]) // blocks until the write end closes
		close(done)
	}()
	defer func() {
		syscall.Close(p[1])
		<-done
	}()
	start := time.Now()
	finished := make(chan error, 1)
	go func() {
		for i := 0; i < 300; i++ {
			if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_GETPID, 0, 0, 0); e != 0 {
				finished <- e
				return
			}
			runtime.Gosched()
		}
		finished <- nil
	}()
	select {
	case err := <-finished:
		if err != nil {
			t.Fatalf("AllThreadsSyscall: %v", err)
		}
		t.Logf("300 rounds in %v", time.Since(start))
	case <-time.After(30 * time.Second):
		t.Fatal("300 rounds of AllThreadsSyscall did not end within 30 s")
	}
}
