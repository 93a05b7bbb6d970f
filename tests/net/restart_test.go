package net

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
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

// TestCloseUnderSignals closes one end of AF_UNIX socket pairs from a
// thread that other threads keep signalling, and checks that every peer
// reads EOF and that the fd of each closed end is free again. A close
// cannot be made again: its fd is gone when it returns, whatever it
// answers. The kernel's close of a socket's last reference once waited
// for the netstack server as an ordinary call does, and a signal that
// arrived before the server had taken it withdrew it: the endpoint stayed
// open, its peer never saw EOF (TestUnixManyConnections once ended with
// an echo server's connection open), and close answered ERESTARTSYS, so
// the kernel made it again on an fd another thread may have been given
// meanwhile.
func TestCloseUnderSignals(t *testing.T) {
	ch := make(chan os.Signal, 1000)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)
	rounds := 1000
	if testing.Short() {
		rounds = 200
	}
	tid := make(chan int)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- syscall.Gettid()
		for i := 0; i < rounds; i++ {
			fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
			if err != nil {
				done <- fmt.Errorf("round %d: socketpair: %v", i, err)
				return
			}
			if err := syscall.Close(fds[0]); err != nil {
				done <- fmt.Errorf("round %d: close: %v", i, err)
				return
			}
			// The peer reads EOF at once: wait for it with a timeout
			// rather than in a read that would block for ever.
			if ev, err := readyWithin(fds[1], syscall.EPOLLIN, 5*time.Second); err != nil || ev == 0 {
				done <- fmt.Errorf("round %d: the peer of a closed socket is not readable after 5 s (events %#x, %v)", i, ev, err)
				return
			}
			var buf [1]byte
			if n, err := syscall.Read(fds[1], buf[:]); n != 0 || err != nil {
				done <- fmt.Errorf("round %d: the peer read %d, %v; want EOF", i, n, err)
				return
			}
			syscall.Close(fds[1])
		}
		done <- nil
	}()
	th := <-tid
	fd0 := lowestFreeFD(t)
	stop := make(chan struct{})
	var signals sync.WaitGroup
	signals.Add(1)
	go func() {
		defer signals.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			syscall.Tgkill(syscall.Getpid(), th, syscall.SIGUSR1)
			runtime.Gosched()
		}
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		err = fmt.Errorf("%d rounds did not end in 3 minutes", rounds)
	}
	close(stop)
	signals.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if fd := lowestFreeFD(t); fd > fd0 {
		t.Errorf("after %d closes under signals the lowest free fd is %d, was %d", rounds, fd, fd0)
	}
	t.Logf("%d closes under signals; %d handler runs seen", rounds, len(ch))
}

// readyWithin waits up to d for fd to have one of events and returns the
// events it has (0 when d passed). It uses an epoll instance of its own,
// level-triggered, so the program's netpoller is not involved.
func readyWithin(fd int, events uint32, d time.Duration) (uint32, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(ep)
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(d)
	for {
		var out [1]syscall.EpollEvent
		ms := int(time.Until(deadline).Milliseconds())
		if ms < 0 {
			ms = 0
		}
		n, err := syscall.EpollWait(ep, out[:], ms)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return 0, err
		}
		return out[0].Events, nil
	}
}
