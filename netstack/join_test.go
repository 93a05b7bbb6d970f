package netstack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"syscall"
	"testing"
	"time"
)

// testJoinOff makes newHarness's servers leave loopback connections to
// gVisor's TCP (TestUnjoined).
var testJoinOff bool

const epollErr = 0x8

// sockaddr6 is a struct sockaddr_in6.
func sockaddr6(ip [16]byte, port uint16) []byte {
	b := make([]byte, 28)
	binary.LittleEndian.PutUint16(b, afInet6)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[8:], ip[:])
	return b
}

// listenOn makes fd a non-blocking TCP listener of family on addr (port
// 0: any) and returns its port.
func (h *harness) listenOn(fd int32, family int, addr []byte, backlog int) uint16 {
	h.t.Helper()
	h.want("socket", h.call(41, int64(fd), false, uint64(family), sockStream|sockNonblock, 0), int64(fd))
	h.want("bind", h.call(49, -1, true, uint64(fd), bptr(addr), uint64(len(addr))), 0)
	h.want("listen", h.call(50, -1, true, uint64(fd), uint64(backlog)), 0)
	got := make([]byte, 28)
	n := int32(28)
	h.want("getsockname", h.call(51, -1, true, uint64(fd), bptr(got), ptr(&n)), 0)
	return binary.BigEndian.Uint16(got[2:])
}

// connectTo makes fd a non-blocking TCP socket of family and connects it
// to addr, returning connect's result.
func (h *harness) connectTo(fd int32, family int, addr []byte) int64 {
	h.t.Helper()
	h.want("socket", h.call(41, int64(fd), false, uint64(family), sockStream|sockNonblock, 0), int64(fd))
	return h.call(42, -1, true, uint64(fd), bptr(addr), uint64(len(addr)))
}

// name is getsockname (peer false) or getpeername of fd, from the names
// the kernel cached.
func (h *harness) name(fd int32, peer bool) []byte {
	h.t.Helper()
	b := make([]byte, 28)
	n := int32(28)
	nr := uint64(51)
	if peer {
		nr = 52
	}
	if r := h.call(nr, -1, true, uint64(fd), bptr(b), ptr(&n)); r != 0 {
		h.t.Fatalf("get%sname(%d) = %d", map[bool]string{false: "sock", true: "peer"}[peer], fd, r)
	}
	return b[:n]
}

func (h *harness) write(fd int32, b []byte) int64 {
	return h.call(1, -1, true, uint64(fd), bptr(b), uint64(len(b)))
}

func (h *harness) read(fd int32, b []byte) int64 {
	return h.call(0, -1, true, uint64(fd), bptr(b), uint64(len(b)))
}

func (h *harness) soError(fd int32) int32 {
	h.t.Helper()
	v, r := h.getInt(fd, solSocket, soError)
	if r != 0 {
		h.t.Fatalf("getsockopt(SO_ERROR) = %d", r)
	}
	return v
}

// joinedPair makes a listener (lfd), a connected socket (cfd) and the
// accepted one (afd) over 127.0.0.1, and checks that they were joined.
func joinedPair(h *harness, lfd, cfd, afd int32) uint16 {
	h.t.Helper()
	port := h.listenOn(lfd, afInet, sockaddr4([4]byte{127, 0, 0, 1}, 0), 16)
	before := h.s.joins.joined.Load()
	h.want("connect", h.connectTo(cfd, afInet, sockaddr4([4]byte{127, 0, 0, 1}, port)), 0)
	if got := h.s.joins.joined.Load() - before; got != 1 {
		h.t.Fatalf("connections joined = %d, want 1", got)
	}
	h.waitReady(lfd, epollIn)
	h.want("accept4", h.call(288, int64(afd), true, uint64(lfd), 0, 0, sockNonblock), int64(afd))
	return port
}

// TestJoinedConnection: a connect to a listener of the same server over
// loopback is joined, and behaves as TCP: the addresses both ends report,
// data both ways, edges and levels as epoll sees them, MSG_PEEK, FIONREAD,
// and EOF after shutdown(SHUT_WR) with the other direction still open.
func TestJoinedConnection(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 10, 11, 12
	port := joinedPair(h, lfd, cfd, afd)

	cl, cp := h.name(cfd, false), h.name(cfd, true)
	al, ap := h.name(afd, false), h.name(afd, true)
	if !bytes.Equal(cp, sockaddr4([4]byte{127, 0, 0, 1}, port)) || !bytes.Equal(al, cp) {
		t.Errorf("connected end's peer %x, accepted end's name %x: want 127.0.0.1:%d", cp, al, port)
	}
	if !bytes.Equal(ap, cl) || binary.BigEndian.Uint16(cl[2:]) == 0 || !bytes.Equal(cl[4:8], []byte{127, 0, 0, 1}) {
		t.Errorf("connected end's name %x, accepted end's peer %x: want the same 127.0.0.1 with a port", cl, ap)
	}
	if h.k.level(cfd)&epollOut == 0 || h.k.level(afd)&epollOut == 0 {
		t.Errorf("levels %#x and %#x: both ends should be writable", h.k.level(cfd), h.k.level(afd))
	}

	// The accepting end keeps its own options (it has no gVisor
	// endpoint): set and read back, as Go sets them on every connection.
	for _, o := range []struct{ level, name int }{{ipprotoTCP, tcpKeepIdle}, {ipprotoTCP, tcpKeepIntvl}, {ipprotoTCP, tcpKeepCnt}, {ipprotoTCP, tcpNoDelay}, {solSocket, soKeepAlive}} {
		if r := h.setInt(afd, o.level, o.name, 7); r != 0 {
			t.Fatalf("setsockopt(%d, %d) = %d", o.level, o.name, r)
		}
		want := int32(7)
		if o.name == tcpNoDelay && o.level == ipprotoTCP || o.name == soKeepAlive && o.level == solSocket {
			want = 1
		}
		if v, r := h.getInt(afd, o.level, o.name); r != 0 || v != want {
			t.Errorf("getsockopt(%d, %d) = %d (%d), want %d", o.level, o.name, v, r, want)
		}
	}
	if v, r := h.getInt(afd, ipprotoTCP, tcpMaxSeg); r != 0 || v != joinMSS {
		t.Errorf("TCP_MAXSEG = %d (%d), want %d", v, r, joinMSS)
	}

	msg := []byte("over the joined connection")
	h.want("write", h.write(cfd, msg), int64(len(msg)))
	h.waitReady(afd, epollIn)
	if v, r := h.ioctlInt(afd, fionread); r != 0 || int(v) != len(msg) {
		t.Errorf("FIONREAD = %d (%d), want %d", v, r, len(msg))
	}
	peek := make([]byte, 4)
	h.want("recv(MSG_PEEK)", h.call(45, -1, true, afd, bptr(peek), 4, msgPeek, 0, 0), 4)
	got := make([]byte, 64)
	n := h.read(afd, got)
	if n != int64(len(msg)) || !bytes.Equal(got[:n], msg) || string(peek) != "over" {
		t.Fatalf("read %d %q after peeking %q", n, got[:max(n, 0)], peek)
	}
	h.want("read of nothing", h.read(afd, got), -int64(syscall.EAGAIN))
	if h.k.level(afd)&epollIn != 0 {
		t.Errorf("level %#x after draining: still readable", h.k.level(afd))
	}
	h.want("reply", h.write(afd, []byte("back")), 4)
	h.waitReady(cfd, epollIn)
	h.want("read reply", h.read(cfd, got), 4)

	// SHUT_WR: the peer reads what was sent, then EOF, and sees RDHUP;
	// it can still answer.
	h.want("write", h.write(cfd, []byte("last")), 4)
	h.want("shutdown", h.call(48, -1, true, cfd, 1), 0)
	h.waitReady(afd, epollRdHup)
	h.want("read before EOF", h.read(afd, got), 4)
	h.want("read at EOF", h.read(afd, got), 0)
	h.want("write after SHUT_WR", h.write(cfd, []byte("x")), -int64(syscall.EPIPE))
	h.want("answer after peer's SHUT_WR", h.write(afd, []byte("still")), 5)
	h.waitReady(cfd, epollIn)
	h.want("read answer", h.read(cfd, got), 5)
	// Both ends shut down their sending: each reads EOF and sees HUP.
	h.want("shutdown", h.call(48, -1, true, afd, 1), 0)
	h.waitReady(cfd, epollHup)
	h.want("read at EOF", h.read(cfd, got), 0)
	if h.k.level(afd)&epollHup == 0 {
		t.Errorf("level %#x with both directions shut: no HUP", h.k.level(afd))
	}
	h.want("close", h.call(3, -1, true, cfd), 0)
	h.want("close", h.call(3, -1, true, afd), 0)
}

// TestJoinedReset: closing with data unread resets the connection, as
// Linux's RST: the peer gets its data, then ECONNRESET once, then EOF,
// and its writes fail. A write to a peer that closed cleanly succeeds
// once (Linux sends it and gets a RST back) and then fails with EPIPE.
func TestJoinedReset(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 10, 11, 12
	joinedPair(h, lfd, cfd, afd)
	got := make([]byte, 64)
	h.want("write", h.write(afd, []byte("unread by the client? no: read")), 30)
	h.want("write", h.write(cfd, []byte("never read")), 10)
	h.waitReady(afd, epollIn)
	h.want("close with data unread", h.call(3, -1, true, afd), 0)
	h.waitReady(cfd, epollErr)
	h.want("read of what came before", h.read(cfd, got), 30)
	h.want("read after the reset", h.read(cfd, got), -int64(syscall.ECONNRESET))
	h.want("read after that", h.read(cfd, got), 0)
	h.want("write after the reset", h.write(cfd, []byte("x")), -int64(syscall.EPIPE))

	const lfd2, cfd2, afd2 = 20, 21, 22
	joinedPair(h, lfd2, cfd2, afd2)
	h.want("clean close", h.call(3, -1, true, afd2), 0)
	h.waitReady(cfd2, epollRdHup)
	h.want("read at EOF", h.read(cfd2, got), 0)
	// Writing nothing sends nothing, so it draws no RST.
	h.want("empty write to a closed peer", h.write(cfd2, nil), 0)
	if e := h.soError(cfd2); e != 0 {
		t.Errorf("SO_ERROR after an empty write = %d, want 0", e)
	}
	// As far as the send buffer goes (Go's TestWritevError writes 1 GiB
	// to a closed peer and wants an error before the end).
	if r := h.write(cfd2, make([]byte, 4<<20)); r <= 0 || r >= 4<<20 {
		t.Errorf("first write of 4 MiB to a closed peer = %d, want part of it", r)
	}
	// The RST that write drew leaves reads at EOF (the FIN came first)
	// and the next write failing.
	h.want("read after the RST", h.read(cfd2, got), 0)
	h.want("second write", h.write(cfd2, []byte("x")), -int64(syscall.EPIPE))

	// SO_LINGER on with a zero timeout: a reset, even with nothing unread.
	const lfd3, cfd3, afd3 = 30, 31, 32
	joinedPair(h, lfd3, cfd3, afd3)
	linger := [2]int32{1, 0}
	h.want("SO_LINGER", h.call(54, -1, true, afd3, solSocket, soLinger, ptr(&linger), 8), 0)
	h.want("close", h.call(3, -1, true, afd3), 0)
	if e := h.soError(cfd3); e != int32(syscall.ECONNRESET) {
		t.Errorf("SO_ERROR after SO_LINGER 0 close = %d, want ECONNRESET", e)
	}
	if e := h.soError(cfd3); e != 0 {
		t.Errorf("SO_ERROR read twice = %d, want 0", e)
	}

	// A reset after a FIN (the peer shut its side, then closed with
	// data unread) is EPIPE, as Linux's tcp_reset says in CLOSE_WAIT.
	const lfd4, cfd4, afd4 = 40, 41, 42
	joinedPair(h, lfd4, cfd4, afd4)
	h.want("shutdown", h.call(48, -1, true, afd4, 1), 0)
	h.want("write", h.write(cfd4, []byte("unread")), 6)
	h.want("close with data unread", h.call(3, -1, true, afd4), 0)
	h.waitReady(cfd4, epollErr)
	h.want("read at EOF", h.read(cfd4, got), 0)
	if e := h.soError(cfd4); e != int32(syscall.EPIPE) {
		t.Errorf("SO_ERROR after a reset in CLOSE_WAIT = %d, want EPIPE", e)
	}
}

// TestJoinedFlowControl: a writer fills the reader's SO_RCVBUF, then gets
// EAGAIN and loses EPOLLOUT; the reader's read gives it back as an edge.
func TestJoinedFlowControl(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 10, 11, 12
	joinedPair(h, lfd, cfd, afd)
	if r := h.setInt(afd, solSocket, soRcvBuf, 8192); r != 0 {
		t.Fatalf("SO_RCVBUF = %d", r)
	}
	rcvbuf, _ := h.getInt(afd, solSocket, soRcvBuf)
	chunk := make([]byte, 3000)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	sent := 0
	for {
		r := h.write(cfd, chunk)
		if r == -int64(syscall.EAGAIN) {
			break
		}
		if r <= 0 {
			t.Fatalf("write = %d", r)
		}
		sent += int(r)
		if sent > 1<<20 {
			t.Fatalf("wrote %d bytes with no EAGAIN (SO_RCVBUF %d)", sent, rcvbuf)
		}
	}
	if sent != int(rcvbuf) {
		t.Errorf("wrote %d bytes before EAGAIN, want the reader's SO_RCVBUF, %d", sent, rcvbuf)
	}
	if h.k.level(cfd)&epollOut != 0 {
		t.Errorf("writer's level %#x at a full buffer: still writable", h.k.level(cfd))
	}
	got := make([]byte, 1000)
	h.want("read", h.read(afd, got), 1000)
	h.waitReady(cfd, epollOut)
	for i, b := range got {
		if b != chunk[i] {
			t.Fatalf("byte %d = %d, want %d", i, b, chunk[i])
		}
	}
}

// TestJoinedListenerClose: connections joined to a listener that closes
// before accepting them are reset; a listener with a full backlog leaves
// the next connection to gVisor's TCP, which still connects.
func TestJoinedListenerClose(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd = 10, 11
	port := h.listenOn(lfd, afInet, sockaddr4([4]byte{127, 0, 0, 1}, 0), 0)
	h.want("connect", h.connectTo(cfd, afInet, sockaddr4([4]byte{127, 0, 0, 1}, port)), 0)
	h.want("close listener", h.call(3, -1, true, lfd), 0)
	h.waitReady(cfd, epollErr)
	if e := h.soError(cfd); e != int32(syscall.ECONNRESET) {
		t.Errorf("SO_ERROR = %d, want ECONNRESET", e)
	}

	// Backlog 1 takes two waiting connections (Linux allows backlog+1);
	// the third goes through gVisor's TCP.
	const lfd2 = 20
	port = h.listenOn(lfd2, afInet, sockaddr4([4]byte{127, 0, 0, 1}, 0), 1)
	before := h.s.joins.joined.Load()
	h.want("first connect", h.connectTo(21, afInet, sockaddr4([4]byte{127, 0, 0, 1}, port)), 0)
	h.want("second connect", h.connectTo(25, afInet, sockaddr4([4]byte{127, 0, 0, 1}, port)), 0)
	r := h.connectTo(22, afInet, sockaddr4([4]byte{127, 0, 0, 1}, port))
	if r != -int64(syscall.EINPROGRESS) {
		t.Errorf("third connect = %d, want EINPROGRESS (gVisor's handshake)", r)
	}
	if got := h.s.joins.joined.Load() - before; got != 2 {
		t.Errorf("joined %d, want 2", got)
	}
	h.waitReady(lfd2, epollIn)
	h.want("accept joined", h.call(288, 23, true, lfd2, 0, 0, sockNonblock), 23)
	h.want("accept joined", h.call(288, 26, true, lfd2, 0, 0, sockNonblock), 26)
	h.waitReady(22, epollOut)
	h.waitReady(lfd2, epollIn)
	h.want("accept gVisor's", h.call(288, 24, true, lfd2, 0, 0, sockNonblock), 24)
	h.want("write", h.write(22, []byte("tcp")), 3)
	h.waitReady(24, epollIn)
	h.want("read", h.read(24, make([]byte, 8)), 3)

	// Nobody listening: gVisor's TCP refuses, nothing is joined.
	before = h.s.joins.joined.Load()
	h.want("connect to nobody", h.connectTo(30, afInet, sockaddr4([4]byte{127, 0, 0, 1}, 1)), -int64(syscall.EINPROGRESS))
	h.waitReady(30, epollErr)
	if e := h.soError(30); e != int32(syscall.ECONNREFUSED) {
		t.Errorf("SO_ERROR = %d, want ECONNREFUSED", e)
	}
	if h.s.joins.joined.Load() != before {
		t.Errorf("a connect to nobody was joined")
	}
}

// TestJoinedIPv6: ::1 joins an IPv6 listener, and a dual-stack listener
// on :: takes an IPv4 connection, whose addresses it reports v4-mapped.
// A v6-only listener does not.
func TestJoinedIPv6(t *testing.T) {
	h := newHarness(t)
	port := h.listenOn(10, afInet6, sockaddr6([16]byte{15: 1}, 0), 8)
	before := h.s.joins.joined.Load()
	h.want("connect ::1", h.connectTo(11, afInet6, sockaddr6([16]byte{15: 1}, port)), 0)
	h.waitReady(10, epollIn)
	h.want("accept", h.call(288, 12, true, 10, 0, 0, sockNonblock), 12)
	if got := h.name(12, true); !bytes.Equal(got, h.name(11, false)) || !bytes.Equal(got[8:24], (&[16]byte{15: 1})[:]) {
		t.Errorf("accepted end's peer %x, connected end's name %x", got, h.name(11, false))
	}

	port = h.listenOn(20, afInet6, sockaddr6([16]byte{}, 0), 8)
	h.want("connect 127.0.0.1 to ::", h.connectTo(21, afInet, sockaddr4([4]byte{127, 0, 0, 1}, port)), 0)
	h.waitReady(20, epollIn)
	h.want("accept", h.call(288, 22, true, 20, 0, 0, sockNonblock), 22)
	mapped := [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}
	if got := h.name(22, true); len(got) != 28 || !bytes.Equal(got[8:24], mapped[:]) {
		t.Errorf("dual-stack accepted end's peer %x, want ::ffff:127.0.0.1", got)
	}
	if got := h.s.joins.joined.Load() - before; got != 2 {
		t.Errorf("joined %d, want 2", got)
	}

	h.want("socket", h.call(41, 30, false, afInet6, sockStream|sockNonblock, 0), 30)
	one := int32(1)
	h.want("IPV6_V6ONLY", h.call(54, -1, true, 30, ipprotoIPv6, ipv6V6Only, ptr(&one), 4), 0)
	h.want("bind", h.call(49, -1, true, 30, bptr(sockaddr6([16]byte{}, 0)), 28), 0)
	h.want("listen", h.call(50, -1, true, 30, 8), 0)
	port = binary.BigEndian.Uint16(h.name(30, false)[2:])
	before = h.s.joins.joined.Load()
	if r := h.connectTo(31, afInet, sockaddr4([4]byte{127, 0, 0, 1}, port)); r == 0 {
		t.Errorf("connect to a v6-only listener from IPv4 = 0")
	}
	if h.s.joins.joined.Load() != before {
		t.Errorf("a v6-only listener took an IPv4 connection")
	}
}

// TestByteRing checks the receive buffer against a plain byte slice over
// random writes, reads and peeks of random sizes.
func TestByteRing(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var q byteRing
	var model []byte
	next := byte(0)
	for i := 0; i < 20000; i++ {
		switch rng.Intn(3) {
		case 0:
			n := rng.Intn(9000)
			src := make([]byte, n)
			for j := range src {
				src[j] = next
				next++
			}
			lim := n
			if rng.Intn(2) == 0 {
				lim = rng.Intn(n + 1)
			}
			k, _ := q.writeFrom(bytes.NewReader(src), lim)
			if k != lim {
				t.Fatalf("op %d: writeFrom took %d of %d", i, k, lim)
			}
			model = append(model, src[:k]...)
			next -= byte(n - k)
		default:
			peek := rng.Intn(4) == 0
			w := &iovWriter{bufs: [][]byte{make([]byte, rng.Intn(12000))}}
			want := min(len(w.bufs[0]), len(model))
			buf := w.bufs[0]
			k, _ := q.readTo(w, peek)
			if k != want || !bytes.Equal(buf[:k], model[:k]) {
				t.Fatalf("op %d: read %d bytes, want %d matching the model", i, k, want)
			}
			if !peek {
				model = model[k:]
			}
		}
		if q.n != len(model) {
			t.Fatalf("op %d: ring holds %d, model %d", i, q.n, len(model))
		}
	}
}

// TestUnjoined runs the TCP tests of this package with joining off, so
// gVisor's TCP over loopback keeps its coverage.
func TestUnjoined(t *testing.T) {
	testJoinOff = true
	defer func() { testJoinOff = false }()
	for name, f := range map[string]func(*testing.T){
		"TCPLoopback": TestTCPLoopback, "DirectTCP": TestDirectTCP, "QDiscAllocs": TestQDiscAllocs,
		"BulkEdgeTriggered": TestBulkEdgeTriggered, "DirectShutdown": TestDirectShutdown,
		"DirectAccept": TestDirectAccept, "SocketIoctls": TestSocketIoctls, "Abandon": TestAbandon,
		"DirectReadAllocs": TestDirectReadAllocs, "DirectDeclines": TestDirectDeclines,
	} {
		t.Run(name, f)
	}
}

// FuzzJoinedCalls drives joined connections with random calls and checks
// them against a model of the byte streams: every read returns the next
// bytes its peer wrote, in order; FIONREAD is what was written and not
// read; a read is EAGAIN only with nothing unread and no EOF; results are
// counts or errnos; nothing panics, and every socket closes at the end.
func FuzzJoinedCalls(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 1, 0, 2, 0, 0, 3, 1, 40, 4, 2, 40, 5, 1, 0, 3, 2, 9, 4, 1, 20, 6, 1, 0, 4, 2, 9})
	f.Add([]byte{0, 0, 0, 1, 1, 0, 1, 3, 0, 2, 0, 0, 2, 0, 0, 3, 1, 255, 3, 1, 255, 7, 2, 0, 4, 1, 255, 8, 3, 0})
	f.Add([]byte{0, 0, 0, 1, 1, 0, 2, 0, 0, 9, 2, 1, 3, 1, 200, 3, 1, 200, 3, 1, 200, 4, 2, 50, 5, 2, 0, 6, 1, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		h := newHarness(t)
		const lfd = 50
		type stream struct {
			written, read int  // byte offsets of the stream into this socket
			eof           bool // its writer shut down or closed cleanly
		}
		type end struct {
			peer   int32
			in     *stream // what this socket reads
			out    *stream // what it writes
			broken bool    // reset, or its peer gone: only sanity is checked
		}
		ends := map[int32]*end{}
		open := map[int32]bool{}
		var pending []int32 // connected sockets the listener has not accepted, in order
		var listening bool
		var port uint16
		next := int32(60)
		pattern := func(off int, dir int32) byte { return byte(off*7 + int(dir)) }
		buf := make([]byte, 1024)
		for i := 0; i+2 < len(ops) && i < 3*80; i += 3 {
			op, a, x := ops[i]%10, int(ops[i+1]), int(ops[i+2])
			pick := func() (int32, *end) {
				var fds []int32
				for fd := range ends {
					if open[fd] {
						fds = append(fds, fd)
					}
				}
				if len(fds) == 0 {
					return -1, nil
				}
				// map order is random: sort for a reproducible choice
				for i := range fds {
					for j := i + 1; j < len(fds); j++ {
						if fds[j] < fds[i] {
							fds[i], fds[j] = fds[j], fds[i]
						}
					}
				}
				fd := fds[a%len(fds)]
				return fd, ends[fd]
			}
			var r int64
			switch op {
			case 0: // listen
				if listening {
					continue
				}
				port = h.listenOn(lfd, afInet, sockaddr4([4]byte{127, 0, 0, 1}, 0), 64)
				listening = true
			case 1: // connect
				if !listening || next > 70 {
					continue
				}
				fd := next
				next++
				if r = h.connectTo(fd, afInet, sockaddr4([4]byte{127, 0, 0, 1}, port)); r != 0 {
					t.Fatalf("connect = %d", r)
				}
				open[fd] = true
				ends[fd] = &end{peer: -1, in: new(stream), out: new(stream)}
				pending = append(pending, fd)
			case 2: // accept
				if !listening {
					continue
				}
				fd := next
				r = h.call(288, int64(fd), true, lfd, 0, 0, sockNonblock)
				if len(pending) == 0 {
					if r != -int64(syscall.EAGAIN) {
						t.Fatalf("accept with nothing pending = %d", r)
					}
					continue
				}
				if r != int64(fd) {
					t.Fatalf("accept = %d, want %d", r, fd)
				}
				next++
				c := ends[pending[0]] // kept after close: ends is never pruned
				pending = pending[1:]
				e := &end{peer: -1, in: c.out, out: c.in, broken: c.broken}
				ends[fd], open[fd] = e, true
				for cfd, ce := range ends {
					if ce == c {
						e.peer, c.peer = cfd, fd
					}
				}
			case 3: // write
				fd, e := pick()
				if e == nil {
					continue
				}
				n := x%700 + 1
				dir := fd
				if e.peer >= 0 && e.peer < fd {
					dir = e.peer
				}
				for j := 0; j < n; j++ {
					buf[j] = pattern(e.out.written+j, dir)
				}
				r = h.write(fd, buf[:n])
				if r > 0 {
					e.out.written += int(r)
				}
			case 4: // read
				fd, e := pick()
				if e == nil {
					continue
				}
				n := x%900 + 1
				r = h.read(fd, buf[:n])
				if e.broken {
					break
				}
				dir := fd
				if e.peer >= 0 && e.peer < fd {
					dir = e.peer
				}
				unread := e.in.written - e.in.read
				switch {
				case r > 0:
					if int(r) > unread {
						t.Fatalf("read %d bytes on fd %d, %d unread", r, fd, unread)
					}
					for j := 0; j < int(r); j++ {
						if buf[j] != pattern(e.in.read+j, dir) {
							t.Fatalf("fd %d: byte %d of the stream is %d, want %d", fd, e.in.read+j, buf[j], pattern(e.in.read+j, dir))
						}
					}
					e.in.read += int(r)
				case r == -int64(syscall.EAGAIN):
					if unread > 0 || e.in.eof {
						t.Fatalf("fd %d: EAGAIN with %d unread, eof %v", fd, unread, e.in.eof)
					}
				case r == 0:
					if unread > 0 {
						t.Fatalf("fd %d: EOF with %d unread", fd, unread)
					}
				}
			case 5: // FIONREAD
				fd, e := pick()
				if e == nil {
					continue
				}
				v, r2 := h.ioctlInt(fd, fionread)
				r = r2
				if !e.broken && (r2 != 0 || int(v) != e.in.written-e.in.read) {
					t.Fatalf("fd %d: FIONREAD = %d (%d), model %d", fd, v, r2, e.in.written-e.in.read)
				}
			case 6: // shutdown
				fd, e := pick()
				if e == nil {
					continue
				}
				how := uint64(x % 3)
				r = h.call(48, -1, true, uint64(fd), how)
				if r == 0 && how != 0 {
					e.out.eof = true
				}
			case 7: // close
				fd, e := pick()
				if e == nil {
					continue
				}
				r = h.call(3, -1, true, uint64(fd))
				delete(open, fd)
				// Unread data resets the peer; else it reads what it
				// has, then EOF (what it writes now goes nowhere, and
				// nobody reads that stream again).
				if p := ends[e.peer]; e.peer >= 0 && p != nil && e.in.written > e.in.read {
					p.broken = true
				}
				e.out.eof = true
			case 8: // SO_RCVBUF
				fd, e := pick()
				if e == nil {
					continue
				}
				r = h.setInt(fd, solSocket, soRcvBuf, int32(x*64))
			case 9: // SO_LINGER 0: the next close resets
				fd, e := pick()
				if e == nil {
					continue
				}
				linger := [2]int32{1, 0}
				r = h.call(54, -1, true, uint64(fd), solSocket, soLinger, ptr(&linger), 8)
				if p := ends[e.peer]; e.peer >= 0 && p != nil {
					p.broken = true // its next close resets the peer at once
				}
			}
			if r < -4095 || r > 1<<20 {
				t.Fatalf("op %d: result %d", op, r)
			}
		}
		for fd := range open {
			if r := h.call(3, -1, true, uint64(fd)); r != 0 {
				t.Fatalf("close(%d) = %d", fd, r)
			}
		}
		if listening {
			h.want("close listener", h.call(3, -1, true, lfd), 0)
		}
	})
}

// TestJoinedConcurrent moves 512 KiB each way over six joined connections
// at once, every end writing and reading in goroutines of its own the way
// Go's netpoller does (until EAGAIN, then wait for the level), with
// receive buffers small enough that writers keep waiting for room: the
// edges that wake them, and the locks, under concurrency (go test -race).
func TestJoinedConcurrent(t *testing.T) {
	h := newHarness(t)
	const pairs, size = 6, 512 << 10
	port := h.listenOn(10, afInet, sockaddr4([4]byte{127, 0, 0, 1}, 0), pairs)
	var fds [][2]int32
	for i := int32(0); i < pairs; i++ {
		c, a := 20+2*i, 21+2*i
		h.want("connect", h.connectTo(c, afInet, sockaddr4([4]byte{127, 0, 0, 1}, port)), 0)
		h.want("accept", h.call(288, int64(a), true, 10, 0, 0, sockNonblock), int64(a))
		for _, fd := range []int32{c, a} {
			if r := h.setInt(fd, solSocket, soRcvBuf, 4096); r != 0 {
				t.Fatalf("SO_RCVBUF = %d", r)
			}
		}
		fds = append(fds, [2]int32{c, a})
	}
	data := func(fd int32) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i*13 + int(fd))
		}
		return b
	}
	deadline := time.Now().Add(60 * time.Second)
	errs := make(chan error, 4*pairs)
	for _, p := range fds {
		for side := 0; side < 2; side++ {
			from, to := p[side], p[1-side]
			go func() { // writer
				src := data(from)
				for off := 0; off < len(src); {
					if time.Now().After(deadline) {
						errs <- fmt.Errorf("fd %d: writer stuck at %d", from, off)
						return
					}
					end := min(off+7000, len(src))
					r := h.call(1, -1, true, uint64(from), bptr(src[off:end]), uint64(end-off))
					switch {
					case r == -int64(syscall.EAGAIN):
						h.waitReady(from, epollOut)
					case r <= 0:
						errs <- fmt.Errorf("fd %d: write = %d at %d", from, r, off)
						return
					default:
						off += int(r)
					}
				}
				errs <- nil
			}()
			// Made here, so the goroutine's closure moves it to the heap:
			// the harness passes buffers to the server as addresses, and
			// a buffer on a goroutine's stack moves when the stack grows
			// during the call (the first version of this test read into
			// the old copy now and then).
			buf := make([]byte, 5000)
			go func() { // reader
				want := data(from)
				for got := 0; got < len(want); {
					if time.Now().After(deadline) {
						errs <- fmt.Errorf("fd %d: reader stuck at %d", to, got)
						return
					}
					r := h.call(0, -1, true, uint64(to), bptr(buf), uint64(len(buf)))
					switch {
					case r == -int64(syscall.EAGAIN):
						h.waitReady(to, epollIn)
					case r <= 0:
						errs <- fmt.Errorf("fd %d: read = %d at %d", to, r, got)
						return
					default:
						if !bytes.Equal(buf[:r], want[got:got+int(r)]) {
							errs <- fmt.Errorf("fd %d: bytes %d-%d differ: got % x want % x", to, got, got+int(r), buf[:8], want[got:got+8])
							return
						}
						got += int(r)
					}
				}
				errs <- nil
			}()
		}
	}
	for range 4 * pairs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
