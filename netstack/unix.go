package netstack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"gvisor.dev/gvisor/pkg/waiter"
)

// AF_UNIX sockets. gVisor's netstack has none (gVisor keeps them in its
// sentry), so they are implemented here, in memory, on the model of
// Linux's net/unix/af_unix.c: a namespace of bound names, connections
// made at connect time and queued for accept, a receive queue per socket
// holding byte runs (SOCK_STREAM) or whole messages (SOCK_DGRAM and
// SOCK_SEQPACKET), shutdown bits that a connected peer shares, and the
// errnos Linux gives. Readiness reaches the kernel exactly as for the
// netstack endpoints: each socket has a waiter.Queue that register()
// listens on, and replies carry the level.
//
// A path name is a file, as on Linux: bind creates it (empty, with
// O_EXCL, so an existing file is EADDRINUSE; in the image's read-only
// file system the error is EROFS, and only /tmp, which is writable, can
// hold socket paths), connect and sendto find it with stat (ENOENT when it
// is gone, ECONNREFUSED when nobody is bound to it any more), close leaves
// it and os.Remove unlinks it (Go's UnixListener.Close does). The file is
// a regular file, not S_IFSOCK: there is no mknod. Relative paths are
// made absolute against the working directory, the process's own.
//
// SCM_RIGHTS: the kernel reads sendmsg's control data and takes a
// reference on each description it names (runtime/vk_netrights.go); the
// indexes, opaque tokens here, travel with the message (a stream's with
// the first run of that write), and a read hands them back to the kernel,
// which installs fds. As in Linux, a stream read stops after a run that
// carried tokens, and the tokens go with the first read that touches
// their run. Tokens of a closed socket's queue go back to the kernel
// (kernel.Rights).
//
// SO_PASSCRED and SCM_CREDENTIALS, as Linux's af_unix.c has them: a send
// carries the credentials its SCM_CREDENTIALS message gave (the kernel
// checked them, runtime/vk_netrights.go), or else the sender's own when
// the sender or the receiver has SO_PASSCRED (or the receiver is a
// connection not accepted yet), or none. A receiver with SO_PASSCRED gets
// an SCM_CREDENTIALS message with every read (pid 0, uid and gid 65534,
// the overflow ids, for data that came with none), a stream read does not
// join runs whose credentials differ, and a socket with SO_PASSCRED and
// no name is given one (autobind) when it connects or sends a datagram.
// The sender's own credentials come from the kernel with the call
// (Msg.Cred); the direct path has none and declines a send that needs
// them.

const (
	sockRaw       = 3
	sockSeqpacket = 5

	// unixBuf is SO_SNDBUF's default (net.core.wmem_default): what one
	// socket may have sent that its receiver has not read yet.
	unixBuf = 212992
	// unixMaxDgram is the largest datagram: Linux allows SO_SNDBUF - 32.
	unixMaxDgram = unixBuf - 32
	// unixDgramQlen is net.unix.max_dgram_qlen's default: a datagram
	// socket's queue is full when it holds more messages than this.
	unixDgramQlen = 10

	sunPathMax = 108 // sizeof(sun_path)
	sunLen     = 2 + sunPathMax
)

// unixSpace is the AF_UNIX namespace. One lock covers it and every AF_UNIX
// socket: the operations are short copies, and connections touch two
// sockets and the namespace at once.
type unixSpace struct {
	mu    sync.Mutex
	names map[string]*unixEP
	next  uint32 // the next autobind name to try
	k     kernel // for the tokens of closed sockets' queues (nil: none can exist)
	// withRights: queued messages that carry SCM_RIGHTS tokens, in every
	// socket of the space (the sum of nrights): the garbage collector has
	// nothing to look for while it is 0.
	withRights int
}

// unixMsg is one send: a datagram, or a run of a stream's bytes.
type unixMsg struct {
	b      []byte
	from   []byte  // the sender's sockaddr_un when it sent; nil: unnamed
	sender *unixEP // whose unread count b is on
	rights []int32 // SCM_RIGHTS tokens sent with b (runtime/vk_netrights.go)
	cred   ucred   // SCM_CREDENTIALS sent with b
}

// ucred is what a message carries of its sender's credentials: a struct
// ucred, or none (ok false: Linux's no pid and invalid ids).
type ucred struct {
	pid, uid, gid uint32
	ok            bool
}

// bytes is c as recvmsg reports it: none is pid 0 and the overflow uid
// and gid, 65534, as Linux's from_kuid_munged makes of an invalid id.
func (c ucred) bytes() [12]byte {
	var b [12]byte
	if !c.ok {
		c = ucred{0, 65534, 65534, false}
	}
	binary.LittleEndian.PutUint32(b[0:], c.pid)
	binary.LittleEndian.PutUint32(b[4:], c.uid)
	binary.LittleEndian.PutUint32(b[8:], c.gid)
	return b
}

// unixEP is one AF_UNIX socket.
type unixEP struct {
	sp  *unixSpace
	typ int // sockStream, sockDgram or sockSeqpacket
	wq  *waiter.Queue

	addr []byte // the bound sockaddr_un; nil: unnamed
	key  string // its namespace key

	listening bool
	backlog   int
	pending   []*unixEP // accepted-to-be sockets, already connected to their clients
	embryo    bool      // in a listener's pending list, not accepted yet
	passcred  bool      // SO_PASSCRED

	peer      *unixEP // stream, seqpacket: the other end; datagram: the connected destination
	peerName  []byte  // the peer's address at connect (stream, seqpacket)
	connected bool    // stream, seqpacket: a connection was made (the peer may have gone since)
	// SO_PEERCRED, as Linux's sk_peer_cred: the peer's pid and effective
	// ids when the connection was made (socketpair: the creator's;
	// connect: the listener's as of listen for the connecting end, the
	// connecting thread's for the accepted one), not when asked.
	peerCred ucred
	ownCred  ucred // a listener's, recorded by listen(2) for its connections

	rq      []unixMsg
	rbytes  int
	nrights int  // messages in rq that carry tokens
	unread  int  // bytes this socket sent that their receiver has not read
	rdShut  bool // Linux's RCV_SHUTDOWN: nothing more will arrive
	wrShut  bool // SEND_SHUTDOWN
	err     syscall.Errno
	closed  bool
	waiting map[*unixEP]bool // datagram senders that found this socket's queue full

	reuse              bool
	sndbuf, rcvbuf     int
	rcvTimeo, sndTimeo timeo
}

func newUnixSpace() *unixSpace { return &unixSpace{names: make(map[string]*unixEP)} }

func (sp *unixSpace) newEP(typ int) *unixEP {
	return &unixEP{sp: sp, typ: typ, wq: new(waiter.Queue), sndbuf: unixBuf, rcvbuf: unixBuf}
}

// unixName is a decoded sockaddr_un.
type unixName struct {
	addr     []byte // as getsockname reports it
	key      string // the namespace key: "p" + absolute path, or "a" + abstract name
	path     string // the absolute path of a path name
	abstract bool
	autobind bool // the family alone: bind picks a name
}

// decodeSockaddrUnix parses a struct sockaddr_un as Linux does: the family
// must be AF_UNIX (else EINVAL), a leading NUL in sun_path makes the rest
// of the given length an abstract name, otherwise the path ends at the
// first NUL or at the length. The family alone means "no name".
func decodeSockaddrUnix(b []byte) (unixName, syscall.Errno) {
	if len(b) < 2 || len(b) > sunLen || binary.LittleEndian.Uint16(b) != afUnix {
		return unixName{}, syscall.EINVAL
	}
	if len(b) == 2 {
		return unixName{autobind: true}, 0
	}
	if b[2] == 0 {
		return unixName{addr: append([]byte(nil), b...), key: "a" + string(b[3:]), abstract: true}, 0
	}
	p := b[2:]
	for i, c := range p {
		if c == 0 {
			p = p[:i]
			break
		}
	}
	addr := make([]byte, 0, len(p)+3)
	addr = append(append(append(addr, afUnix, 0), p...), 0)
	if len(addr) > sunLen { // a 108-byte path: Linux's NUL lies past sun_path
		addr = addr[:sunLen]
	}
	path := string(p)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	path = filepath.Clean(path)
	return unixName{addr: addr, key: "p" + path, path: path}, 0
}

// lookup finds the socket bound to n for a connect or send of type typ.
func (sp *unixSpace) lookup(n unixName, typ int) (*unixEP, syscall.Errno) {
	if n.autobind {
		return nil, syscall.EINVAL
	}
	if !n.abstract {
		if _, err := os.Stat(n.path); err != nil {
			return nil, osErrno(err)
		}
	}
	o := sp.names[n.key]
	if o == nil {
		return nil, syscall.ECONNREFUSED
	}
	if o.typ != typ {
		return nil, syscall.EPROTOTYPE
	}
	return o, 0
}

// bindLocked gives u the name n (or an autobind name).
func (u *unixEP) bindLocked(n unixName) syscall.Errno {
	if u.addr != nil {
		return syscall.EINVAL
	}
	sp := u.sp
	if n.autobind {
		for i := 0; ; i++ {
			if i > 0xfffff {
				return syscall.ENOSPC
			}
			sp.next = (sp.next + 1) & 0xfffff
			a := []byte(fmt.Sprintf("\x01\x00\x00%05x", sp.next))
			if _, used := sp.names["a"+string(a[3:])]; !used {
				n = unixName{addr: a, key: "a" + string(a[3:]), abstract: true}
				break
			}
		}
	}
	if n.abstract {
		if _, used := sp.names[n.key]; used {
			return syscall.EADDRINUSE
		}
	} else {
		// Lstat first: O_EXCL alone is not trusted to refuse an existing
		// directory (bind to "//" must be EADDRINUSE).
		if _, err := os.Lstat(n.path); err == nil {
			return syscall.EADDRINUSE
		}
		f, err := os.OpenFile(n.path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o777)
		if err != nil {
			return osErrno(err)
		}
		f.Close()
		// A socket still bound to an unlinked file of this name is no
		// longer reachable by it: the new file is this socket's.
	}
	sp.names[n.key] = u
	u.addr, u.key = n.addr, n.key
	return 0
}

// osErrno is the errno behind a file system error.
func osErrno(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		if e == syscall.EEXIST {
			return syscall.EADDRINUSE
		}
		return e
	}
	return syscall.EIO
}

// readiness is u's epoll level, as Linux's unix_poll computes it.
func (u *unixEP) readiness() waiter.EventMask {
	var m waiter.EventMask
	if u.err != 0 {
		m |= waiter.EventErr
	}
	if u.rdShut && u.wrShut {
		m |= waiter.EventHUp
	}
	if u.rdShut {
		m |= waiter.EventRdHUp | waiter.EventIn
	}
	if len(u.rq) > 0 || len(u.pending) > 0 {
		m |= waiter.EventIn
	}
	if u.writable() {
		m |= waiter.EventOut
	}
	return m
}

func (u *unixEP) writable() bool {
	if u.listening || u.closed {
		return false
	}
	if u.typ == sockDgram {
		if p := u.peer; p != nil && p.peer != u && len(p.rq) > unixDgramQlen && !p.closed {
			return false
		}
		return u.unread < u.sndbuf
	}
	if !u.connected {
		return false
	}
	return u.unread < u.sndbuf || u.wrShut || u.peer.closed || u.peer.rdShut
}

// notify reports u's current events to whoever waits on it. Called with
// the lock held: the queue's callbacks only report to the kernel or
// signal channels, and never take the lock.
func (u *unixEP) notify() {
	if m := u.readiness(); m != 0 {
		u.wq.Notify(m)
	}
}

// consumed gives back the sender's share of n bytes read from m.
func consumed(m *unixMsg, n int) {
	if s := m.sender; s != nil {
		s.unread -= n
		s.notify()
	}
}

// connectLocked connects stream or seqpacket u to the listener bound to
// n, queueing the server side for accept. EAGAIN (a full backlog) comes
// with the listener, for a blocking connect to wait on.
func (u *unixEP) connectLocked(n unixName, cred ucred) (*unixEP, syscall.Errno) {
	if u.listening {
		return nil, syscall.EINVAL
	}
	if u.connected {
		return nil, syscall.EISCONN
	}
	l, e := u.sp.lookup(n, u.typ)
	if e != 0 {
		return nil, e
	}
	if !l.listening {
		return nil, syscall.ECONNREFUSED
	}
	if len(l.pending) > l.backlog {
		return l, syscall.EAGAIN
	}
	srv := u.sp.newEP(u.typ)
	srv.addr, srv.key = l.addr, "" // shares the listener's name, does not own it
	srv.embryo = true
	srv.peer, srv.connected, srv.peerName = u, true, u.nameOrUnnamed()
	srv.peerCred = cred // the connecting thread's, as Linux's init_peercred
	u.peer, u.connected, u.peerName = srv, true, l.addr
	u.peerCred = l.ownCred // the listener's, as Linux's copy_peercred
	l.pending = append(l.pending, srv)
	l.notify()
	u.notify()
	return l, 0
}

func (u *unixEP) nameOrUnnamed() []byte {
	if u.addr != nil {
		return u.addr
	}
	return []byte{afUnix, 0}
}

// linkPair connects the two new sockets of socketpair(2): unnamed, each
// the other's peer, each with its creator's credentials as the peer's.
func linkPair(a, b *unixEP, cred ucred) {
	a.peer, b.peer = b, a
	a.peerCred, b.peerCred = cred, cred
	if a.typ != sockDgram {
		a.connected, b.connected = true, true
		a.peerName, b.peerName = []byte{afUnix, 0}, []byte{afUnix, 0}
	}
}

// shutdownLocked applies shutdown(2)'s how (0 read, 1 write, 2 both); a
// connected stream or seqpacket peer sees the other direction closed.
func (u *unixEP) shutdownLocked(how uint64) syscall.Errno {
	var rd, wr bool
	switch how {
	case 0:
		rd = true
	case 1:
		wr = true
	case 2:
		rd, wr = true, true
	default:
		return syscall.EINVAL
	}
	u.rdShut = u.rdShut || rd
	u.wrShut = u.wrShut || wr
	if p := u.peer; p != nil && u.typ != sockDgram {
		p.rdShut = p.rdShut || wr
		p.wrShut = p.wrShut || rd
		p.notify()
	}
	u.notify()
	return 0
}

// closeLocked releases u as Linux's unix_release_sock does: its name goes,
// sockets waiting for accept are closed, a connected peer sees both
// directions shut (and ECONNRESET if u dies with unread data), and what u
// had queued stops counting against its senders.
func (u *unixEP) closeLocked(embryo bool) {
	if u.closed {
		return
	}
	u.closed = true
	if u.key != "" && u.sp.names[u.key] == u {
		delete(u.sp.names, u.key)
	}
	for _, p := range u.pending {
		p.closeLocked(true)
	}
	u.pending = nil
	if p := u.peer; p != nil && u.typ != sockDgram {
		p.rdShut, p.wrShut = true, true
		if len(u.rq) > 0 || embryo {
			p.err = syscall.ECONNRESET
		}
		p.notify()
	}
	drop := u.emptyQueueLocked(nil)
	if len(drop) > 0 && u.sp.k != nil {
		// Never waits for the server: a socket among them whose last
		// reference this was is closed by a request queued for later.
		u.sp.k.Rights(rightsPut, drop)
	}
	for w := range u.waiting {
		w.notify()
	}
	u.waiting = nil
	u.wq.Notify(allEvents) // wake this socket's blocked calls: they find it closed
}

// emptyQueueLocked drops everything queued on u, as if it had been read
// (its senders' unread counts go down), and appends the SCM_RIGHTS
// tokens it carried to drop, for the caller to give back. The caller
// holds the space's lock.
func (u *unixEP) emptyQueueLocked(drop []int32) []int32 {
	for i := range u.rq {
		consumed(&u.rq[i], len(u.rq[i].b))
		drop = append(drop, u.rq[i].rights...)
	}
	u.sp.withRights -= u.nrights
	u.rq, u.rbytes, u.nrights = nil, 0, 0
	return drop
}

// waitLocked sleeps, with the lock dropped, until u has an event; then the
// caller checks its condition again. It returns what hold.wait does:
// EAGAIN when the call's timeout passed, errRestart when the caller
// abandoned the call meanwhile.
func (u *unixEP) waitLocked(hd *hold) syscall.Errno {
	return u.sp.waitOnLocked(u.wq, hd)
}

// waitOnLocked sleeps, with the lock dropped, until wq has an event (see
// waitLocked).
func (sp *unixSpace) waitOnLocked(wq *waiter.Queue, hd *hold) syscall.Errno {
	e, ch := waiter.NewChannelEntry(allEvents)
	wq.EventRegister(&e)
	sp.mu.Unlock()
	ok := hd.wait(ch)
	sp.mu.Lock()
	wq.EventUnregister(&e)
	return ok
}
