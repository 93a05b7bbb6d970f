package netstack

// Joined loopback connections.
//
// Over in-guest loopback, gVisor's TCP runs every byte through its whole
// stack twice: the writer's segment is built, routed, checked and queued
// to the reader's TCP processor goroutine, which acknowledges it, and the
// ACK takes the same way back. Linux does the same work in one softirq;
// gVisor needs a goroutine hand-off more per segment, and under TCG its
// path costs more than Linux's. A net/http client and server talking over
// 127.0.0.1 spent about 45% of the guest's CPU in the stack (kernel CPU
// profile, 2026-12-06), and served 0.81x the Linux guest's requests/s
// with 16 clients.
//
// So a TCP connection whose two ends are both sockets of this server is
// joined, as Solaris's TCP fusion and Windows' loopback fast path do:
// when a socket connects to a loopback address (127.0.0.0/8 from an
// AF_INET socket, ::1 from an AF_INET6 one) and one of this server's TCP
// sockets listens on that address and port, no segment is built. The
// connecting socket takes an ephemeral port by binding its gVisor endpoint
// (which keeps the port reserved, so no real connection can reuse the
// four-tuple while it lives), the listener gets a joined end in an accept
// queue of its own, and each write copies straight into the peer's
// receive buffer and reports the peer readable. What a program sees is
// TCP's: the addresses, EOF after the peer's shutdown or close, ECONNRESET
// when the peer closes with data unread or SO_LINGER 0 (Linux sends a
// RST), EPIPE for a write after that, flow control by the receiver's
// SO_RCVBUF, epoll's levels and edges (EPOLLRDHUP, EPOLLHUP, EPOLLERR), and
// the socket options. What it does not see is segments: nothing crosses
// the loopback interface, there is no TIME-WAIT, and TCP_MAXSEG on a
// joined socket is loopback's 65483.
//
// Anything else takes gVisor's TCP as before: a connect to another
// address, a listener with a full backlog (Linux allows backlog+1
// waiting), a socket already bound to a non-loopback address, a v4-mapped
// destination. VELOCITY_TCPJOIN=0 on the kernel command line turns
// joining off, and TCP sockets are then gVisor's endpoints as they were
// before joining existed (no tcpEP around them).
//
// Locks: joinSpace.mu (the listeners by port), then tcpEP.lmu (one
// listener's queue), then joinConn.mu (one connection's two ends). Waiter
// queues are notified with none of them held: their callbacks report to
// the kernel, which may run the program's goroutines.

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// joinOn: VELOCITY_TCPJOIN=0 leaves every connection to gVisor's TCP.
var joinOn = os.Getenv("VELOCITY_TCPJOIN") != "0"

// joinMSS is what TCP_MAXSEG reports on a joined socket: Linux's MSS over
// loopback (MTU 65536, less IP, TCP and timestamp headers).
const joinMSS = 65483

// joinShrink: a receive buffer that empties and has grown past this is
// given back to the heap, so idle connections keep no large buffers.
const joinShrink = 256 << 10

// joinSpace is a server's listening TCP sockets, by port, for connect to
// find.
type joinSpace struct {
	off    bool // VELOCITY_TCPJOIN=0 when the server started
	mu     sync.Mutex
	byPort map[uint16][]*tcpEP
	// joined counts the connections made by joining (tests, the
	// figures in docs/net.md).
	joined atomic.Uint64
}

// tcpEP is every TCP socket's endpoint. Until it is joined it is gVisor's
// endpoint, which it embeds; a listening one also holds the joined
// connections waiting for accept. The accepting end of a joined
// connection has no gVisor endpoint at all (Endpoint is nil).
type tcpEP struct {
	tcpip.Endpoint
	sp     *joinSpace
	family int
	wq     *waiter.Queue

	// j is the connection's end once joined; it never changes after.
	j atomic.Pointer[joinEnd]

	lmu      sync.Mutex
	lport    uint16     // registered in sp under this port (0: not)
	lbacklog int        // listen's backlog
	lq       []*joinEnd // accepting ends not accepted yet
	// lqLen is len(lq), written under lmu, for Readiness to read without
	// the lock: it runs after every call on every TCP socket.
	lqLen atomic.Int32
}

// joinConn is one joined connection: its lock covers both ends.
type joinConn struct {
	mu  sync.Mutex
	end [2]joinEnd
}

// joinEnd is one end of a joined connection.
type joinEnd struct {
	c    *joinConn
	peer *joinEnd
	ep   *tcpEP
	wq   *waiter.Queue
	// local and remote are the TCP addresses a program is told.
	local, remote tcpip.FullAddress
	// own holds the accepting end's socket options (the connecting end
	// keeps its gVisor endpoint's).
	own tcpip.SocketOptions
	// The accepting end's TCP options that gVisor keeps outside
	// SocketOptions; under c.mu.
	keepIdle, keepIntvl time.Duration
	keepCnt             int

	// Under c.mu:
	buf    byteRing    // received and not read yet
	rdShut bool        // shutdown(SHUT_RD) here
	wrShut bool        // shutdown(SHUT_WR) or close here: the peer reads EOF after its buffer
	closed bool        // closed here
	eof    bool        // the peer shut its sending down cleanly (Linux's FIN): reads end in EOF
	reset  bool        // the connection was reset: nothing more is sent
	err    tcpip.Error // the error the next read, write or SO_ERROR reports (Linux's sk_err)
}

func newTCPEP(ep tcpip.Endpoint, sp *joinSpace, family int, wq *waiter.Queue) *tcpEP {
	return &tcpEP{Endpoint: ep, sp: sp, family: family, wq: wq}
}

// isLoopbackDest reports whether a connect from a family socket to a may
// be joined: 127.0.0.0/8 from AF_INET, ::1 from AF_INET6.
func isLoopbackDest(family int, a tcpip.Address) bool {
	switch {
	case family == afInet && a.Len() == 4:
		return a.As4()[0] == 127
	case family == afInet6 && a.Len() == 16:
		return a == tcpip.AddrFrom16([16]byte{15: 1})
	}
	return false
}

// accepts reports whether listener l, bound to la, takes a connection
// from a family socket to dest.
func (l *tcpEP) accepts(la tcpip.FullAddress, family int, dest tcpip.Address) bool {
	if tcp.EndpointState(l.Endpoint.State()) != tcp.StateListen || la.NIC != 0 && la.NIC != loopbackNIC {
		return false
	}
	switch {
	case la.Addr.Len() == 0 || la.Addr.Unspecified():
		if l.family == family {
			return true
		}
		// A dual-stack IPv6 listener takes IPv4 connections.
		return l.family == afInet6 && family == afInet && !l.Endpoint.SocketOptions().GetV6Only()
	default:
		return l.family == family && la.Addr == dest
	}
}

// join connects t to dest by joining it to a listener of this server, if
// one takes it. ok false means it did nothing but perhaps bind t's
// endpoint, and the caller connects through gVisor.
func (s *Server) join(t *tcpEP, dest tcpip.FullAddress) (ok bool) {
	if s.joins.off || t.Endpoint == nil || dest.Port == 0 || !isLoopbackDest(t.family, dest.Addr) || t.j.Load() != nil {
		return false
	}
	switch tcp.EndpointState(t.Endpoint.State()) {
	case tcp.StateInitial, tcp.StateBound:
	default:
		return false
	}
	if s.joinListener(t.family, dest, nil) == nil {
		return false
	}
	// The local address: the socket's own if bound, else loopback's
	// source (127.0.0.1 or ::1, as Linux's route for lo gives) and an
	// ephemeral port, which binding reserves.
	src := tcpip.AddrFrom4([4]byte{127, 0, 0, 1})
	if t.family == afInet6 {
		src = dest.Addr
	}
	la, err := t.Endpoint.GetLocalAddress()
	if err != nil {
		return false
	}
	if la.Port == 0 {
		if la.Addr.Len() != 0 && !la.Addr.Unspecified() {
			src = la.Addr
		}
		if t.Endpoint.Bind(tcpip.FullAddress{Addr: src}) != nil {
			return false
		}
		if la, err = t.Endpoint.GetLocalAddress(); err != nil {
			return false
		}
	}
	if la.Addr.Len() == 0 || la.Addr.Unspecified() {
		la.Addr = src
	} else if !isLoopbackDest(t.family, la.Addr) {
		return false // bound to the card's address: segments it is
	}
	la.NIC = 0
	dest.NIC = 0

	c := new(joinConn)
	ce, ae := &c.end[0], &c.end[1]
	*ce = joinEnd{c: c, peer: ae, ep: t, wq: t.wq, local: la, remote: dest}
	var queued bool
	l := s.joinListener(t.family, dest, func(l *tcpEP) bool {
		l.lmu.Lock()
		defer l.lmu.Unlock()
		if len(l.lq) > l.lbacklog {
			return false // full: gVisor's queue decides, as for a SYN
		}
		at := newTCPEP(nil, s.joins, l.family, new(waiter.Queue))
		*ae = joinEnd{c: c, peer: ce, ep: at, wq: at.wq, local: dest, remote: la,
			keepIdle: 2 * time.Hour, keepIntvl: 75 * time.Second, keepCnt: 9}
		ae.initOptions(s.stack, l.Endpoint.SocketOptions())
		at.j.Store(ae)
		t.j.Store(ce)
		l.lq = append(l.lq, ae)
		l.lqLen.Store(int32(len(l.lq)))
		queued = true
		return true
	})
	if !queued {
		return false
	}
	s.joins.joined.Add(1)
	l.wq.Notify(waiter.ReadableEvents)
	if trace {
		fmt.Fprintf(os.Stderr, "netstack: joined %v:%d to %v:%d\n", la.Addr, la.Port, dest.Addr, dest.Port)
	}
	return true
}

// joinListener finds the listener that takes a connection from a family
// socket to dest and, when use is set, calls it with the listener while
// the space is locked, trying the next listener while use says no. It
// returns the listener used (or, with use nil, the first that takes it).
func (s *Server) joinListener(family int, dest tcpip.FullAddress, use func(*tcpEP) bool) *tcpEP {
	sp := s.joins
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, l := range sp.byPort[dest.Port] {
		la, err := l.Endpoint.GetLocalAddress()
		if err != nil || !l.accepts(la, family, dest.Addr) {
			continue
		}
		if use == nil {
			return l
		}
		if use(l) {
			return l
		}
	}
	return nil
}

// initOptions gives the accepting end socket options of its own, with
// TCP's defaults and what Linux copies from the listener.
func (e *joinEnd) initOptions(st *stack.Stack, l *tcpip.SocketOptions) {
	e.own.InitHandler(&tcpip.DefaultSocketOptionsHandler{}, st, tcp.GetTCPSendBufferLimits, tcp.GetTCPReceiveBufferLimits)
	e.own.SetSendBufferSize(l.GetSendBufferSize(), false)
	e.own.SetReceiveBufferSize(l.GetReceiveBufferSize(), false)
	e.own.SetDelayOption(l.GetDelayOption())
	e.own.SetKeepAlive(l.GetKeepAlive())
	e.own.SetReuseAddress(l.GetReuseAddress())
	e.own.SetLinger(l.GetLinger())
	e.own.SetV6Only(l.GetV6Only())
}

// opts is e's socket options.
func (e *joinEnd) opts() *tcpip.SocketOptions {
	if e.ep.Endpoint != nil {
		return e.ep.Endpoint.SocketOptions()
	}
	return &e.own
}

// room is what e's receive buffer takes before a writer must wait: its
// SO_RCVBUF.
func (e *joinEnd) room() int {
	return int(e.opts().GetReceiveBufferSize()) - e.buf.n
}

// events is e's readiness, as Linux's tcp_poll computes it. Under c.mu.
func (e *joinEnd) events() waiter.EventMask {
	var m waiter.EventMask
	rcvDone := e.rdShut || e.peer.wrShut || e.reset
	sndDone := e.wrShut || e.reset
	if e.buf.n > 0 || rcvDone {
		m |= waiter.ReadableEvents
	}
	if rcvDone {
		m |= waiter.EventRdHUp
	}
	if rcvDone && sndDone {
		m |= waiter.EventHUp
	}
	if sndDone || e.peer.closed || e.peer.room() > 0 {
		m |= waiter.WritableEvents
	}
	if e.err != nil {
		m |= waiter.EventErr
	}
	return m
}

// takeErr reports and clears the pending error.
func (e *joinEnd) takeErr() tcpip.Error {
	err := e.err
	e.err = nil
	return err
}

func (e *joinEnd) read(w io.Writer, opts tcpip.ReadOptions) (tcpip.ReadResult, tcpip.Error) {
	c := e.c
	c.mu.Lock()
	if e.buf.n == 0 {
		// In the order of Linux's tcp_recvmsg: a FIN received, then a
		// pending error (a reset), then a shut-down receive side.
		var err tcpip.Error = &tcpip.ErrWouldBlock{}
		switch {
		case e.eof:
			err = &tcpip.ErrClosedForReceive{}
		case e.err != nil:
			err = e.takeErr()
		case e.rdShut || e.reset:
			err = &tcpip.ErrClosedForReceive{}
		}
		c.mu.Unlock()
		return tcpip.ReadResult{}, err
	}
	wasFull := e.room() <= 0
	n, werr := e.buf.readTo(w, opts.Peek)
	total := e.buf.n
	c.mu.Unlock()
	if n == 0 && werr != nil {
		return tcpip.ReadResult{Total: total}, &tcpip.ErrBadBuffer{}
	}
	if wasFull && !opts.Peek {
		// A writer may wait for room (it saw none).
		e.peer.wq.Notify(waiter.WritableEvents)
	}
	return tcpip.ReadResult{Count: n, Total: total, RemoteAddr: e.remote}, nil
}

func (e *joinEnd) write(p tcpip.Payloader) (int64, tcpip.Error) {
	c := e.c
	q := e.peer
	c.mu.Lock()
	switch {
	case e.err != nil:
		err := e.takeErr()
		c.mu.Unlock()
		return 0, err
	case e.wrShut || e.reset:
		c.mu.Unlock()
		return 0, &tcpip.ErrClosedForSend{}
	}
	want := p.Len()
	if want == 0 {
		c.mu.Unlock()
		return 0, nil // nothing is sent, so nothing draws a RST
	}
	if q.closed {
		// Linux sends it, and the peer answers with a RST: this write
		// succeeds, as far as the send buffer takes it, and the next
		// one fails.
		want = min(want, int(e.opts().GetSendBufferSize()))
		e.reset = true
		e.err = &tcpip.ErrClosedForSend{} // a RST in CLOSE_WAIT: Linux's EPIPE
		buf := make([]byte, min(want, 4096))
		var n int64
		for n < int64(want) {
			k, err := p.Read(buf[:min(len(buf), want-int(n))])
			n += int64(k)
			if err != nil || k == 0 {
				break
			}
		}
		c.mu.Unlock()
		e.wq.Notify(waiter.EventErr | waiter.EventHUp | waiter.ReadableEvents | waiter.WritableEvents | waiter.EventRdHUp)
		return n, nil
	}
	room := q.room()
	if room <= 0 {
		c.mu.Unlock()
		return 0, &tcpip.ErrWouldBlock{}
	}
	n, err := q.buf.writeFrom(p, min(room, want))
	c.mu.Unlock()
	if n > 0 {
		q.wq.Notify(waiter.ReadableEvents)
	}
	if n == 0 && err != nil {
		return 0, &tcpip.ErrBadBuffer{}
	}
	return int64(n), nil
}

// shutdown is shutdown(2) on e.
func (e *joinEnd) shutdown(f tcpip.ShutdownFlags) tcpip.Error {
	c := e.c
	c.mu.Lock()
	if e.closed {
		c.mu.Unlock()
		return &tcpip.ErrNotConnected{}
	}
	var mine, peers waiter.EventMask
	if f&tcpip.ShutdownRead != 0 && !e.rdShut {
		e.rdShut = true
		mine |= waiter.ReadableEvents | waiter.EventRdHUp
	}
	if f&tcpip.ShutdownWrite != 0 && !e.wrShut {
		e.wrShut = true
		e.peer.eof = true
		mine |= waiter.WritableEvents
		peers |= waiter.ReadableEvents | waiter.EventRdHUp
	}
	if mine != 0 {
		mine |= e.events() & waiter.EventHUp
	}
	if peers != 0 {
		peers |= e.peer.events() & waiter.EventHUp
	}
	c.mu.Unlock()
	if mine != 0 {
		e.wq.Notify(mine)
	}
	if peers != 0 {
		e.peer.wq.Notify(peers)
	}
	return nil
}

// close closes e. Unread data, or SO_LINGER on with a zero timeout,
// resets the connection as Linux's RST does; otherwise the peer reads
// EOF after what it has.
func (e *joinEnd) close() {
	l := e.opts().GetLinger()
	e.hangUp(l.Enabled && l.Timeout == 0)
}

// hangUp ends e and tells its peer: a reset if rst or e has data unread,
// else EOF after what the peer has.
func (e *joinEnd) hangUp(rst bool) {
	c := e.c
	q := e.peer
	c.mu.Lock()
	if e.closed {
		c.mu.Unlock()
		return
	}
	rst = rst || e.buf.n > 0
	e.closed, e.wrShut, e.rdShut = true, true, true
	e.buf = byteRing{}
	notify := false
	if !q.closed && !q.reset {
		if rst {
			q.reset = true
			q.err = resetErr(q)
		} else {
			q.eof = true
		}
		notify = true
	}
	c.mu.Unlock()
	if notify {
		q.wq.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventRdHUp | waiter.EventHUp | waiter.EventErr)
	}
}

// resetErr is what a reset leaves end e to report, as Linux's tcp_reset:
// EPIPE after a FIN (CLOSE_WAIT), else ECONNRESET.
func resetErr(e *joinEnd) tcpip.Error {
	if e.eof {
		return &tcpip.ErrClosedForSend{}
	}
	return &tcpip.ErrConnectionReset{}
}

// resetByListener is a connection the listener closed before accepting
// it: the connecting end gets ECONNRESET, as from Linux's RST.
func (e *joinEnd) resetByListener() { e.hangUp(true) }

// The tcpip.Endpoint methods: a joined socket's answer, else gVisor's.

func (t *tcpEP) Close() {
	if e := t.j.Load(); e != nil {
		e.close()
		if t.Endpoint != nil {
			t.Endpoint.Close() // frees the port
		}
		return
	}
	t.stopListening()
	t.Endpoint.Close()
}

func (t *tcpEP) Abort() {
	if e := t.j.Load(); e != nil {
		e.close()
		if t.Endpoint != nil {
			t.Endpoint.Abort()
		}
		return
	}
	t.stopListening()
	t.Endpoint.Abort()
}

func (t *tcpEP) Read(w io.Writer, opts tcpip.ReadOptions) (tcpip.ReadResult, tcpip.Error) {
	if e := t.j.Load(); e != nil {
		return e.read(w, opts)
	}
	return t.Endpoint.Read(w, opts)
}

func (t *tcpEP) Write(p tcpip.Payloader, opts tcpip.WriteOptions) (int64, tcpip.Error) {
	if e := t.j.Load(); e != nil {
		return e.write(p)
	}
	return t.Endpoint.Write(p, opts)
}

func (t *tcpEP) Connect(addr tcpip.FullAddress) tcpip.Error {
	if t.j.Load() != nil {
		return &tcpip.ErrAlreadyConnected{}
	}
	return t.Endpoint.Connect(addr)
}

func (t *tcpEP) Disconnect() tcpip.Error {
	if t.j.Load() != nil {
		return &tcpip.ErrNotSupported{}
	}
	return t.Endpoint.Disconnect()
}

func (t *tcpEP) Shutdown(f tcpip.ShutdownFlags) tcpip.Error {
	if e := t.j.Load(); e != nil {
		return e.shutdown(f)
	}
	if f&tcpip.ShutdownRead != 0 {
		// gVisor's listener stops listening; it takes no more joins.
		t.stopListening()
	}
	return t.Endpoint.Shutdown(f)
}

func (t *tcpEP) Listen(backlog int) tcpip.Error {
	if t.j.Load() != nil {
		return &tcpip.ErrInvalidEndpointState{}
	}
	if err := t.Endpoint.Listen(backlog); err != nil {
		return err
	}
	la, err := t.Endpoint.GetLocalAddress()
	if err != nil {
		return nil
	}
	t.lmu.Lock()
	t.lbacklog = backlog
	registered := t.lport != 0
	t.lport = la.Port
	t.lmu.Unlock()
	if !registered && la.Port != 0 {
		t.sp.mu.Lock()
		if t.sp.byPort == nil {
			t.sp.byPort = make(map[uint16][]*tcpEP)
		}
		t.sp.byPort[la.Port] = append(t.sp.byPort[la.Port], t)
		t.sp.mu.Unlock()
	}
	return nil
}

// stopListening takes t out of the space and resets the joined
// connections it had not accepted.
func (t *tcpEP) stopListening() {
	t.lmu.Lock()
	port := t.lport
	t.lmu.Unlock()
	if port == 0 {
		return
	}
	t.sp.mu.Lock()
	ls := t.sp.byPort[port]
	for i, l := range ls {
		if l == t {
			ls = append(ls[:i:i], ls[i+1:]...)
			break
		}
	}
	if len(ls) == 0 {
		delete(t.sp.byPort, port)
	} else {
		t.sp.byPort[port] = ls
	}
	t.lmu.Lock()
	q := t.lq
	t.lq, t.lport = nil, 0
	t.lqLen.Store(0)
	t.lmu.Unlock()
	t.sp.mu.Unlock()
	for _, ae := range q {
		ae.resetByListener()
	}
}

func (t *tcpEP) Accept(peer *tcpip.FullAddress) (tcpip.Endpoint, *waiter.Queue, tcpip.Error) {
	if t.j.Load() != nil {
		return nil, nil, &tcpip.ErrInvalidEndpointState{}
	}
	if ae := t.popJoined(); ae != nil {
		if peer != nil {
			*peer = ae.remote
		}
		return ae.ep, ae.wq, nil
	}
	// A connection gVisor accepted can be neither joined nor listen:
	// it stays gVisor's endpoint, with no wrapper on its every call.
	return t.Endpoint.Accept(peer)
}

// popJoined takes the first joined connection waiting for accept, or
// returns nil.
func (t *tcpEP) popJoined() *joinEnd {
	if t.lqLen.Load() == 0 {
		return nil
	}
	t.lmu.Lock()
	defer t.lmu.Unlock()
	if len(t.lq) == 0 {
		return nil
	}
	ae := t.lq[0]
	t.lq[0] = nil
	t.lq = t.lq[1:]
	if len(t.lq) == 0 {
		t.lq = nil
	}
	t.lqLen.Store(int32(len(t.lq)))
	return ae
}

func (t *tcpEP) Bind(a tcpip.FullAddress) tcpip.Error {
	if t.j.Load() != nil {
		return &tcpip.ErrAlreadyBound{}
	}
	return t.Endpoint.Bind(a)
}

func (t *tcpEP) GetLocalAddress() (tcpip.FullAddress, tcpip.Error) {
	if e := t.j.Load(); e != nil {
		return e.local, nil
	}
	return t.Endpoint.GetLocalAddress()
}

func (t *tcpEP) GetRemoteAddress() (tcpip.FullAddress, tcpip.Error) {
	if e := t.j.Load(); e != nil {
		e.c.mu.Lock()
		gone := e.closed
		e.c.mu.Unlock()
		if gone {
			return tcpip.FullAddress{}, &tcpip.ErrNotConnected{}
		}
		return e.remote, nil
	}
	return t.Endpoint.GetRemoteAddress()
}

func (t *tcpEP) Readiness(mask waiter.EventMask) waiter.EventMask {
	if e := t.j.Load(); e != nil {
		e.c.mu.Lock()
		m := e.events()
		e.c.mu.Unlock()
		return m & mask
	}
	m := t.Endpoint.Readiness(mask)
	if t.lqLen.Load() > 0 {
		m |= mask & waiter.ReadableEvents
	}
	return m
}

func (t *tcpEP) SetSockOpt(opt tcpip.SettableSocketOption) tcpip.Error {
	e := t.j.Load()
	if e == nil || t.Endpoint != nil {
		return t.Endpoint.SetSockOpt(opt)
	}
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	switch o := opt.(type) {
	case *tcpip.KeepaliveIdleOption:
		e.keepIdle = time.Duration(*o)
	case *tcpip.KeepaliveIntervalOption:
		e.keepIntvl = time.Duration(*o)
	default:
		return &tcpip.ErrUnknownProtocolOption{}
	}
	return nil
}

func (t *tcpEP) GetSockOpt(opt tcpip.GettableSocketOption) tcpip.Error {
	e := t.j.Load()
	if e == nil || t.Endpoint != nil {
		return t.Endpoint.GetSockOpt(opt)
	}
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	switch o := opt.(type) {
	case *tcpip.KeepaliveIdleOption:
		*o = tcpip.KeepaliveIdleOption(e.keepIdle)
	case *tcpip.KeepaliveIntervalOption:
		*o = tcpip.KeepaliveIntervalOption(e.keepIntvl)
	default:
		return &tcpip.ErrUnknownProtocolOption{}
	}
	return nil
}

func (t *tcpEP) SetSockOptInt(opt tcpip.SockOptInt, v int) tcpip.Error {
	e := t.j.Load()
	switch {
	case e == nil:
		return t.Endpoint.SetSockOptInt(opt, v)
	case opt == tcpip.MaxSegOption:
		return nil // no segments to size
	case t.Endpoint != nil:
		return t.Endpoint.SetSockOptInt(opt, v)
	case opt == tcpip.KeepaliveCountOption:
		e.c.mu.Lock()
		e.keepCnt = v
		e.c.mu.Unlock()
		return nil
	case opt == tcpip.IPv4TOSOption, opt == tcpip.IPv4TTLOption, opt == tcpip.IPv6HopLimitOption:
		return nil // they mark segments, and there are none
	}
	return &tcpip.ErrUnknownProtocolOption{}
}

func (t *tcpEP) GetSockOptInt(opt tcpip.SockOptInt) (int, tcpip.Error) {
	e := t.j.Load()
	if e == nil {
		return t.Endpoint.GetSockOptInt(opt)
	}
	switch opt {
	case tcpip.ReceiveQueueSizeOption:
		e.c.mu.Lock()
		defer e.c.mu.Unlock()
		return e.buf.n, nil
	case tcpip.SendQueueSizeOption:
		return 0, nil // delivered, as acknowledged at once over Linux's loopback
	case tcpip.MaxSegOption:
		return joinMSS, nil
	case tcpip.KeepaliveCountOption:
		if t.Endpoint == nil {
			e.c.mu.Lock()
			defer e.c.mu.Unlock()
			return e.keepCnt, nil
		}
	}
	if t.Endpoint != nil {
		return t.Endpoint.GetSockOptInt(opt)
	}
	return 0, &tcpip.ErrUnknownProtocolOption{}
}

// sendQueued is SIOCOUTQ for a TCP socket: gVisor's count (kernels build
// it in, internal/build/netdelack.go), 0 once joined; ok false when the
// build has no count (host builds) or ep is not TCP.
func sendQueued(ep tcpip.Endpoint) (int, bool) {
	if t, ok := ep.(*tcpEP); ok {
		if t.j.Load() != nil {
			return 0, true
		}
		ep = t.Endpoint
	}
	if q, ok := ep.(interface{ VelocitySendQueued() int }); ok {
		return q.VelocitySendQueued(), true
	}
	return 0, false
}

func (t *tcpEP) State() uint32 {
	if e := t.j.Load(); e != nil {
		e.c.mu.Lock()
		defer e.c.mu.Unlock()
		switch {
		case e.closed || e.reset:
			return uint32(tcp.StateClose)
		case e.wrShut && e.peer.wrShut:
			return uint32(tcp.StateTimeWait)
		case e.wrShut:
			return uint32(tcp.StateFinWait2)
		case e.peer.wrShut:
			return uint32(tcp.StateCloseWait)
		}
		return uint32(tcp.StateEstablished)
	}
	return t.Endpoint.State()
}

func (t *tcpEP) ModerateRecvBuf(copied int) {
	if t.j.Load() == nil {
		t.Endpoint.ModerateRecvBuf(copied)
	}
}

func (t *tcpEP) Info() tcpip.EndpointInfo {
	if e := t.j.Load(); e != nil {
		return &stack.TransportEndpointInfo{TransProto: tcp.ProtocolNumber, ID: stack.TransportEndpointID{
			LocalPort: e.local.Port, LocalAddress: e.local.Addr, RemotePort: e.remote.Port, RemoteAddress: e.remote.Addr}}
	}
	return t.Endpoint.Info()
}

func (t *tcpEP) Stats() tcpip.EndpointStats {
	if t.Endpoint == nil {
		return &tcp.Stats{}
	}
	return t.Endpoint.Stats()
}

func (t *tcpEP) SetOwner(o tcpip.PacketOwner) {
	if t.Endpoint != nil {
		t.Endpoint.SetOwner(o)
	}
}

func (t *tcpEP) LastError() tcpip.Error {
	if e := t.j.Load(); e != nil {
		e.c.mu.Lock()
		defer e.c.mu.Unlock()
		return e.takeErr()
	}
	return t.Endpoint.LastError()
}

func (t *tcpEP) SocketOptions() *tcpip.SocketOptions {
	if e := t.j.Load(); e != nil {
		return e.opts()
	}
	return t.Endpoint.SocketOptions()
}

// byteRing is a receive buffer: a ring that grows as data comes (never
// presized) and is given back when it empties after growing large.
type byteRing struct {
	b    []byte
	r, n int // where the unread bytes start, and how many there are
}

// writeFrom appends up to limit bytes read from p.
func (q *byteRing) writeFrom(p io.Reader, limit int) (int, error) {
	if free := len(q.b) - q.n; free < limit {
		size := max(2*len(q.b), q.n+limit, 4096)
		nb := make([]byte, size)
		q.copyOut(nb)
		q.b, q.r = nb, 0
	}
	done := 0
	for done < limit {
		w := (q.r + q.n) % len(q.b)
		end := len(q.b)
		if w < q.r {
			end = q.r
		}
		seg := q.b[w:min(end, w+limit-done)]
		k, err := p.Read(seg)
		q.n += k
		done += k
		if err != nil || k < len(seg) {
			return done, err
		}
	}
	return done, nil
}

// copyOut copies the unread bytes to dst, in order.
func (q *byteRing) copyOut(dst []byte) {
	if q.n == 0 {
		return
	}
	k := copy(dst, q.b[q.r:min(len(q.b), q.r+q.n)])
	copy(dst[k:], q.b[:q.n-k])
}

// readTo writes the unread bytes to w, as far as it takes them, and
// consumes what it took unless peek.
func (q *byteRing) readTo(w io.Writer, peek bool) (int, error) {
	if q.n == 0 {
		return 0, nil
	}
	done := 0
	var err error
	for done < q.n {
		start := (q.r + done) % len(q.b)
		seg := q.b[start:min(len(q.b), start+q.n-done)]
		var k int
		k, err = w.Write(seg)
		done += k
		if err != nil || k < len(seg) {
			break
		}
	}
	if !peek {
		q.r = (q.r + done) % len(q.b)
		q.n -= done
		if q.n == 0 {
			q.r = 0
			if len(q.b) > joinShrink {
				q.b = nil
			}
		}
	}
	return done, err
}
