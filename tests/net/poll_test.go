package net

import (
	"syscall"
	"testing"
	"unsafe"
)

// TestPollSockets: what poll(2) reports for sockets (tests/semantics
// checks the other kinds of fd, in a kernel without the network stack): a
// connected AF_UNIX socket with nothing to read is writable, with
// POLLWRNORM and POLLWRBAND as Linux's socket poll methods add; once its
// peer wrote it is readable too, with POLLRDNORM; once its peer closed it
// is hung up. Runs on the host too, so Linux checks the test.
func TestPollSockets(t *testing.T) {
	const (
		in, out, hup, rdhup    = 0x1, 0x4, 0x10, 0x2000
		rdnorm, wrnorm, wrband = 0x40, 0x100, 0x200
	)
	sp, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(sp[0])
	poll := func(events int16) (int16, syscall.Errno) {
		pfd := struct {
			fd             int32
			events, revent int16
		}{fd: int32(sp[0]), events: events}
		n, _, e := syscall.Syscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&pfd)), 1, 0)
		if e == 0 && (n == 1) != (pfd.revent != 0) {
			t.Errorf("poll counted %d ready with revents %#x", n, pfd.revent)
		}
		return pfd.revent, e
	}
	all := int16(in | out | rdnorm | wrnorm | wrband | rdhup)
	if r, e := poll(all); e != 0 || r != out|wrnorm|wrband {
		t.Errorf("idle socket: revents %#x, %v; want POLLOUT|POLLWRNORM|POLLWRBAND", r, e)
	}
	syscall.Write(sp[1], []byte("x"))
	if r, e := poll(all); e != 0 || r != in|rdnorm|out|wrnorm|wrband {
		t.Errorf("socket with data: revents %#x, %v", r, e)
	}
	syscall.Close(sp[1])
	if r, e := poll(in | rdhup); e != 0 || r&(in|rdhup|hup) != in|rdhup|hup {
		t.Errorf("socket whose peer closed: revents %#x, %v; want POLLIN|POLLRDHUP|POLLHUP", r, e)
	}
}
