package netstack

import (
	"bytes"
	"encoding/binary"
	"syscall"
	"testing"
	"unsafe"
)

// tcpPair connects two TCP sockets over loopback through the server's
// ordinary path and returns the client's and the accepted fd.
func tcpPair(h *harness, lfd, cfd, afd int32) {
	h.t.Helper()
	h.call(41, int64(lfd), false, afInet, sockStream|sockNonblock, 0)
	if r := h.call(49, -1, true, uint64(lfd), bptr(sockaddr4([4]byte{127, 0, 0, 1}, 0)), 16); r != 0 {
		h.t.Fatalf("bind = %d", r)
	}
	h.call(50, -1, true, uint64(lfd), 16)
	got := make([]byte, 16)
	n := int32(16)
	h.call(51, -1, true, uint64(lfd), bptr(got), ptr(&n))
	port := binary.BigEndian.Uint16(got[2:])
	h.call(41, int64(cfd), false, afInet, sockStream|sockNonblock, 0)
	h.call(42, -1, true, uint64(cfd), bptr(sockaddr4([4]byte{127, 0, 0, 1}, port)), 16)
	h.waitReady(cfd, uint32(epollOut))
	h.waitReady(lfd, uint32(epollIn))
	if r := h.call(288, int64(afd), true, uint64(lfd), 0, 0, sockNonblock); r != int64(afd) {
		h.t.Fatalf("accept4 = %d", r)
	}
}

func (h *harness) direct(nr uintptr, args ...uint64) (int64, bool) {
	var a [6]uintptr
	for i, v := range args {
		a[i] = uintptr(v)
	}
	r, e, ok := h.s.direct(nr, a, nil)
	if e != 0 {
		return -int64(e), ok
	}
	return int64(r), ok
}

func TestDirectTCP(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 10, 11, 12
	tcpPair(h, lfd, cfd, afd)
	msg := []byte("hello through the direct path")
	if r, ok := h.direct(1, cfd, bptr(msg), uint64(len(msg))); !ok || r != int64(len(msg)) {
		t.Fatalf("direct write = %d, %v", r, ok)
	}
	h.waitReady(afd, uint32(epollIn))
	buf := make([]byte, 64)
	if r, ok := h.direct(0, afd, bptr(buf), uint64(len(buf))); !ok || r != int64(len(msg)) || !bytes.Equal(buf[:r], msg) {
		t.Fatalf("direct read = %d, %v, %q", r, ok, buf)
	}
	// Drained: the direct path reports the new level, so an edge-triggered
	// poller waits for the next data, which is an event again.
	if h.k.level(afd)&uint32(epollIn) != 0 {
		t.Fatalf("afd still readable after a direct read drained it (level %#x)", h.k.level(afd))
	}
	if r, ok := h.direct(0, afd, bptr(buf), uint64(len(buf))); !ok || r != -int64(syscall.EAGAIN) {
		t.Fatalf("direct read of an empty non-blocking socket = %d, %v, want EAGAIN", r, ok)
	}
	// An unchanged level is not reported again.
	h.k.mu.Lock()
	before := h.k.reports
	h.k.mu.Unlock()
	h.direct(0, afd, bptr(buf), uint64(len(buf)))
	h.k.mu.Lock()
	after := h.k.reports
	h.k.mu.Unlock()
	if after != before {
		t.Fatalf("a call that changed nothing reported the level (%d reports, then %d)", before, after)
	}
	// writev and readv, two buffers each.
	p1, p2 := []byte("vec"), []byte("tored")
	iov := make([]byte, 32)
	binary.LittleEndian.PutUint64(iov[0:], bptr(p1))
	binary.LittleEndian.PutUint64(iov[8:], uint64(len(p1)))
	binary.LittleEndian.PutUint64(iov[16:], bptr(p2))
	binary.LittleEndian.PutUint64(iov[24:], uint64(len(p2)))
	if r, ok := h.direct(20, cfd, bptr(iov), 2); !ok || r != 8 {
		t.Fatalf("direct writev = %d, %v", r, ok)
	}
	h.waitReady(afd, uint32(epollIn))
	q1, q2 := make([]byte, 2), make([]byte, 10)
	binary.LittleEndian.PutUint64(iov[0:], bptr(q1))
	binary.LittleEndian.PutUint64(iov[8:], uint64(len(q1)))
	binary.LittleEndian.PutUint64(iov[16:], bptr(q2))
	binary.LittleEndian.PutUint64(iov[24:], uint64(len(q2)))
	if r, ok := h.direct(19, afd, bptr(iov), 2); !ok || r != 8 || string(q1)+string(q2[:6]) != "vectored" {
		t.Fatalf("direct readv = %d, %v, %q %q", r, ok, q1, q2)
	}
	if h.s.Direct.Load() < 5 {
		t.Fatalf("Direct counter %d", h.s.Direct.Load())
	}
}

func TestDirectDeclines(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 10, 11, 12
	tcpPair(h, lfd, cfd, afd)
	buf := make([]byte, 16)
	msg := []byte("x")
	// Not a socket the kernel knows.
	if _, ok := h.direct(0, 99, bptr(buf), 16); ok {
		t.Fatal("direct read of an unknown fd was served")
	}
	// The kernel's identity for the fd differs from the endpoint's: the fd
	// was closed and reused, and the server has not seen the new socket.
	h.k.mu.Lock()
	id := h.k.ids[afd]
	h.k.ids[afd] = id + 1
	h.k.mu.Unlock()
	if _, ok := h.direct(0, afd, bptr(buf), 16); ok {
		t.Fatal("direct read served on a socket whose identity changed")
	}
	h.k.mu.Lock()
	h.k.ids[afd] = id
	h.k.mu.Unlock()
	// Memory the direct path may not touch goes to the kernel.
	h.k.mem = func(p, n uintptr) bool { return false }
	if _, ok := h.direct(0, afd, bptr(buf), 16); ok {
		t.Fatal("direct read served into memory the kernel must check")
	}
	h.k.mem = nil
	// A blocking socket: a read that finds nothing goes to the kernel,
	// which waits; so does every write; MSG_DONTWAIT makes them direct.
	h.k.mu.Lock()
	h.k.nonblock[afd], h.k.nonblock[cfd] = false, false
	h.k.mu.Unlock()
	if _, ok := h.direct(0, afd, bptr(buf), 16); ok {
		t.Fatal("direct read that would block was served")
	}
	if _, ok := h.direct(1, cfd, bptr(msg), 1); ok {
		t.Fatal("direct write on a blocking socket was served")
	}
	if r, ok := h.direct(44, cfd, bptr(msg), 1, msgDontwait, 0, 0); !ok || r != 1 {
		t.Fatalf("sendto(MSG_DONTWAIT) on a blocking socket = %d, %v", r, ok)
	}
	h.waitReady(afd, uint32(epollIn))
	if r, ok := h.direct(0, afd, bptr(buf), 16); !ok || r != 1 {
		t.Fatalf("direct read of a blocking socket with data = %d, %v", r, ok)
	}
	// MSG_WAITALL on a blocking socket waits for all of it: the kernel's.
	h.direct(44, cfd, bptr(msg), 1, msgDontwait, 0, 0)
	h.waitReady(afd, uint32(epollIn))
	if _, ok := h.direct(45, afd, bptr(buf), 16, msgWaitall, 0, 0); ok {
		t.Fatal("MSG_WAITALL read on a blocking socket was served directly")
	}
	if r, ok := h.direct(45, afd, bptr(buf), 16, msgWaitall|msgDontwait, 0, 0); !ok || r != 1 {
		t.Fatalf("MSG_WAITALL|MSG_DONTWAIT read = %d, %v", r, ok)
	}
	// Calls the direct path does not serve.
	if _, ok := h.direct(3, afd); ok {
		t.Fatal("close was served directly")
	}
	// Unusual arguments: the kernel has Linux's exact answer.
	if _, ok := h.direct(0, afd, bptr(buf), 0); ok {
		t.Fatal("zero-length read was served directly")
	}
	if _, ok := h.direct(19, afd, bptr(buf), 1025); ok {
		t.Fatal("readv of 1025 iovecs was served directly")
	}
}

func TestDirectUDPUnbound(t *testing.T) {
	h := newHarness(t)
	const a, b = 20, 21
	sa := udpPair(h, a, b)
	msg := []byte("dgram")
	// b is not bound: its first send binds it, which the kernel must hear
	// of in a reply (getsockname), so it is not served directly.
	if _, ok := h.direct(44, b, bptr(msg), uint64(len(msg)), 0, bptr(sa), 16); ok {
		t.Fatal("first sendto of an unbound datagram socket was served directly")
	}
	if r := h.call(44, -1, true, b, bptr(msg), uint64(len(msg)), 0, bptr(sa), 16); r != int64(len(msg)) {
		t.Fatalf("sendto = %d", r)
	}
	if r, ok := h.direct(44, b, bptr(msg), uint64(len(msg)), 0, bptr(sa), 16); !ok || r != int64(len(msg)) {
		t.Fatalf("second sendto = %d, %v", r, ok)
	}
	h.waitReady(a, uint32(epollIn))
	got := make([]byte, 16)
	from := make([]byte, 16)
	n := int32(16)
	if r, ok := h.direct(45, a, bptr(got), 16, 0, bptr(from), ptr(&n)); !ok || r != int64(len(msg)) || n != 16 || from[4] != 127 {
		t.Fatalf("direct recvfrom = %d, %v, from %v len %d", r, ok, from, n)
	}
}

// TestDirectDgramNames: sendto's destination and recvfrom's sender as the
// velocity entries pass them when Go has them in its stack (in dgram, not
// in a[4] and a[5]): the datagram reaches the named socket, the sender's
// address comes back encoded with its length, MSG_TRUNC still gives the
// datagram's length, and a stream socket's sender is empty, as on Linux.
func TestDirectDgramNames(t *testing.T) {
	h := newHarness(t)
	const a, b = 20, 21
	sa := udpPair(h, a, b)
	msg := []byte("dgram")
	if r := h.call(44, -1, true, b, bptr(msg), uint64(len(msg)), 0, bptr(sa), 16); r != int64(len(msg)) {
		t.Fatalf("sendto = %d", r) // binds b: later sends may go direct
	}
	h.waitReady(a, uint32(epollIn))
	h.direct(0, a, bptr(make([]byte, 16)), 16)
	bname := make([]byte, 16)
	n := int32(16)
	h.call(51, -1, true, uint64(b), bptr(bname), ptr(&n))

	send := func(fd int32, to []byte) (uintptr, syscall.Errno, bool) {
		return h.s.direct(44, [6]uintptr{uintptr(fd), uintptr(bptr(msg)), uintptr(len(msg))}, &dgram{to: to})
	}
	if r, e, ok := send(b, sa); !ok || e != 0 || r != uintptr(len(msg)) {
		t.Fatalf("direct sendto with dgram = %d, %v, %v", r, e, ok)
	}
	h.waitReady(a, uint32(epollIn))
	got := make([]byte, 2)
	dg := dgram{wantFrom: true}
	r, e, ok := h.s.direct(45, [6]uintptr{uintptr(a), uintptr(bptr(got)), uintptr(len(got)), msgTrunc}, &dg)
	if !ok || e != 0 || r != uintptr(len(msg)) {
		t.Fatalf("direct recvfrom with MSG_TRUNC = %d, %v, %v; want the datagram's length %d", r, e, ok, len(msg))
	}
	want := bytes.Clone(bname) // b is bound to every address; it sent from 127.0.0.1
	copy(want[4:8], []byte{127, 0, 0, 1})
	if dg.fromLen != 16 || !bytes.Equal(dg.from[:16], want) {
		t.Fatalf("sender %v (length %d), want %v", dg.from[:dg.fromLen], dg.fromLen, want)
	}
	if string(got) != "dg" {
		t.Fatalf("read %q", got)
	}

	// A bad destination is the errno Linux gives, not a decline.
	if _, e, ok := send(b, []byte{2}); !ok || e != syscall.EINVAL {
		t.Fatalf("sendto a 1-byte address = %v, %v; want EINVAL", e, ok)
	}
	if _, e, ok := send(b, sockaddr6([16]byte{15: 1}, 9)); !ok || e != syscall.EAFNOSUPPORT {
		t.Fatalf("sendto an IPv6 address from an IPv4 socket = %v, %v; want EAFNOSUPPORT", e, ok)
	}

	// Nothing queued: EAGAIN on a non-blocking socket.
	dg = dgram{wantFrom: true}
	if _, e, ok := h.s.direct(45, [6]uintptr{uintptr(a), uintptr(bptr(got)), uintptr(len(got))}, &dg); !ok || e != syscall.EAGAIN || dg.fromLen != 0 {
		t.Fatalf("recvfrom with nothing queued = %v, %v, length %d", e, ok, dg.fromLen)
	}

	// A stream socket names no sender.
	const lfd, cfd, afd = 10, 11, 12
	tcpPair(h, lfd, cfd, afd)
	if r, ok := h.direct(1, cfd, bptr(msg), uint64(len(msg))); !ok || r != int64(len(msg)) {
		t.Fatalf("write = %d, %v", r, ok)
	}
	h.waitReady(afd, uint32(epollIn))
	dg = dgram{wantFrom: true}
	buf := make([]byte, 16)
	if r, e, ok := h.s.direct(45, [6]uintptr{uintptr(afd), uintptr(bptr(buf)), uintptr(len(buf))}, &dg); !ok || e != 0 || r != uintptr(len(msg)) || dg.fromLen != 0 {
		t.Fatalf("recvfrom on TCP = %d, %v, %v, sender length %d; want %d bytes and no sender", r, e, ok, dg.fromLen, len(msg))
	}
}

func TestDirectUnix(t *testing.T) {
	h := newHarness(t)
	h.pair(sockStream|sockNonblock, 40, 41)
	msg := []byte("unix stream")
	if r, ok := h.direct(1, 40, bptr(msg), uint64(len(msg))); !ok || r != int64(len(msg)) {
		t.Fatalf("direct write = %d, %v", r, ok)
	}
	buf := make([]byte, 32)
	if r, ok := h.direct(0, 41, bptr(buf), 32); !ok || string(buf[:r]) != string(msg) {
		t.Fatalf("direct read = %d, %v, %q", r, ok, buf)
	}
	if h.k.level(41)&uint32(epollIn) != 0 {
		t.Fatalf("fd 41 still readable after draining (level %#x)", h.k.level(41))
	}
	// A destination names a path: the kernel's path looks it up.
	to := sun("@nobody")
	if _, ok := h.direct(44, 40, bptr(msg), 1, 0, bptr(to), uint64(len(to))); ok {
		t.Fatal("sendto with a unix name was served directly")
	}
}

// FuzzDirectMem feeds directMem arbitrary arguments and memory: it must
// only read memory its checker allowed, and never panic. The arena stands
// for the heap: arguments may be offsets into it (tagged) or raw values.
func FuzzDirectMem(f *testing.F) {
	f.Add(uint8(0), []byte{0, 1, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0}, []byte{})
	f.Add(uint8(20), []byte{0, 2, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 64))
	f.Add(uint8(47), []byte{0, 1, 0, 0, 0, 0, 0, 0}, make([]byte, 128))
	f.Add(uint8(45), []byte{0, 1, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0}, make([]byte, 64))
	f.Fuzz(func(t *testing.T, nr uint8, rawArgs, mem []byte) {
		arena := make([]byte, 512)
		copy(arena, mem)
		base := uintptr(unsafe.Pointer(&arena[0]))
		// Pointers stored in the arena (iovecs, msghdr fields) are offsets
		// tagged with 0x01 in their top byte: make them real addresses.
		for i := 0; i+8 <= len(arena); i += 8 {
			v := binary.LittleEndian.Uint64(arena[i:])
			if v>>56 == 1 {
				binary.LittleEndian.PutUint64(arena[i:], uint64(base)+(v&0xfff)%uint64(len(arena)))
			}
		}
		var a [6]uint64
		for i := range a {
			if len(rawArgs) >= (i+1)*8 {
				a[i] = binary.LittleEndian.Uint64(rawArgs[i*8:])
			}
			if a[i]>>56 == 1 || a[i]&0xff == 0 && a[i] != 0 && a[i] < 1<<16 {
				a[i] = uint64(base) + (a[i]&0xfff)%uint64(len(arena))
			}
		}
		check := func(p, n uintptr) bool {
			return p >= base && n <= uintptr(len(arena)) && p-base <= uintptr(len(arena))-n
		}
		directMem(uintptr(nr), a, check)
	})
}

// TestDirectDup: fds that dup made name one description, so the kernel
// gives the direct path the same sid for each, and a call on either is
// served on the one endpoint, its readiness reported by sid.
func TestDirectDup(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd, dupfd = 10, 11, 12, 50
	tcpPair(h, lfd, cfd, afd)
	h.k.mu.Lock()
	h.k.dups[dupfd] = afd
	h.k.mu.Unlock()
	msg := []byte("to the dup")
	if r, ok := h.direct(1, cfd, bptr(msg), uint64(len(msg))); !ok || r != int64(len(msg)) {
		t.Fatalf("direct write = %d, %v", r, ok)
	}
	h.waitReady(afd, uint32(epollIn))
	buf := make([]byte, 64)
	if r, ok := h.direct(0, dupfd, bptr(buf), uint64(len(buf))); !ok || r != int64(len(msg)) || !bytes.Equal(buf[:r], msg) {
		t.Fatalf("direct read on the dup = %d, %v, %q", r, ok, buf)
	}
	if h.k.level(afd)&uint32(epollIn) != 0 {
		t.Fatalf("the description is still readable after a read on its dup drained it (level %#x)", h.k.level(afd))
	}
	back := []byte("from the dup")
	if r, ok := h.direct(1, dupfd, bptr(back), uint64(len(back))); !ok || r != int64(len(back)) {
		t.Fatalf("direct write on the dup = %d, %v", r, ok)
	}
	h.waitReady(cfd, uint32(epollIn))
	if r, ok := h.direct(0, cfd, bptr(buf), uint64(len(buf))); !ok || !bytes.Equal(buf[:r], back) {
		t.Fatalf("direct read of what the dup wrote = %d, %v, %q", r, ok, buf)
	}
}

// TestDirectReadAllocs: a read served directly allocates nothing (the
// buffer list and the writer handed to netstack come from a pool); Go's
// TestTCPReadWriteAllocs counted 8 per Read and Write before (and 2,
// gVisor's lists of packets sent, until listQDisc: TestQDiscAllocs).
func TestDirectReadAllocs(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 10, 11, 12
	tcpPair(h, lfd, cfd, afd)
	msg := make([]byte, 4000)
	if r, ok := h.direct(1, cfd, bptr(msg), uint64(len(msg))); !ok || r != int64(len(msg)) {
		t.Fatalf("direct write = %d, %v", r, ok)
	}
	h.waitReady(afd, uint32(epollIn))
	buf := make([]byte, 10)
	if allocs := testing.AllocsPerRun(100, func() {
		if r, ok := h.direct(0, afd, bptr(buf), uint64(len(buf))); !ok || r != int64(len(buf)) {
			t.Fatalf("direct read = %d, %v", r, ok)
		}
	}); allocs != 0 {
		t.Errorf("a direct read allocated %.1f objects, want 0", allocs)
	}
}

// TestDirectSetsockopt: an int option is set in the caller's goroutine
// (its value in the fourth argument, as the velocity entry passes it),
// with the answers the kernel's path gives, and read back through it.
func TestDirectSetsockopt(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 10, 11, 12
	tcpPair(h, lfd, cfd, afd)
	get := func(fd int32, level, name uint64) int64 {
		t.Helper()
		v, n := int32(-1), int32(4)
		if r := h.call(55, -1, true, uint64(fd), level, name, ptr(&v), ptr(&n)); r != 0 {
			t.Fatalf("getsockopt(%d, %d) = %d", level, name, r)
		}
		return int64(v)
	}
	const tcp, nodelay, keepidle, keepcnt = 6, 1, 4, 6
	for _, v := range []uint64{0, 1} {
		if r, ok := h.direct(54, afd, tcp, nodelay, v, 4); !ok || r != 0 {
			t.Fatalf("direct setsockopt(TCP_NODELAY, %d) = %d, %v", v, r, ok)
		}
		if got := get(afd, tcp, nodelay); got != int64(v) {
			t.Fatalf("TCP_NODELAY reads back %d after a direct set of %d", got, v)
		}
	}
	if r, ok := h.direct(54, afd, tcp, keepidle, 77, 4); !ok || r != 0 || get(afd, tcp, keepidle) != 77 {
		t.Fatalf("direct setsockopt(TCP_KEEPIDLE, 77) = %d, %v; reads back %d", r, ok, get(afd, tcp, keepidle))
	}
	// Out of range: the server's EINVAL, as through the kernel.
	if r, ok := h.direct(54, afd, tcp, keepcnt, 128, 4); !ok || r != -int64(syscall.EINVAL) {
		t.Fatalf("direct setsockopt(TCP_KEEPCNT, 128) = %d, %v, want EINVAL", r, ok)
	}
	// Only an int: any other length is the kernel's to check.
	if _, ok := h.direct(54, afd, tcp, nodelay, 1, 8); ok {
		t.Fatal("direct setsockopt with optlen 8 was served")
	}
	// AF_UNIX sockets keep their options on the kernel's path.
	const ufd = 20
	h.call(41, ufd, false, afUnix, sockStream, 0)
	if _, ok := h.direct(54, ufd, 1, 9, 1, 4); ok {
		t.Fatal("direct setsockopt on an AF_UNIX socket was served")
	}
}

// TestDirectShutdown: shutdown in the caller's goroutine sends the FIN
// at once (the peer reads EOF and is told by its level), answers a bad
// how as the kernel's path does, and leaves AF_UNIX sockets to that path.
func TestDirectShutdown(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 10, 11, 12
	tcpPair(h, lfd, cfd, afd)
	if r, ok := h.direct(48, afd, 3); !ok || r != -int64(syscall.EINVAL) {
		t.Fatalf("direct shutdown(how 3) = %d, %v, want EINVAL", r, ok)
	}
	if r, ok := h.direct(48, afd, 1); !ok || r != 0 { // SHUT_WR
		t.Fatalf("direct shutdown(SHUT_WR) = %d, %v", r, ok)
	}
	h.waitReady(cfd, uint32(epollIn)) // EOF is readable
	buf := make([]byte, 8)
	if r := h.call(0, -1, true, cfd, bptr(buf), 8); r != 0 {
		t.Fatalf("the peer's read after the FIN = %d, want 0 (EOF)", r)
	}
	// The other direction still works.
	if r := h.call(1, -1, true, cfd, bptr([]byte("late")), 4); r != 4 {
		t.Fatalf("the peer's write after the FIN = %d", r)
	}
	h.waitReady(afd, uint32(epollIn))
	if r, ok := h.direct(0, afd, bptr(buf), 8); !ok || r != 4 || string(buf[:4]) != "late" {
		t.Fatalf("direct read after SHUT_WR = %d, %v, %q", r, ok, buf[:4])
	}
	const ufd = 20
	h.call(41, ufd, false, afUnix, sockStream, 0)
	if _, ok := h.direct(48, ufd, 1); ok {
		t.Fatal("direct shutdown of an AF_UNIX socket was served")
	}
}

// TestDirectAccept: accept4 in the caller's goroutine reserves the new
// socket's description, registers the endpoint under it and installs it;
// the new socket then works on the direct path, the listener's level is
// reported, and whatever the kernel's path must answer is declined
// without consuming a connection.
func TestDirectAccept(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd = 10, 11
	h.call(41, lfd, false, afInet, sockStream|sockNonblock, 0)
	if r := h.call(49, -1, true, lfd, bptr(sockaddr4([4]byte{127, 0, 0, 1}, 0)), 16); r != 0 {
		t.Fatalf("bind = %d", r)
	}
	// Not listening yet: the kernel's path answers EINVAL.
	if _, _, ok, _, _ := h.s.directAccept(288, lfd, 0, false); ok {
		t.Fatal("accept on a socket that is not listening was served directly")
	}
	h.call(50, -1, true, lfd, 16)
	got := make([]byte, 16)
	n := int32(16)
	h.call(51, -1, true, lfd, bptr(got), ptr(&n))
	port := binary.BigEndian.Uint16(got[2:])

	// Nothing pending: EAGAIN on a non-blocking listener; a blocking one
	// waits in the kernel's server.
	if r, e, ok, _, _ := h.s.directAccept(288, lfd, 0, false); !ok || e != syscall.EAGAIN || r != ^uintptr(0) {
		t.Fatalf("accept with nothing pending = %d, %v, %v, want EAGAIN", r, e, ok)
	}
	h.k.mu.Lock()
	h.k.nonblock[lfd] = false
	h.k.mu.Unlock()
	if _, _, ok, _, _ := h.s.directAccept(288, lfd, 0, false); ok {
		t.Fatal("a blocking accept with nothing pending was served directly")
	}
	h.k.mu.Lock()
	h.k.nonblock[lfd] = true
	h.k.mu.Unlock()

	h.call(41, cfd, false, afInet, sockStream|sockNonblock, 0)
	h.call(42, -1, true, cfd, bptr(sockaddr4([4]byte{127, 0, 0, 1}, port)), 16)
	h.waitReady(cfd, uint32(epollOut))
	h.waitReady(lfd, uint32(epollIn))
	// Declined, connection kept: bad flags, and a kernel that will not
	// reserve.
	if _, _, ok, _, _ := h.s.directAccept(288, lfd, 4, false); ok {
		t.Fatal("accept4 with bad flags was served directly")
	}
	h.k.mu.Lock()
	h.k.refuseReserve = true
	h.k.mu.Unlock()
	if _, _, ok, _, _ := h.s.directAccept(288, lfd, 0, false); ok {
		t.Fatal("accept was served although the kernel would not reserve")
	}
	h.k.mu.Lock()
	h.k.refuseReserve = false
	h.k.mu.Unlock()

	r, e, ok, peer, pn := h.s.directAccept(288, lfd, sockNonblock|sockCloexec, true)
	if !ok || e != 0 {
		t.Fatalf("accept4 with a connection pending = %d, %v, %v", r, e, ok)
	}
	afd := int32(r)
	var cname [16]byte
	cn := int32(16)
	h.call(51, -1, true, cfd, bptr(cname[:]), ptr(&cn))
	if peer == nil || pn != 16 || !bytes.Equal(peer[:16], cname[:]) {
		t.Fatalf("peer %v (%d bytes), want the client's name %x", peer, pn, cname)
	}
	h.k.mu.Lock()
	names, installed := h.k.installed[afd]
	nb := h.k.nonblock[afd]
	h.k.mu.Unlock()
	if !installed || !nb {
		t.Fatalf("the accepted socket was installed %v, non-blocking %v", installed, nb)
	}
	if names.LocalLen != 16 || binary.BigEndian.Uint16(names.Local[2:]) != port || !bytes.Equal(names.Remote[:names.RemoteLen], cname[:]) {
		t.Fatalf("installed names: local %x, remote %x", names.Local[:names.LocalLen], names.Remote[:names.RemoteLen])
	}
	if h.k.level(lfd)&uint32(epollIn) != 0 {
		t.Fatal("the listener is still readable after its only connection was accepted")
	}
	// The new socket is the server's: data flows both ways, direct.
	msg := []byte("accepted directly")
	if r, ok := h.direct(1, cfd, bptr(msg), uint64(len(msg))); !ok || r != int64(len(msg)) {
		t.Fatalf("write to the accepted connection = %d, %v", r, ok)
	}
	h.waitReady(afd, uint32(epollIn))
	buf := make([]byte, 64)
	if r, ok := h.direct(0, uint64(afd), bptr(buf), 64); !ok || !bytes.Equal(buf[:max(r, 0)], msg) {
		t.Fatalf("read on the accepted socket = %d, %v, %q", r, ok, buf)
	}
	// Drained again: EAGAIN, and no description left reserved.
	if _, e, ok, _, _ := h.s.directAccept(288, lfd, 0, false); !ok || e != syscall.EAGAIN {
		t.Fatalf("second accept = %v, %v, want EAGAIN", e, ok)
	}
	h.k.mu.Lock()
	left := len(h.k.reserved)
	h.k.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d descriptions left reserved", left)
	}
	// A datagram socket is the kernel's to refuse.
	const ufd = 30
	h.call(41, ufd, false, afInet, sockDgram|sockNonblock, 0)
	if _, _, ok, _, _ := h.s.directAccept(288, ufd, 0, false); ok {
		t.Fatal("accept on a UDP socket was served directly")
	}
}

// TestQDiscAllocs: a write and the read of it over loopback, served
// directly, allocate nothing, including the data segment and its ACK on
// their way through the NIC (listQDisc). With gVisor's default queueing
// discipline this measured 2.
func TestQDiscAllocs(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 10, 11, 12
	tcpPair(h, lfd, cfd, afd)
	msg := []byte("0123456789")
	buf := make([]byte, len(msg))
	exchange := func() {
		if r, ok := h.direct(1, cfd, bptr(msg), uint64(len(msg))); !ok || r != int64(len(msg)) {
			t.Fatalf("direct write = %d, %v", r, ok)
		}
		h.waitReady(afd, uint32(epollIn))
		if r, ok := h.direct(0, afd, bptr(buf), uint64(len(buf))); !ok || r != int64(len(buf)) {
			t.Fatalf("direct read = %d, %v", r, ok)
		}
	}
	for range 50 { // fill gVisor's pools first
		exchange()
	}
	if allocs := testing.AllocsPerRun(200, exchange); allocs != 0 {
		t.Errorf("a write and its read allocated %.1f objects, want 0", allocs)
	}
	if !bytes.Equal(buf, msg) {
		t.Errorf("read %q, want %q", buf, msg)
	}
}

// TestDirectReadSupersedesLateEvent: a direct read that takes data the
// kernel's level did not show yet (the event announcing it was still on
// its way) reports the level after it, so the late event, numbered
// before that report, cannot leave the drained socket readable. Without
// the report a level-triggered poll or epoll said POLLIN for nothing
// until the next report.
func TestDirectReadSupersedesLateEvent(t *testing.T) {
	h := newHarness(t)
	h.pair(sockStream|sockNonblock, 40, 41)
	msg := []byte("late")
	if r, ok := h.direct(1, 40, bptr(msg), uint64(len(msg))); !ok || r != int64(len(msg)) {
		t.Fatalf("direct write = %d, %v", r, ok)
	}
	// Take the data's event back out of the kernel's state, as if its
	// report had not arrived yet: the level without it, and the number
	// before it.
	h.k.mu.Lock()
	event, seq, id := h.k.ready[41], h.k.seq[41], h.k.ids[41]
	h.k.ready[41] &^= uint32(epollIn)
	h.k.seq[41] = seq - 1
	h.k.mu.Unlock()
	if event&uint32(epollIn) == 0 {
		t.Fatalf("fd 41 was not readable after the write (level %#x)", event)
	}
	buf := make([]byte, 32)
	if r, ok := h.direct(0, 41, bptr(buf), 32); !ok || string(buf[:r]) != string(msg) {
		t.Fatalf("direct read = %d, %v, %q", r, ok, buf)
	}
	h.k.Ready(41, event, 0, seq, id) // the event arrives now
	if lvl := h.k.level(41); lvl&uint32(epollIn) != 0 {
		t.Fatalf("fd 41 readable after a direct read drained it and its event came late (level %#x)", lvl)
	}
}
