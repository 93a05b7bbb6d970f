package netstack

import (
	"syscall"
	"testing"
	"time"
)

// ioctlInt makes ioctl request req on fd, which writes an int.
func (h *harness) ioctlInt(fd int32, req uint64) (int32, int64) {
	h.t.Helper()
	var v int32 = -7
	r := h.call(16, -1, true, uint64(fd), req, ptr(&v))
	return v, r
}

// TestSocketIoctls: FIONREAD (SIOCINQ) as Linux answers it: the bytes a
// read would find on a TCP or AF_UNIX stream socket, the next datagram's
// size on a UDP one, EINVAL on a listener; SIOCOUTQ, the bytes an
// AF_UNIX sender's peer has not read (ENOTTY on IP sockets with gVisor
// unpatched, as host builds have it); ENOTTY for other requests.
func TestSocketIoctls(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 10, 11, 12
	tcpPair(h, lfd, cfd, afd)
	if v, r := h.ioctlInt(afd, fionread); r != 0 || v != 0 {
		t.Errorf("FIONREAD with nothing sent = %d (%d)", v, r)
	}
	msg := make([]byte, 1000)
	if r, ok := h.direct(1, cfd, bptr(msg), uint64(len(msg))); !ok || r != int64(len(msg)) {
		t.Fatalf("write = %d, %v", r, ok)
	}
	h.waitReady(afd, uint32(epollIn))
	if v, r := h.ioctlInt(afd, fionread); r != 0 || v != 1000 {
		t.Errorf("FIONREAD after 1,000 bytes = %d (%d), want 1000", v, r)
	}
	// Host builds use gVisor unpatched, which does not give the number
	// (tests/net TestSocketIoctls checks the kernel's); a joined
	// connection has nothing unacknowledged, as over Linux's loopback.
	if v, r := h.ioctlInt(cfd, siocoutq); h.s.joins.off && r != -int64(syscall.ENOTTY) {
		t.Errorf("SIOCOUTQ on TCP with gVisor unpatched = %d, want ENOTTY", r)
	} else if !h.s.joins.off && (r != 0 || v != 0) {
		t.Errorf("SIOCOUTQ on a joined TCP connection = %d (%d), want 0", v, r)
	}
	if _, r := h.ioctlInt(lfd, fionread); r != -int64(syscall.EINVAL) {
		t.Errorf("FIONREAD on a listener = %d, want EINVAL", r)
	}
	if _, r := h.ioctlInt(afd, 0x5401); r != -int64(syscall.ENOTTY) { // TCGETS
		t.Errorf("TCGETS on a socket = %d, want ENOTTY", r)
	}

	// UDP: the next datagram's size, not the queue's.
	const a, b = 20, 21
	sa := udpPair(h, a, b)
	for _, size := range []int{5, 7} {
		if r := h.call(44, -1, true, b, bptr(make([]byte, size)), uint64(size), 0, bptr(sa), 16); r != int64(size) {
			t.Fatalf("sendto = %d", r)
		}
	}
	h.waitReady(a, uint32(epollIn))
	time.Sleep(50 * time.Millisecond) // both datagrams in
	if v, r := h.ioctlInt(a, fionread); r != 0 || v != 5 {
		t.Errorf("FIONREAD on UDP = %d (%d), want the first datagram's 5", v, r)
	}

	// AF_UNIX stream: the receiver's queue, and what the sender's peer
	// has not read yet.
	h.pair(sockStream|sockNonblock, 60, 61)
	h.want("write", h.call(1, -1, true, 60, bptr(make([]byte, 300)), 300), 300)
	if v, r := h.ioctlInt(61, fionread); r != 0 || v != 300 {
		t.Errorf("FIONREAD on AF_UNIX = %d (%d), want 300", v, r)
	}
	if v, r := h.ioctlInt(60, siocoutq); r != 0 || v != 300 {
		t.Errorf("SIOCOUTQ on AF_UNIX = %d (%d), want 300", v, r)
	}
	h.want("read", h.call(0, -1, true, 61, bptr(make([]byte, 100)), 100), 100)
	if v, _ := h.ioctlInt(61, fionread); v != 200 {
		t.Errorf("FIONREAD after reading 100 = %d, want 200", v)
	}
}
