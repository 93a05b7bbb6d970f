package netstack

import (
	"bytes"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// fakeKernel applies readiness reports as runtime/vk_net.go does, and
// keeps socket identities and non-blocking modes as its descriptions do.
// Its maps are keyed by sid; the tests name sockets by numbers they use
// as both fd and sid, except for the fds in dups (made by dup), which
// name another fd's sid.
type fakeKernel struct {
	mu       sync.Mutex
	ready    map[int32]uint32
	seq      map[int32]uint64
	ids      map[int32]uint64
	nonblock map[int32]bool
	dups     map[int32]int32         // fd -> sid, for fds that are not their own sid
	reports  int                     // level reports (mode 1) applied
	mem      func(p, n uintptr) bool // nil: every range may be touched
	refs     map[int32]int           // SCM_RIGHTS: references the server gave back (-) or took (+)
	// refCounts: the kernel's reference count of each socket, as Refs
	// answers the unix garbage collector (set by the test).
	refCounts map[int32]int32
	// held: the calls that wait for their condition (Hold), with what
	// they had moved; gone: those their callers abandoned.
	held map[uint64]int64
	gone map[uint64]bool
	// The direct path's accept: sids reserved and not installed yet,
	// the names each installed one got, cancels, and whether
	// AcceptReserve refuses.
	reserved      map[int32]bool
	installed     map[int32]Names
	cancels       int
	refuseReserve bool
}

// Hold follows the kernel's slot states (runtime/vk_net.go, vkNetHold).
func (k *fakeKernel) Hold(id uint64, op int, moved int64, flags int) syscall.Errno {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.held == nil {
		k.held, k.gone = map[uint64]int64{}, map[uint64]bool{}
	}
	_, waiting := k.held[id]
	switch {
	case op == holdWait && !waiting && !k.gone[id]:
		k.held[id] = moved
		return 0
	case op == holdTake && waiting:
		delete(k.held, id)
		return 0
	case op == holdTake:
		return syscall.ECANCELED
	}
	return syscall.EINVAL
}

// abandon is a caller with a signal to take: it may leave a call that
// waits for its condition, answering what the call had moved; ok is false
// while the server works on the call.
func (k *fakeKernel) abandon(id uint64) (moved int64, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	moved, ok = k.held[id]
	if ok {
		delete(k.held, id)
		k.gone[id] = true
	}
	return moved, ok
}

func (k *fakeKernel) Ready(sid int32, ev uint32, mode int, seq uint64, id uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ids[sid] != id {
		return
	}
	if seq < k.seq[sid] {
		return
	}
	if mode == 1 {
		k.reports++
	}
	k.seq[sid] = seq
	if mode == 0 {
		k.ready[sid] |= ev
	} else {
		k.ready[sid] = ev
	}
}

func (k *fakeKernel) FD(fd int32) (int32, uint64, bool, uint32, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	sid := fd
	if d, ok := k.dups[fd]; ok {
		sid = d
	}
	id, ok := k.ids[sid]
	return sid, id, k.nonblock[sid], k.ready[sid], ok
}

func (k *fakeKernel) Mem(p, n uintptr) bool { return k.mem == nil || k.mem(p, n) }

// AcceptReserve gives out sids from 500 up (the fake's fd is its sid);
// refuseReserve makes it say ESTALE, as the kernel does for a listener
// fd that changed or when every free sid is busy.
func (k *fakeKernel) AcceptReserve(fd int32, lid uint64) (int32, uint64, syscall.Errno) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.refuseReserve || k.ids[fd] != lid {
		return -1, 0, syscall.ESTALE
	}
	if k.reserved == nil {
		k.reserved = map[int32]bool{}
	}
	sid := int32(500 + len(k.ids))
	id := uint64(sid) + 1000*uint64(len(k.ids)+1)
	k.ids[sid] = id
	k.reserved[sid] = true
	return sid, id, 0
}

func (k *fakeKernel) AcceptInstall(sid int32, flags int, names *Names, ready uint32, seq uint64) (int32, syscall.Errno) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.reserved[sid] {
		return -1, syscall.EINVAL
	}
	delete(k.reserved, sid)
	k.nonblock[sid] = flags&sockNonblock != 0
	if seq >= k.seq[sid] {
		k.ready[sid], k.seq[sid] = ready, seq
	}
	if k.installed == nil {
		k.installed = map[int32]Names{}
	}
	k.installed[sid] = *names
	return sid, 0
}

func (k *fakeKernel) AcceptCancel(sid int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.reserved[sid] {
		delete(k.reserved, sid)
		delete(k.ids, sid)
		k.cancels++
	}
}

// Refs answers from refCounts, which a test sets (-1 for anything not
// in it: nothing is collected).
func (k *fakeKernel) Refs(sids []int32) []int32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]int32, len(sids))
	for i, sid := range sids {
		out[i] = -1
		if n, ok := k.refCounts[sid]; ok {
			out[i] = n
		}
	}
	return out
}

func (k *fakeKernel) Rights(op int, tokens []int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.refs == nil {
		k.refs = make(map[int32]int)
	}
	for _, t := range tokens {
		if op == rightsRef {
			k.refs[t]++
		} else {
			k.refs[t]--
		}
	}
}

// newSocket records a socket fd as the kernel's table would, with the
// identity it gives the server.
func (k *fakeKernel) newSocket(fd int32, nonblock bool) uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	id := uint64(fd) + 1000*uint64(len(k.ids)+1)
	k.ids[fd] = id
	k.nonblock[fd] = nonblock
	return id
}

func (k *fakeKernel) level(fd int32) uint32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ready[fd]
}

type harness struct {
	t     *testing.T
	s     *Server
	k     *fakeKernel
	mu    sync.Mutex // id and names: tests make blocking calls from goroutines
	id    uint64
	names map[int32]Names // what the kernel caches for getsockname/getpeername
	// euid, egid: the effective ids the kernel sends with socketpair,
	// listen and connect (Msg.Euid, Msg.Egid), which SO_PEERCRED keeps.
	euid, egid uint32
}

func newHarness(t *testing.T) *harness {
	st, err := newStack()
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKernel{ready: map[int32]uint32{}, seq: map[int32]uint64{}, ids: map[int32]uint64{}, nonblock: map[int32]bool{}, dups: map[int32]int32{}}
	srv := newServer(st, k)
	srv.joins.off = testJoinOff // the tests choose, not VELOCITY_TCPJOIN
	return &harness{t: t, s: srv, k: k, names: map[int32]Names{}}
}

// escaped holds the last pointer ptr or bptr was given. Storing it makes
// everything a test passes to them escape to the heap: the harness hands
// the server addresses, as the kernel does, not Go pointers, and a
// buffer on a goroutine's stack moves when the stack grows during the
// call, which left the server the old copy (TestJoinedConcurrent's reader
// saw its first 5,000 bytes differ in two runs of its first version).
var escaped unsafe.Pointer

func ptr[T any](p *T) uint64 {
	atomic.StorePointer(&escaped, unsafe.Pointer(p))
	return uint64(uintptr(unsafe.Pointer(p)))
}

func bptr(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	atomic.StorePointer(&escaped, unsafe.Pointer(&b[0]))
	return uint64(uintptr(unsafe.Pointer(&b[0])))
}

// call runs one system call through the server as the kernel would,
// applying the reply's readiness, and returns its result.
func (h *harness) call(nr uint64, newFD int64, nonblock bool, args ...uint64) int64 {
	switch nr {
	case 41: // the kernel reserves the fd and queues an asynchronous create
		id := h.k.newSocket(int32(newFD), args[1]&sockNonblock != 0)
		h.s.create(&Msg{NR: 41, Args: [6]uint64{args[0], args[1], args[2]}, NewFD: newFD, SockID: id})
		if e, ok := h.s.failed[int32(newFD)]; ok {
			delete(h.s.failed, int32(newFD))
			return -int64(e)
		}
		return newFD
	case 51, 52: // answered from the names the replies carried
		h.mu.Lock()
		n := h.names[int32(args[0])]
		h.mu.Unlock()
		src, l := n.Local[:n.LocalLen], n.LocalLen
		if nr == 52 {
			if n.RemoteLen == 0 {
				return -int64(syscall.ENOTCONN)
			}
			src, l = n.Remote[:n.RemoteLen], n.RemoteLen
		}
		lenp := userI32(args[2])
		copy(user(args[1], int(*lenp)), src)
		*lenp = int32(l)
		return 0
	}
	h.mu.Lock()
	h.id++
	m := Msg{ID: h.id, NR: nr, NewFD: newFD}
	h.mu.Unlock()
	if nr == 43 || nr == 288 {
		m.SockID = h.k.newSocket(int32(newFD), nr == 288 && args[3]&sockNonblock != 0)
	}
	copy(m.Args[:], args)
	if nonblock {
		m.Flags = msgNonblock
	}
	// The caller's credentials, as the kernel sends them with every call
	// on an AF_UNIX (or netlink) socket (runtime/vk_net.go): connect and
	// listen record them for SO_PEERCRED, and a send attaches them when
	// either end has SO_PASSCRED or the peer is not accepted yet. Other
	// families ignore them. (FuzzUnixCalls found a write to a socket not
	// accepted yet, which without them got the direct path's "take the
	// kernel's path" answer.)
	m.Cred, m.CredFlags, m.Euid, m.Egid = testCred, credSet, h.euid, h.egid
	rep := h.s.handle(&m, nil)
	h.mu.Lock()
	if rep.AddrOK != 0 {
		h.names[int32(args[0])] = rep.Names
		if rep.Result >= 0 && newFD >= 0 {
			h.names[int32(newFD)] = rep.Names2
		}
	}
	h.mu.Unlock()
	if rep.ReadyOK != 0 {
		h.k.mu.Lock()
		id := h.k.ids[int32(args[0])] // the kernel's, as vkNetSyscall passes it
		h.k.mu.Unlock()
		h.k.Ready(int32(args[0]), rep.Ready, 1, rep.ReadySeq, id)
	}
	if rep.Result >= 0 && newFD >= 0 && nr != 41 {
		h.k.Ready(int32(newFD), rep.Ready2, 1, rep.Ready2Seq, m.SockID)
	}
	return rep.Result
}

func sockaddr4(ip [4]byte, port uint16) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b, afInet)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], ip[:])
	return b
}

func (h *harness) waitReady(fd int32, ev uint32) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.k.level(fd)&ev == 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("fd %d never became ready for %#x (level %#x)", fd, ev, h.k.level(fd))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTCPLoopback(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 10, 11, 12
	if r := h.call(41, lfd, false, afInet, sockStream|sockNonblock, 0); r != lfd {
		t.Fatalf("socket = %d", r)
	}
	one := int32(1)
	if r := h.call(54, -1, true, lfd, solSocket, soReuseAddr, ptr(&one), 4); r != 0 {
		t.Fatalf("setsockopt SO_REUSEADDR = %d", r)
	}
	sa := sockaddr4([4]byte{127, 0, 0, 1}, 0)
	if r := h.call(49, -1, true, lfd, bptr(sa), 16); r != 0 {
		t.Fatalf("bind = %d", r)
	}
	if r := h.call(50, -1, true, lfd, 128); r != 0 {
		t.Fatalf("listen = %d", r)
	}
	got := make([]byte, 16)
	n := int32(len(got))
	if r := h.call(51, -1, true, lfd, bptr(got), ptr(&n)); r != 0 || n != 16 {
		t.Fatalf("getsockname = %d, len %d", r, n)
	}
	port := binary.BigEndian.Uint16(got[2:])
	if port == 0 || !bytes.Equal(got[4:8], []byte{127, 0, 0, 1}) {
		t.Fatalf("getsockname gave %v", got)
	}
	if r := h.call(43, afd, true, lfd, 0, 0); r != -int64(syscall.EAGAIN) {
		t.Fatalf("accept with nobody connecting = %d, want EAGAIN", r)
	}
	h.call(41, cfd, false, afInet, sockStream|sockNonblock, 0)
	if r := h.call(42, -1, true, cfd, bptr(sockaddr4([4]byte{127, 0, 0, 1}, port)), 16); r != -int64(syscall.EINPROGRESS) && r != 0 {
		t.Fatalf("connect = %d, want EINPROGRESS", r)
	}
	h.waitReady(cfd, uint32(epollOut))
	var soerr int32 = -1
	n = 4
	if r := h.call(55, -1, true, cfd, solSocket, soError, ptr(&soerr), ptr(&n)); r != 0 || soerr != 0 {
		t.Fatalf("SO_ERROR = %d (call %d)", soerr, r)
	}
	h.waitReady(lfd, uint32(epollIn))
	peer := make([]byte, 16)
	n = 16
	if r := h.call(288, afd, true, lfd, bptr(peer), ptr(&n), sockNonblock); r != afd {
		t.Fatalf("accept4 = %d", r)
	}
	if !bytes.Equal(peer[4:8], []byte{127, 0, 0, 1}) {
		t.Fatalf("accept4 peer %v", peer)
	}
	msg := []byte("hello, velocity")
	if r := h.call(1, -1, true, cfd, bptr(msg), uint64(len(msg))); r != int64(len(msg)) {
		t.Fatalf("write = %d", r)
	}
	h.waitReady(afd, uint32(epollIn))
	buf := make([]byte, 64)
	if r := h.call(0, -1, true, afd, bptr(buf), uint64(len(buf))); r != int64(len(msg)) || !bytes.Equal(buf[:r], msg) {
		t.Fatalf("read = %d %q", r, buf)
	}
	// Drained: the reply's level clears readability, so an edge-triggered
	// poller waits for the next data.
	if h.k.level(afd)&uint32(epollIn) != 0 {
		t.Fatalf("afd still readable after draining (level %#x)", h.k.level(afd))
	}
	if r := h.call(0, -1, true, afd, bptr(buf), uint64(len(buf))); r != -int64(syscall.EAGAIN) {
		t.Fatalf("read of empty socket = %d, want EAGAIN", r)
	}
	if r := h.call(48, -1, true, cfd, 1); r != 0 { // shutdown(SHUT_WR)
		t.Fatalf("shutdown = %d", r)
	}
	h.waitReady(afd, uint32(epollIn))
	if r := h.call(0, -1, true, afd, bptr(buf), uint64(len(buf))); r != 0 {
		t.Fatalf("read after peer's shutdown = %d, want 0 (EOF)", r)
	}
	for _, fd := range []uint64{afd, cfd, lfd} {
		if r := h.call(3, -1, true, fd); r != 0 {
			t.Fatalf("close(%d) = %d", fd, r)
		}
	}
	if len(h.s.socks) != 0 {
		t.Fatalf("%d sockets left after close", len(h.s.socks))
	}
}

// udpPair makes two non-blocking UDP sockets, a bound to 127.0.0.1 on a
// port the stack picks and b unbound, and returns a's name.
func udpPair(h *harness, a, b int32) []byte {
	h.t.Helper()
	h.call(41, int64(a), false, afInet, sockDgram|sockNonblock, 0)
	h.call(41, int64(b), false, afInet, sockDgram|sockNonblock, 0)
	if r := h.call(49, -1, true, uint64(a), bptr(sockaddr4([4]byte{127, 0, 0, 1}, 0)), 16); r != 0 {
		h.t.Fatalf("bind = %d", r)
	}
	sa := make([]byte, 16)
	n := int32(16)
	h.call(51, -1, true, uint64(a), bptr(sa), ptr(&n))
	return sa
}

func TestUDPLoopback(t *testing.T) {
	h := newHarness(t)
	const a, b = 20, 21
	sa := udpPair(h, a, b)
	port := binary.BigEndian.Uint16(sa[2:])
	msg := []byte("datagram")
	if r := h.call(44, -1, true, b, bptr(msg), uint64(len(msg)), 0, bptr(sockaddr4([4]byte{127, 0, 0, 1}, port)), 16); r != int64(len(msg)) {
		t.Fatalf("sendto = %d", r)
	}
	h.waitReady(a, uint32(epollIn))
	small := make([]byte, 4)
	from := make([]byte, 16)
	n := int32(16)
	// A short buffer truncates the datagram; MSG_TRUNC returns its length.
	if r := h.call(45, -1, true, a, bptr(small), 4, msgTrunc, bptr(from), ptr(&n)); r != int64(len(msg)) {
		t.Fatalf("recvfrom(MSG_TRUNC) = %d, want %d", r, len(msg))
	}
	if string(small) != "data" || !bytes.Equal(from[4:8], []byte{127, 0, 0, 1}) || binary.BigEndian.Uint16(from[2:]) == 0 {
		t.Fatalf("recvfrom got %q from %v", small, from)
	}
	if r := h.call(45, -1, true, a, bptr(small), 4, 0, 0, 0); r != -int64(syscall.EAGAIN) {
		t.Fatalf("second recvfrom = %d, want EAGAIN (the rest of a datagram is dropped)", r)
	}
}

func TestBadCalls(t *testing.T) {
	h := newHarness(t)
	if r := h.call(41, 30, false, 99, sockStream, 0); r != -int64(syscall.EAFNOSUPPORT) {
		t.Fatalf("socket(99) = %d", r)
	}
	if r := h.call(41, 30, false, afInet, 7, 0); r != -int64(syscall.ESOCKTNOSUPPORT) {
		t.Fatalf("socket(type 7) = %d", r)
	}
	if r := h.call(41, 30, false, afInet, sockStream, ipprotoUDP); r != -int64(syscall.EPROTONOSUPPORT) {
		t.Fatalf("socket(stream, udp) = %d", r)
	}
	h.call(41, 30, false, afInet, sockStream|sockNonblock, 0)
	if r := h.call(49, -1, true, 30, bptr([]byte{2, 0, 1}), 3); r != -int64(syscall.EINVAL) {
		t.Fatalf("bind(short) = %d", r)
	}
	v6 := make([]byte, 28)
	v6[0] = afInet6
	if r := h.call(49, -1, true, 30, bptr(v6), 28); r != -int64(syscall.EAFNOSUPPORT) {
		t.Fatalf("bind(AF_INET6 addr on AF_INET socket) = %d", r)
	}
	x := int32(1)
	if r := h.call(54, -1, true, 30, solSocket, 12345, ptr(&x), 4); r != -int64(syscall.ENOPROTOOPT) {
		t.Fatalf("setsockopt(unknown) = %d", r)
	}
	if r := h.call(54, -1, true, 30, solSocket, soKeepAlive, ptr(&x), 2); r != -int64(syscall.EINVAL) {
		t.Fatalf("setsockopt(short) = %d", r)
	}
	if r := h.call(50, -1, true, 99, 1); r != -int64(syscall.EBADF) {
		t.Fatalf("listen(unknown fd) = %d", r)
	}
}

const (
	epollIn  = 0x1
	epollOut = 0x4
)
