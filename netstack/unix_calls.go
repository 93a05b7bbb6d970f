package netstack

// The server's side of AF_UNIX sockets: the system calls on them, over
// the endpoints of unix.go.

import (
	"encoding/binary"
	"gvisor.dev/gvisor/pkg/tcpip"
	"syscall"

	"gvisor.dev/gvisor/pkg/waiter"
)

func (s *Server) unixCreate(typ int, sid int32, id uint64) (*sock, syscall.Errno) {
	if typ&^(0xf|sockNonblock|sockCloexec) != 0 {
		return nil, syscall.EINVAL
	}
	t := typ & 0xf
	switch t {
	case sockRaw: // Linux, as BSD does, takes SOCK_RAW as datagram
		t = sockDgram
	case sockStream, sockDgram, sockSeqpacket:
	default:
		return nil, syscall.ESOCKTNOSUPPORT
	}
	u := s.unix.newEP(t)
	sk := &sock{sid: sid, id: id, family: afUnix, typ: t, ux: u, wq: u.wq}
	s.register(sk)
	return sk, 0
}

// unixPair serves the creation the kernel queued for socketpair(2).
func (s *Server) unixPair(m *Msg) syscall.Errno {
	if int(m.Args[0]) != afUnix {
		return syscall.EAFNOSUPPORT
	}
	sid0, sid1 := int32(m.NewFD), int32(m.NewFD>>32)
	a, e := s.unixCreate(int(m.Args[1]), sid0, m.SockID)
	if e != 0 {
		return e
	}
	b, _ := s.unixCreate(int(m.Args[1]), sid1, m.SockID+1)
	// Report numbers are taken before the levels are computed, as
	// everywhere (runtime/vk_net.go explains the ordering).
	sa, sb := s.seq.Add(1), s.seq.Add(1)
	s.unix.mu.Lock()
	linkPair(a.ux, b.ux, peerCredOf(m))
	ra, rb := a.ux.readiness(), b.ux.readiness()
	s.unix.mu.Unlock()
	s.k.Ready(sid0, uint32(ra), 1, sa, a.id)
	s.k.Ready(sid1, uint32(rb), 1, sb, b.id)
	return 0
}

func (s *Server) unixCall(sk *sock, m *Msg, rep *Reply, hd *hold) (int64, syscall.Errno) {
	u := sk.ux
	a := m.Args
	nonblock := m.Flags&msgNonblock != 0
	sp := s.unix
	switch m.NR {
	case 16: // ioctl: the queues as Linux's unix_inq_len and unix_outq_len count them
		return 0, ioctlQueue(a[1], a[2], func(opt tcpip.SockOptInt) (int, syscall.Errno) {
			sp.mu.Lock()
			defer sp.mu.Unlock()
			switch {
			case opt == tcpip.SendQueueSizeOption:
				return u.unread, 0
			case u.listening:
				return 0, syscall.EINVAL
			case u.typ == sockDgram && len(u.rq) > 0:
				return len(u.rq[0].b), 0 // the next datagram
			case u.typ == sockDgram:
				return 0, 0
			}
			return u.rbytes, 0
		})
	case 3: // close
		sk.wq.EventUnregister(&sk.entry)
		sp.mu.Lock()
		u.closeLocked(false)
		sp.mu.Unlock()
		s.mu.Lock()
		delete(s.socks, sk.sid)
		s.mu.Unlock()
		s.unixGC() // as Linux's unix_release_sock: a release may leave only cycles
		return 0, 0
	case 49: // bind
		n, e := decodeSockaddrUnix(user(a[1], int(a[2])))
		if e != 0 {
			return 0, e
		}
		sp.mu.Lock()
		defer sp.mu.Unlock()
		return 0, u.bindLocked(n)
	case 50: // listen
		if u.typ == sockDgram {
			return 0, syscall.EOPNOTSUPP
		}
		backlog := int(int32(a[1]))
		if backlog < 0 || backlog > somaxconn {
			backlog = somaxconn
		}
		sp.mu.Lock()
		defer sp.mu.Unlock()
		if u.addr == nil || u.connected { // Linux: no listen on an unbound or connected socket
			return 0, syscall.EINVAL
		}
		u.listening, u.backlog = true, backlog
		u.ownCred = peerCredOf(m) // what its connections' clients see (SO_PEERCRED)
		return 0, 0
	case 42: // connect
		return s.unixConnect(u, user(a[1], int(a[2])), nonblock, hd, peerCredOf(m))
	case 43, 288: // accept, accept4
		if m.NR == 288 && a[3]&^(sockNonblock|sockCloexec) != 0 {
			return 0, syscall.EINVAL
		}
		return s.unixAccept(sk, a, int32(m.NewFD), m.SockID, nonblock, hd, rep)
	case 48: // shutdown
		sp.mu.Lock()
		defer sp.mu.Unlock()
		return 0, u.shutdownLocked(a[1])
	case 54: // setsockopt
		return 0, s.unixSetsockopt(u, int(a[1]), int(a[2]), user(a[3], int(int32(a[4]))))
	case 55: // getsockopt
		return 0, s.unixGetsockopt(u, int(a[1]), int(a[2]), a[3], a[4])
	case 0: // read
		bufs := [][]byte{user(a[1], int(a[2]))}
		defer clear(bufs) // see clearBufs
		return s.unixRecv(u, bufs, 0, nonblock, hd, 0, 0, 0, m, rep)
	case 19: // readv
		bufs := iovecs(a[1], int(a[2]))
		defer clear(bufs) // see clearBufs
		return s.unixRecv(u, bufs, 0, nonblock, hd, 0, 0, 0, m, rep)
	case 45: // recvfrom
		bufs := [][]byte{user(a[1], int(a[2]))}
		defer clear(bufs) // see clearBufs
		return s.unixRecv(u, bufs, int(a[3]), nonblock, hd, a[4], a[5], 0, m, rep)
	case 47: // recvmsg
		h := user(a[1], 56)
		name := binary.LittleEndian.Uint64(h[0:])
		bufs := iovecs(binary.LittleEndian.Uint64(h[16:]), int(binary.LittleEndian.Uint64(h[24:])))
		defer clear(bufs) // see clearBufs
		var lenp uint64
		if name != 0 {
			lenp = a[1] + 8 // msg_namelen
		}
		return s.unixRecv(u, bufs, int(a[2]), nonblock, hd, name, lenp, a[1], m, rep)
	case 1: // write
		bufs := [][]byte{user(a[1], int(a[2]))}
		defer clear(bufs) // see clearBufs
		return s.unixSend(u, bufs, 0, nil, nonblock, hd, nil, credOf(m))
	case 20: // writev
		bufs := iovecs(a[1], int(a[2]))
		defer clear(bufs) // see clearBufs
		return s.unixSend(u, bufs, 0, nil, nonblock, hd, nil, credOf(m))
	case 44: // sendto
		var to []byte
		if a[4] != 0 && a[5] != 0 {
			to = user(a[4], int(a[5]))
		}
		bufs := [][]byte{user(a[1], int(a[2]))}
		defer clear(bufs) // see clearBufs
		return s.unixSend(u, bufs, int(a[3]), to, nonblock, hd, nil, credOf(m))
	case 46: // sendmsg
		// The control data is the kernel's: it read it and passes the
		// SCM_RIGHTS references it took as tokens (Msg.Rights) and the
		// SCM_CREDENTIALS it checked (Msg.SCM).
		h := user(a[1], 56)
		var to []byte
		if name, nlen := binary.LittleEndian.Uint64(h[0:]), uint32(binary.LittleEndian.Uint64(h[8:])); name != 0 && nlen != 0 {
			to = user(name, int(nlen))
		}
		bufs := iovecs(binary.LittleEndian.Uint64(h[16:]), int(binary.LittleEndian.Uint64(h[24:])))
		defer clear(bufs) // see clearBufs
		var took bool
		n, e := s.unixSend(u, bufs, int(a[2]), to, nonblock, hd, &sendRights{tokens: userTokens(m.Rights, m.NRights), took: &took}, credOf(m))
		if took {
			rep.Rights = 1
		}
		return n, e
	}
	return 0, syscall.ENOSYS
}

func (s *Server) unixConnect(u *unixEP, b []byte, nonblock bool, hd *hold, cred ucred) (int64, syscall.Errno) {
	sp := s.unix
	if u.typ == sockDgram {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		if len(b) >= 2 && binary.LittleEndian.Uint16(b) == afUnspec {
			u.peer = nil // dissolve the association
			u.notify()
			return 0, 0
		}
		n, e := decodeSockaddrUnix(b)
		if e != 0 {
			return 0, e
		}
		if e := u.autobindLocked(); e != 0 {
			return 0, e
		}
		o, e := sp.lookup(n, sockDgram)
		if e != 0 {
			return 0, e
		}
		u.peer = o
		u.notify()
		return 0, 0
	}
	n, e := decodeSockaddrUnix(b)
	if e != 0 {
		return 0, e
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if e := u.autobindLocked(); e != 0 {
		return 0, e
	}
	for {
		if u.closed {
			return 0, syscall.EBADF
		}
		l, e := u.connectLocked(n, cred)
		if e != syscall.EAGAIN || nonblock {
			return 0, e
		}
		// A full backlog: a blocking connect waits for an accept.
		hd.timeout(u.sndTimeo.duration())
		if e := sp.waitOnLocked(l.wq, hd); e != 0 {
			return 0, e // EAGAIN when SO_SNDTIMEO passed, as Linux says
		}
	}
}

func (s *Server) unixAccept(sk *sock, a [6]uint64, sid int32, id uint64, nonblock bool, hd *hold, rep *Reply) (int64, syscall.Errno) {
	u := sk.ux
	if u.typ == sockDgram {
		return 0, syscall.EOPNOTSUPP
	}
	sp := s.unix
	sp.mu.Lock()
	for {
		if u.closed {
			sp.mu.Unlock()
			return 0, syscall.EBADF
		}
		if !u.listening {
			sp.mu.Unlock()
			return 0, syscall.EINVAL
		}
		if len(u.pending) > 0 {
			break
		}
		if nonblock {
			sp.mu.Unlock()
			return 0, syscall.EAGAIN
		}
		hd.timeout(u.rcvTimeo.duration())
		if e := u.waitLocked(hd); e != 0 {
			sp.mu.Unlock()
			return 0, e
		}
	}
	c := u.pending[0]
	u.pending = u.pending[1:]
	// Linux's unix_sock_inherit_flags: the accepted socket takes the
	// listener's SO_PASSCRED.
	c.embryo, c.passcred = false, u.passcred
	u.wq.Notify(waiter.EventOut) // a connect waiting for backlog room
	sp.mu.Unlock()
	nsk := &sock{sid: sid, id: id, family: afUnix, typ: u.typ, ux: c, wq: c.wq}
	s.register(nsk)
	sp.mu.Lock()
	rep.Ready2Seq = s.seq.Add(1)
	rep.Ready2 = uint32(c.readiness())
	rep.Names2 = unixNames(c)
	peer := c.peerName
	sp.mu.Unlock()
	if a[1] != 0 {
		putUnixAddr(a[1], a[2], peer)
	}
	return int64(sid), 0 // the kernel gives the caller an fd for it
}

// putUnixAddr writes a sockaddr_un result and its full length.
func putUnixAddr(addr, lenp uint64, name []byte) {
	if lenp == 0 {
		return
	}
	l := userI32(lenp)
	copy(user(addr, int(*l)), name)
	*l = int32(len(name))
}

// unixNames are u's addresses for the kernel's cache; call with the lock.
func unixNames(u *unixEP) Names {
	var n Names
	n.LocalLen = uint32(copy(n.Local[:], u.nameOrUnnamed()))
	var r []byte
	switch {
	case u.typ == sockDgram && u.peer != nil:
		r = u.peer.nameOrUnnamed()
	case u.typ != sockDgram && u.connected:
		r = u.peerName
	}
	n.RemoteLen = uint32(copy(n.Remote[:], r))
	return n
}

// unixRecv reads into bufs: bytes across runs for a stream, one message
// (truncated to fit, the rest dropped) otherwise. addr and lenp, when
// set, get the sender's address; msg, when set, is the recvmsg header
// whose msg_flags and msg_controllen are filled, and whose control buffer
// gets an SCM_CREDENTIALS message when u has SO_PASSCRED (rep.Ctl says
// how much of it that used). SCM_RIGHTS tokens read go to the kernel's
// buffer m names (rep.Rights says how many).
func (s *Server) unixRecv(u *unixEP, bufs [][]byte, flags int, nonblock bool, hd *hold, addr, lenp, msg uint64, m0 *Msg, rep *Reply) (int64, syscall.Errno) {
	if flags&^(msgPeek|msgTrunc|msgDontwait|msgWaitall|msgNosignal|msgCmsgCloexec) != 0 {
		return 0, syscall.EOPNOTSUPP
	}
	if flags&msgDontwait != 0 {
		nonblock = true
	}
	peek := flags&msgPeek != 0
	want := iovLen(bufs)
	sp := s.unix
	sp.mu.Lock()
	defer sp.mu.Unlock()
	switch {
	case u.listening:
		return 0, syscall.EINVAL
	case u.typ == sockStream && !u.connected:
		return 0, syscall.EINVAL
	case u.typ == sockSeqpacket && !u.connected:
		return 0, syscall.ENOTCONN
	}
	w := &iovWriter{bufs: bufs}
	var from []byte
	var got []int32 // the tokens this read takes
	// msg_flags: Linux reports MSG_CMSG_CLOEXEC back.
	mflags := uint32(flags & msgCmsgCloexec)
	// The credentials reported with SO_PASSCRED. A stream read that
	// finds none is Linux's zeroed scm_cookie: pid, uid and gid 0.
	cr := credRead{cred: ucred{ok: true}}
	credOut := u.typ == sockStream // a datagram read that finds none reports none
	total := 0
	for {
		if u.closed {
			return 0, syscall.EBADF
		}
		if len(u.rq) > 0 {
			break
		}
		if w.n > 0 { // MSG_WAITALL stopped short: what arrived is the answer
			goto done
		}
		if u.err != 0 {
			e := u.err
			u.err = 0
			return 0, e
		}
		if u.rdShut {
			goto done // end of file
		}
		if nonblock {
			return 0, syscall.EAGAIN
		}
		hd.timeout(u.rcvTimeo.duration())
		if e := u.waitLocked(hd); e != 0 {
			return 0, e
		}
	}
	if u.nrights > 0 && m0.Rights == 0 {
		// Tokens may be read, and only the kernel's path can take them.
		return 0, errDirectDecline
	}
	if u.typ == sockStream {
		for i := 0; i < len(u.rq) && w.n < want; {
			m := &u.rq[i]
			if !cr.next(u, m) {
				break // Linux never joins runs of different credentials
			}
			if from == nil {
				from = m.from
			}
			before := w.n
			w.Write(m.b)
			c := w.n - before
			if peek {
				i++
				if m.rights != nil {
					got = m.rights
					break // Linux: a read ends with the run that carried fds
				}
				continue
			}
			u.takeRights(m, &got)
			m.b = m.b[c:]
			u.rbytes -= c
			consumed(m, c)
			if len(m.b) > 0 {
				break
			}
			u.rq[0] = unixMsg{}
			u.rq = u.rq[1:]
			if got != nil {
				break
			}
		}
		if flags&msgWaitall != 0 && !peek && !nonblock && got == nil && !cr.split {
			got = s.unixRecvMore(u, w, want, &cr, hd)
		}
		total = w.n
	} else {
		m := &u.rq[0]
		from = m.from
		cr.cred, credOut = m.cred, true
		w.Write(m.b)
		total = len(m.b)
		if total > w.n {
			mflags |= msgTrunc
		}
		if peek {
			got = m.rights
		} else {
			u.takeRights(m, &got)
		}
		if !peek {
			u.rbytes -= len(m.b)
			consumed(m, len(m.b))
			u.rq[0] = unixMsg{}
			u.rq = u.rq[1:]
			for x := range u.waiting {
				x.notify()
			}
			u.waiting = nil
		}
	}
done:
	if got != nil {
		if peek {
			// The queue keeps its references; the caller gets its own.
			s.unix.k.Rights(rightsRef, got)
		}
		rep.Rights = uint32(copy(userTokens(m0.Rights, m0.NRights), got))
		if int(rep.Rights) < len(got) { // cannot happen: a send carries at most NRights
			s.unix.k.Rights(rightsPut, got[rep.Rights:])
		}
	}
	if lenp != 0 {
		putUnixAddr(addr, lenp, from)
	}
	if msg != 0 {
		h := user(msg, 56)
		used := 0
		if u.passcred && credOut {
			var trunc bool
			used, trunc = putCred(h, cr.cred)
			if trunc {
				mflags |= msgCtrunc
			}
			rep.Ctl = uint32(used)
		}
		binary.LittleEndian.PutUint64(h[40:], uint64(used)) // msg_controllen; SCM_RIGHTS, the kernel's, follow
		binary.LittleEndian.PutUint32(h[48:], mflags)
	}
	if flags&msgTrunc != 0 && u.typ != sockStream {
		return int64(total), 0
	}
	return int64(w.n), 0
}

// unixRecvMore continues a MSG_WAITALL stream read until want bytes, end
// of file, an error, the socket's close, a run carrying SCM_RIGHTS
// tokens (returned, as Linux ends the read there) or, with SO_PASSCRED,
// one whose credentials differ from cr's; call with the lock.
func (s *Server) unixRecvMore(u *unixEP, w *iovWriter, want int, cr *credRead, hd *hold) []int32 {
	var got []int32
	for w.n < want {
		for len(u.rq) > 0 && w.n < want {
			m := &u.rq[0]
			if !cr.next(u, m) {
				return nil
			}
			before := w.n
			w.Write(m.b)
			c := w.n - before
			u.takeRights(m, &got)
			m.b = m.b[c:]
			u.rbytes -= c
			consumed(m, c)
			if len(m.b) == 0 {
				u.rq[0] = unixMsg{}
				u.rq = u.rq[1:]
			}
			if got != nil {
				return got
			}
		}
		if w.n >= want || u.rdShut || u.err != 0 || u.closed {
			break
		}
		hd.progress(int64(w.n))
		if u.waitLocked(hd) != 0 {
			break // timed out, or abandoned (the kernel answered with what was read)
		}
	}
	return got
}

// credRead follows the credentials of the runs a stream read joins, as
// Linux's unix_stream_read_generic does when the reader has SO_PASSCRED:
// the first run's are the read's, and a run with others ends it.
type credRead struct {
	cred  ucred
	seen  bool
	split bool // the read stopped at a change of credentials
}

// next reports whether the read may take m.
func (cr *credRead) next(u *unixEP, m *unixMsg) bool {
	if !u.passcred {
		return true
	}
	if !cr.seen {
		cr.cred, cr.seen = m.cred, true
		return true
	}
	if m.cred != cr.cred {
		cr.split = true
		return false
	}
	return true
}

// putCred writes an SOL_SOCKET/SCM_CREDENTIALS message of c at the start
// of the control buffer of the recvmsg header h, as Linux's put_cmsg
// does: no buffer, or one shorter than a header, gets nothing; a short
// one gets what fits, its cmsg_len says so, and the message is
// truncated. It returns the bytes used (CMSG_SPACE at most).
func putCred(h []byte, c ucred) (used int, trunc bool) {
	ctl, clen := binary.LittleEndian.Uint64(h[32:]), binary.LittleEndian.Uint64(h[40:])
	if ctl == 0 || clen < 16 {
		return 0, true
	}
	var b [28]byte // CMSG_LEN(sizeof(struct ucred))
	n := uint64(len(b))
	if clen < n {
		n, trunc = clen, true
	}
	binary.LittleEndian.PutUint64(b[0:], n)
	binary.LittleEndian.PutUint32(b[8:], solSocket)
	binary.LittleEndian.PutUint32(b[12:], scmCredentials)
	u := c.bytes()
	copy(b[16:], u[:])
	copy(user(ctl, int(n)), b[:n])
	return int(min(clen, 32)), trunc // CMSG_SPACE(sizeof(struct ucred))
}

// takeRights moves m's tokens, if any, to *got: the first read that
// touches a message takes them.
func (u *unixEP) takeRights(m *unixMsg, got *[]int32) {
	if m.rights != nil {
		*got = m.rights
		m.rights = nil
		u.nrights--
		u.sp.withRights--
	}
}

// errDirectDecline is unixRecv's answer on the direct path when tokens
// are queued: the call must take the kernel's path, which can take them.
const errDirectDecline = syscall.Errno(0x7fff)

// sendRights are the SCM_RIGHTS tokens of a sendmsg; *took is set once
// they are queued (they are the receiver's then).
type sendRights struct {
	tokens []int32
	took   *bool
}

// sendCred is what a send knows of credentials: the sender's own (ok
// on the kernel's path) and those of an SCM_CREDENTIALS message.
type sendCred struct{ own, scm ucred }

// credOf reads them from the kernel's message.
// peerCredOf is what socketpair, listen and connect record for
// SO_PEERCRED: the caller's pid and effective ids (Linux's cred_to_ucred
// reports euid and egid), or none when the call carried no credentials.
func peerCredOf(m *Msg) ucred {
	if m.CredFlags&credSet == 0 {
		return ucred{}
	}
	return ucred{m.Cred[0], m.Euid, m.Egid, true}
}

func credOf(m *Msg) sendCred {
	var c sendCred
	if m.CredFlags&credSet != 0 {
		c.own = ucred{m.Cred[0], m.Cred[1], m.Cred[2], true}
	}
	if m.CredFlags&credSCM != 0 {
		c.scm = ucred{m.SCM[0], m.SCM[1], m.SCM[2], true}
	}
	return c
}

// attach is what a send from u to o carries, as Linux's scm_send and
// maybe_add_creds decide: SCM_CREDENTIALS' if given, else the sender's
// own when u or o has SO_PASSCRED or o is not accepted yet, else none.
// ok false: the sender's own are needed and unknown (the direct path).
func (c sendCred) attach(u, o *unixEP) (ucred, bool) {
	if c.scm.ok {
		return c.scm, true
	}
	if u.passcred || o.passcred || o.embryo {
		return c.own, c.own.ok
	}
	return ucred{}, true
}

// autobindLocked gives a socket with SO_PASSCRED and no name one, as
// Linux does before a connect or a datagram send.
func (u *unixEP) autobindLocked() syscall.Errno {
	if u.passcred && u.addr == nil {
		return u.bindLocked(unixName{autobind: true})
	}
	return 0
}

// unixSend writes bufs: as much of a stream as the peer's room allows
// (all of it for a blocking call), or one message.
func (s *Server) unixSend(u *unixEP, bufs [][]byte, flags int, to []byte, nonblock bool, hd *hold, sr *sendRights, sc sendCred) (int64, syscall.Errno) {
	var rights []int32
	if sr != nil && len(sr.tokens) > 0 {
		rights = append([]int32(nil), sr.tokens...) // the kernel's buffer is its stack's
	}
	// deliver queues b, with the tokens on the first message of the call.
	deliver := func(o *unixEP, b []byte, cred ucred) {
		u.deliver(o, b, rights, cred)
		if rights != nil {
			*sr.took = true
			rights = nil
		}
	}
	if flags&^(msgDontwait|msgNosignal|msgEOR) != 0 {
		return 0, syscall.EOPNOTSUPP
	}
	if flags&msgDontwait != 0 {
		nonblock = true
	}
	sp := s.unix
	var dest unixName
	if to != nil {
		if u.typ != sockDgram {
			sp.mu.Lock()
			c := u.connected
			sp.mu.Unlock()
			if c {
				return 0, syscall.EISCONN
			}
			return 0, syscall.EOPNOTSUPP
		}
		n, e := decodeSockaddrUnix(to)
		if e != 0 {
			return 0, e
		}
		dest = n
	}
	r := newIovReader(bufs)
	total := r.Len()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if u.typ == sockDgram || u.typ == sockSeqpacket && u.connected {
		if u.passcred && u.addr == nil && !sc.own.ok {
			return 0, errDirectDecline // the name must reach the kernel
		}
		if e := u.autobindLocked(); e != 0 {
			return 0, e
		}
	}
	if u.typ != sockStream && total > unixMaxDgram {
		return 0, syscall.EMSGSIZE
	}
	if u.typ == sockStream && total == 0 && u.connected && !u.wrShut {
		return 0, 0
	}
	sent := 0
	for {
		if u.closed {
			return 0, syscall.EBADF
		}
		var o *unixEP
		if u.typ == sockDgram {
			if u.wrShut {
				return 0, syscall.EPIPE
			}
			if to != nil {
				var e syscall.Errno
				if o, e = sp.lookup(dest, sockDgram); e != 0 {
					return 0, e
				}
			} else if o = u.peer; o == nil {
				return 0, syscall.ENOTCONN
			}
			if o.closed { // the connected destination went away
				u.peer = nil
				return 0, syscall.ECONNREFUSED
			}
			if o.peer != nil && o.peer != u {
				return 0, syscall.EPERM // it takes datagrams from its peer only
			}
			if o.rdShut {
				return 0, syscall.EPIPE
			}
			cred, ok := sc.attach(u, o)
			if !ok {
				return 0, errDirectDecline
			}
			if len(o.rq) <= unixDgramQlen && (u.unread == 0 || u.unread+total <= u.sndbuf) {
				b := make([]byte, total)
				r.Read(b)
				deliver(o, b, cred)
				return int64(total), 0
			}
			if o.waiting == nil {
				o.waiting = make(map[*unixEP]bool)
			}
			o.waiting[u] = true
		} else {
			if !u.connected {
				return 0, syscall.ENOTCONN
			}
			o = u.peer
			if u.wrShut || o.closed || o.rdShut {
				if sent > 0 {
					return int64(sent), 0
				}
				return 0, syscall.EPIPE
			}
			cred, ok := sc.attach(u, o)
			if !ok {
				return 0, errDirectDecline // nothing sent yet: the direct path never waits
			}
			if u.typ == sockSeqpacket {
				if u.unread == 0 || u.unread+total <= u.sndbuf {
					b := make([]byte, total)
					r.Read(b)
					deliver(o, b, cred)
					return int64(total), 0
				}
			} else if room := u.sndbuf - u.unread; room > 0 {
				c := min(room, r.Len())
				if c > 0 || total == 0 {
					b := make([]byte, c)
					r.Read(b)
					if c > 0 {
						deliver(o, b, cred)
					}
					sent += c
				}
				if r.Len() == 0 {
					return int64(sent), 0
				}
			}
		}
		if nonblock {
			if sent > 0 {
				return int64(sent), 0
			}
			return 0, syscall.EAGAIN
		}
		hd.progress(int64(sent))
		hd.timeout(u.sndTimeo.duration())
		if e := u.waitLocked(hd); e != 0 {
			if sent > 0 {
				return int64(sent), 0 // what was queued (if abandoned, the kernel answered with hd.moved)
			}
			return 0, e
		}
	}
}

// deliver queues b from u, with SCM_RIGHTS tokens if any and the
// credentials cred, on o's receive queue and wakes o.
func (u *unixEP) deliver(o *unixEP, b []byte, rights []int32, cred ucred) {
	o.rq = append(o.rq, unixMsg{b: b, from: u.addr, sender: u, rights: rights, cred: cred})
	if rights != nil {
		o.nrights++
		o.sp.withRights++
	}
	o.rbytes += len(b)
	u.unread += len(b)
	o.notify()
}

const (
	msgEOR         = 0x80
	msgCmsgCloexec = 0x40000000

	soPassCred = 16
	soPeerCred = 17

	msgCtrunc      = 0x8
	scmCredentials = 2
)

// unixSetsockopt keeps the SOL_SOCKET options that mean something here.
func (s *Server) unixSetsockopt(u *unixEP, level, name int, v []byte) syscall.Errno {
	if level != solSocket {
		return syscall.EOPNOTSUPP
	}
	sp := s.unix
	sp.mu.Lock()
	defer sp.mu.Unlock()
	switch name {
	case soRcvTimeo:
		return u.rcvTimeo.set(v)
	case soSndTimeo:
		return u.sndTimeo.set(v)
	}
	x, e := optInt(v)
	if e != 0 {
		return e
	}
	switch name {
	case soReuseAddr:
		u.reuse = x != 0
	case soSndBuf, soRcvBuf:
		// Linux doubles the value and clamps it below at 4608.
		x = max(min(x, 1<<30)*2, 4608)
		if name == soSndBuf {
			u.sndbuf = x
		} else {
			u.rcvbuf = x
		}
		u.notify()
	case soKeepAlive: // accepted and meaningless, as on Linux
	case soPassCred:
		u.passcred = x != 0
	default:
		return syscall.ENOPROTOOPT
	}
	return 0
}

func (s *Server) unixGetsockopt(u *unixEP, level, name int, val, lenp uint64) syscall.Errno {
	if level != solSocket {
		return syscall.EOPNOTSUPP
	}
	sp := s.unix
	sp.mu.Lock()
	var x int
	switch name {
	case soError:
		x = int(u.err)
		u.err = 0
	case soType:
		x = u.typ
	case soDomain:
		x = afUnix
	case soProtocol:
		x = 0
	case soAcceptConn:
		x = boolInt(u.listening)
	case soPassCred:
		x = boolInt(u.passcred)
	case soReuseAddr:
		x = boolInt(u.reuse)
	case soSndBuf:
		x = u.sndbuf
	case soRcvBuf:
		x = u.rcvbuf
	case soPeerCred:
		// struct ucred of the peer when the connection was made
		// (unixEP.peerCred); none yet: pid 0, uid and gid -1, as
		// Linux's cred_to_ucred without a credential.
		var b [12]byte
		c := u.peerCred
		binary.LittleEndian.PutUint32(b[4:], ^uint32(0))
		binary.LittleEndian.PutUint32(b[8:], ^uint32(0))
		if c.ok {
			binary.LittleEndian.PutUint32(b[0:], c.pid)
			binary.LittleEndian.PutUint32(b[4:], c.uid)
			binary.LittleEndian.PutUint32(b[8:], c.gid)
		}
		sp.mu.Unlock()
		return putOpt(val, lenp, b[:])
	case soRcvTimeo, soSndTimeo:
		t := &u.rcvTimeo
		if name == soSndTimeo {
			t = &u.sndTimeo
		}
		sp.mu.Unlock()
		b := t.timeval()
		return putOpt(val, lenp, b[:])
	default:
		sp.mu.Unlock()
		return syscall.ENOPROTOOPT
	}
	sp.mu.Unlock()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(int32(x)))
	return putOpt(val, lenp, b[:])
}
