package netstack

// The direct path: the hot socket calls served in the calling goroutine.
//
// Through the kernel (runtime/vk_net.go) every socket call is a trap, a
// switch to the server's thread, the server's own system calls and a
// switch back. In kernels that link this package, package syscall's
// Syscall and Syscall6 first offer read, write, readv, writev, sendto,
// recvfrom, sendmsg, recvmsg, setsockopt of an int, shutdown and accept4
// on a socket fd to Server.direct and Server.directAccept (the build patches
// package syscall, internal/build/netdirect.go, and the runtime checks
// the arguments first, runtime/vk_netdirect.go), which perform them on
// the endpoint right there, with the server's own code. Whatever they
// decline goes to the kernel as before, which is always correct:
//
//   - fd identity: the kernel owns the fd table. It maps the fd to the
//     description it names (its sid, the server's key for the socket, the
//     same for every dup of the fd) and the socket's identity without a
//     trap or a lock (runtime/vk_netdirect.go, vkNetDirectFD, argues why
//     what it reads is consistent). The call goes direct only when the
//     server's endpoint for the sid carries that identity (Msg.SockID):
//     a socket whose creation the server has not taken yet, or a sid
//     reused since by another socket, goes to the kernel.
//   - memory: the runtime offers a call only when its pointer arguments
//     lie in the Go heap (so a stack that grows here cannot leave them
//     stale), except setsockopt's int, which may be on the caller's
//     stack and is copied before the handler runs, and accept4's peer
//     address, written after it (direct_velocity.go, directEntry); a
//     declined call reaches the kernel with such arguments found again
//     in the stack (internal/build/netdirect.go). directMem checks what
//     they point to (iovecs, a msghdr's buffers and names) the same way. Anything else, including every bad
//     pointer, goes to the kernel, which answers EFAULT or EINVAL as Linux
//     does.
//   - blocking: the call never waits here. It is made non-blocking; on a
//     blocking socket a read that finds nothing, a MSG_WAITALL read and
//     every write go to the kernel, whose server waits properly. Nothing here enters the
//     kernel except the readiness report below, which does not sleep, so
//     the runtime's entersyscall/exitsyscall are not needed.
//   - readiness: after the call the socket's level is computed, numbered
//     before it is computed as every report is (runtime/vk_net.go), and
//     reported only when it differs from the level epoll has: a drained
//     socket stops being readable, and data arriving later is an event,
//     as before, with a later number.
//   - names: a datagram socket that is not bound yet binds on its first
//     send, which changes what getsockname says (the kernel keeps the
//     names from replies), so such a send goes to the kernel.

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// dgram carries a datagram call's address across the direct path, where
// Go passes it in the calling goroutine's stack: sendto's destination as
// a slice (which moves with the stack, unlike a uintptr), recvfrom's
// sender back to the nosplit entry, which writes it to the caller
// (direct_velocity.go). It lives in the entry's frame, and is only ever
// referred to from stack frames.
type dgram struct {
	to       []byte   // sendto: the destination
	wantFrom bool     // recvfrom: the caller asked for the sender's address
	from     [28]byte // recvfrom: the sender's sockaddr_in or sockaddr_in6
	fromLen  uint32   // its length; 0 for a stream socket, as on Linux
}

// direct serves system call nr with arguments a in the caller's goroutine.
// ok false means it did nothing and the call must go to the kernel. dg is
// sendto's or recvfrom's address when the call names one (a[4] and a[5]
// are then 0), nil otherwise.
//
// It is never inlined: its caller, directEntry, is nosplit, and a build
// with a profile (-pgo) would otherwise inline this hot function into it
// and overflow the nosplit stack limit.
//
//go:noinline
func (s *Server) direct(nr uintptr, a [6]uintptr, dg *dgram) (r uintptr, e syscall.Errno, ok bool) {
	if a[0] > 1<<31-1 {
		return 0, 0, false
	}
	fd := int32(a[0])
	sid, id, nonblock, level, isSock := s.k.FD(fd)
	if !isSock || id == 0 {
		return 0, 0, false
	}
	sk := s.lookup(sid)
	if sk == nil || sk.id != id || sk.nl != nil {
		return 0, 0, false // netlink sockets: the kernel's path serves them
	}
	switch nr {
	case syscall.SYS_SETSOCKOPT:
		return s.directSetsockopt(sk, fd, a)
	case syscall.SYS_SHUTDOWN:
		return s.directShutdown(sk, fd, id, level, a[1])
	}
	var args [6]uint64
	for i := range a {
		args[i] = uint64(a[i])
	}
	args[0] = uint64(sid) // as the kernel forwards it: the server's name for the socket
	write := false
	dontwait, waitall := false, false
	switch nr {
	case 0, 19: // read, readv
	case 1, 20: // write, writev
		write = true
	case 44: // sendto
		write, dontwait = true, a[3]&msgDontwait != 0
	case 45: // recvfrom
		dontwait, waitall = a[3]&msgDontwait != 0, a[3]&msgWaitall != 0
	case 46: // sendmsg
		write, dontwait = true, a[2]&msgDontwait != 0
	case 47: // recvmsg
		dontwait, waitall = a[2]&msgDontwait != 0, a[2]&msgWaitall != 0
	default:
		return 0, 0, false
	}
	mayWait := !nonblock && !dontwait
	if write && mayWait {
		return 0, 0, false // a blocking write may have to wait for room
	}
	if mayWait && waitall {
		return 0, 0, false // MSG_WAITALL on a blocking socket waits for all of it
	}
	if !directMem(nr, args, s.k.Mem) {
		return 0, 0, false
	}
	if dg != nil && sk.ux != nil {
		return 0, 0, false // a unix name: file system calls, the kernel's
	}
	if write && !s.directSendOK(sk, nr, args) {
		return 0, 0, false
	}
	m := Msg{NR: uint64(nr), Args: args, Flags: msgNonblock}
	var rep Reply
	var res int64
	var err syscall.Errno
	if dg != nil {
		res, err = s.directDgram(sk, &m, dg)
	} else if sk.ux != nil {
		res, err = s.unixCall(sk, &m, &rep, nil) // non-blocking: never waits
	} else {
		res, err = s.call(sk, &m, &rep, nil)
	}
	if err == syscall.EAGAIN && mayWait {
		return 0, 0, false // nothing happened: the kernel's server waits
	}
	if err == errDirectDecline {
		return 0, 0, false // SCM_RIGHTS tokens queued: only the kernel can take them
	}
	s.Calls.Add(1)
	s.Direct.Add(1)
	s.reportLevel(sk, sid, id, level, !write && err == 0 && res > 0)
	if trace {
		fmt.Fprintf(os.Stderr, "netstack: direct %s(fd %d sid %d %#x %#x %#x) = %d errno %d\n", callName(uint64(nr)), fd, sid, a[1], a[2], a[3], res, err)
	}
	if err != 0 {
		s.Errors.Add(1)
		return ^uintptr(0), err, true
	}
	return uintptr(res), 0, true
}

// directAccept accepts a connection on TCP listener fd in the caller's
// goroutine (accept, or accept4 with flags), with two short kernel calls
// that never reach the server (runtime/vk_netaccept.go): reserve the new
// socket's description (its sid and identity), accept on the endpoint
// and register it under them, then install the description at an fd.
// The peer's address, when asked for (wantPeer), comes back in peer (n
// bytes; nil when not asked for) for the velocity entry to write. ok
// false means nothing was done: a blocking listener with nothing pending
// (the kernel's server waits), a socket that is not a listening TCP one
// (the kernel's path has Linux's errno), bad flags, or a kernel that
// would not reserve (the listener's fd changed, or every free sid is
// still the server's). Never inlined, like direct, for its nosplit
// caller's sake.
//
//go:noinline
func (s *Server) directAccept(nr, fd, flags uintptr, wantPeer bool) (r uintptr, e syscall.Errno, ok bool, peer *[128]byte, n uint32) {
	if fd > 1<<31-1 {
		return
	}
	if nr == syscall.SYS_ACCEPT {
		flags = 0
	} else if flags&^(sockNonblock|sockCloexec) != 0 {
		return // EINVAL, from the kernel's path
	}
	sid, id, nonblock, level, isSock := s.k.FD(int32(fd))
	if !isSock || id == 0 {
		return
	}
	sk := s.lookup(sid)
	if sk == nil || sk.id != id || sk.ux != nil || sk.nl != nil || sk.typ != sockStream ||
		tcp.EndpointState(sk.ep.State()) != tcp.StateListen {
		return
	}
	if sk.ep.Readiness(waiter.ReadableEvents) == 0 {
		if !nonblock {
			return // the kernel's server waits for a connection
		}
		s.Calls.Add(1)
		s.Direct.Add(1)
		s.reportLevel(sk, sid, id, level, false)
		return ^uintptr(0), syscall.EAGAIN, true, nil, 0
	}
	nsid, nid, err := s.k.AcceptReserve(int32(fd), id)
	if err != 0 {
		return
	}
	var addr tcpip.FullAddress
	ep, wq, terr := sk.ep.Accept(&addr)
	if terr != nil {
		s.k.AcceptCancel(nsid)
		if _, block := terr.(*tcpip.ErrWouldBlock); block && !nonblock {
			return // another thread took it: the kernel's server waits
		}
		s.Calls.Add(1)
		s.Direct.Add(1)
		s.Errors.Add(1)
		s.reportLevel(sk, sid, id, level, false)
		return ^uintptr(0), errno(terr), true, nil, 0
	}
	s.Calls.Add(1)
	s.Direct.Add(1)
	nsk := &sock{sid: nsid, id: nid, family: sk.family, typ: sk.typ, proto: sk.proto, ep: ep, wq: wq}
	s.register(nsk)
	seq := s.seq.Add(1) // numbered before the level is computed
	ready := uint32(ep.Readiness(allEvents))
	names := s.names(nsk)
	nfd, err := s.k.AcceptInstall(nsid, int(flags), &names, ready, seq)
	s.reportLevel(sk, sid, id, level, false)
	if trace {
		fmt.Fprintf(os.Stderr, "netstack: direct accept4(fd %d sid %d %#x) = fd %d sid %d errno %d\n", fd, sid, flags, nfd, nsid, err)
	}
	if err != 0 {
		s.Errors.Add(1) // EMFILE: the kernel has closed the new socket through the server
		return ^uintptr(0), err, true, nil, 0
	}
	if wantPeer {
		peer = new([128]byte)
		n = uint32(encodeSockaddr(peer[:], addr, sk.family))
	}
	return uintptr(nfd), 0, true, peer, n
}

// reportLevel tells the kernel sk's readiness level after a direct call,
// numbered before it is computed as every report is, when it differs from
// level, the one epoll had when the call began: a drained socket stops
// being readable, and data arriving later is an event with a later
// number. Also when the call took data in (consumed) that level did not
// show: the event that announces the data may still be on its way,
// numbered before this report, and with no report it would arrive after
// the call and leave the drained socket readable for the kernel (a
// level-triggered poll then said POLLIN for nothing; Go's edge-triggered
// netpoller only woke for nothing). Such a read is rare: the level shows
// the data unless its event is in flight.
func (s *Server) reportLevel(sk *sock, sid int32, id uint64, level uint32, consumed bool) {
	seq := s.seq.Add(1)
	if lvl := s.readiness(sk); lvl != level || consumed && level&uint32(waiter.ReadableEvents) == 0 {
		s.k.Ready(sid, lvl, 1, seq, id)
	}
}

// directSetsockopt sets an int option (optlen 4, the value itself in
// a[3]: the velocity entry copied it from the caller's memory) on an IP
// socket, with the code the kernel's path runs in the server, so the
// answer is the same. Go sets TCP_NODELAY, SO_KEEPALIVE and the three
// keepalive timers on every connection it makes or accepts; through the
// kernel that was five traps, and for TCP_NODELAY a round trip to the
// server. An option takes effect before the call returns, as through the
// kernel, so a write that follows it (on this path or the kernel's) sees
// it. AF_UNIX sockets, whose options the kernel's path keeps apart,
// are declined.
func (s *Server) directSetsockopt(sk *sock, fd int32, a [6]uintptr) (uintptr, syscall.Errno, bool) {
	if sk.ux != nil || a[4] != 4 {
		return 0, 0, false
	}
	var v [4]byte
	binary.LittleEndian.PutUint32(v[:], uint32(a[3]))
	level, name := int(int32(a[1])), int(int32(a[2]))
	s.Calls.Add(1)
	s.Direct.Add(1)
	err := s.setsockopt(sk, level, name, v[:])
	if trace {
		fmt.Fprintf(os.Stderr, "netstack: direct setsockopt(fd %d sid %d %d %d %d) = errno %d\n", fd, sk.sid, level, name, int32(a[3]), err)
	}
	if err != 0 {
		s.Errors.Add(1)
		return ^uintptr(0), err, true
	}
	return 0, 0, true
}

// directShutdown shuts a TCP or UDP socket down (how: SHUT_RD, SHUT_WR
// or SHUT_RDWR) with the code the kernel's path runs in the server,
// instead of a trap and a round trip to the server with the caller's
// thread asleep. Go calls it through TCPConn.CloseWrite and CloseRead
// (proxies half-closing, net/http closing a connection whose request
// body it did not read to the end). AF_UNIX sockets, whose peers the
// kernel's path tells, are declined.
func (s *Server) directShutdown(sk *sock, fd int32, id uint64, level uint32, how uintptr) (uintptr, syscall.Errno, bool) {
	if sk.ux != nil {
		return 0, 0, false
	}
	m := Msg{NR: syscall.SYS_SHUTDOWN, Args: [6]uint64{uint64(sk.sid), uint64(how)}}
	var rep Reply
	s.Calls.Add(1)
	s.Direct.Add(1)
	_, err := s.call(sk, &m, &rep, nil)
	s.reportLevel(sk, sk.sid, id, level, false)
	if trace {
		fmt.Fprintf(os.Stderr, "netstack: direct shutdown(fd %d sid %d %d) = errno %d\n", fd, sk.sid, how, err)
	}
	if err != 0 {
		s.Errors.Add(1)
		return ^uintptr(0), err, true
	}
	return 0, 0, true
}

// directDgram is s.call's sendto and recvfrom for the direct path, with
// the address in dg rather than in the caller's memory.
func (s *Server) directDgram(sk *sock, m *Msg, dg *dgram) (int64, syscall.Errno) {
	a := m.Args
	sc := getScratch()
	defer putScratch(sc) // see clearBufs
	bufs := sc.one1(user(a[1], int(a[2])))
	if m.NR == 44 {
		return s.send(sk, bufs, int(a[3]), dg.to, true, nil)
	}
	n, total, peer, e := s.recvInto(sk, bufs, int(a[3]), true, nil, dg.wantFrom)
	if e != 0 {
		return 0, e
	}
	if dg.wantFrom && sk.typ != sockStream {
		dg.fromLen = uint32(encodeSockaddr(dg.from[:], peer, sk.family))
	}
	return recvCount(sk, int(a[3]), n, total), 0
}

// directSendOK reports whether a send may go direct: not to a datagram
// socket that is not bound yet (its first send binds it, which the
// kernel's copy of its names must learn from a reply), and on AF_UNIX only
// without a destination (naming one looks up a path: file system calls).
func (s *Server) directSendOK(sk *sock, nr uintptr, a [6]uint64) bool {
	if sk.ux != nil {
		switch nr {
		case 44:
			return a[4] == 0
		case 46: // no name, and no control data: the kernel reads SCM_RIGHTS
			h := user(a[1], 56)
			return binary.LittleEndian.Uint64(h[0:]) == 0 && binary.LittleEndian.Uint64(h[40:]) == 0
		}
		return true
	}
	if sk.typ == sockStream {
		return true
	}
	addr, err := sk.ep.GetLocalAddress()
	return err == nil && addr.Port != 0
}

// directMem checks, as the kernel's vkNetCheck does but more strictly,
// the memory a call names, with mem saying which ranges the direct path
// may touch. Anything unusual (a zero or negative length, too many
// iovecs, a name too long) is false: the kernel's path has the exact
// answer Linux gives.
func directMem(nr uintptr, a [6]uint64, mem func(p, n uintptr) bool) bool {
	buf := func(p, n uint64) bool { return int64(n) > 0 && mem(uintptr(p), uintptr(n)) }
	iov := func(p, cnt uint64) bool {
		if cnt == 0 || cnt > 1024 || !buf(p, cnt*16) {
			return false
		}
		raw := user(p, int(cnt*16))
		for i := uint64(0); i < cnt; i++ {
			base, n := binary.LittleEndian.Uint64(raw[i*16:]), binary.LittleEndian.Uint64(raw[i*16+8:])
			if n != 0 && !buf(base, n) {
				return false
			}
		}
		return true
	}
	switch nr {
	case 0, 1: // read, write
		return buf(a[1], a[2])
	case 19, 20: // readv, writev
		return iov(a[1], a[2])
	case 44: // sendto
		return buf(a[1], a[2]) && (a[4] == 0 || a[5] <= 128 && buf(a[4], a[5]))
	case 45: // recvfrom
		if !buf(a[1], a[2]) {
			return false
		}
		if a[4] == 0 {
			return true
		}
		if !buf(a[5], 4) {
			return false
		}
		n := int64(int32(binary.LittleEndian.Uint32(user(a[5], 4))))
		return n == 0 || buf(a[4], uint64(n))
	case 46, 47: // sendmsg, recvmsg
		if !buf(a[1], 56) {
			return false
		}
		h := user(a[1], 56)
		name, nlen := binary.LittleEndian.Uint64(h[0:]), uint64(binary.LittleEndian.Uint32(h[8:]))
		if name != 0 && nlen != 0 && (nlen > 128 || !buf(name, nlen)) {
			return false
		}
		if ctl, clen := binary.LittleEndian.Uint64(h[32:]), binary.LittleEndian.Uint64(h[40:]); ctl != 0 && clen != 0 && !buf(ctl, clen) {
			return false
		}
		return iov(binary.LittleEndian.Uint64(h[16:]), binary.LittleEndian.Uint64(h[24:]))
	}
	return false
}
