package netstack

// AF_NETLINK sockets (NETLINK_ROUTE only): the socket side of netlink.go.
// A netlink socket has a port id (bind, or the first send or connect,
// picks one as Linux's autobind does: the process's pid first, then
// negative numbers), a receive queue of datagrams, and a peer address.
// A message sent to port 0 is the kernel's: netlinkRoute answers it at
// once from a snapshot of the stack's NICs, and the answer waits in the
// sender's queue for recvfrom. A message to another port goes to the
// netlink socket bound there (ECONNREFUSED when none is).
//
// Not offered: multicast groups (bind or connect naming groups, and
// NETLINK_ADD_MEMBERSHIP, are refused: no notifications are ever sent),
// SOL_NETLINK options (ENOPROTOOPT). Where Linux would make a sender to
// a full user socket wait, the datagram is dropped and the receiver gets
// ENOBUFS on its next receive, as Linux does for the kernel's messages.

import (
	"encoding/binary"
	"os"
	"sort"
	"sync"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/waiter"
)

const (
	// nlBuf is a netlink socket's SO_RCVBUF and SO_SNDBUF by default
	// (net.core.rmem_default, wmem_default); a send may carry
	// nlBuf - 32 bytes.
	nlBuf    = 212992
	nlBufMax = 212992 // net.core.rmem_max, wmem_max
	msgOOB   = 0x1
)

// nlSpace is the port ids of the node's netlink sockets. One lock covers
// it and every netlink socket.
type nlSpace struct {
	mu    sync.Mutex
	ports map[uint32]*nlEP
	rover int32 // the next negative port id autobind tries
}

type nlDgram struct {
	b    []byte
	from uint32 // the sender's port id: 0 for the kernel
	// cred: the sender's pid, uid and gid, for a receiver with
	// SO_PASSCRED (Linux's NETLINK_CREDS): the kernel's are all 0; a
	// socket's come with its send (Msg.Cred), and a send that carried
	// none reads as pid 0 and the overflow ids.
	cred ucred
}

// nlEP is one AF_NETLINK socket.
type nlEP struct {
	typ            int // sockRaw or sockDgram
	wq             *waiter.Queue
	port           uint32
	bound          bool
	dstPort        uint32 // connect's
	rq             []nlDgram
	rbytes         int
	err            syscall.Errno // pending: ENOBUFS after a drop
	sndbuf, rcvbuf int
	passcred       bool // SO_PASSCRED: every read gets its sender's SCM_CREDENTIALS
}

func newNlSpace() *nlSpace { return &nlSpace{ports: make(map[uint32]*nlEP), rover: -4097} }

// netlinkCreate serves socket(AF_NETLINK, typ, proto).
func (s *Server) netlinkCreate(typ, proto int, sid int32, id uint64) (*sock, syscall.Errno) {
	if typ&^(0xf|sockNonblock|sockCloexec) != 0 {
		return nil, syscall.EINVAL
	}
	t := typ & 0xf
	if t != sockRaw && t != sockDgram {
		return nil, syscall.ESOCKTNOSUPPORT
	}
	if proto != netlinkRouteProto {
		return nil, syscall.EPROTONOSUPPORT
	}
	ep := &nlEP{typ: t, wq: new(waiter.Queue), sndbuf: nlBuf, rcvbuf: nlBuf}
	sk := &sock{sid: sid, id: id, family: afNetlink, typ: t, nl: ep, wq: ep.wq}
	s.register(sk)
	return sk, 0
}

// autobindLocked gives ep a port id, as Linux's netlink_autobind: the
// process's pid if free, else the next free negative number.
func (sp *nlSpace) autobindLocked(ep *nlEP) {
	if ep.bound {
		return
	}
	p := uint32(os.Getpid())
	for {
		if _, taken := sp.ports[p]; !taken {
			break
		}
		p = uint32(sp.rover)
		sp.rover--
		if sp.rover > -4097 { // wrapped
			sp.rover = -4097
		}
	}
	ep.port, ep.bound = p, true
	sp.ports[p] = ep
}

// nlSockaddr decodes a struct sockaddr_nl: port id and groups.
func nlSockaddr(b []byte) (pid, groups uint32, e syscall.Errno) {
	if len(b) < sockaddrNlLen || binary.LittleEndian.Uint16(b) != afNetlink {
		return 0, 0, syscall.EINVAL
	}
	return binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:]), 0
}

func nlSockaddrBytes(pid uint32) [sockaddrNlLen]byte {
	var b [sockaddrNlLen]byte
	binary.LittleEndian.PutUint16(b[0:], afNetlink)
	binary.LittleEndian.PutUint32(b[4:], pid)
	return b
}

// netlinkNames are ep's addresses for the kernel's cache: getsockname
// says the port id (0 before one is bound), getpeername connect's
// destination (port 0, the kernel, by default: never ENOTCONN).
func netlinkNames(ep *nlEP) Names {
	var n Names
	l, r := nlSockaddrBytes(ep.port), nlSockaddrBytes(ep.dstPort)
	n.LocalLen = uint32(copy(n.Local[:], l[:]))
	n.RemoteLen = uint32(copy(n.Remote[:], r[:]))
	return n
}

func (ep *nlEP) readiness() waiter.EventMask {
	m := waiter.EventOut
	if len(ep.rq) > 0 {
		m |= waiter.EventIn
	}
	if ep.err != 0 {
		m |= waiter.EventErr
	}
	return m
}

// queueLocked puts a datagram on ep's receive queue, or drops it and
// leaves ENOBUFS for the next receive when the buffer is full.
func (ep *nlEP) queueLocked(b []byte, from uint32, cred ucred) bool {
	if ep.rbytes+len(b) > ep.rcvbuf {
		ep.err = syscall.ENOBUFS
		return false
	}
	ep.rq = append(ep.rq, nlDgram{b: b, from: from, cred: cred})
	ep.rbytes += len(b)
	return true
}

// netlinkState reads the stack's NICs and addresses for netlinkRoute.
func (s *Server) netlinkState() nlState {
	info := s.stack.NICInfo()
	ids := make([]int, 0, len(info))
	for id := range info {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	var st nlState
	var v6 []nlAddr
	for _, id := range ids {
		ni := info[tcpip.NICID(id)]
		l := nlLink{index: int32(id), name: ni.Name, typ: arphrdNone, mtu: ni.MTU}
		switch ni.ARPHardwareType { // gVisor's own numbering, not Linux's ARPHRD_*
		case header.ARPHardwareEther:
			l.typ = arphrdEther
		case header.ARPHardwareLoopback:
			l.typ = arphrdLoopback
		}
		if ni.Flags.Up {
			l.flags |= iffUp
		}
		if ni.Flags.Running {
			l.flags |= iffRunning | iffLowerUp
		}
		if ni.Flags.Promiscuous {
			l.flags |= iffPromisc
		}
		switch {
		case ni.Flags.Loopback:
			// Linux's lo: a zero address and broadcast of Ethernet's
			// length, and an operational state of "unknown" (it has no
			// carrier to say up).
			l.flags |= iffLoopback
			l.addr, l.brd = make([]byte, 6), make([]byte, 6)
			l.operstate = ifOperUnknown
		case l.typ == arphrdEther:
			l.flags |= iffBroadcast | iffMulticast
			l.addr = []byte(ni.LinkAddress)
			l.brd = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
			l.operstate = ifOperDown
			if ni.Flags.Running {
				l.operstate = ifOperUp
			}
		default:
			if ni.LinkAddress != "" {
				l.addr = []byte(ni.LinkAddress)
			}
		}
		st.links = append(st.links, l)
		for _, pa := range ni.ProtocolAddresses {
			ap := pa.AddressWithPrefix
			a := nlAddr{prefix: uint8(ap.PrefixLen), flags: ifaFPermanent, index: uint32(id), scope: rtScopeUniverse}
			raw := ap.Address.AsSlice()
			if pa.Protocol == ipv4.ProtocolNumber && len(raw) == 4 {
				a.family, a.addr, a.label = afInet, raw, ni.Name
				if raw[0] == 127 {
					a.scope = rtScopeHost
				}
				// The stack takes the subnet's broadcast address as
				// broadcast on a non-loopback NIC (not on /31 and /32).
				if !ni.Flags.Loopback && ap.PrefixLen <= 30 {
					sn := ap.Subnet()
					bc := sn.Broadcast()
					a.brd = bc.AsSlice()
				}
				st.addrs = append(st.addrs, a)
			} else if len(raw) == 16 {
				a.family, a.addr = afInet6, raw
				switch {
				case ap.Address == header.IPv6Loopback:
					a.scope = rtScopeHost
				case header.IsV6LinkLocalUnicastAddress(ap.Address):
					a.scope = rtScopeLink
				}
				v6 = append(v6, a)
			}
		}
	}
	st.addrs = append(st.addrs, v6...)
	return st
}

// netlinkCall serves a system call on a netlink socket.
func (s *Server) netlinkCall(sk *sock, m *Msg, hd *hold) (int64, syscall.Errno) {
	ep := sk.nl
	sp := s.nl
	a := m.Args
	nonblock := m.Flags&msgNonblock != 0
	switch m.NR {
	case 16: // ioctl: netlink answers none, as Linux's netlink_ioctl
		return 0, syscall.ENOTTY
	case 3: // close
		sk.wq.EventUnregister(&sk.entry)
		sp.mu.Lock()
		if ep.bound && sp.ports[ep.port] == ep {
			delete(sp.ports, ep.port)
		}
		ep.rq, ep.rbytes = nil, 0
		sp.mu.Unlock()
		s.mu.Lock()
		delete(s.socks, sk.sid)
		s.mu.Unlock()
		return 0, 0
	case 49: // bind
		pid, groups, e := nlSockaddr(user(a[1], int(a[2])))
		if e != 0 {
			return 0, e
		}
		if groups != 0 {
			return 0, syscall.EOPNOTSUPP // multicast groups are not offered
		}
		sp.mu.Lock()
		defer sp.mu.Unlock()
		switch {
		case ep.bound:
			if pid != ep.port {
				return 0, syscall.EINVAL
			}
		case pid == 0:
			sp.autobindLocked(ep)
		default:
			if _, taken := sp.ports[pid]; taken {
				return 0, syscall.EADDRINUSE
			}
			ep.port, ep.bound = pid, true
			sp.ports[pid] = ep
		}
		return 0, 0
	case 42: // connect
		b := user(a[1], int(a[2]))
		if len(b) < 2 {
			return 0, syscall.EINVAL
		}
		sp.mu.Lock()
		defer sp.mu.Unlock()
		if binary.LittleEndian.Uint16(b) == afUnspec {
			ep.dstPort = 0
			return 0, 0
		}
		pid, groups, e := nlSockaddr(b)
		if e != 0 {
			return 0, e
		}
		if groups != 0 {
			return 0, syscall.EOPNOTSUPP
		}
		sp.autobindLocked(ep)
		ep.dstPort = pid
		return 0, 0
	case 43, 288, 50, 48: // accept, accept4, listen, shutdown: none on netlink
		return 0, syscall.EOPNOTSUPP
	case 54: // setsockopt
		return 0, s.netlinkSetsockopt(ep, int(a[1]), int(a[2]), user(a[3], int(int32(a[4]))))
	case 55: // getsockopt
		return 0, s.netlinkGetsockopt(ep, int(a[1]), int(a[2]), a[3], a[4])
	case 1: // write
		bufs := [][]byte{user(a[1], int(a[2]))}
		defer clear(bufs) // see clearBufs
		return s.netlinkSend(ep, bufs, 0, nil, credOf(m).own)
	case 20: // writev
		bufs := iovecs(a[1], int(a[2]))
		defer clear(bufs) // see clearBufs
		return s.netlinkSend(ep, bufs, 0, nil, credOf(m).own)
	case 44: // sendto
		var to []byte
		if a[4] != 0 && a[5] != 0 {
			to = user(a[4], int(a[5]))
		}
		bufs := [][]byte{user(a[1], int(a[2]))}
		defer clear(bufs) // see clearBufs
		return s.netlinkSend(ep, bufs, int(a[3]), to, credOf(m).own)
	case 46: // sendmsg
		h := user(a[1], 56)
		var to []byte
		if name, nlen := binary.LittleEndian.Uint64(h[0:]), uint32(binary.LittleEndian.Uint64(h[8:])); name != 0 && nlen != 0 {
			to = user(name, int(nlen))
		}
		bufs := iovecs(binary.LittleEndian.Uint64(h[16:]), int(binary.LittleEndian.Uint64(h[24:])))
		defer clear(bufs) // see clearBufs
		return s.netlinkSend(ep, bufs, int(a[2]), to, credOf(m).own)
	case 0: // read
		bufs := [][]byte{user(a[1], int(a[2]))}
		defer clear(bufs) // see clearBufs
		return s.netlinkRecv(sk, bufs, 0, nonblock, hd, 0, 0, 0)
	case 19: // readv
		bufs := iovecs(a[1], int(a[2]))
		defer clear(bufs) // see clearBufs
		return s.netlinkRecv(sk, bufs, 0, nonblock, hd, 0, 0, 0)
	case 45: // recvfrom
		bufs := [][]byte{user(a[1], int(a[2]))}
		defer clear(bufs) // see clearBufs
		return s.netlinkRecv(sk, bufs, int(a[3]), nonblock, hd, a[4], a[5], 0)
	case 47: // recvmsg
		h := user(a[1], 56)
		name := binary.LittleEndian.Uint64(h[0:])
		bufs := iovecs(binary.LittleEndian.Uint64(h[16:]), int(binary.LittleEndian.Uint64(h[24:])))
		defer clear(bufs) // see clearBufs
		var lenp uint64
		if name != 0 {
			lenp = a[1] + 8 // msg_namelen
		}
		return s.netlinkRecv(sk, bufs, int(a[2]), nonblock, hd, name, lenp, a[1])
	}
	return 0, syscall.ENOSYS
}

// netlinkSend sends one datagram of netlink messages: to the kernel
// (port 0: answered at once into ep's own queue) or to the socket bound
// at another port. Linux's checks, in its order: the address, the size.
func (s *Server) netlinkSend(ep *nlEP, bufs [][]byte, flags int, to []byte, cred ucred) (int64, syscall.Errno) {
	if flags&msgOOB != 0 {
		return 0, syscall.EOPNOTSUPP
	}
	sp := s.nl
	sp.mu.Lock()
	dst := ep.dstPort
	sndbuf := ep.sndbuf
	sp.mu.Unlock()
	if to != nil {
		pid, groups, e := nlSockaddr(to)
		if e != 0 {
			return 0, e
		}
		if groups != 0 {
			return 0, syscall.EOPNOTSUPP // multicast groups are not offered
		}
		dst = pid
	}
	// Linux binds an unbound sender before it looks at the size.
	sp.mu.Lock()
	sp.autobindLocked(ep)
	sp.mu.Unlock()
	total := iovLen(bufs)
	if total > sndbuf-32 {
		return 0, syscall.EMSGSIZE
	}
	// Copied (at most sndbuf-32 bytes, checked above): the request is
	// parsed from, and a peer keeps, bytes the caller cannot change.
	data := make([]byte, 0, total)
	for _, b := range bufs {
		data = append(data, b...)
	}
	var st nlState
	haveState := false
	state := func() nlState {
		if !haveState {
			st, haveState = s.netlinkState(), true
		}
		return st
	}
	if dst == 0 {
		// The snapshot is taken before the lock: it takes the stack's.
		if len(data) >= nlmsgHdrLen {
			state()
		}
	}
	sp.mu.Lock()
	var woke *nlEP
	if dst == 0 {
		dgrams, overrun := netlinkRoute(data, ep.port, ep.rcvbuf-ep.rbytes, state)
		for _, d := range dgrams {
			ep.queueLocked(d, 0, ucred{ok: true}) // the kernel's: pid, uid and gid 0
		}
		if overrun {
			ep.err = syscall.ENOBUFS
		}
		woke = ep
	} else {
		peer := sp.ports[dst]
		if peer == nil {
			sp.mu.Unlock()
			return 0, syscall.ECONNREFUSED
		}
		peer.queueLocked(data, ep.port, cred)
		woke = peer
	}
	sp.mu.Unlock()
	woke.wq.Notify(waiter.ReadableEvents)
	return int64(total), 0
}

// netlinkRecv takes one datagram, truncated to fit bufs (MSG_TRUNC), and
// its sender's sockaddr_nl. A pending error (ENOBUFS after a drop) is
// reported first and cleared, as Linux's sock_error does.
func (s *Server) netlinkRecv(sk *sock, bufs [][]byte, flags int, nonblock bool, hd *hold, addr, lenp, msg uint64) (int64, syscall.Errno) {
	if flags&msgOOB != 0 {
		return 0, syscall.EOPNOTSUPP
	}
	if flags&msgDontwait != 0 {
		nonblock = true
	}
	ep := sk.nl
	sp := s.nl
	for {
		sp.mu.Lock()
		if ep.err != 0 {
			e := ep.err
			ep.err = 0
			sp.mu.Unlock()
			return 0, e
		}
		if len(ep.rq) == 0 {
			sp.mu.Unlock()
			if nonblock {
				return 0, syscall.EAGAIN
			}
			hd.timeout(sk.rcvTimeo.duration())
			if e := waitFor(sk, waiter.ReadableEvents|waiter.EventErr, func() bool {
				sp.mu.Lock()
				defer sp.mu.Unlock()
				return len(ep.rq) > 0 || ep.err != 0
			}, hd); e != 0 {
				return 0, e
			}
			continue
		}
		d := ep.rq[0]
		if flags&msgPeek == 0 {
			ep.rq[0] = nlDgram{}
			ep.rq = ep.rq[1:]
			ep.rbytes -= len(d.b)
		}
		sp.mu.Unlock()
		w := &iovWriter{bufs: bufs}
		w.Write(d.b) // short: the rest of the datagram is dropped
		if addr != 0 && lenp != 0 {
			sa := nlSockaddrBytes(d.from)
			l := userI32(lenp)
			if *l > 0 {
				copy(user(addr, int(*l)), sa[:])
			}
			*l = sockaddrNlLen
		}
		if msg != 0 {
			h := user(msg, 56)
			var mflags uint32
			used := 0
			sp.mu.Lock()
			passcred := ep.passcred
			sp.mu.Unlock()
			if passcred {
				var trunc bool
				if used, trunc = putCred(h, d.cred); trunc {
					mflags |= msgCtrunc
				}
			}
			binary.LittleEndian.PutUint64(h[40:], uint64(used)) // msg_controllen
			if w.n < len(d.b) {
				mflags |= msgTrunc
			}
			binary.LittleEndian.PutUint32(h[48:], mflags)
		}
		if flags&msgTrunc != 0 {
			return int64(len(d.b)), 0
		}
		return int64(w.n), 0
	}
}

func (s *Server) netlinkSetsockopt(ep *nlEP, level, name int, v []byte) syscall.Errno {
	if level != solSocket {
		return syscall.ENOPROTOOPT // SOL_NETLINK's options are not offered
	}
	x, e := optInt(v)
	if e != 0 {
		return e
	}
	sp := s.nl
	sp.mu.Lock()
	defer sp.mu.Unlock()
	switch name {
	case soSndBuf, soRcvBuf:
		// Linux clamps to the sysctl maximum, doubles, and keeps a floor.
		x = min(max(x, 0), nlBufMax) * 2
		if name == soSndBuf {
			ep.sndbuf = max(x, 4608)
		} else {
			ep.rcvbuf = max(x, 2304)
		}
		return 0
	case soPassCred:
		ep.passcred = x != 0
		return 0
	}
	return syscall.ENOPROTOOPT
}

func (s *Server) netlinkGetsockopt(ep *nlEP, level, name int, val, lenp uint64) syscall.Errno {
	if level != solSocket {
		return syscall.ENOPROTOOPT
	}
	sp := s.nl
	sp.mu.Lock()
	var x int
	switch name {
	case soType:
		x = ep.typ
	case soDomain:
		x = afNetlink
	case soProtocol:
		x = netlinkRouteProto
	case soError:
		x = int(ep.err)
		ep.err = 0
	case soSndBuf:
		x = ep.sndbuf
	case soRcvBuf:
		x = ep.rcvbuf
	case soPassCred:
		x = boolInt(ep.passcred)
	default:
		sp.mu.Unlock()
		return syscall.ENOPROTOOPT
	}
	sp.mu.Unlock()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(int32(x)))
	return putOpt(val, lenp, b[:])
}
