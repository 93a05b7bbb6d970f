package main

import (
	"fmt"
	mrand "math/rand/v2"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// fdRace works on eight fd numbers that every worker of the workload
// shares (fdRaceBase and up), so that one CPU closes an fd, or puts
// another description in its place (dup3), while others use it: through
// calls that run without the kernel lock (close, eventfd and pipe reads
// and writes, epoll_ctl) and calls that run under it and read the slot
// there (fstat, fcntl, dup, flock, write to a pipe through the locked
// path). A kernel that read a slot twice under its lock, expecting the
// same answer, or freed a description such a reader still used, fails
// here. Every error the calls may give in such a race (EBADF, EAGAIN,
// EEXIST, ENOENT, EINVAL, EPERM, EPIPE) is the program's lot; any
// other is reported. The workers close the eight fds when they stop, and
// the fd table must be back to what it was (fdRaceCheck).
const fdRaceBase = 3600

func fdRace(id int, stop <-chan struct{}, ops *atomic.Int64) error {
	r := mrand.New(mrand.NewPCG(uint64(id), 0x5eed))
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer syscall.Close(ep)
	buf := new([8]byte) // the heap: 8-byte aligned, resident
	var st syscall.Stat_t
	ok := func(op string, e syscall.Errno) error {
		switch e {
		case 0, syscall.EBADF, syscall.EAGAIN, syscall.EEXIST, syscall.ENOENT, syscall.EINVAL, syscall.EPERM, syscall.EPIPE:
			return nil
		}
		return fmt.Errorf("%s: unexpected %v", op, e)
	}
	for !stopped(stop) {
		fd := uintptr(fdRaceBase + r.IntN(8))
		var e syscall.Errno
		op := r.IntN(10)
		switch op {
		case 0: // a new eventfd or pipe end takes the shared number
			var nfd uintptr
			if r.IntN(2) == 0 {
				nfd, _, e = syscall.RawSyscall(syscall.SYS_EVENTFD2, 1, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
			} else {
				var p [2]int32
				_, _, e = syscall.RawSyscall(syscall.SYS_PIPE2, uintptr(unsafe.Pointer(&p)), syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
				if e == 0 {
					nfd = uintptr(p[r.IntN(2)])
					syscall.Close(int(p[0]) + int(p[1]) - int(nfd)) // the other end
				}
			}
			if e == 0 {
				_, _, e = syscall.RawSyscall(syscall.SYS_DUP3, nfd, fd, syscall.O_CLOEXEC)
				syscall.Close(int(nfd))
			}
		case 1:
			_, _, e = syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
		case 2:
			var nfd uintptr
			nfd, _, e = syscall.RawSyscall(syscall.SYS_DUP, fd, 0, 0)
			if e == 0 {
				syscall.Close(int(nfd))
			}
		case 3:
			_, _, e = syscall.RawSyscall(syscall.SYS_FSTAT, fd, uintptr(unsafe.Pointer(&st)), 0)
		case 4:
			cmd := []uintptr{syscall.F_GETFD, syscall.F_SETFD, syscall.F_GETFL, syscall.F_SETFL}[r.IntN(4)]
			_, _, e = syscall.RawSyscall(syscall.SYS_FCNTL, fd, cmd, syscall.FD_CLOEXEC|syscall.O_NONBLOCK)
		case 5:
			buf[0] = 1
			_, _, e = syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(buf)), 8)
		case 6:
			_, _, e = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(buf)), 8)
		case 7:
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | 1<<31, Fd: int32(fd)} // EPOLLET
			_, _, e = syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(ep), syscall.EPOLL_CTL_ADD, fd, uintptr(unsafe.Pointer(&ev)), 0, 0)
			if e == 0 {
				_, _, e = syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(ep), syscall.EPOLL_CTL_DEL, fd, 0, 0, 0)
			}
		case 8:
			_, _, e = syscall.RawSyscall(syscall.SYS_FLOCK, fd, syscall.LOCK_SH|syscall.LOCK_NB, 0)
			if e == 0 {
				_, _, e = syscall.RawSyscall(syscall.SYS_FLOCK, fd, syscall.LOCK_UN, 0)
			}
		case 9: // a write from a buffer the kernel reads through its locked path
			_, _, e = syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&syscall.Iovec{Base: &buf[0], Len: 8})), 1)
		}
		if err := ok(fmt.Sprintf("op %d on fd %d", op, fd), e); err != nil {
			return err
		}
		ops.Add(1)
	}
	for i := uintptr(0); i < 8; i++ {
		syscall.RawSyscall(syscall.SYS_CLOSE, fdRaceBase+i, 0, 0)
	}
	return nil
}

// openFDs counts the fds open below 4096 (fcntl F_GETFD answers).
func openFDs() int {
	n := 0
	for fd := uintptr(0); fd < 4096; fd++ {
		if _, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFD, 0); e == 0 {
			n++
		}
	}
	return n
}
