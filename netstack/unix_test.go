package netstack

import (
	"bytes"
	"encoding/binary"
	"syscall"
	"testing"
	"time"
)

// sun builds a struct sockaddr_un as Go's syscall package does: a path
// with its NUL, or "@name" as an abstract name without one.
func sun(name string) []byte {
	b := []byte{afUnix, 0}
	if name != "" && name[0] == '@' {
		return append(append(b, 0), name[1:]...)
	}
	return append(append(b, name...), 0)
}

func errn(e syscall.Errno) int64 { return -int64(e) }

func (h *harness) want(what string, got, want int64) {
	h.t.Helper()
	if got != want {
		h.t.Fatalf("%s = %d, want %d", what, got, want)
	}
}

func TestUnixStream(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd, xfd = 40, 41, 42, 43
	h.want("socket", h.call(41, lfd, false, afUnix, sockStream|sockNonblock, 0), lfd)
	name := sun("@velocity-unix-test")
	h.want("bind", h.call(49, -1, true, lfd, bptr(name), uint64(len(name))), 0)
	h.want("listen", h.call(50, -1, true, lfd, 16), 0)
	// getsockname gives back the abstract name with its exact length.
	got := make([]byte, 110)
	n := int32(len(got))
	h.want("getsockname", h.call(51, -1, true, lfd, bptr(got), ptr(&n)), 0)
	if !bytes.Equal(got[:n], name) {
		t.Fatalf("getsockname = %q, want %q", got[:n], name)
	}
	h.want("accept with nobody connecting", h.call(43, afd, true, lfd, 0, 0), errn(syscall.EAGAIN))

	h.call(41, cfd, false, afUnix, sockStream|sockNonblock, 0)
	buf := make([]byte, 64)
	h.want("read before connect", h.call(0, -1, true, cfd, bptr(buf), 64), errn(syscall.EINVAL))
	h.want("write before connect", h.call(1, -1, true, cfd, bptr(buf), 64), errn(syscall.ENOTCONN))
	h.want("connect", h.call(42, -1, true, cfd, bptr(name), uint64(len(name))), 0)
	h.want("connect again", h.call(42, -1, true, cfd, bptr(name), uint64(len(name))), errn(syscall.EISCONN))
	h.waitReady(lfd, epollIn)
	if h.k.level(cfd)&epollOut == 0 {
		t.Fatalf("connected socket not writable (level %#x)", h.k.level(cfd))
	}
	// The client's peer is the listener's name; the accepted socket's
	// local name is the listener's and its peer is unnamed.
	n = 110
	h.want("getpeername", h.call(52, -1, true, cfd, bptr(got), ptr(&n)), 0)
	if !bytes.Equal(got[:n], name) {
		t.Fatalf("client's peer = %q", got[:n])
	}
	peer := make([]byte, 110)
	n = 110
	h.want("accept4", h.call(288, afd, true, lfd, bptr(peer), ptr(&n), sockNonblock), afd)
	if n != 2 || peer[0] != afUnix {
		t.Fatalf("accepted peer address %q (len %d), want the family alone", peer[:n], n)
	}
	if h.names[afd].LocalLen != uint32(len(name)) || h.names[afd].RemoteLen != 2 {
		t.Fatalf("accepted socket's names %+v", h.names[afd])
	}
	if h.k.level(lfd)&epollIn != 0 {
		t.Fatal("listener still readable after its only connection was accepted")
	}

	msg := []byte("hello over AF_UNIX")
	h.want("write", h.call(1, -1, true, cfd, bptr(msg), uint64(len(msg))), int64(len(msg)))
	h.waitReady(afd, epollIn)
	// Two writes are one byte stream.
	h.want("write", h.call(1, -1, true, cfd, bptr(msg), uint64(len(msg))), int64(len(msg)))
	h.want("read", h.call(0, -1, true, afd, bptr(buf), 64), int64(2*len(msg)))
	if !bytes.Equal(buf[:2*len(msg)], append(append([]byte{}, msg...), msg...)) {
		t.Fatalf("read %q", buf)
	}
	if h.k.level(afd)&epollIn != 0 {
		t.Fatalf("drained socket still readable (level %#x)", h.k.level(afd))
	}
	h.want("read of empty socket", h.call(0, -1, true, afd, bptr(buf), 64), errn(syscall.EAGAIN))

	// The other direction, and a blocking read woken by a write.
	done := make(chan int64)
	go func() { done <- h.call(0, -1, false, cfd, bptr(buf[32:]), 32) }()
	time.Sleep(10 * time.Millisecond)
	h.want("write back", h.call(1, -1, true, afd, bptr(msg), uint64(len(msg))), int64(len(msg)))
	select {
	case r := <-done:
		h.want("blocking read", r, int64(len(msg)))
	case <-time.After(5 * time.Second):
		t.Fatal("blocking read never woke")
	}

	// shutdown(SHUT_WR): the peer reads end of file, and its poller is told.
	h.want("shutdown", h.call(48, -1, true, cfd, 1), 0)
	h.waitReady(afd, epollIn|epollRdHup)
	h.want("read after peer's shutdown", h.call(0, -1, true, afd, bptr(buf), 64), 0)
	h.want("write after own shutdown", h.call(1, -1, true, cfd, bptr(msg), 4), errn(syscall.EPIPE))

	// Names in use, and names nobody has.
	h.call(41, xfd, false, afUnix, sockStream|sockNonblock, 0)
	h.want("bind to a used name", h.call(49, -1, true, xfd, bptr(name), uint64(len(name))), errn(syscall.EADDRINUSE))
	missing := sun("/no/such/socket")
	h.want("connect to a missing path", h.call(42, -1, true, xfd, bptr(missing), uint64(len(missing))), errn(syscall.ENOENT))
	gone := sun("@nobody-here")
	h.want("connect to a missing abstract name", h.call(42, -1, true, xfd, bptr(gone), uint64(len(gone))), errn(syscall.ECONNREFUSED))
	h.want("bind with the wrong family", h.call(49, -1, true, xfd, bptr(sockaddr4([4]byte{127, 0, 0, 1}, 1)), 16), errn(syscall.EINVAL))

	// Closing a socket with unread data resets its peer; writes to a
	// closed peer are EPIPE.
	h.want("write", h.call(1, -1, true, cfd+0, bptr(msg), 1), errn(syscall.EPIPE))
	h.want("write to client", h.call(1, -1, true, afd, bptr(msg), 3), 3)
	h.want("close client with unread data", h.call(3, -1, true, cfd), 0)
	h.waitReady(afd, epollHup)
	h.want("write to a closed peer", h.call(1, -1, true, afd, bptr(msg), 3), errn(syscall.EPIPE))
	h.want("read after a reset", h.call(0, -1, true, afd, bptr(buf), 64), errn(syscall.ECONNRESET))
	h.want("read after that", h.call(0, -1, true, afd, bptr(buf), 64), 0)

	// Closing the listener frees its name.
	for _, fd := range []uint64{afd, lfd} {
		h.want("close", h.call(3, -1, true, fd), 0)
	}
	h.want("bind the freed name", h.call(49, -1, true, xfd, bptr(name), uint64(len(name))), 0)
	h.want("close", h.call(3, -1, true, xfd), 0)
	if len(h.s.socks) != 0 || len(h.s.unix.names) != 0 {
		t.Fatalf("%d sockets, %d names left after close", len(h.s.socks), len(h.s.unix.names))
	}
}

func TestUnixDgram(t *testing.T) {
	h := newHarness(t)
	const a, b, c = 50, 51, 52
	for _, fd := range []int64{a, b, c} {
		h.want("socket", h.call(41, fd, false, afUnix, sockDgram|sockNonblock, 0), fd)
	}
	path := sun(t.TempDir() + "/dgram.sock")
	h.want("bind", h.call(49, -1, true, a, bptr(path), uint64(len(path))), 0)
	// b autobinds: the family alone picks an abstract name of five hex digits.
	h.want("autobind", h.call(49, -1, true, b, bptr(sun("")[:2]), 2), 0)
	if n := h.names[b]; n.LocalLen != 8 || n.Local[2] != 0 {
		t.Fatalf("autobind name %q", n.Local[:n.LocalLen])
	}
	msg := []byte("one datagram")
	h.want("sendto", h.call(44, -1, true, b, bptr(msg), uint64(len(msg)), 0, bptr(path), uint64(len(path))), int64(len(msg)))
	h.want("sendto from an unnamed socket", h.call(44, -1, true, c, bptr(msg), 3, 0, bptr(path), uint64(len(path))), 3)
	h.waitReady(a, epollIn)
	small := make([]byte, 4)
	from := make([]byte, 110)
	n := int32(len(from))
	h.want("recvfrom(MSG_TRUNC)", h.call(45, -1, true, a, bptr(small), 4, msgTrunc, bptr(from), ptr(&n)), int64(len(msg)))
	bn := h.names[b]
	if string(small) != "one " || n != 8 || !bytes.Equal(from[:8], bn.Local[:8]) {
		t.Fatalf("recvfrom got %q from %q", small, from[:n])
	}
	n = int32(len(from))
	h.want("recvfrom", h.call(45, -1, true, a, bptr(small), 4, 0, bptr(from), ptr(&n)), 3)
	if n != 0 {
		t.Fatalf("an unnamed sender's address has length %d, want 0", n)
	}
	h.want("recvfrom of an empty queue", h.call(45, -1, true, a, bptr(small), 4, 0, 0, 0), errn(syscall.EAGAIN))

	// The queue holds max_dgram_qlen+1 datagrams, then EAGAIN.
	sent := 0
	for ; sent < 100; sent++ {
		if r := h.call(44, -1, true, b, bptr(msg), 1, 0, bptr(path), uint64(len(path))); r < 0 {
			h.want("sendto to a full queue", r, errn(syscall.EAGAIN))
			break
		}
	}
	if sent != unixDgramQlen+1 {
		t.Fatalf("%d datagrams queued before EAGAIN", sent)
	}
	for i := 0; i < sent; i++ {
		h.want("drain", h.call(0, -1, true, a, bptr(small), 4), 1)
	}

	// connect fixes the destination; a socket connected elsewhere refuses
	// others' datagrams; a closed destination is ECONNREFUSED.
	h.want("send unconnected", h.call(1, -1, true, c, bptr(msg), 3), errn(syscall.ENOTCONN))
	h.want("connect", h.call(42, -1, true, c, bptr(path), uint64(len(path))), 0)
	h.want("write", h.call(1, -1, true, c, bptr(msg), 3), 3)
	bname := bn.Local[:bn.LocalLen]
	h.want("connect a to b", h.call(42, -1, true, a, bptr(bname), uint64(len(bname))), 0)
	h.want("send to a socket connected elsewhere", h.call(1, -1, true, c, bptr(msg), 3), errn(syscall.EPERM))
	h.want("close a", h.call(3, -1, true, a), 0)
	h.want("send to a closed peer", h.call(1, -1, true, c, bptr(msg), 3), errn(syscall.ECONNREFUSED))
	h.want("then", h.call(1, -1, true, c, bptr(msg), 3), errn(syscall.ENOTCONN))
	h.want("listen on a datagram socket", h.call(50, -1, true, b, 1), errn(syscall.EOPNOTSUPP))
	stream := sun("@stream-only")
	h.call(41, 53, false, afUnix, sockStream|sockNonblock, 0)
	h.want("bind stream", h.call(49, -1, true, 53, bptr(stream), uint64(len(stream))), 0)
	h.want("send to a stream socket's name", h.call(44, -1, true, b, bptr(msg), 3, 0, bptr(stream), uint64(len(stream))), errn(syscall.EPROTOTYPE))
}

// pair makes a socketpair as the kernel does: it reserves and names both
// fds and queues one creation.
func (h *harness) pair(typ int, fd0, fd1 int32) {
	id := h.k.newSocket(fd0, typ&sockNonblock != 0)
	h.k.mu.Lock()
	h.k.ids[fd1], h.k.nonblock[fd1] = id+1, typ&sockNonblock != 0
	h.k.mu.Unlock()
	h.s.create(&Msg{NR: 53, Args: [6]uint64{afUnix, uint64(typ)}, NewFD: int64(fd0) | int64(fd1)<<32, SockID: id,
		Cred: testCred, CredFlags: credSet, Euid: h.euid, Egid: h.egid})
	if e, ok := h.s.failed[fd0]; ok {
		h.t.Fatalf("socketpair: %v", e)
	}
}

func TestUnixSocketpair(t *testing.T) {
	h := newHarness(t)
	h.pair(sockSeqpacket|sockNonblock, 60, 61)
	if h.k.level(60)&epollOut == 0 || h.k.level(61)&epollOut == 0 {
		t.Fatal("a new pair is not writable")
	}
	// Seqpacket keeps message boundaries and truncates.
	h.want("write", h.call(1, -1, true, 60, bptr([]byte("first")), 5), 5)
	h.want("write", h.call(1, -1, true, 60, bptr([]byte("second")), 6), 6)
	buf := make([]byte, 64)
	h.want("read", h.call(0, -1, true, 61, bptr(buf), 64), 5)
	hdr := make([]byte, 56)
	iov := make([]byte, 16)
	binary.LittleEndian.PutUint64(iov, bptr(buf))
	binary.LittleEndian.PutUint64(iov[8:], 3)
	binary.LittleEndian.PutUint64(hdr[16:], bptr(iov))
	binary.LittleEndian.PutUint64(hdr[24:], 1)
	h.want("recvmsg into 3 bytes", h.call(47, -1, true, 61, bptr(hdr), 0), 3)
	if string(buf[:3]) != "sec" || binary.LittleEndian.Uint32(hdr[48:])&msgTrunc == 0 {
		t.Fatalf("recvmsg got %q flags %#x", buf[:3], binary.LittleEndian.Uint32(hdr[48:]))
	}
	h.want("close", h.call(3, -1, true, 60), 0)
	h.waitReady(61, epollHup)
	h.want("read after the peer closed", h.call(0, -1, true, 61, bptr(buf), 64), 0)

	// A stream pair: a large blocking write completes as the reader drains.
	h.pair(sockStream, 62, 63)
	big := bytes.Repeat([]byte("0123456789abcdef"), unixBuf/8)
	done := make(chan int64)
	go func() { done <- h.call(1, -1, false, 62, bptr(big), uint64(len(big))) }()
	var got []byte
	for len(got) < len(big) {
		r := h.call(0, -1, false, 63, bptr(buf), 64)
		if r <= 0 {
			t.Fatalf("read = %d after %d bytes", r, len(got))
		}
		got = append(got, buf[:r]...)
	}
	h.want("blocking write", <-done, int64(len(big)))
	if !bytes.Equal(got, big) {
		t.Fatal("stream differs")
	}
	// Closing one end wakes the other's blocking read with end of file.
	go func() { done <- h.call(0, -1, false, 63, bptr(buf), 64) }()
	time.Sleep(10 * time.Millisecond)
	h.want("close", h.call(3, -1, true, 62), 0)
	select {
	case r := <-done:
		h.want("blocking read at close", r, 0)
	case <-time.After(5 * time.Second):
		t.Fatal("blocking read never woke")
	}
	h.want("close", h.call(3, -1, true, 63), 0)
	h.want("close", h.call(3, -1, true, 61), 0)
	if len(h.s.socks) != 0 {
		t.Fatalf("%d sockets left", len(h.s.socks))
	}
}

func TestSockaddrUnix(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		addr []byte
		e    syscall.Errno
	}{
		{[]byte{1, 0, '/', 's', 0, 'x'}, []byte{1, 0, '/', 's', 0}, 0}, // the path ends at its NUL
		{[]byte{1, 0, '/', 's'}, []byte{1, 0, '/', 's', 0}, 0},
		{[]byte{1, 0, 0, 'a', 0, 'b'}, []byte{1, 0, 0, 'a', 0, 'b'}, 0}, // abstract names are bytes
		{[]byte{1, 0}, nil, 0},
		{[]byte{1}, nil, syscall.EINVAL},
		{[]byte{2, 0, 'x'}, nil, syscall.EINVAL},
		{append([]byte{1, 0}, bytes.Repeat([]byte{'x'}, 109)...), nil, syscall.EINVAL},
	} {
		n, e := decodeSockaddrUnix(tc.in)
		if e != tc.e || !bytes.Equal(n.addr, tc.addr) {
			t.Errorf("%q: %q %v, want %q %v", tc.in, n.addr, e, tc.addr, tc.e)
		}
	}
}

// FuzzDecodeSockaddrUnix: any bytes decode to a name or EINVAL, and a
// decoded name, as getsockname reports it, decodes to the same name.
func FuzzDecodeSockaddrUnix(f *testing.F) {
	f.Add([]byte{1, 0, '/', 't', 'm', 'p', '/', 's', 0})
	f.Add([]byte{1, 0, 0, 'v', 'e', 'l'})
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 0, 'r', 'e', 'l', 0, 0})
	f.Add(append([]byte{1, 0}, bytes.Repeat([]byte{'p'}, 108)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, e := decodeSockaddrUnix(b)
		if e != 0 {
			if e != syscall.EINVAL {
				t.Fatalf("errno %v", e)
			}
			return
		}
		if n.autobind {
			return
		}
		if len(n.addr) > sunLen || len(n.addr) < 3 {
			t.Fatalf("%q: address of %d bytes", b, len(n.addr))
		}
		n2, e := decodeSockaddrUnix(n.addr)
		if e != 0 || n2.key != n.key || !bytes.Equal(n2.addr, n.addr) {
			t.Fatalf("%q -> %q %q -> %q %q %v", b, n.addr, n.key, n2.addr, n2.key, e)
		}
	})
}

const (
	epollRdHup = 0x2000
	epollHup   = 0x10
)

// TestUnixBacklog: a full backlog is EAGAIN for a non-blocking connect
// (as on Linux) and a wait for a blocking one, which an accept ends.
func TestUnixBacklog(t *testing.T) {
	h := newHarness(t)
	name := sun("@backlog")
	h.call(41, 70, false, afUnix, sockStream|sockNonblock, 0)
	h.want("bind", h.call(49, -1, true, 70, bptr(name), uint64(len(name))), 0)
	h.want("listen", h.call(50, -1, true, 70, 0), 0)
	h.call(41, 71, false, afUnix, sockStream|sockNonblock, 0)
	h.call(41, 72, false, afUnix, sockStream|sockNonblock, 0)
	h.call(41, 73, false, afUnix, sockStream, 0)
	h.want("connect", h.call(42, -1, true, 71, bptr(name), uint64(len(name))), 0)
	h.want("connect to a full backlog", h.call(42, -1, true, 72, bptr(name), uint64(len(name))), errn(syscall.EAGAIN))
	done := make(chan int64)
	go func() { done <- h.call(42, -1, false, 73, bptr(name), uint64(len(name))) }()
	select {
	case r := <-done:
		t.Fatalf("blocking connect to a full backlog returned %d", r)
	case <-time.After(20 * time.Millisecond):
	}
	h.want("accept", h.call(43, 74, true, 70, 0, 0), 74)
	select {
	case r := <-done:
		h.want("blocking connect", r, 0)
	case <-time.After(5 * time.Second):
		t.Fatal("blocking connect never woke")
	}
	h.want("listen on a connected socket", h.call(50, -1, true, 71, 1), errn(syscall.EINVAL))
	h.want("close listener", h.call(3, -1, true, 70), 0)
	// 73's connection was never accepted: the listener's close resets it.
	buf := make([]byte, 8)
	h.want("read of a dropped connection", h.call(0, -1, true, 73, bptr(buf), 8), errn(syscall.ECONNRESET))
}

// TestUnixOptions: the options kept, SO_PEERCRED, and what is refused
// rather than pretended: credentials.
func TestUnixOptions(t *testing.T) {
	h := newHarness(t)
	h.pair(sockStream|sockNonblock, 80, 81)
	getInt := func(name int) (int64, int32) {
		var v [12]byte
		n := int32(len(v))
		r := h.call(55, -1, true, 80, solSocket, uint64(name), bptr(v[:]), ptr(&n))
		return r, int32(binary.LittleEndian.Uint32(v[:]))
	}
	if r, v := getInt(soType); r != 0 || v != sockStream {
		t.Fatalf("SO_TYPE = %d, %d", v, r)
	}
	if r, v := getInt(soDomain); r != 0 || v != afUnix {
		t.Fatalf("SO_DOMAIN = %d, %d", v, r)
	}
	if r, v := getInt(soPeerCred); r != 0 || v == 0 {
		t.Fatalf("SO_PEERCRED pid = %d, %d", v, r)
	}
	x := int32(1)
	h.want("SO_REUSEADDR", h.call(54, -1, true, 80, solSocket, soReuseAddr, ptr(&x), 4), 0)
	if r, v := getInt(soReuseAddr); r != 0 || v != 1 {
		t.Fatalf("SO_REUSEADDR reads back %d, %d", v, r)
	}
	h.want("SO_PASSCRED", h.call(54, -1, true, 80, solSocket, soPassCred, ptr(&x), 4), 0)
	if r, v := getInt(soPassCred); r != 0 || v != 1 {
		t.Fatalf("SO_PASSCRED reads back %d, %d", v, r)
	}
	h.want("SO_PASSCRED of 2 bytes", h.call(54, -1, true, 80, solSocket, soPassCred, ptr(&x), 2), errn(syscall.EINVAL))
	x = 0
	h.want("SO_PASSCRED off", h.call(54, -1, true, 80, solSocket, soPassCred, ptr(&x), 4), 0)
	x = 1
	h.want("TCP_NODELAY on AF_UNIX", h.call(54, -1, true, 80, ipprotoTCP, tcpNoDelay, ptr(&x), 4), errn(syscall.EOPNOTSUPP))
	// sendmsg's control data is the kernel's (runtime/vk_netrights.go):
	// it passes SCM_RIGHTS as tokens, so the server sends the data alone.
	data := []byte("x")
	ctl := make([]byte, 24)
	iov := make([]byte, 16)
	binary.LittleEndian.PutUint64(iov, bptr(data))
	binary.LittleEndian.PutUint64(iov[8:], 1)
	hdr := make([]byte, 56)
	binary.LittleEndian.PutUint64(hdr[16:], bptr(iov))
	binary.LittleEndian.PutUint64(hdr[24:], 1)
	binary.LittleEndian.PutUint64(hdr[32:], bptr(ctl))
	binary.LittleEndian.PutUint64(hdr[40:], 24)
	h.want("sendmsg with control data", h.call(46, -1, true, 80, bptr(hdr), 0), 1)
	binary.LittleEndian.PutUint64(hdr[40:], 0)
	h.want("sendmsg", h.call(46, -1, true, 80, bptr(hdr), 0), 1)
}

// FuzzUnixCalls runs sequences of non-blocking AF_UNIX calls on a few
// fds: no sequence panics, every result is a count or an errno, and once
// every fd is closed no socket or name is left.
func FuzzUnixCalls(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 3, 1, 0, 4, 0, 2, 5, 1, 9, 6, 2, 9, 8, 1, 0})
	f.Add([]byte{11, 0, 1, 5, 0, 200, 6, 1, 64, 7, 0, 1, 8, 0, 0, 5, 1, 3})
	f.Add([]byte{0, 0, 1, 1, 0, 2, 0, 1, 1, 1, 1, 1, 9, 1, 0, 10, 0, 5, 3, 1, 0, 8, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		h := newHarness(t)
		const base = 100
		open := map[int32]bool{}
		names := [][]byte{sun("@fuzz-a"), sun("@fuzz-b"), {afUnix, 0}, {2, 0}}
		types := []uint64{sockStream, sockDgram, sockSeqpacket, 9}
		buf := make([]byte, 300)
		arg := func(i int) int {
			if i < len(ops) {
				return int(ops[i])
			}
			return 0
		}
		nextFD := int32(base + 4)
		for i := 0; i+2 < len(ops) && i < 3*64; i += 3 {
			op, fd, x := ops[i]%12, int32(base+arg(i+1)%4), arg(i+2)
			var r int64
			switch op {
			case 0: // socket
				if open[fd] {
					continue
				}
				r = h.call(41, int64(fd), false, afUnix, types[x%4]|sockNonblock, 0)
				if r == int64(fd) {
					open[fd] = true
				}
			case 11: // socketpair onto fd and the next
				fd2 := fd%4 + base + 1
				if fd2 > base+3 || open[fd] || open[fd2] {
					continue
				}
				h.pair(int(types[x%3])|sockNonblock, fd, fd2)
				open[fd], open[fd2] = true, true
			default:
				if !open[fd] {
					continue
				}
				n := names[x%4]
				switch op {
				case 1:
					r = h.call(49, -1, true, uint64(fd), bptr(n), uint64(len(n)))
				case 2:
					r = h.call(50, -1, true, uint64(fd), uint64(x%3))
				case 3:
					r = h.call(42, -1, true, uint64(fd), bptr(n), uint64(len(n)))
				case 4:
					r = h.call(288, int64(nextFD), true, uint64(fd), 0, 0, sockNonblock)
					if r == int64(nextFD) {
						open[nextFD] = true
						nextFD++
					}
				case 5:
					r = h.call(1, -1, true, uint64(fd), bptr(buf), uint64(x+1))
				case 6:
					r = h.call(0, -1, true, uint64(fd), bptr(buf), uint64(x+1))
				case 7:
					r = h.call(48, -1, true, uint64(fd), uint64(x%4))
				case 8:
					r = h.call(3, -1, true, uint64(fd))
					delete(open, fd)
				case 9:
					r = h.call(44, -1, true, uint64(fd), bptr(buf), uint64(x%8), 0, bptr(n), uint64(len(n)))
				case 10:
					from := make([]byte, 110)
					fl := int32(len(from))
					r = h.call(45, -1, true, uint64(fd), bptr(buf), uint64(x+1), msgPeek*uint64(x&1), bptr(from), ptr(&fl))
				}
			}
			if r < -4095 || r > 4096 { // neither an errno nor a count or an fd
				t.Fatalf("op %d on fd %d: result %d", op, fd, r)
			}
		}
		for fd := range open {
			if r := h.call(3, -1, true, uint64(fd)); r != 0 {
				t.Fatalf("close(%d) = %d", fd, r)
			}
		}
		if len(h.s.socks) != 0 || len(h.s.unix.names) != 0 {
			t.Fatalf("%d sockets and %d names left", len(h.s.socks), len(h.s.unix.names))
		}
	})
}

// TestUnixPeerCred: SO_PEERCRED is the peer's pid and effective ids when
// the connection was made, as Linux's sk_peer_cred: a socketpair's
// creator for both ends (datagram pairs too); for a connection, the
// listener's as of listen(2) on the connecting end and the connecting
// thread's on the accepted one; later changes of the ids do not show.
// An unconnected socket has none (pid 0, uid and gid -1).
func TestUnixPeerCred(t *testing.T) {
	h := newHarness(t)
	peer := func(fd int32) [3]uint32 {
		t.Helper()
		var v [12]byte
		n := int32(len(v))
		if r := h.call(55, -1, true, uint64(fd), solSocket, soPeerCred, bptr(v[:]), ptr(&n)); r != 0 || n != 12 {
			t.Fatalf("SO_PEERCRED of %d: %d, length %d", fd, r, n)
		}
		return [3]uint32{binary.LittleEndian.Uint32(v[0:]), binary.LittleEndian.Uint32(v[4:]), binary.LittleEndian.Uint32(v[8:])}
	}
	h.euid, h.egid = 1001, 101
	h.pair(sockStream, 10, 11)
	h.pair(sockDgram, 12, 13)
	h.euid, h.egid = 0, 0 // changed after the pairs were made
	for _, fd := range []int32{10, 11, 12, 13} {
		if got := peer(fd); got != [3]uint32{1, 1001, 101} {
			t.Errorf("socketpair end %d: SO_PEERCRED %v, want the creator's pid 1, euid 1001, egid 101", fd, got)
		}
	}

	name := sun("@velocity-peercred-test")
	h.want("socket", h.call(41, 20, false, afUnix, sockStream, 0), 20)
	h.want("bind", h.call(49, -1, true, 20, bptr(name), uint64(len(name))), 0)
	h.euid, h.egid = 2002, 202
	h.want("listen", h.call(50, -1, true, 20, 4), 0)
	h.euid, h.egid = 3003, 303
	h.want("socket", h.call(41, 21, false, afUnix, sockStream, 0), 21)
	if got := peer(21); got != [3]uint32{0, ^uint32(0), ^uint32(0)} {
		t.Errorf("unconnected: SO_PEERCRED %v, want pid 0, uid and gid -1", got)
	}
	h.want("connect", h.call(42, -1, true, 21, bptr(name), uint64(len(name))), 0)
	h.euid, h.egid = 4004, 404
	h.want("accept", h.call(43, 22, true, 20, 0, 0), 22)
	if got := peer(21); got != [3]uint32{1, 2002, 202} {
		t.Errorf("connecting end: SO_PEERCRED %v, want the listener's at listen, euid 2002, egid 202", got)
	}
	if got := peer(22); got != [3]uint32{1, 3003, 303} {
		t.Errorf("accepted end: SO_PEERCRED %v, want the connecting thread's at connect, euid 3003, egid 303", got)
	}
}
