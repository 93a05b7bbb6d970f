package net

import (
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestSocketCallRestart: a signal for a thread blocked in a socket call
// runs its handler at once, and the call is then made again (SA_RESTART),
// as on Linux: the program sees the call's real result, never EINTR.
// Velocity forwards socket calls to the network stack's server, so the
// kernel asks the server to give up the wait (runtime/vk_net.go,
// vkNetForward); before, the handler waited for the call to end, and a
// thread blocked in accept held up AllThreadsSyscall for ever.
func TestSocketCallRestart(t *testing.T) {
	t.Run("accept", func(t *testing.T) {
		l := blockingListener(t)
		testBlockedCall(t, func() (int, error) {
			nfd, _, err := syscall.Accept(l)
			if err == nil {
				syscall.Close(nfd)
			}
			return 0, err
		}, func() { dialBlocking(t, l) }, 0)
	})
	t.Run("tcp-read", func(t *testing.T) {
		l := blockingListener(t)
		c := dialBlocking(t, l)
		s, _, err := syscall.Accept(l)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(s)
		testBlockedCall(t, func() (int, error) {
			var b [8]byte
			return syscall.Read(s, b[:])
		}, func() {
			if _, err := syscall.Write(c, []byte("abc")); err != nil {
				t.Fatal(err)
			}
		}, 3)
	})
	t.Run("unix-recvfrom", func(t *testing.T) {
		p, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(p[0])
		defer syscall.Close(p[1])
		testBlockedCall(t, func() (int, error) {
			var b [8]byte
			n, _, err := syscall.Recvfrom(p[0], b[:], 0)
			return n, err
		}, func() {
			if _, err := syscall.Write(p[1], []byte("hello")); err != nil {
				t.Fatal(err)
			}
		}, 5)
	})
	t.Run("all-threads", func(t *testing.T) {
		// AllThreadsSyscall signals every thread and waits until each has
		// made the call: one blocked in accept must not hold it up.
		l := blockingListener(t)
		got := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			nfd, _, err := syscall.Accept(l)
			if err == nil {
				syscall.Close(nfd)
			}
			got <- err
		}()
		time.Sleep(100 * time.Millisecond) // let it block in accept
		done := make(chan error, 1)
		go func() {
			_, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, syscall.PR_SET_KEEPCAPS, 0, 0)
			if e != 0 {
				done <- e
				return
			}
			done <- nil
		}()
		select {
		case err := <-done:
			if err == syscall.ENOTSUP {
				// A cgo binary (a host with a C compiler): Go offers
				// AllThreadsSyscall only without cgo, as the kernel's
				// test binaries are built.
				t.Skip("AllThreadsSyscall is not available in a cgo binary")
			}
			if err != nil {
				t.Fatalf("AllThreadsSyscall(prctl): %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("AllThreadsSyscall did not finish in 10 s with a thread blocked in accept")
		}
		dialBlocking(t, l)
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("accept after AllThreadsSyscall: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("accept did not return after the connect")
		}
	})
}

// blockingListener is a TCP listener on 127.0.0.1 in blocking mode (no
// netpoller: its calls block in the kernel).
func blockingListener(t *testing.T) int {
	l, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(l) })
	if err := syscall.Bind(l, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(l, 8); err != nil {
		t.Fatal(err)
	}
	return l
}

// dialBlocking connects a blocking TCP socket to listener l; the test's
// cleanup closes it.
func dialBlocking(t *testing.T, l int) int {
	c, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(c) })
	sa, err := syscall.Getsockname(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Connect(c, sa); err != nil {
		t.Fatal(err)
	}
	return c
}

// testBlockedCall runs call on a thread of its own, signals that thread
// while the call is blocked and checks the handler ran before the call
// ended; then release makes the call's condition true, and the call must
// return want and no error.
func testBlockedCall(t *testing.T, call func() (int, error), release func(), want int) {
	ch := make(chan os.Signal, 100)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)
	type result struct {
		n   int
		err error
	}
	tid := make(chan int)
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- syscall.Gettid()
		n, err := call()
		done <- result{n, err}
	}()
	th := <-tid
	time.Sleep(100 * time.Millisecond) // let it block
	if err := syscall.Tgkill(syscall.Getpid(), th, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("the signal's handler did not run in 5 s while the thread was blocked")
	}
	for i := 0; i < 10; i++ { // more signals: each wait is given up and made again
		syscall.Tgkill(syscall.Getpid(), th, syscall.SIGUSR1)
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("the blocked call returned %d, %v before its condition held", r.n, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	select {
	case r := <-done:
		if r.err != nil || r.n != want {
			t.Fatalf("call after the signals: %d, %v; want %d, nil", r.n, r.err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not return once its condition held")
	}
}
