package netstack

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Linux socket constants the server interprets.
const (
	sockStream   = 1
	sockDgram    = 2
	ipprotoRaw   = 255
	sockNonblock = 0x800
	sockCloexec  = 0x80000

	ipprotoIP     = 0
	ipprotoICMP   = 1
	ipprotoTCP    = 6
	ipprotoUDP    = 17
	ipprotoIPv6   = 41
	ipprotoICMPv6 = 58

	msgPeek     = 0x2
	msgTrunc    = 0x20
	msgDontwait = 0x40
	msgWaitall  = 0x100
	msgNosignal = 0x4000

	// Go's net reads /proc/sys/net/core/somaxconn for its backlog; a
	// larger one is clamped to this, as Linux does.
	somaxconn = 4096
)

// allEvents is what readiness reports cover: epoll's bits are waiter's.
const allEvents = waiter.EventIn | waiter.EventOut | waiter.EventErr | waiter.EventHUp | waiter.EventRdHUp

// Server serves the kernel's socket system calls on a netstack Stack.
type Server struct {
	stack *stack.Stack
	k     kernel
	seq   atomic.Uint64 // readiness report numbers (see runtime/vk_net.go)

	mu     sync.Mutex
	socks  map[int32]*sock         // by sid
	failed map[int32]syscall.Errno // sids whose creation netstack refused
	unix   *unixSpace              // AF_UNIX sockets (unix.go)
	joins  *joinSpace              // TCP listeners that joined connections find (join.go)
	nl     *nlSpace                // AF_NETLINK sockets (netlink_calls.go)
	// waiting: the calls that may wait, by request id (see hold).
	waiting map[uint64]*hold

	// Counters for tests and the shell.
	Calls  atomic.Uint64
	Errors atomic.Uint64
	Direct atomic.Uint64 // calls served in the caller's goroutine (direct.go)
	// GCFreed: AF_UNIX sockets the unix garbage collector found kept
	// only by their own tokens (unix_gc.go).
	GCFreed atomic.Uint64

	// doorbell is the eventfd the kernel counts on when it has work for
	// the server (nil: the server blocks in velocity_net_wait). Waiting
	// on it in Go's netpoller leaves no thread blocked in a system call
	// holding a P, which sysmon would take back after 20 us and keep
	// checking every 20 us for as long as the server waited.
	doorbell *eventfdWaiter

	// mc: the program's multicast memberships, for /proc/net/igmp (igmp.go).
	mc mcGroups
}

// sock is one socket: a netstack endpoint and what the kernel's open file
// description of it does not know. Every fd dup made of it names it.
type sock struct {
	sid    int32  // the kernel's name for the socket: its description index (Msg.NewFD, Args[0])
	id     uint64 // its identity, never reused (Msg.SockID): sids are reused after close
	family int    // afInet, afInet6, afUnix or afNetlink
	typ    int    // sockStream or sockDgram (AF_UNIX: or sockSeqpacket)
	proto  int    // ipprotoTCP, ipprotoUDP, ipprotoICMP, ipprotoICMPv6
	ep     tcpip.Endpoint
	ux     *unixEP // AF_UNIX sockets have this instead of ep
	nl     *nlEP   // AF_NETLINK sockets have this instead of ep
	wq     *waiter.Queue
	entry  waiter.Entry
	// SO_RCVTIMEO and SO_SNDTIMEO, which netstack leaves to its caller.
	rcvTimeo, sndTimeo timeo
	// groups: the multicast groups it joined, once per join (igmp.go;
	// Server.mc.mu guards it).
	groups []tcpip.Address
}

// NewServer serves sockets on s, reporting readiness to k.
func newServer(s *stack.Stack, k kernel) *Server {
	srv := &Server{stack: s, k: k, socks: make(map[int32]*sock), failed: make(map[int32]syscall.Errno), unix: newUnixSpace(), nl: newNlSpace(), joins: &joinSpace{off: !joinOn},
		waiting: make(map[uint64]*hold)}
	srv.unix.k = k
	return srv
}

// datagram: each send is one message, kept whole (UDP, ping, raw IP).
func (sk *sock) datagram() bool { return sk.typ == sockDgram || sk.typ == sockRaw }

func (s *Server) lookup(sid int32) *sock {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.socks[sid]
}

// serve is the server loop: take requests from the kernel, answer them.
// Requests that may wait (a blocking socket's accept, connect, read or
// write) get a goroutine of their own; everything else is answered in
// order here, in batches.
func (s *Server) serve() {
	msgs := make([]Msg, 64)
	reps := make([]Reply, 0, 64)
	for {
		n, e := wait(msgs, s.doorbell != nil)
		if e == syscall.EAGAIN && s.doorbell != nil {
			// Nothing queued: sleep until the kernel rings. Work queued
			// after the look above has already counted, so the read
			// returns at once.
			if err := s.doorbell.wait(); err != nil {
				fmt.Fprintf(os.Stderr, "velocity: net: reading the server's doorbell: %v; it blocks in the kernel instead\n", err)
				s.doorbell = nil
			}
			continue
		}
		if e != 0 {
			continue // the kernel makes the wait again after a signal; keep going whatever came back
		}
		reps = reps[:0]
		for i := range msgs[:n] {
			m := msgs[i]
			if m.ID == 0 { // asynchronous (a creation, a close): nobody waits
				if m.NR == msgCancel {
					s.cancel(m.Args[0])
					continue
				}
				if m.NR == msgUnixGC {
					s.unixGC()
					continue
				}
				if m.NR == 3 {
					// Or the close of a TCP socket (vkNetReleaseTCP), or
					// of a socket whose last reference an SCM_RIGHTS
					// token held (runtime/vk_netrights.go).
					s.handle(&m, nil)
				} else {
					s.create(&m)
				}
				continue
			}
			if s.mayBlock(&m) {
				// Registered before the next wait: a cancel for this call
				// comes in a later batch (the kernel cancels only a call
				// the server has taken).
				hd := &hold{id: m.ID, k: s.k, cancel: make(chan struct{})}
				s.mu.Lock()
				s.waiting[m.ID] = hd
				s.mu.Unlock()
				go func() {
					r := s.handle(&m, hd)
					s.mu.Lock()
					delete(s.waiting, m.ID)
					s.mu.Unlock()
					reply([]Reply{r})
				}()
				continue
			}
			reps = append(reps, s.handle(&m, nil))
		}
		reply(reps)
	}
}

// create makes the endpoint of a socket the kernel has already given the
// caller (runtime/vk_net.go, vkNetSocket). The kernel checked the
// arguments; should netstack still refuse, the sid stays without an
// endpoint and every call on it fails with that error.
func (s *Server) create(m *Msg) {
	s.Calls.Add(1)
	sid := int32(m.NewFD)
	if m.NR == 53 { // socketpair: two fds, packed
		if err := s.unixPair(m); err != 0 {
			s.Errors.Add(1)
			s.mu.Lock()
			s.failed[sid] = err
			s.failed[int32(m.NewFD>>32)] = err
			s.mu.Unlock()
		}
		return
	}
	sk, err := s.socket(int(m.Args[0]), int(m.Args[1]), int(m.Args[2]), sid, m.SockID)
	if err != 0 {
		s.Errors.Add(1)
		s.mu.Lock()
		s.failed[sid] = err
		s.mu.Unlock()
		return
	}
	seq := s.seq.Add(1) // numbered before the level is computed
	s.k.Ready(sid, s.readiness(sk), 1, seq, sk.id)
	if trace {
		fmt.Fprintf(os.Stderr, "netstack: socket(%d %#x %d) = sid %d\n", m.Args[0], m.Args[1], m.Args[2], sid)
	}
}

// mayBlock reports whether m is a call on a blocking socket that can wait.
func (s *Server) mayBlock(m *Msg) bool {
	if m.Flags&msgNonblock != 0 {
		return false
	}
	switch m.NR {
	case 0, 1, 19, 20, 42, 43, 288: // read, write, readv, writev, connect, accept, accept4
		return true
	case 44, 45: // sendto, recvfrom
		return m.Args[3]&msgDontwait == 0
	case 46, 47: // sendmsg, recvmsg
		return m.Args[2]&msgDontwait == 0
	}
	return false
}

// cancel wakes the wait of call id, which its caller has abandoned
// (runtime/vk_net.go, vkNetForward): the call learns so when it tries to
// take itself back (hold.take) and ends. A call that has answered is not
// affected.
func (s *Server) cancel(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.waiting[id]; ok {
		close(h.cancel)
		delete(s.waiting, id)
	}
}

// hold is a blocking call's claim on its caller's memory. The kernel
// keeps the caller asleep while the server works on the call; while the
// call waits for its condition the server lets go (wait), and a caller
// with a signal to take may then abandon the call, answering what it had
// moved or ERESTARTSYS; this works while the server cannot run, as when
// AllThreadsSyscall stops the world and signals every thread. After its
// wait the call takes itself back (take) before it touches the caller's
// memory again; if the caller has gone, it ends without a word. A nil
// hold (the harness's calls) waits without letting go.
type hold struct {
	id     uint64
	k      kernel
	cancel chan struct{} // closed by the kernel's cancel of this call
	moved  int64         // what the call has moved so far (a blocking send)
	// The socket's SO_RCVTIMEO or SO_SNDTIMEO, armed at the call's first
	// wait (timeout): the waits of one call share it, as on Linux.
	armed    bool
	nowait   bool      // set with a negative tv_sec: EAGAIN at once
	deadline time.Time // zero: no timeout
}

// timeout arms the call's timeout d (timeo.duration) before it waits;
// only the first arming of a call counts.
func (h *hold) timeout(d time.Duration) {
	if h == nil || h.armed {
		return
	}
	h.armed = true
	switch {
	case d < 0:
		h.nowait = true
	case d > 0:
		h.deadline = time.Now().Add(d)
	}
}

// wait sleeps until ch has an event, letting the caller go meanwhile. It
// returns 0 when the call should check its condition again, EAGAIN when
// its timeout passed, and errRestart when the caller abandoned the call,
// which must then end without touching the caller's memory (its answer
// goes nowhere).
func (h *hold) wait(ch <-chan struct{}) syscall.Errno {
	if h == nil {
		<-ch
		return 0
	}
	if h.nowait {
		return syscall.EAGAIN
	}
	var expired <-chan time.Time
	flags := 0
	if !h.deadline.IsZero() {
		left := time.Until(h.deadline)
		if left <= 0 {
			return syscall.EAGAIN
		}
		t := time.NewTimer(left)
		defer t.Stop()
		expired = t.C
		flags = holdTimed // a signal then ends the call with EINTR, as on Linux
	}
	if h.k.Hold(h.id, holdWait, h.moved, flags) != 0 {
		// The kernel refused: wait as the call's caller must.
		select {
		case <-ch:
			return 0
		case <-expired:
			return syscall.EAGAIN
		}
	}
	timedOut := false
	select {
	case <-ch:
	case <-h.cancel:
	case <-expired:
		timedOut = true
	}
	if h.k.Hold(h.id, holdTake, 0, 0) != 0 {
		return errRestart
	}
	if timedOut {
		return syscall.EAGAIN
	}
	return 0
}

// progress records what a blocking call has moved before it waits again:
// a caller that abandons it then gets that count, as on Linux.
func (h *hold) progress(n int64) {
	if h != nil {
		h.moved = n
	}
}

// handle performs one call and builds its reply. A call that may wait
// lets its caller go while it waits (hd; nil: it waits holding it).
func (s *Server) handle(m *Msg, hd *hold) Reply {
	s.Calls.Add(1)
	rep := Reply{ID: m.ID}
	var res int64
	var err syscall.Errno
	sid := int32(m.Args[0]) // the kernel puts the socket's sid in place of the fd
	switch m.NR {
	case 41, 51, 52, 53:
		// socket, getsockname, getpeername and socketpair are the kernel's
		// own (runtime/vk_net.go): it never forwards them.
		err = syscall.ENOSYS
	default:
		sk := s.lookup(sid)
		if sk == nil {
			s.mu.Lock()
			e, ok := s.failed[sid]
			if ok && m.NR == 3 {
				delete(s.failed, sid)
				e = 0
			}
			s.mu.Unlock()
			if !ok {
				// The kernel only forwards calls on its sockets, and
				// every one of those has an entry: a miss is a kernel
				// bug, not the caller's, but EBADF is the honest answer.
				e = syscall.EBADF
			}
			err = e
			break
		}
		switch {
		case sk.ux != nil:
			res, err = s.unixCall(sk, m, &rep, hd)
		case sk.nl != nil:
			res, err = s.netlinkCall(sk, m, hd)
		default:
			res, err = s.call(sk, m, &rep, hd)
		}
		if m.NR != 3 { // after close there is no socket to report on
			rep.ReadySeq = s.seq.Add(1)
			rep.Ready = s.readiness(sk)
			rep.ReadyOK = 1
			rep.Names = s.names(sk)
			rep.AddrOK = 1
		}
	}
	if err != 0 {
		s.Errors.Add(1)
		res = -int64(err)
	}
	rep.Result = res
	if trace {
		fmt.Fprintf(os.Stderr, "netstack: %s(%d %#x %#x %#x) = %d ready %#x\n", callName(m.NR), int32(m.Args[0]), m.Args[1], m.Args[2], m.Args[3], res, rep.Ready)
	}
	return rep
}

// trace logs every call (VELOCITY_NETTRACE=1 on the kernel command line).
var trace = os.Getenv("VELOCITY_NETTRACE") == "1"

// callNames are the forwarded calls' names, for traces.
var callNames = map[uint64]string{0: "read", 1: "write", 3: "close", 19: "readv", 20: "writev", 41: "socket",
	42: "connect", 43: "accept", 44: "sendto", 45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 48: "shutdown",
	49: "bind", 50: "listen", 51: "getsockname", 52: "getpeername", 53: "socketpair", 54: "setsockopt",
	55: "getsockopt", 288: "accept4"}

func callName(nr uint64) string {
	if n, ok := callNames[nr]; ok {
		return n
	}
	return fmt.Sprint("syscall", nr)
}

func (s *Server) socket(domain, typ, proto int, sid int32, id uint64) (*sock, syscall.Errno) {
	var netProto tcpip.NetworkProtocolNumber
	switch domain {
	case afInet:
		netProto = ipv4.ProtocolNumber
	case afInet6:
		netProto = ipv6.ProtocolNumber
	case afUnix:
		if proto != 0 && proto != afUnix {
			return nil, syscall.EPROTONOSUPPORT
		}
		return s.unixCreate(typ, sid, id)
	case afNetlink:
		return s.netlinkCreate(typ, proto, sid, id)
	default:
		return nil, syscall.EAFNOSUPPORT
	}
	if typ&^(0xf|sockNonblock|sockCloexec) != 0 {
		return nil, syscall.EINVAL
	}
	var tp tcpip.TransportProtocolNumber
	switch typ & 0xf {
	case sockStream:
		if proto != 0 && proto != ipprotoTCP {
			return nil, syscall.EPROTONOSUPPORT
		}
		tp, proto = tcp.ProtocolNumber, ipprotoTCP
	case sockDgram:
		switch {
		case proto == 0 || proto == ipprotoUDP:
			tp, proto = udp.ProtocolNumber, ipprotoUDP
		case proto == ipprotoICMP && domain == afInet:
			tp = icmp.ProtocolNumber4 // ping socket
		case proto == ipprotoICMPv6 && domain == afInet6:
			tp = icmp.ProtocolNumber6
		default:
			return nil, syscall.EPROTONOSUPPORT
		}
	case sockRaw:
		// Raw IP: every packet of protocol proto, with its IP header on
		// IPv4 as Linux gives it; IPPROTO_RAW (255) only sends, and
		// its packets carry their own header.
		if proto <= 0 || proto >= 263 {
			return nil, syscall.EPROTONOSUPPORT
		}
		tp = tcpip.TransportProtocolNumber(proto)
	default:
		return nil, syscall.ESOCKTNOSUPPORT
	}
	wq := new(waiter.Queue)
	var ep tcpip.Endpoint
	var terr tcpip.Error
	if typ&0xf == sockRaw {
		ep, terr = s.stack.NewRawEndpoint(tp, netProto, wq, proto != ipprotoRaw)
	} else {
		ep, terr = s.stack.NewEndpoint(tp, netProto, wq)
	}
	if terr != nil {
		return nil, errno(terr)
	}
	if tp == tcp.ProtocolNumber && typ&0xf == sockStream && !s.joins.off {
		ep = newTCPEP(ep, s.joins, domain, wq) // join.go; off, the socket is gVisor's as it was
	}
	sk := &sock{sid: sid, id: id, family: domain, typ: typ & 0xf, proto: proto, ep: ep, wq: wq}
	s.register(sk)
	return sk, 0
}

// register adds sk to the table and forwards its events to the kernel.
// The callback only adds events; the level (which clears them) comes with
// replies, numbered so the kernel can order the two.
func (s *Server) register(sk *sock) {
	sk.entry = waiter.NewFunctionEntry(allEvents, func(m waiter.EventMask) {
		if trace {
			fmt.Fprintf(os.Stderr, "netstack: event sid %d %#x\n", sk.sid, uint32(m))
		}
		s.k.Ready(sk.sid, uint32(m), 0, s.seq.Add(1), sk.id)
	})
	sk.wq.EventRegister(&sk.entry)
	s.mu.Lock()
	s.socks[sk.sid] = sk
	s.mu.Unlock()
}

func (s *Server) call(sk *sock, m *Msg, rep *Reply, hd *hold) (int64, syscall.Errno) {
	a := m.Args
	nonblock := m.Flags&msgNonblock != 0
	switch m.NR {
	case 3: // close
		sk.wq.EventUnregister(&sk.entry)
		sk.ep.Close()
		s.mu.Lock()
		delete(s.socks, sk.sid)
		s.mu.Unlock()
		s.closedGroups(sk)
		return 0, 0
	case 49: // bind
		addr, e := decodeSockaddr(user(a[1], int(a[2])), sk.family)
		if e != 0 {
			return 0, e
		}
		return 0, errno(sk.ep.Bind(addr))
	case 50: // listen
		if sk.typ != sockStream {
			return 0, syscall.EOPNOTSUPP
		}
		backlog := int(int32(a[1]))
		if backlog < 0 || backlog > somaxconn {
			backlog = somaxconn
		}
		return 0, errno(sk.ep.Listen(backlog))
	case 42: // connect
		return s.connect(sk, a, nonblock, hd)
	case 43, 288: // accept, accept4
		flags := 0
		if m.NR == 288 {
			flags = int(a[3])
			if flags&^(sockNonblock|sockCloexec) != 0 {
				return 0, syscall.EINVAL
			}
		}
		return s.accept(sk, a, int32(m.NewFD), m.SockID, nonblock, hd, rep)
	case 48: // shutdown
		var f tcpip.ShutdownFlags
		switch a[1] {
		case 0:
			f = tcpip.ShutdownRead
		case 1:
			f = tcpip.ShutdownWrite
		case 2:
			f = tcpip.ShutdownRead | tcpip.ShutdownWrite
		default:
			return 0, syscall.EINVAL
		}
		return 0, errno(sk.ep.Shutdown(f))
	case 16: // ioctl
		return 0, ioctlQueue(a[1], a[2], func(opt tcpip.SockOptInt) (int, syscall.Errno) {
			if opt == tcpip.SendQueueSizeOption {
				// gVisor's endpoints declare the option and serve it
				// nowhere. Kernels build gVisor's TCP with a method that
				// gives the number (internal/build/netdelack.go,
				// sendqFile); UDP, and host builds, have none: ENOTTY.
				if q, ok := sendQueued(sk.ep); ok {
					return q, 0
				}
				return 0, syscall.ENOTTY
			}
			v, err := sk.ep.GetSockOptInt(opt)
			return v, errno(err)
		})
	case 54: // setsockopt
		return 0, s.setsockopt(sk, int(a[1]), int(a[2]), user(a[3], int(int32(a[4]))))
	case 55: // getsockopt
		return 0, s.getsockopt(sk, int(a[1]), int(a[2]), a[3], a[4])
	case 0: // read
		sc := getScratch()
		defer putScratch(sc) // clears the buffer too: see clearBufs
		return s.recv(sk, sc.one1(user(a[1], int(a[2]))), 0, nonblock, hd, nil)
	case 19: // readv
		bufs := iovecs(a[1], int(a[2]))
		defer clear(bufs) // see clearBufs
		return s.recv(sk, bufs, 0, nonblock, hd, nil)
	case 45: // recvfrom
		sc := getScratch()
		defer putScratch(sc) // see clearBufs
		n, e := s.recv(sk, sc.one1(user(a[1], int(a[2]))), int(a[3]), nonblock, hd, &recvAddr{addr: a[4], lenp: a[5]})
		return n, e
	case 47: // recvmsg
		return s.recvmsg(sk, a[1], int(a[2]), nonblock, hd)
	case 1: // write
		sc := getScratch()
		defer putScratch(sc) // see clearBufs
		return s.send(sk, sc.one1(user(a[1], int(a[2]))), 0, nil, nonblock, hd)
	case 20: // writev
		bufs := iovecs(a[1], int(a[2]))
		defer clear(bufs) // see clearBufs
		return s.send(sk, bufs, 0, nil, nonblock, hd)
	case 44: // sendto
		var to []byte
		if a[4] != 0 {
			to = user(a[4], int(a[5]))
		}
		sc := getScratch()
		defer putScratch(sc) // see clearBufs
		return s.send(sk, sc.one1(user(a[1], int(a[2]))), int(a[3]), to, nonblock, hd)
	case 46: // sendmsg
		h := user(a[1], 56)
		var to []byte
		if name, nlen := binary.LittleEndian.Uint64(h[0:]), uint32(binary.LittleEndian.Uint64(h[8:])); name != 0 && nlen != 0 {
			to = user(name, int(nlen))
		}
		bufs := iovecs(binary.LittleEndian.Uint64(h[16:]), int(binary.LittleEndian.Uint64(h[24:])))
		defer clear(bufs) // see clearBufs
		return s.send(sk, bufs, int(a[2]), to, nonblock, hd)
	}
	return 0, syscall.ENOSYS
}

// readiness is sk's epoll level.
func (s *Server) readiness(sk *sock) uint32 {
	if sk.ux != nil {
		s.unix.mu.Lock()
		defer s.unix.mu.Unlock()
		return uint32(sk.ux.readiness())
	}
	if sk.nl != nil {
		s.nl.mu.Lock()
		defer s.nl.mu.Unlock()
		return uint32(sk.nl.readiness())
	}
	return uint32(sk.ep.Readiness(allEvents))
}

// names reads a socket's addresses for the kernel's cache.
func (s *Server) names(sk *sock) Names {
	if sk.ux != nil {
		s.unix.mu.Lock()
		defer s.unix.mu.Unlock()
		return unixNames(sk.ux)
	}
	if sk.nl != nil {
		s.nl.mu.Lock()
		defer s.nl.mu.Unlock()
		return netlinkNames(sk.nl)
	}
	return names(sk)
}

func names(sk *sock) Names {
	var n Names
	if a, err := sk.ep.GetLocalAddress(); err == nil {
		n.LocalLen = uint32(encodeSockaddr(n.Local[:], a, sk.family))
	}
	if a, err := sk.ep.GetRemoteAddress(); err == nil {
		n.RemoteLen = uint32(encodeSockaddr(n.Remote[:], a, sk.family))
	}
	return n
}

// putAddr writes a sockaddr result and its length, truncating as Linux
// does (the length written back is the full size).
func putAddr(addr, lenp uint64, a tcpip.FullAddress, family int) {
	if lenp == 0 {
		return
	}
	l := userI32(lenp)
	buf := user(addr, int(*l))
	*l = int32(encodeSockaddr(buf, a, family))
}

// waitFor blocks until sk has one of the events in mask, for calls on
// blocking sockets (each runs on a goroutine of its own). It returns 0
// when the call should check its condition again, EAGAIN when the call's
// timeout passed, and errRestart when the caller abandoned the call
// meanwhile (see hold); the call then ends at once (its answer goes
// nowhere).
func waitFor(sk *sock, mask waiter.EventMask, ready func() bool, hd *hold) syscall.Errno {
	e, ch := waiter.NewChannelEntry(mask)
	sk.wq.EventRegister(&e)
	defer sk.wq.EventUnregister(&e)
	if ready() {
		return 0
	}
	return hd.wait(ch)
}

func (s *Server) connect(sk *sock, a [6]uint64, nonblock bool, hd *hold) (int64, syscall.Errno) {
	b := user(a[1], int(a[2]))
	if len(b) >= 2 && int(b[0])|int(b[1])<<8 == afUnspec {
		if sk.datagram() {
			return 0, errno(sk.ep.Disconnect())
		}
		return 0, syscall.EAFNOSUPPORT
	}
	addr, e := decodeSockaddr(b, sk.family)
	if e != 0 {
		return 0, e
	}
	if t, ok := sk.ep.(*tcpEP); ok && s.join(t, addr) {
		return 0, 0 // joined to a listener of ours (join.go)
	}
	err := sk.ep.Connect(addr)
	_, started := err.(*tcpip.ErrConnectStarted)
	// A blocking connect made again after a signal cut its wait short
	// finds the connection under way, and waits for it again, as on Linux.
	_, again := err.(*tcpip.ErrAlreadyConnecting)
	if (started || again) && !nonblock {
		hd.timeout(sk.sndTimeo.duration())
		if e := waitFor(sk, waiter.WritableEvents|waiter.EventErr|waiter.EventHUp, func() bool {
			return sk.ep.Readiness(waiter.WritableEvents|waiter.EventErr|waiter.EventHUp) != 0
		}, hd); e != 0 {
			if e == syscall.EAGAIN {
				return 0, syscall.EINPROGRESS // SO_SNDTIMEO passed: Linux's answer
			}
			return 0, e
		}
		return 0, errno(sk.ep.LastError())
	}
	return 0, errno(err)
}

func (s *Server) accept(sk *sock, a [6]uint64, sid int32, id uint64, nonblock bool, hd *hold, rep *Reply) (int64, syscall.Errno) {
	var peer tcpip.FullAddress
	for {
		ep, wq, err := sk.ep.Accept(&peer)
		if _, ok := err.(*tcpip.ErrWouldBlock); ok && !nonblock {
			hd.timeout(sk.rcvTimeo.duration())
			if e := waitFor(sk, waiter.ReadableEvents, func() bool { return sk.ep.Readiness(waiter.ReadableEvents) != 0 }, hd); e != 0 {
				return 0, e
			}
			continue
		}
		if err != nil {
			return 0, errno(err)
		}
		nsk := &sock{sid: sid, id: id, family: sk.family, typ: sk.typ, proto: sk.proto, ep: ep, wq: wq}
		s.register(nsk)
		rep.Ready2Seq = s.seq.Add(1)
		rep.Ready2 = uint32(ep.Readiness(allEvents))
		rep.Names2 = s.names(nsk)
		if a[1] != 0 {
			putAddr(a[1], a[2], peer, sk.family)
		}
		return int64(sid), 0 // the kernel gives the caller an fd for it
	}
}

// iovWriter fills a caller's buffers; when they are full it says so with
// io.ErrShortWrite, which tells netstack to keep the rest (a stream) or
// drop it (a datagram, reported as truncated).
type iovWriter struct {
	bufs [][]byte
	n    int
}

func (w *iovWriter) Write(p []byte) (int, error) {
	done := 0
	for len(p) > 0 && len(w.bufs) > 0 {
		c := copy(w.bufs[0], p)
		w.bufs[0] = w.bufs[0][c:]
		if len(w.bufs[0]) == 0 {
			w.bufs = w.bufs[1:]
		}
		p = p[c:]
		done += c
	}
	w.n += done
	if len(p) > 0 {
		return done, io.ErrShortWrite
	}
	return done, nil
}

// iovReader is a netstack Payloader over a caller's buffers.
type iovReader struct {
	bufs [][]byte
	left int
}

func newIovReader(bufs [][]byte) *iovReader {
	r := new(iovReader)
	r.init(bufs)
	return r
}

func (r *iovReader) init(bufs [][]byte) {
	*r = iovReader{bufs: bufs}
	for _, b := range bufs {
		r.left += len(b)
	}
}

// ioScratch holds what a read or write hands netstack and would
// otherwise put on the heap on every call: the one-buffer list of read,
// write, recvfrom and sendto, and the reader or writer over the buffers.
// Pooled, the hot calls allocate nothing of their own (Go's
// TestTCPReadWriteAllocs counts allocations per Read and Write).
type ioScratch struct {
	one [1][]byte
	w   iovWriter
	r   iovReader
	to  tcpip.FullAddress // a datagram's destination (send)
}

var ioScratchPool = sync.Pool{New: func() any { return new(ioScratch) }}

func getScratch() *ioScratch { return ioScratchPool.Get().(*ioScratch) }

// putScratch forgets the caller's buffers (see clearBufs) and returns sc
// to the pool.
func putScratch(sc *ioScratch) {
	*sc = ioScratch{}
	ioScratchPool.Put(sc)
}

// one1 is the list of the single buffer b, in sc.
func (sc *ioScratch) one1(b []byte) [][]byte {
	sc.one[0] = b
	return sc.one[:]
}

func (r *iovReader) Len() int { return r.left }

func (r *iovReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	done := 0
	for len(p) > 0 && len(r.bufs) > 0 {
		c := copy(p, r.bufs[0])
		r.bufs[0] = r.bufs[0][c:]
		if len(r.bufs[0]) == 0 {
			r.bufs = r.bufs[1:]
		}
		p = p[c:]
		done += c
	}
	r.left -= done
	return done, nil
}

type recvAddr struct{ addr, lenp uint64 }

// recv reads into bufs. from, when set, gets the sender's address.
func (s *Server) recv(sk *sock, bufs [][]byte, flags int, nonblock bool, hd *hold, from *recvAddr) (int64, syscall.Errno) {
	n, total, peer, e := s.recvInto(sk, bufs, flags, nonblock, hd, from != nil && from.addr != 0)
	if e != 0 {
		return 0, e
	}
	if from != nil && from.addr != 0 {
		if sk.typ == sockStream {
			*userI32(from.lenp) = 0 // Linux leaves no address for a stream
		} else {
			putAddr(from.addr, from.lenp, peer, sk.family)
		}
	}
	return recvCount(sk, flags, n, total), 0
}

// recvCount is what a receive returns: the bytes read, or with MSG_TRUNC
// on a datagram socket the datagram's real length.
func recvCount(sk *sock, flags, n, total int) int64 {
	if flags&msgTrunc != 0 && sk.datagram() {
		return int64(total)
	}
	return int64(n)
}

func (s *Server) recvInto(sk *sock, bufs [][]byte, flags int, nonblock bool, hd *hold, needAddr bool) (n, total int, peer tcpip.FullAddress, e syscall.Errno) {
	if flags&^(msgPeek|msgTrunc|msgDontwait|msgWaitall|msgNosignal) != 0 {
		return 0, 0, peer, syscall.EOPNOTSUPP
	}
	if flags&msgDontwait != 0 {
		nonblock = true
	}
	sc := getScratch()
	defer putScratch(sc)
	for {
		w := &sc.w
		*w = iovWriter{bufs: bufs}
		if len(bufs) == 0 {
			w.bufs = sc.one1(nil)
		}
		res, err := sk.ep.Read(w, tcpip.ReadOptions{Peek: flags&msgPeek != 0, NeedRemoteAddr: needAddr})
		switch err.(type) {
		case nil:
			return res.Count, res.Total, res.RemoteAddr, 0
		case *tcpip.ErrClosedForReceive:
			return 0, 0, peer, 0 // end of file
		case *tcpip.ErrBadBuffer:
			if iovLen(bufs) == 0 {
				return 0, res.Total, res.RemoteAddr, 0 // a zero-length read
			}
			return 0, 0, peer, syscall.EFAULT
		case *tcpip.ErrWouldBlock:
			if nonblock {
				return 0, 0, peer, syscall.EAGAIN
			}
			hd.timeout(sk.rcvTimeo.duration())
			if e := waitFor(sk, waiter.ReadableEvents|waiter.EventHUp|waiter.EventErr, func() bool {
				return sk.ep.Readiness(waiter.ReadableEvents|waiter.EventHUp|waiter.EventErr) != 0
			}, hd); e != 0 {
				return 0, 0, peer, e
			}
			continue
		}
		return 0, 0, peer, errno(err)
	}
}

func iovLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// recvmsg fills a struct msghdr: data, the sender's address and
// msg_flags. Control messages are not produced (msg_controllen = 0).
func (s *Server) recvmsg(sk *sock, msg uint64, flags int, nonblock bool, hd *hold) (int64, syscall.Errno) {
	h := user(msg, 56)
	name, nlen := binary.LittleEndian.Uint64(h[0:]), binary.LittleEndian.Uint64(h[8:])&0xffffffff
	bufs := iovecs(binary.LittleEndian.Uint64(h[16:]), int(binary.LittleEndian.Uint64(h[24:])))
	defer clear(bufs) // see clearBufs
	n, total, peer, e := s.recvInto(sk, bufs, flags, nonblock, hd, name != 0)
	if e != 0 {
		return 0, e
	}
	if name != 0 && nlen != 0 {
		if sk.typ == sockStream {
			binary.LittleEndian.PutUint32(h[8:], 0)
		} else {
			full := encodeSockaddr(user(name, int(nlen)), peer, sk.family)
			binary.LittleEndian.PutUint32(h[8:], uint32(full))
		}
	}
	binary.LittleEndian.PutUint64(h[40:], 0) // msg_controllen
	var mflags uint32
	if sk.datagram() && total > n {
		mflags |= msgTrunc
	}
	binary.LittleEndian.PutUint32(h[48:], mflags)
	if flags&msgTrunc != 0 && sk.datagram() {
		return int64(total), 0
	}
	return int64(n), 0
}

func (s *Server) send(sk *sock, bufs [][]byte, flags int, to []byte, nonblock bool, hd *hold) (int64, syscall.Errno) {
	if flags&^(msgDontwait|msgNosignal) != 0 {
		return 0, syscall.EOPNOTSUPP
	}
	if flags&msgDontwait != 0 {
		nonblock = true
	}
	sc := getScratch()
	defer putScratch(sc)
	var opts tcpip.WriteOptions
	if to != nil && sk.datagram() {
		addr, e := decodeSockaddr(to, sk.family)
		if e != 0 {
			return 0, e
		}
		sc.to = addr
		opts.To = &sc.to
	}
	r := &sc.r
	r.init(bufs)
	total := int64(r.Len())
	var sent int64
	for {
		n, err := sk.ep.Write(r, opts)
		sent += n
		switch err.(type) {
		case nil:
			if nonblock || sk.typ != sockStream || sent >= total {
				return sent, 0
			}
			// A blocking stream write returns once everything is queued.
		case *tcpip.ErrWouldBlock:
			if nonblock {
				if sent > 0 {
					return sent, 0
				}
				return 0, syscall.EAGAIN
			}
		default:
			if sent > 0 {
				return sent, 0
			}
			return 0, errno(err)
		}
		hd.progress(sent)
		hd.timeout(sk.sndTimeo.duration())
		if e := waitFor(sk, waiter.WritableEvents|waiter.EventErr|waiter.EventHUp, func() bool {
			return sk.ep.Readiness(waiter.WritableEvents|waiter.EventErr|waiter.EventHUp) != 0
		}, hd); e != 0 {
			if sent > 0 {
				return sent, 0 // what was queued (if abandoned, the kernel answered with hd.moved)
			}
			return 0, e
		}
	}
}
