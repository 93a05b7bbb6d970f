package main

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/velocityos/velocity/kernel"
)

// offBKLCall is one system call that docs/locking.md says runs without
// the kernel lock in the common case, and the setup it needs.
type offBKLCall struct {
	name string
	// setup returns the call to repeat and what to undo afterwards.
	setup func() (call func() error, undo func(), err error)
}

// offBKLCalls: the calls of the common case only (resident, aligned
// buffers; nothing to wait for), each made so it succeeds or fails the
// way the case expects.
var offBKLCalls = []offBKLCall{
	{"getpid", func() (func() error, func(), error) {
		return func() error { syscall.Getpid(); return nil }, func() {}, nil
	}},
	{"futex wake, no waiter", func() (func() error, func(), error) {
		w := new(uint32)
		return func() error {
			_, _, e := syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(w)), 1|128, 1, 0, 0, 0) // FUTEX_WAKE_PRIVATE
			return errnoErr(e)
		}, func() {}, nil
	}},
	{"pipe write and read", func() (func() error, func(), error) {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			return nil, nil, err
		}
		buf := make([]byte, 64)
		return func() error {
				if _, err := syscall.Write(p[1], buf); err != nil {
					return err
				}
				_, err := syscall.Read(p[0], buf)
				return err
			}, func() {
				syscall.Close(p[0])
				syscall.Close(p[1])
			}, nil
	}},
	{"eventfd write and read", func() (func() error, func(), error) {
		fd, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC, 0)
		if e != 0 {
			return nil, nil, e
		}
		v := new(uint64) // the heap: 8-byte aligned
		b := unsafe.Slice((*byte)(unsafe.Pointer(v)), 8)
		return func() error {
			*v = 3
			if _, err := syscall.Write(int(fd), b); err != nil {
				return err
			}
			if _, err := syscall.Read(int(fd), b); err != nil || *v != 3 {
				return fmt.Errorf("read %d, %v; want 3", *v, err)
			}
			return nil
		}, func() { syscall.Close(int(fd)) }, nil
	}},
	{"epoll_ctl add and delete, epoll_wait", func() (func() error, func(), error) {
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return nil, nil, err
		}
		fd, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 1, syscall.O_CLOEXEC, 0)
		if e != 0 {
			return nil, nil, e
		}
		ev := &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
		evs := make([]syscall.EpollEvent, 4)
		return func() error {
				if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, int(fd), ev); err != nil {
					return err
				}
				if n, err := syscall.EpollWait(ep, evs, 0); n != 1 || err != nil {
					return fmt.Errorf("epoll_wait: %d events, %v; want 1", n, err)
				}
				return syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, int(fd), nil)
			}, func() {
				syscall.Close(int(fd))
				syscall.Close(ep)
			}, nil
	}},
	{"close of an eventfd, its last reference", func() (func() error, func(), error) {
		// One eventfd per call, made before the count starts: making
		// one takes the kernel lock.
		fds := make([]int, 0, offBKLN+100)
		for len(fds) < cap(fds) {
			fd, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC, 0)
			if e != 0 {
				for _, fd := range fds {
					syscall.Close(fd)
				}
				return nil, nil, e
			}
			fds = append(fds, int(fd))
		}
		next := 0
		return func() error {
				if next == len(fds) {
					return fmt.Errorf("more calls than the %d eventfds made", len(fds))
				}
				fd := fds[next]
				next++
				if err := syscall.Close(fd); err != nil {
					return err
				}
				// Closed for good: a second close says EBADF (on the
				// same path, without the kernel lock).
				if err := syscall.Close(fd); err != syscall.EBADF {
					return fmt.Errorf("closing fd %d again: %v, want EBADF", fd, err)
				}
				return nil
			}, func() {
				for _, fd := range fds[next:] {
					syscall.Close(fd)
				}
			}, nil
	}},
	{"dup, dup3, fcntl F_DUPFD_CLOEXEC, F_SETFD and F_GETFD, close", func() (func() error, func(), error) {
		fd, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC, 0)
		if e != 0 {
			return nil, nil, e
		}
		const fDupfdCloexec = 1030
		return func() error {
			d1, _, e := syscall.RawSyscall(syscall.SYS_DUP, fd, 0, 0)
			if e != 0 {
				return fmt.Errorf("dup: %v", e)
			}
			if _, _, e := syscall.RawSyscall(syscall.SYS_DUP3, fd, 3700, syscall.O_CLOEXEC); e != 0 {
				return fmt.Errorf("dup3: %v", e)
			}
			d3, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, fd, fDupfdCloexec, 3800)
			if e != 0 || d3 < 3800 {
				return fmt.Errorf("F_DUPFD_CLOEXEC from 3800: %d, %v", d3, e)
			}
			if _, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, d1, syscall.F_SETFD, syscall.FD_CLOEXEC); e != 0 {
				return fmt.Errorf("F_SETFD: %v", e)
			}
			for _, d := range []uintptr{d1, 3700, d3} {
				if fl, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, d, syscall.F_GETFD, 0); fl != syscall.FD_CLOEXEC || e != 0 {
					return fmt.Errorf("F_GETFD of %d: %d, %v; want FD_CLOEXEC", d, fl, e)
				}
				if err := syscall.Close(int(d)); err != nil {
					return fmt.Errorf("close %d: %v", d, err)
				}
			}
			return nil
		}, func() { syscall.Close(int(fd)) }, nil
	}},
	{"velocity_net_ready", func() (func() error, func(), error) {
		// No network here: a report for a description that is not a
		// socket is EBADF, after the same lookup a real one makes.
		return func() error {
			_, _, e := syscall.RawSyscall6(0x5613, 1<<20, 0, 1, 0, 0, 0)
			if e != syscall.EBADF {
				return fmt.Errorf("got %v, want EBADF", e)
			}
			return nil
		}, func() {}, nil
	}},
}

// offBKLN is how many calls checkOffBKL makes of each after the warm-up,
// for setups that prepare one object per call.
var offBKLN int

func errnoErr(e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// checkOffBKL makes each call of offBKLCalls calls times on one locked
// thread and compares the kernel lock's acquisitions with the count:
// a path that went back under the lock takes it at least once per call.
// Interrupts and the runtime's own threads may take it now and then, so
// up to one acquisition per 20 calls passes. It prints one line per call
// and reports whether all passed.
func checkOffBKL(calls int) bool {
	offBKLN = calls
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ok := true
	for _, c := range offBKLCalls {
		call, undo, err := c.setup()
		if err != nil {
			fmt.Printf("STRESS offbkl FAIL %s: setup: %v\n", c.name, err)
			ok = false
			continue
		}
		for i := 0; i < 100; i++ { // fault in and warm up
			call()
		}
		before, err := kernel.Locks()
		if err != nil {
			fmt.Printf("STRESS offbkl FAIL %s: %v\n", c.name, err)
			undo()
			return false
		}
		var callErr error
		for i := 0; i < calls && callErr == nil; i++ {
			callErr = call()
		}
		after, _ := kernel.Locks()
		undo()
		var bkl, fdt uint64
		for _, l := range kernel.LocksDelta(before, after) {
			switch l.Name {
			case "kernel (BKL)":
				bkl = l.Acquires
			case "fd table":
				fdt = l.Acquires
			}
		}
		verdict := "ok"
		if callErr != nil || bkl > uint64(calls/20) {
			verdict, ok = "FAIL", false
		}
		fmt.Printf("STRESS offbkl %s %s: %d calls, kernel lock taken %d times, fd table %d (call error: %v)\n", verdict, c.name, calls, bkl, fdt, callErr)
	}
	return ok
}
