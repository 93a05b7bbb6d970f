package net

import (
	gonet "net"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// ioctl requests (Linux's numbers; package syscall names only some).
const (
	fionread = 0x541B
	siocoutq = 0x5411
	fionbio  = 0x5421
	fionclex = 0x5450
	fioclex  = 0x5451
)

// TestSocketIoctls: FIONREAD says how many bytes a TCP read would find,
// SIOCOUTQ how many the sender has not had acknowledged;
// FIONBIO sets and clears O_NONBLOCK and FIOCLEX and FIONCLEX the
// close-on-exec flag, as fcntl would; a terminal request is ENOTTY.
func TestSocketIoctls(t *testing.T) {
	ln, err := gonet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := gonet.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := c.Write(make([]byte, 1234)); err != nil {
		t.Fatal(err)
	}
	rc, err := s.(*gonet.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	ioctl := func(req uintptr, v *int32) syscall.Errno {
		var e syscall.Errno
		rc.Control(func(fd uintptr) {
			_, _, e = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(v)))
		})
		return e
	}
	fcntl := func(cmd uintptr) uintptr {
		var r uintptr
		rc.Control(func(fd uintptr) { r, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, cmd, 0) })
		return r
	}
	var n int32
	for deadline := time.Now().Add(5 * time.Second); n < 1234 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if e := ioctl(fionread, &n); e != 0 {
			t.Fatalf("FIONREAD: %v", e)
		}
	}
	if n != 1234 {
		t.Errorf("FIONREAD = %d, want 1234", n)
	}
	// SIOCOUTQ: what the sender wrote and has not had acknowledged,
	// which comes down to 0 once the peer's ACK is in.
	crc, err := c.(*gonet.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	q := int32(-1)
	for deadline := time.Now().Add(5 * time.Second); q != 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var e syscall.Errno
		crc.Control(func(fd uintptr) {
			_, _, e = syscall.Syscall(syscall.SYS_IOCTL, fd, siocoutq, uintptr(unsafe.Pointer(&q)))
		})
		if e != 0 {
			t.Fatalf("SIOCOUTQ: %v", e)
		}
	}
	if q != 0 {
		t.Errorf("SIOCOUTQ = %d after the peer acknowledged everything, want 0", q)
	}
	off, on := int32(0), int32(1)
	if e := ioctl(fionbio, &off); e != 0 || fcntl(syscall.F_GETFL)&syscall.O_NONBLOCK != 0 {
		t.Errorf("FIONBIO 0: %v, flags %#x", e, fcntl(syscall.F_GETFL))
	}
	if e := ioctl(fionbio, &on); e != 0 || fcntl(syscall.F_GETFL)&syscall.O_NONBLOCK == 0 {
		t.Errorf("FIONBIO 1: %v, flags %#x", e, fcntl(syscall.F_GETFL))
	}
	if e := ioctl(fionclex, nil); e != 0 || fcntl(syscall.F_GETFD)&syscall.FD_CLOEXEC != 0 {
		t.Errorf("FIONCLEX: %v, fd flags %#x", e, fcntl(syscall.F_GETFD))
	}
	if e := ioctl(fioclex, nil); e != 0 || fcntl(syscall.F_GETFD)&syscall.FD_CLOEXEC == 0 {
		t.Errorf("FIOCLEX: %v, fd flags %#x", e, fcntl(syscall.F_GETFD))
	}
	if e := ioctl(syscall.TCGETS, &n); e != syscall.ENOTTY {
		t.Errorf("TCGETS on a socket: %v, want ENOTTY", e)
	}
	// The connection still works after the flags went round.
	buf := make([]byte, 2000)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if m, err := s.Read(buf); err != nil || m != 1234 {
		t.Errorf("read %d, %v", m, err)
	}
}
