//go:build velocity

// Velocity kernel: sockets.
//
// The TCP/IP stack is gVisor's netstack, ordinary Go code that cannot live
// in package runtime (it allocates, blocks on channels and imports half of
// the standard library). So a socket is a kernel file descriptor whose
// system calls the kernel forwards to a network server: goroutines of
// package netstack (see docs/net.md), which the build links into every
// binary that uses package net. The protocol is Velocity system calls:
//
//	0x5610 attach: the server announces itself (once, at its init).
//	0x5611 wait(buf, max): the server blocks until requests are queued and
//	       copies up to max of them (vkNetMsg) into buf.
//	0x5612 reply(buf, n): the server answers n requests (vkNetReply); each
//	       wakes its caller with the result.
//	0x5613 ready(sid, events, mode, seq, id): the server reports the
//	       readiness of socket sid whose identity is id (mode 0 adds
//	       events, mode 1 sets the level), which feeds epoll; a report
//	       whose identity is not the one socket sid has now is dropped.
//	       Mode 2 (0 | vkNetReadyDeliver) is an event whose reporter
//	       hands it to the runtime's netpoller itself: the runtime's
//	       record's data and events come back in out (arg 6).
//	0x5615 rights(buf, n, op): the server drops (op 0) or duplicates
//	       (op 1) the kernel's references behind n SCM_RIGHTS tokens
//	       (vk_netrights.go).
//	0x5616 hold(id, op, moved): a call the server has taken waits for its
//	       condition (op 0) or is taken back (op 1); see below.
//
// Readiness reports race: a level computed by the server before data
// arrived can reach the kernel after the event that reports the data. So
// every report carries a number from one server-wide counter, taken
// before the report is computed (events take it when they happen), and
// the kernel ignores a report older than the last one it applied.
//
// A caller's thread sleeps in the kernel while its request is served, as
// in any blocking system call, so the Go scheduler hands its P to other
// goroutines, the server's among them.
//
// A signal for a caller cuts a blocking call's wait short, as on Linux,
// and without the server's help: the server's goroutines may be unable to
// run (AllThreadsSyscall signals every thread with the world stopped, and
// waits until each has run its handler). So the server tells the kernel
// when a call it has taken starts to wait for its condition and when it
// takes the call back (velocity_net_hold, 0x5616); only in between may a
// caller with a signal to take abandon it, and the caller's memory is
// then no longer the server's to touch. The call answers what it had
// moved (a blocking send's partial count) or -ERESTARTSYS (made again
// after an SA_RESTART handler, as Go's are; -EINTR for a call with
// SO_RCVTIMEO or SO_SNDTIMEO, as on Linux); a call the server has not
// taken yet is withdrawn. The kernel then queues a cancel (a message with
// no id and system call number vkNetCancel, naming the call in args[0]),
// which wakes the abandoned wait once the server runs again.
//
// Except for four calls. Package syscall makes socket, socketpair,
// getsockname and getpeername with RawSyscall: the runtime believes they
// never block and keeps the caller's P. Were the kernel to sleep in them,
// two threads doing so would hold both Ps of a two-CPU machine and the
// server could never run (this deadlock was seen under net/http). So the
// kernel answers those itself: socket checks its arguments, reserves the
// fd and queues an asynchronous create that the server handles before
// anything else queued later; socketpair (AF_UNIX only) reserves two fds
// and queues one asynchronous create for the pair; the two name calls
// read addresses the server reports with every reply.
//
// The server names a socket by the index of its open file description
// (vk_fd.go), its sid, not by an fd: requests carry the sid in place of
// the fd argument, creations name the new socket's sid, and readiness
// reports come back by sid. So fds that dup made share the one endpoint,
// and the endpoint is closed (a close request) only with the
// description's last reference (vkNetRelease). A sid is not reused before
// that close has been answered, but it is reused after, while a report
// about the old socket or a call on it may still be on its way. So every
// socket also has an identity (vkSockInfo.id, in the description, never
// reused), which the kernel gives the server with the message that
// creates the endpoint; readiness reports carry it, and the hot calls'
// direct path (vk_netdirect.go), which serves them in the calling
// goroutine without a trap, acts only on an endpoint that carries the
// identity the fd's description has.
//
// The kernel checks every user pointer of a forwarded call against the
// mappings before forwarding (EFAULT), so the server only touches memory
// the caller owns; the caller is asleep while the server reads or writes
// it.
//
// Trap context: everything here runs in a system call with the kernel
// lock held, so it must not allocate or wait on anything but vkBlock (see
// runtime/HACKING.md).

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkSysNetAttach = 0x5610
	vkSysNetWait   = 0x5611
	vkSysNetReply  = 0x5612
	vkSysNetReady  = 0x5613
	// vkSysNetResolv(buf, len) replaces /etc/resolv.conf (vk_etc.go), for
	// the name servers DHCP or dns= gave the stack.
	vkSysNetResolv = 0x5614
	// vkSysNetHold(id, op, moved): a taken call waits for its condition,
	// or is taken back (vkNetHold).
	vkSysNetHold = 0x5616

	vkENOTSOCK  = 88
	vkENOTCONN  = 107
	vkENOBUFS   = 105
	vkECANCELED = 125

	vkEPROTONOSUPPORT = 93
	vkESOCKTNOSUPPORT = 94
	vkEAFNOSUPPORT    = 97
	vkEMSGSIZE        = 90

	vkNetQueue = vkMaxThreads // requests in flight: one per thread at most
	// vkNetCancel is the system call number of the message that tells the
	// server to give up a blocking call's wait (vkNetForward); no Linux
	// call has it.
	vkNetCancel = 0x10000
	vkNetUnixGC = 0x10001 // netstack's msgUnixGC: look for AF_UNIX sockets only tokens keep (vkNetGCHint)
	vkNetAsync  = 1024    // creations and TCP closes not yet taken by the server
)

// vkNetMsg is one forwarded system call, as the server reads it. The
// layout is shared with netstack/abi.go; append only.
type vkNetMsg struct {
	id    uint64    // tid<<32 | sequence: names the reply
	nr    uint64    // Linux system call number
	args  [6]uint64 // its arguments
	newFD int64     // socket, accept, accept4: the new socket's sid (socketpair: sid0 | sid1<<32)
	flags uint64    // vkNetNonblock
	// sockID: socket, accept, accept4: the new socket's identity
	// (socketpair: the first's; the second's is sockID+1).
	sockID uint64
	// rights, nrights: AF_UNIX only (vk_netrights.go). sendmsg: the
	// address of nrights description indexes the kernel holds a reference
	// on, to travel with the data; the receiving calls: a buffer for up to
	// nrights of them, which the server fills with those of what it read.
	// Both are an int32 array on the caller's kernel stack.
	rights  uint64
	nrights uint64
	// cred: AF_UNIX calls on the kernel's path: the caller's pid, real
	// uid and real gid (vkNetCredSet), which a send attaches when either
	// end has SO_PASSCRED; scm: sendmsg's SCM_CREDENTIALS, checked by
	// vkNetCredCheck (vkNetCredSCM), which travel with the data. euid,
	// egid: the effective ids (with vkNetCredSet), which socketpair,
	// listen and connect record for SO_PEERCRED, as Linux does.
	cred      [3]uint32
	credFlags uint32
	scm       [3]uint32
	euid      uint32
	egid      uint32
	_         uint32
}

const (
	vkNetNonblock = 1 // the fd is in non-blocking mode

	vkNetCredSet = 1 // vkNetMsg.cred is set
	vkNetCredSCM = 2 // vkNetMsg.scm is set
)

// vkNetReply answers one vkNetMsg. ready, when readyOK is set, is the
// readiness level of the request's fd computed after the call, so epoll
// sees a socket become unreadable once the server drained it.
type vkNetReply struct {
	id        uint64
	result    int64
	ready     uint32
	readyOK   uint32
	ready2    uint32 // accept, accept4: readiness of the new fd
	addrOK    uint32 // the addresses below are set
	readySeq  uint64 // the report numbers of ready and ready2
	ready2Seq uint64
	names     vkSockNames // the fd's local and remote addresses after the call
	names2    vkSockNames // accept, accept4: the new fd's
	// rights: sendmsg: 1 if the server took the references in
	// vkNetMsg.rights (the kernel drops them otherwise); the receiving
	// calls: how many references it wrote to the buffer, now the
	// caller's.
	rights uint32
	// ctl: recvmsg: the bytes at the start of the caller's control
	// buffer the server used (an SCM_CREDENTIALS message); SCM_RIGHTS
	// follows them.
	ctl uint32
}

// vkSockNames are a socket's addresses as struct sockaddr bytes; a zero
// length means none (getpeername: ENOTCONN). 110 bytes hold the largest,
// struct sockaddr_un.
type vkSockNames struct {
	local, remote       [110]byte
	localLen, remoteLen uint32
}

// vkSockInfo is the kernel's part of a socket description.
type vkSockInfo struct {
	family int32
	// tcp: a TCP socket, made by socket() or accepted from a TCP
	// listener (its close is queued, vkNetReleaseTCP).
	tcp bool
	// reserved: allocated for the direct path's accept, not given an
	// fd yet (vk_netaccept.go).
	reserved bool
	id       uint64 // identity (vkNetNewID): sids are reused, identities never
	names    vkSockNames
}

type vkNetSlot struct {
	msg vkNetMsg
	// state: 0 free, 1 queued, 2 taken by the server, 3 answered, 4 taken
	// and waiting for its condition (vkNetHold): abandoned on a signal.
	state int32
	seq   uint32
	res   int64
	moved int64 // what a waiting call had moved (vkNetHold): its answer if abandoned
	timed bool  // the waiting call has SO_RCVTIMEO/SO_SNDTIMEO: abandoned, it fails with EINTR
	inq   bool  // the tid is in vkNet.queue: a withdrawn request's entry serves the next one
	// rep is where the caller wants the reply: a vkNetReply on its own
	// kernel stack, which stays put while it waits (it leaves
	// vkNetForward only once answered). Copying the answer there, rather
	// than into a reply per possible thread, keeps 2 MiB of static memory
	// out of every kernel (a reply holds two sockaddr_un-sized names).
	rep uintptr
}

var vkNet struct {
	attached bool
	// doorbell is the description (+1; 0 none) of the eventfd the server
	// gave velocity_net_attach: every wake-up of the server also counts
	// there (vkNetWake), so the server can wait for work in Go's
	// netpoller with a non-blocking velocity_net_wait instead of blocking
	// in the call. It holds a reference, never dropped.
	doorbell int32
	slots    [vkMaxThreads]vkNetSlot // by tid-1
	queue    [vkNetQueue]int32       // tids of queued requests, FIFO
	head     uint32
	tail     uint32
	async    [vkNetAsync]vkNetMsg // creations: no caller waits for them
	// ahead and atail count the asynchronous messages handed to the
	// server and queued since boot (never wrapping); adone counts those
	// it is done with: it handles each batch's asynchronous messages in
	// order before it waits again, so a wait retires everything handed
	// over until then. sidAsync[sid] is atail just after the last
	// asynchronous message about sid (its creation or close): while that
	// is beyond adone, the server may still create or close a socket
	// under sid, so the direct path's accept (vk_netaccept.go), which
	// registers its socket with the server out of that order, does not
	// take sid, nor does the direct path serve a call on it
	// (vkNetSidBusy).
	ahead, atail, adone uint64
	sidAsync            [vkMaxFiles]uint64
	// cancels: the ids of abandoned calls (vkNetForward). A caller has one
	// call in flight, and vkNetWait hands every queued cancel over before
	// it takes a further call: a ring of one per thread cannot overflow.
	cancels [vkMaxThreads]uint64
	chead   uint32
	ctail   uint32
	served  uint64
	logged  bool
	lastID  uint64 // the last socket identity handed out
	// gcQueued: a vkNetUnixGC request waits in async (vkNetGCHint
	// queues one at a time; vkNetWait clears it as it hands it over).
	gcQueued bool
}

// vkNetNewID hands out n consecutive socket identities and returns the
// first.
func vkNetNewID(n uint64) uint64 {
	id := vkNet.lastID + 1
	vkNet.lastID += n
	return id
}

// vkNetFDArg reports whether v names a socket fd.
func vkNetFDArg(v uintptr) bool {
	return int64(v) >= 0 && int64(v) < vkMaxFDs && vkFDKind(int32(v)) == fdSocket
}

// vkNetReleaseTCP closes the server's endpoint of TCP socket i (any
// other kind: vkNetRelease) without waiting for it, as vkNetPutAsync does
// for a socket an SCM_RIGHTS token held: the server's close of a TCP
// socket never fails and never waits (SO_LINGER's wait is not
// implemented), so close(2) has nothing to learn from it, and a server
// closing every connection it accepted made one more round trip to it per
// connection. The queue is FIFO and taken before any call, so the server
// closes the endpoint before it meets anything on a socket that reuses
// the sid, and a bind or connect after the close finds the address free;
// the new socket's identity keeps late reports and the direct path off
// it. With the queue full, it waits as before. The kernel lock is held.
func vkNetReleaseTCP(i int32, f *vkFile) uintptr {
	if !f.sock.tcp || !vkNet.attached || vkNetAsyncFull() {
		return vkNetRelease(i)
	}
	vkNetAsyncPush(vkNetMsg{nr: 3, args: [6]uint64{uint64(i)}, newFD: -1})
	return 0
}

// vkNetRelease closes socket sid i in the server: its description's last
// reference went (vkFilePut, kernel lock held).
func vkNetRelease(i int32) uintptr {
	if !vkNet.attached {
		return 0
	}
	var msg vkNetMsg
	msg.nr = 3
	msg.args[0] = uint64(i)
	msg.newFD = -1
	var rep vkNetReply
	return uintptr(vkNetForward(&msg, &rep))
}

func vkNetSyscall(nr uint64, a [6]uintptr, canBlock bool) uintptr {
	var sock *vkFile
	sid := int32(-1)          // the sid (description index) of the fd argument
	if nr != 41 && nr != 53 { // everything but socket and socketpair names an fd
		fd := int64(a[0])
		if fd < 0 || fd >= vkMaxFDs {
			return vkErr(vkEBADF)
		}
		sid = vkFDIndex(int32(fd)) // once: a close on another CPU may empty the slot
		if sid < 0 {
			return vkErr(vkEBADF)
		}
		sock = vkFileAt(sid)
		if sock.kind != fdSocket {
			return vkErr(vkENOTSOCK)
		}
	}
	switch nr {
	case 5: // fstat: a socket, as Linux describes one
		if !vkUserOK(a[1], 144, true) {
			return vkErr(vkEFAULT)
		}
		st := (*[18]uint64)(unsafe.Pointer(a[1]))
		*st = [18]uint64{}
		st[0] = 0x5603      // st_dev
		st[1] = uint64(sid) // st_ino: the same for every dup
		st[2] = 1           // st_nlink
		st[3] = 0o140777    // st_mode (S_IFSOCK), st_uid 0
		st[7] = 4096        // st_blksize (after st_rdev, st_size)
		return 0
	case 17, 18: // pread64, pwrite64
		return vkErr(vkESPIPE)
	}
	if e := vkNetCheck(nr, a); e != 0 {
		return vkErr(e)
	}
	if !vkNet.attached {
		if !vkNet.logged {
			vkNet.logged = true
			vkPrint("velocity: socket call without a network stack in this image (it does not use package net) -> EAFNOSUPPORT\n")
		}
		return vkErr(vkEAFNOSUPPORT)
	}
	switch nr {
	case 41:
		return vkNetSocket(a)
	case 53:
		return vkNetSocketpair(a)
	case 51, 52: // getsockname, getpeername
		n := &sock.sock.names
		src, l := n.local[:], n.localLen
		if nr == 52 {
			src, l = n.remote[:], n.remoteLen
			if l == 0 && sock.sock.family != 16 { // netlink: the kernel, port 0
				return vkErr(vkENOTCONN)
			}
		}
		if l == 0 { // never bound: the family and zeros, as Linux says
			l = 16
			switch sock.sock.family {
			case 10:
				l = 28
			case 1: // AF_UNIX: the family alone (an unnamed socket)
				l = 2
			case 16: // AF_NETLINK: struct sockaddr_nl, port 0
				l = 12
			}
			var zero [28]byte
			zero[0] = byte(sock.sock.family)
			src = zero[:]
		}
		lenp := (*int32)(unsafe.Pointer(a[2]))
		c := uintptr(*lenp)
		if c > uintptr(l) {
			c = uintptr(l)
		}
		for i := uintptr(0); i < c; i++ {
			*(*byte)(unsafe.Pointer(a[1] + i)) = src[i]
		}
		*lenp = int32(l)
		return 0
	}
	return vkNetCall(nr, a, sock, sid, canBlock)
}

// vkNetCall forwards a checked call on socket sid (its description, sock)
// to the server, sleeps until answered, and records what the reply says
// of the socket. a[0] is not read: the server gets the sid in its place.
// Besides vkNetSyscall, sendfile and splice (vk_splice.go) call it with a
// kernel buffer in a[1], which the server reads or writes as it would a
// caller's (one address space; the kernel keeps the buffer until the
// answer comes).
func vkNetCall(nr uint64, a [6]uintptr, sock *vkFile, sid int32, canBlock bool) uintptr {
	if !canBlock {
		return vkErr(vkEAGAIN)
	}
	var msg vkNetMsg
	msg.nr = nr
	for i := range a {
		msg.args[i] = uint64(a[i])
	}
	msg.args[0] = uint64(sid) // the server knows the socket by its sid
	msg.newFD = -1
	if sock.nonblock {
		msg.flags |= vkNetNonblock
	}
	// accept makes a description now, whose index names the new socket;
	// it gets an fd once the server has accepted.
	nid := int32(-1)
	var nf *vkFile
	if nr == 43 || nr == 288 { // accept, accept4
		if nid, nf = vkFileAlloc(fdSocket); nid < 0 {
			return vkErr(vkENFILE)
		}
		msg.newFD = int64(nid)
		// The identity is the new description's from now on: the
		// server's events for the new socket may arrive before this
		// call's reply.
		nf.sock.id = vkNetNewID(1)
		nf.sock.family = sock.sock.family
		nf.sock.tcp = sock.sock.tcp
		msg.sockID = nf.sock.id
	}
	// SCM_RIGHTS (vk_netrights.go): references that travel with the data.
	var rights [vkSCMMaxFD]int32
	nrights := 0
	var ctl, clen uintptr // recvmsg's control buffer, as the caller gave it
	if sock.sock.family == 16 {
		// Netlink: a send carries its sender's credentials, which a
		// receiver with SO_PASSCRED reads (Linux's NETLINK_CREDS).
		msg.cred = [3]uint32{1, vkCred.uid, vkCred.gid}
		msg.credFlags = vkNetCredSet
	}
	if sock.sock.family == 1 {
		// SO_PASSCRED: the sender's credentials, for the server to attach
		// to what it sends when either end asks for them.
		msg.cred = [3]uint32{1, vkCred.uid, vkCred.gid}
		msg.euid, msg.egid = vkCred.euid, vkCred.egid
		msg.credFlags = vkNetCredSet
		switch nr {
		case 46: // sendmsg
			n, e := vkNetRightsIn(a[1], &rights, &msg)
			if e != 0 {
				return vkErr(e)
			}
			nrights = n
			msg.rights, msg.nrights = uint64(uintptr(unsafe.Pointer(&rights))), uint64(n)
		case 0, 19, 45, 47: // read, readv, recvfrom, recvmsg
			if nr == 47 {
				h := (*[7]uint64)(unsafe.Pointer(a[1]))
				ctl, clen = uintptr(h[4]), uintptr(h[5])
			}
			msg.rights, msg.nrights = uint64(uintptr(unsafe.Pointer(&rights))), vkSCMMaxFD
		}
	}
	vkFileRef(sid) // the call keeps its socket if the fd is closed meanwhile
	var rep vkNetReply
	r := vkNetForward(&msg, &rep)
	if nr == 46 && nrights > 0 && rep.rights == 0 {
		for j := 0; j < nrights; j++ { // not sent: the references stay here
			vkFilePut(rights[j])
		}
	}
	if msg.rights != 0 && nr != 46 && rep.rights > 0 {
		k := int(rep.rights)
		if k > vkSCMMaxFD {
			k = vkSCMMaxFD // cannot happen: the server fills at most nrights
		}
		if nr == 47 && r >= 0 {
			vkNetRightsOut(a[1], ctl, clen, uintptr(rep.ctl), &rights, k, a[2]&vkMsgCmsgCloexec != 0)
		} else {
			for j := 0; j < k; j++ { // no control buffer: closed, as on Linux
				vkFilePut(rights[j])
			}
		}
	}
	if rep.addrOK != 0 {
		sock.sock.names = rep.names
	}
	if rep.readyOK != 0 {
		vkNetReady(sid, rep.ready, 1, rep.readySeq, sock.sock.id, 0)
	}
	if nid >= 0 {
		if r < 0 {
			vkFileUnalloc(nid)
		} else {
			flags := uintptr(0)
			if nr == 288 {
				flags = a[3]
			}
			names := &rep.names2
			if rep.addrOK == 0 {
				names = nil
			}
			r = vkNetAcceptDone(nid, nf, flags, rep.ready2, rep.ready2Seq, names)
		}
	}
	vkFilePut(sid)
	return uintptr(r)
}

// vkNetSocket serves socket(2) without waiting for the server (see the
// file comment): it checks what Linux checks, reserves the fd, and queues
// the creation.
func vkNetSocket(a [6]uintptr) uintptr {
	domain, typ, proto := a[0], a[1], a[2]
	// Linux's order: the flags in the type, a family number beyond
	// AF_MAX, a type beyond SOCK_MAX, then whether the family exists.
	if typ&^(0xf|oNonblock|0o2000000) != 0 {
		return vkErr(vkEINVAL)
	}
	if domain >= 46 {
		return vkErr(vkEAFNOSUPPORT)
	}
	if typ&0xf >= 11 {
		return vkErr(vkEINVAL)
	}
	if domain != 1 && domain != 2 && domain != 10 && domain != 16 {
		return vkErr(vkEAFNOSUPPORT)
	}
	if domain == 1 {
		if e := vkNetUnixType(typ, proto); e != 0 {
			return vkErr(e)
		}
	} else if domain == 16 {
		if e := vkNetNetlinkType(typ, proto); e != 0 {
			return vkErr(e)
		}
	} else {
		switch typ & 0xf {
		case 1: // SOCK_STREAM: TCP
			if proto != 0 && proto != 6 {
				return vkErr(vkEPROTONOSUPPORT)
			}
		case 2: // SOCK_DGRAM: UDP, or ICMP echo ("ping") sockets
			if proto != 0 && proto != 17 && !(proto == 1 && domain == 2) && !(proto == 58 && domain == 10) {
				return vkErr(vkEPROTONOSUPPORT)
			}
		case 3: // SOCK_RAW: any IP protocol but 0 (the caller has CAP_NET_RAW: root)
			if proto >= 263 { // IPPROTO_MAX
				return vkErr(vkEINVAL)
			}
			if proto == 0 {
				return vkErr(vkEPROTONOSUPPORT)
			}
		default:
			return vkErr(vkESOCKTNOSUPPORT)
		}
	}
	if vkNetAsyncFull() {
		return vkErr(vkENOBUFS) // the server is that far behind
	}
	fd, f, e := vkFDNew(fdSocket, typ&oCloexec != 0)
	if fd < 0 {
		return vkErr(e)
	}
	f.nonblock = typ&oNonblock != 0
	f.flags = 2
	f.sock.family = int32(domain)
	if domain != 1 && domain != 16 && typ&0xf == 1 {
		f.sock.tcp = true
	}
	f.sock.id = vkNetNewID(1)
	vkNetAsyncPush(vkNetMsg{nr: 41, args: [6]uint64{uint64(domain), uint64(typ), uint64(proto)}, newFD: int64(f.idx), sockID: f.sock.id})
	return uintptr(fd)
}

// vkNetUnixType checks an AF_UNIX socket's type and protocol as Linux
// does: stream, datagram (SOCK_RAW is taken as datagram) and seqpacket,
// protocol 0 or PF_UNIX.
func vkNetUnixType(typ, proto uintptr) int {
	if proto != 0 && proto != 1 {
		return vkEPROTONOSUPPORT
	}
	switch typ & 0xf {
	case 1, 2, 3, 5:
		return 0
	}
	return vkESOCKTNOSUPPORT
}

// vkNetNetlinkType checks an AF_NETLINK socket's type and protocol as
// Linux does: a type beyond SOCK_PACKET is EINVAL, raw and datagram are
// the netlink types, and only NETLINK_ROUTE (0) is served
// (netstack/netlink.go); another protocol is EPROTONOSUPPORT, Linux's
// answer for one whose kernel side is absent.
func vkNetNetlinkType(typ, proto uintptr) int {
	t := typ & 0xf
	if t >= 11 { // SOCK_MAX
		return vkEINVAL
	}
	if t != 2 && t != 3 {
		return vkESOCKTNOSUPPORT
	}
	if proto != 0 {
		return vkEPROTONOSUPPORT
	}
	return 0
}

// vkNetSocketpair serves socketpair(2) like socket(2): both fds are
// reserved and named (unnamed AF_UNIX sockets, each the other's peer) now,
// and one asynchronous create makes the connected pair in the server.
func vkNetSocketpair(a [6]uintptr) uintptr {
	domain, typ, proto := a[0], a[1], a[2]
	if domain == 2 || domain == 10 {
		return vkErr(vkEOPNOTSUPP)
	}
	if domain == 16 { // the socket could be made, the pair cannot
		if typ&^(0xf|oNonblock|0o2000000) != 0 {
			return vkErr(vkEINVAL)
		}
		if e := vkNetNetlinkType(typ, proto); e != 0 {
			return vkErr(e)
		}
		return vkErr(vkEOPNOTSUPP)
	}
	if domain != 1 {
		return vkErr(vkEAFNOSUPPORT)
	}
	if typ&^(0xf|oNonblock|0o2000000) != 0 {
		return vkErr(vkEINVAL)
	}
	if e := vkNetUnixType(typ, proto); e != 0 {
		return vkErr(e)
	}
	if vkNetAsyncFull() {
		return vkErr(vkENOBUFS)
	}
	cloexec := typ&oCloexec != 0
	fd0, f0, e := vkFDNew(fdSocket, cloexec)
	if fd0 < 0 {
		return vkErr(e)
	}
	fd1, f1, e := vkFDNew(fdSocket, cloexec)
	if fd1 < 0 {
		// Never known to the server: free it without a close request.
		// Its one reference is fd0's slot, which no close without the
		// kernel lock empties (vkCloseFast leaves a socket's last fd to
		// the locked path).
		vkSpinLock(&vkFDLock)
		vkFDs[fd0] = vkFDSlot{}
		vkSpinUnlock(&vkFDLock)
		vkFileUnalloc(f0.idx)
		return vkErr(e)
	}
	id := vkNetNewID(2)
	for i, f := range [2]*vkFile{f0, f1} {
		f.sock.id = id + uint64(i)
		f.nonblock = typ&oNonblock != 0
		f.flags = 2
		f.sock.family = 1
		f.sock.names.local[0], f.sock.names.localLen = 1, 2
		f.sock.names.remote[0], f.sock.names.remoteLen = 1, 2
	}
	sv := (*[2]int32)(unsafe.Pointer(a[3]))
	sv[0], sv[1] = fd0, fd1
	vkNetAsyncPush(vkNetMsg{nr: 53, args: [6]uint64{uint64(domain), uint64(typ), uint64(proto)}, newFD: int64(f0.idx) | int64(f1.idx)<<32, sockID: id,
		cred: [3]uint32{1, vkCred.uid, vkCred.gid}, euid: vkCred.euid, egid: vkCred.egid, credFlags: vkNetCredSet}) // SO_PEERCRED of both ends
	return 0
}

// vkNetAsyncFull reports whether the asynchronous queue has no room: the
// server is that far behind.
func vkNetAsyncFull() bool { return vkNet.atail-vkNet.ahead == vkNetAsync }

// vkNetAsyncPush queues m for the server with no caller waiting for an
// answer (creations, closes from tokens, the unix collector's request)
// and wakes the server. The caller holds the kernel lock and, where the
// queue can be full, has checked that it is not.
func vkNetAsyncPush(m vkNetMsg) {
	vkAssertHeld(&vkBKL)
	vkNet.async[vkNet.atail%vkNetAsync] = m
	vkNet.atail++
	switch m.nr {
	case 3: // a close
		vkNetSidQueued(m.args[0])
	case 41: // a creation
		vkNetSidQueued(uint64(m.newFD))
	case 53: // socketpair's two creations
		vkNetSidQueued(uint64(m.newFD) & 0xffffffff)
		vkNetSidQueued(uint64(m.newFD) >> 32)
	}
	vkNetWake()
}

// vkNetWake wakes the server for queued work: its thread, if it blocks in
// velocity_net_wait, and its doorbell, if it waits in Go's netpoller.
// The kernel lock is held; vkFDLock is not.
func vkNetWake() {
	vkFutexWake(uintptr(unsafe.Pointer(&vkNet)), 1)
	if d := vkNet.doorbell; d != 0 {
		vkEventfdSignal(vkFileAt(d - 1))
	}
}

// vkNetSetDoorbell makes the eventfd at fd the server's doorbell
// (velocity_net_attach). The kernel lock is held.
func vkNetSetDoorbell(fd int32) uintptr {
	f := vkFD(fd, fdEventfd)
	if f == nil {
		return vkErr(vkEBADF)
	}
	if vkNet.doorbell != 0 {
		return vkErr(vkEBUSY) // one server, attached once
	}
	vkNet.doorbell = vkFileHold(f) + 1
	return 0
}

// vkNetSidQueued records that the message just queued concerns sid.
func vkNetSidQueued(sid uint64) {
	if sid < vkMaxFiles {
		atomic.Store64(&vkNet.sidAsync[sid], vkNet.atail)
	}
}

// vkNetSidBusy reports whether the server may still act on an
// asynchronous message about sid (see vkNet.adone). The two counters
// are stored atomically, so the direct path (vkNetDirectFD) asks without
// the kernel lock as well.
//
//go:nosplit
func vkNetSidBusy(sid int32) bool {
	return sid >= 0 && sid < vkMaxFiles && atomic.Load64(&vkNet.sidAsync[sid]) > atomic.Load64(&vkNet.adone)
}

// vkNetForward queues msg, wakes the server and sleeps until it answers.
//
// A signal for the caller withdraws a call the server has not taken yet
// (it is made again after the handler) and abandons one that waits for
// its condition, except a release (vkNetRelease): its fd is gone before
// it is queued, so close(2) cannot be made again, and a withdrawn release
// left the server's endpoint open under a sid the kernel then reused
// (the peer of an AF_UNIX socket never read EOF), while close answered
// ERESTARTSYS and was made again on an fd another thread may have been
// given meanwhile (tests/net TestCloseUnderSignals). Linux's close is
// not restarted either. A release waits with the signal pending; the
// server never waits in a close, so the wait is short.
func vkNetForward(msg *vkNetMsg, rep *vkNetReply) int64 {
	release := msg.nr == 3 // only vkNetRelease forwards a close
	t := vkCur()
	s := &vkNet.slots[t.tid-1]
	s.seq++
	msg.id = uint64(t.tid)<<32 | uint64(s.seq)
	s.msg = *msg
	s.rep = uintptr(unsafe.Pointer(rep))
	s.state = 1
	s.moved = 0
	if !s.inq { // else a withdrawn request's entry, still queued, serves this one
		vkNet.queue[vkNet.tail%vkNetQueue] = t.tid
		vkNet.tail++
		s.inq = true
	}
	vkNetWake()
	for s.state != 3 {
		t.waitAddr = uintptr(unsafe.Pointer(s))
		if t.pending&^t.sigmask == 0 {
			vkBlockIntr(0)
			continue
		}
		if release {
			vkBlock(0) // not interruptible: the answer wakes it
			continue
		}
		// A signal to take: the handler must run now, as on Linux, where
		// a blocking socket call gives up its wait (see the file comment).
		switch s.state {
		case 1: // not taken yet: withdrawn; vkNetWait skips it
			s.state, s.rep = 0, 0
			return -vkERESTARTSYS
		case 4: // the server waits for the call's condition: abandoned
			r := s.moved
			if r <= 0 {
				// Linux's sock_intr_errno: a call with a timeout is
				// not made again after the handler.
				r = -vkERESTARTSYS
				if s.timed {
					r = -vkEINTR
				}
			} else if msg.nr == 46 && msg.nrights > 0 {
				// A sendmsg's SCM_RIGHTS went with its first bytes: the
				// server holds the references now (vkNetCall).
				rep.rights = uint32(msg.nrights)
			}
			vkNet.cancels[vkNet.ctail%vkMaxThreads] = s.msg.id
			vkNet.ctail++
			s.state, s.rep = 0, 0
			vkNetWake()
			return r
		}
		// The server is working on it and does not wait: wait for its
		// answer, or for vkNetHold to say it waits, with the signal
		// pending (an interruptible sleep would not sleep).
		vkBlock(0)
	}
	s.state = 0
	s.rep = 0
	return s.res
}

// vkNetHold is the server's 0x5616 (id, op, moved, flags): op 0 says that
// taken call id now waits for its condition, having moved moved bytes so
// far (its caller may abandon it from now on; flags 1: the call has a
// timeout); op 1 takes it back before the server touches the caller's
// memory again, and fails with ECANCELED if the caller has abandoned it,
// when the server must drop the call.
func vkNetHold(id uint64, op uintptr, moved int64, flags uintptr) uintptr {
	tid := int32(id >> 32)
	if tid < 1 || tid > vkMaxThreads {
		return vkErr(vkEINVAL)
	}
	s := &vkNet.slots[tid-1]
	switch op {
	case 0:
		if s.state != 2 || s.seq != uint32(id) {
			return vkErr(vkEINVAL) // only a call the server works on can wait
		}
		s.moved = moved
		s.timed = flags&1 != 0
		s.state = 4
		vkFutexWake(uintptr(unsafe.Pointer(s)), 1) // a caller with a signal abandons it now
		return 0
	case 1:
		if s.state != 4 || s.seq != uint32(id) {
			return vkErr(vkECANCELED)
		}
		s.state = 2
		return 0
	}
	return vkErr(vkEINVAL)
}

// vkNetWait is the server's side: sleep until a request is queued, then
// copy up to max of them to buf. With vkNetWaitNonblock it does not
// sleep (EAGAIN): a server with a doorbell waits on that, in Go's
// netpoller (vkNetWake).
func vkNetWait(buf, max, flags uintptr, canBlock bool) uintptr {
	if max == 0 || max > vkNetQueue || flags&^vkNetWaitNonblock != 0 {
		return vkErr(vkEINVAL)
	}
	if flags&vkNetWaitNonblock != 0 {
		canBlock = false // the server waits on its doorbell instead
	}
	if !vkUserOK(buf, max*unsafe.Sizeof(vkNetMsg{}), true) {
		return vkErr(vkEFAULT)
	}
	atomic.Store64(&vkNet.adone, vkNet.ahead) // the last batch's asynchronous messages are done
	for vkNet.head == vkNet.tail && vkNet.ahead == vkNet.atail && vkNet.chead == vkNet.ctail {
		if !canBlock {
			return vkErr(vkEAGAIN)
		}
		t := vkCur()
		t.waitAddr = uintptr(unsafe.Pointer(&vkNet))
		vkBlockIntr(0)
		if t.pending&^t.sigmask != 0 {
			// The handler runs, then the wait is made again (Go's
			// handlers have SA_RESTART) without the server's goroutine
			// leaving the system call. With EINTR it left and came
			// back after every signal; AllThreadsSyscall signals every
			// thread after each stop-the-world, so the goroutine
			// re-entered the call just as the next one began, in the
			// window where Go 1.26's stop-the-world neither takes its P
			// nor is given it, and waited for sysmon: a minute's stall
			// in std syscall TestAllThreadsSyscallBlockedSyscall (seen
			// in the NMI dump's Go view: "stopping the world (waiting
			// for 1 Ps)", that P held by the server in this call).
			return vkErr(vkERESTARTSYS)
		}
	}
	n := uintptr(0)
	// Cancels first, each as a message with no id (nobody waits for an
	// answer) naming the request to give up in args[0]; then creations:
	// a call on a new socket is queued after its creation.
	for vkNet.chead != vkNet.ctail && n < max {
		m := (*vkNetMsg)(unsafe.Pointer(buf + n*unsafe.Sizeof(vkNetMsg{})))
		*m = vkNetMsg{nr: vkNetCancel}
		m.args[0] = vkNet.cancels[vkNet.chead%vkMaxThreads]
		vkNet.chead++
		n++
	}
	for vkNet.ahead != vkNet.atail && n < max {
		m := &vkNet.async[vkNet.ahead%vkNetAsync]
		if m.nr == vkNetUnixGC {
			vkNet.gcQueued = false
		}
		*(*vkNetMsg)(unsafe.Pointer(buf + n*unsafe.Sizeof(vkNetMsg{}))) = *m
		vkNet.ahead++
		n++
	}
	for vkNet.head != vkNet.tail && n < max {
		tid := vkNet.queue[vkNet.head%vkNetQueue]
		vkNet.head++
		s := &vkNet.slots[tid-1]
		s.inq = false
		if s.state != 1 {
			continue // withdrawn (vkNetForward)
		}
		s.state = 2
		*(*vkNetMsg)(unsafe.Pointer(buf + n*unsafe.Sizeof(vkNetMsg{}))) = s.msg
		n++
	}
	vkNet.served += uint64(n)
	return n
}

// vkNetAnswer wakes the callers of n answered requests.
func vkNetAnswer(buf, n uintptr) uintptr {
	if n > vkNetQueue {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(buf, n*unsafe.Sizeof(vkNetReply{}), false) {
		return vkErr(vkEFAULT)
	}
	for i := uintptr(0); i < n; i++ {
		rep := (*vkNetReply)(unsafe.Pointer(buf + i*unsafe.Sizeof(vkNetReply{})))
		tid := int32(rep.id >> 32)
		if tid < 1 || tid > vkMaxThreads {
			return vkErr(vkEINVAL)
		}
		s := &vkNet.slots[tid-1]
		if s.state != 2 || s.seq != uint32(rep.id) {
			continue // not in flight: a stale or forged answer is dropped
		}
		s.res = rep.result
		*(*vkNetReply)(unsafe.Pointer(s.rep)) = *rep // no pointers: a plain copy
		s.state = 3
		vkFutexWake(uintptr(unsafe.Pointer(s)), 1)
	}
	return 0
}

// vkNetReady records readiness reported by the server for socket sid (a
// description index) whose identity is id: mode 0 adds events (something
// happened), mode 1 sets the level. Description indices are reused once a
// socket is closed, identities never: a report whose identity is not the
// description's is about a socket closed since (the server's event
// callbacks and the direct path race with close) and is dropped.
//
// A socket's level (ready, readySeq) is vkFDLock's, as the epoll state it
// feeds, so this runs without the kernel lock (vkSyscallFine): the
// server and the direct path report twice per request of a small HTTP
// exchange. Under vkFDLock a description is neither allocated nor freed,
// so its kind and identity are the ones a report must match.
//
// An event (mode 0) with vkNetReadyDeliver set comes from a goroutine of
// the program that will hand it to the runtime's own netpoller itself
// (runtime/vk_netwake.go, vkNetpollDeliver): the runtime's epoll record
// for the socket is then not queued and its waiter not woken; the
// record's data (the runtime's pollDesc) and the events are written to
// out, two 8-byte words, 16-aligned (both 0 if there is no such record,
// and the event went the usual way). out is written through its
// physical address (vkUserPA): the caller comes from the fine-grained
// path, where a page fault could not be resolved. ok false means out is
// not resident: nothing was done, and the locked path retries.
func vkNetReady(sid int32, ev uint32, mode uintptr, seq uint64, id uint64, out uintptr) (r uintptr, ok bool) {
	var dst uintptr
	if mode&vkNetReadyDeliver != 0 {
		if out&15 != 0 {
			return vkErr(vkEINVAL), true
		}
		if dst, ok = vkUserPA(out, true); !ok {
			return 0, false
		}
	}
	vkSpinLock(&vkFDLock)
	data, got := uint64(0), uint32(0)
	r = vkNetReadyLocked(sid, ev, mode, seq, id, &data, &got)
	vkSpinUnlock(&vkFDLock)
	if dst != 0 {
		*(*uint64)(unsafe.Pointer(dst)) = data
		*(*uint64)(unsafe.Pointer(dst + 8)) = uint64(got)
	}
	return r, true
}

// vkNetReadyDeliver is vkNetReady's mode bit for an event its caller
// delivers to the runtime's netpoller in the process.
const vkNetReadyDeliver = 2

func vkNetReadyLocked(sid int32, ev uint32, mode uintptr, seq uint64, id uint64, data *uint64, got *uint32) uintptr {
	vkAssertHeld(&vkFDLock)
	if sid < 0 || sid >= vkFileCap || vkFileAt(sid).kind != fdSocket {
		return vkErr(vkEBADF)
	}
	f := vkFileAt(sid)
	if atomic.Load64(&f.sock.id) != id {
		return 0
	}
	if seq < f.readySeq {
		return 0 // older than what the kernel has: stale
	}
	f.readySeq = seq
	if mode&^vkNetReadyDeliver == 0 {
		atomic.Or(&f.ready, ev)
		if mode&vkNetReadyDeliver != 0 {
			// The runtime's netpoller's instance (netpoll_epoll.go).
			*data, *got = vkNotifyDeliverLocked(f, vkFDIndex(epfd)+1)
			return 0
		}
		vkNotifyLocked(f) // every event is an edge, as on Linux
		return 0
	}
	old := f.ready
	atomic.Store(&f.ready, ev)
	if ev&^old != 0 {
		vkNotifyLocked(f)
	}
	return 0
}

// vkNetCheck validates the user memory a socket call names, as Linux
// does before it acts: EFAULT for a bad pointer, EINVAL for a bad length.
func vkNetCheck(nr uint64, a [6]uintptr) int {
	switch nr {
	case 16: // ioctl: FIONREAD or SIOCOUTQ, an int written back
		if !vkUserOK(a[2], 4, true) {
			return vkEFAULT
		}
	case 0, 45: // read, recvfrom
		if !vkUserOK(a[1], a[2], true) {
			return vkEFAULT
		}
		if nr == 45 && a[4] != 0 {
			return vkNetCheckAddrOut(a[4], a[5])
		}
	case 1, 44: // write, sendto
		if !vkUserOK(a[1], a[2], false) {
			return vkEFAULT
		}
		if nr == 44 && a[4] != 0 {
			return vkNetCheckAddrIn(a[4], a[5])
		}
	case 19, 20: // readv, writev
		return vkNetCheckIov(a[1], a[2], nr == 19, vkEINVAL)
	case 42, 49: // connect, bind
		return vkNetCheckAddrIn(a[1], a[2])
	case 43, 288, 51, 52: // accept, accept4, getsockname, getpeername
		if a[1] != 0 || nr == 51 || nr == 52 {
			return vkNetCheckAddrOut(a[1], a[2])
		}
	case 46, 47: // sendmsg, recvmsg
		in := nr == 47
		if !vkUserOK(a[1], 56, in) {
			return vkEFAULT
		}
		h := (*[7]uint64)(unsafe.Pointer(a[1]))
		name, namelen := uintptr(h[0]), uintptr(uint32(h[1]))
		if name != 0 && namelen != 0 {
			if int32(namelen) < 0 {
				return vkEINVAL
			}
			if !in && namelen > 128 {
				return vkEINVAL
			}
			if !vkUserOK(name, namelen, in) {
				return vkEFAULT
			}
		}
		if e := vkNetCheckIov(uintptr(h[2]), uintptr(h[3]), in, vkEMSGSIZE); e != 0 {
			return e
		}
		if !in && h[5] > 0x7fffffff {
			return vkENOBUFS // Linux: sendmsg's msg_controllen past INT_MAX
		}
		if ctl, clen := uintptr(h[4]), uintptr(h[5]); ctl != 0 && clen != 0 && !vkUserOK(ctl, clen, in) {
			return vkEFAULT
		}
	case 53: // socketpair
		if !vkUserOK(a[3], 8, true) {
			return vkEFAULT
		}
	case 54: // setsockopt
		if int32(a[4]) < 0 {
			return vkEINVAL
		}
		if a[4] != 0 && !vkUserOK(a[3], uintptr(uint32(a[4])), false) {
			return vkEFAULT
		}
	case 55: // getsockopt
		if !vkUserOK(a[4], 4, true) {
			return vkEFAULT
		}
		n := *(*int32)(unsafe.Pointer(a[4]))
		if n < 0 {
			return vkEINVAL
		}
		if n > 0 && !vkUserOK(a[3], uintptr(n), true) {
			return vkEFAULT
		}
	}
	return 0
}

func vkNetCheckAddrIn(addr, n uintptr) int {
	if int32(n) < 0 || n > 128 {
		return vkEINVAL
	}
	if n > 0 && !vkUserOK(addr, n, false) {
		return vkEFAULT
	}
	return 0
}

// vkNetCheckAddrOut checks a (sockaddr *, socklen_t *) result pair.
func vkNetCheckAddrOut(addr, lenp uintptr) int {
	if !vkUserOK(lenp, 4, true) {
		return vkEFAULT
	}
	n := *(*int32)(unsafe.Pointer(lenp))
	if n < 0 {
		return vkEINVAL
	}
	if n > 0 && !vkUserOK(addr, uintptr(n), true) {
		return vkEFAULT
	}
	return 0
}

// vkNetCheckIov checks an iovec array; more than IOV_MAX (1024) entries
// is tooMany: EINVAL for readv and writev, EMSGSIZE for sendmsg and
// recvmsg, as on Linux.
func vkNetCheckIov(iov, cnt uintptr, write bool, tooMany int) int {
	if cnt > 1024 {
		return tooMany
	}
	if !vkUserOK(iov, cnt*16, false) {
		return vkEFAULT
	}
	for i := uintptr(0); i < cnt; i++ {
		base := *(*uintptr)(unsafe.Pointer(iov + i*16))
		n := *(*uintptr)(unsafe.Pointer(iov + i*16 + 8))
		if int64(n) < 0 {
			return vkEINVAL
		}
		if !vkUserOK(base, n, write) {
			return vkEFAULT
		}
	}
	return 0
}
