//go:build velocity

// Velocity kernel: SCM_RIGHTS, passing open file descriptions over
// AF_UNIX sockets, and SCM_CREDENTIALS.
//
// The fd table is the kernel's, so the kernel does everything that
// touches it; the netstack server (netstack/unix.go) only carries tokens
// with the data: description indexes on which the kernel holds a
// reference.
//
//   - sendmsg: vkNetRightsIn reads the control messages as Linux's
//     __scm_send does (EINVAL for a malformed one or an unknown SOL_SOCKET
//     type, EBADF for a closed fd, EINVAL past SCM_MAX_FD fds in all; the
//     walk and its checks are kernel/cmsg's) and takes a reference on
//     each description, before anything is sent.
//     vkNetCall hands the indexes to the server (vkNetMsg.rights), which
//     queues them with the data; the reply says whether it took them
//     (vkNetReply.rights), and if not the kernel drops them.
//   - recvmsg, read, readv, recvfrom: vkNetCall gives the server a buffer
//     for up to SCM_MAX_FD tokens; the server fills it with the references
//     of the message it read (for MSG_PEEK it first asks the kernel for
//     new ones, vkNetRights op 1). vkNetRightsOut installs as many as the
//     caller's control buffer holds (lowest free fds, FD_CLOEXEC with
//     MSG_CMSG_CLOEXEC), writes the cmsg in Linux's layout, closes the
//     rest and sets MSG_CTRUNC, as Linux's scm_detach_fds; the calls
//     without a control buffer close them all.
//   - A socket closed with tokens still queued: the server gives them
//     back with vkNetRights op 0 (0x5615). That runs on a server thread,
//     which must never wait for the server: a socket whose last reference
//     goes that way is closed by an asynchronous request (vkNetPutAsync)
//     rather than vkNetRelease's synchronous one.
//
// SCM_CREDENTIALS: vkNetRightsIn checks a sendmsg's struct ucred as
// Linux does (vkNetCredCheck) and hands it to the server in
// vkNetMsg.scm; every AF_UNIX call also carries the caller's own pid,
// uid and gid (vkNetMsg.cred), which the server attaches to what it
// sends when either end has SO_PASSCRED. The server keeps SO_PASSCRED,
// and writes the SCM_CREDENTIALS message at the start of recvmsg's
// control buffer itself (netstack/unix_calls.go); vkNetReply.ctl says
// how many bytes that took, and vkNetRightsOut puts SCM_RIGHTS after
// them, as Linux's scm_recv orders the two.
//
// A socket sent over itself (or a cycle of them) keeps its own
// reference: only the server can tell, since it holds the queues, so it
// collects such sockets as Linux's unix garbage collector does
// (netstack/unix_gc.go). The kernel's part: vkNetRights op 2 gives the
// server the reference counts of the sockets its tokens name, and
// closing an fd of an AF_UNIX socket that keeps other references asks
// the server to look (vkNetGCHint), as the release of a socket does on
// the server's side.

package runtime

import "unsafe"

const (
	vkCapSysAdmin    = 21
	vkSCMMaxFD       = cmSCMMaxFD // Linux's SCM_MAX_FD (kernel/cmsg)
	vkSysNetRights   = 0x5615
	vkMsgCtrunc      = 0x8
	vkMsgPeek        = 0x2
	vkMsgCmsgCloexec = 0x40000000
)

// vkNetRightsIn reads sendmsg's control data (hdr, a checked struct
// msghdr) and takes a reference on the description of every fd an
// SCM_RIGHTS message names, into rights; it returns how many, or an
// errno with no reference kept. An SCM_CREDENTIALS message, once
// checked (vkNetCredCheck), goes to msg.scm (the last one counts, as in
// Linux).
func vkNetRightsIn(hdr uintptr, rights *[vkSCMMaxFD]int32, msg *vkNetMsg) (int, int) {
	h := (*[7]uint64)(unsafe.Pointer(hdr))
	ctl, clen := uintptr(h[4]), uintptr(h[5])
	if clen > 0x7fffffff {
		return 0, vkENOBUFS // Linux: msg_controllen past INT_MAX
	}
	if clen != 0 && !vkUserOK(ctl, clen, false) {
		return 0, vkEFAULT
	}
	n := 0
	fail := func(e int) (int, int) {
		for j := 0; j < n; j++ {
			vkFilePut(rights[j])
		}
		return 0, e
	}
	// The framing, CMSG_OK and the count and length checks are
	// kernel/cmsg's; the buffer is the caller's memory, checked above.
	b := unsafe.Slice((*byte)(unsafe.Pointer(ctl)), clen)
	for off := 0; ; {
		m, e := cmNext(b, off, n)
		if e != 0 {
			return fail(e)
		}
		switch m.kind {
		case cmEnd:
			return n, 0
		case cmFDs:
			for j := 0; j < m.fds; j++ {
				i := vkFileGet(cmFD(b, m, j))
				if i < 0 {
					return fail(vkEBADF)
				}
				rights[n] = i
				n++
			}
		case cmCred:
			pid, uid, gid := cmUcred(b, m)
			if e := vkNetCredCheck(pid, uid, gid); e != 0 {
				return fail(e)
			}
			msg.scm = [3]uint32{uint32(pid), uid, gid}
			msg.credFlags |= vkNetCredSCM
		}
		off = m.next
	}
}

// vkNetCredCheck checks the struct ucred of an SCM_CREDENTIALS message as
// Linux's scm_check_creds and __scm_send do: an id of -1 is EINVAL; the
// pid must be the caller's (1, the one process) unless it has
// CAP_SYS_ADMIN, the uid its real, effective or saved one unless
// CAP_SETUID, the gid likewise unless CAP_SETGID (EPERM); and the pid
// must exist (ESRCH): the process or one of its threads.
func vkNetCredCheck(pid int32, uid, gid uint32) int {
	if uid == ^uint32(0) || gid == ^uint32(0) {
		return vkEINVAL
	}
	vkCredInit()
	c := &vkCred
	if pid != 1 && !vkCapable(vkCapSysAdmin) ||
		uid != c.uid && uid != c.euid && uid != c.suid && !vkCapable(vkCapSetuid) ||
		gid != c.gid && gid != c.egid && gid != c.sgid && !vkCapable(vkCapSetgid) {
		return vkEPERM
	}
	if pid != 1 && (pid <= 0 || vkThreadByTID(pid) == nil) {
		return vkESRCH
	}
	return 0
}

// vkNetRightsOut installs the k references in rights for recvmsg (ctl and
// clen: the caller's control buffer as it gave it, hdr its msghdr; the
// server used its first used bytes for an SCM_CREDENTIALS message) and
// drops those that do not fit. A null buffer holds nothing, whatever its
// length (Linux's scm_recv).
func vkNetRightsOut(hdr, ctl, clen, used uintptr, rights *[vkSCMMaxFD]int32, k int, cloexec bool) {
	if ctl == 0 || used > clen {
		used, clen = 0, 0
	}
	ctl, clen = ctl+used, clen-used
	fdmax := cmRightsMax(int(clen))
	i := 0
	for ; i < k && i < fdmax; i++ {
		fd := vkFDInstall(rights[i], 0, cloexec)
		if fd < 0 {
			break // EMFILE: the rest are dropped, as Linux does
		}
		*(*int32)(unsafe.Pointer(ctl + 16 + uintptr(i)*4)) = fd
	}
	for j := i; j < k; j++ {
		vkFilePut(rights[j])
	}
	h := (*[7]uint64)(unsafe.Pointer(hdr))
	if i > 0 {
		// CMSG_LEN and CMSG_SPACE; SOL_SOCKET, SCM_RIGHTS.
		l, cused := cmRightsFit(i, int(clen))
		cmPutHdr(unsafe.Slice((*byte)(unsafe.Pointer(ctl)), clen), l, 1, 1)
		h[5] = uint64(used + uintptr(cused))
	}
	if i < k {
		*(*uint32)(unsafe.Pointer(hdr + 48)) |= vkMsgCtrunc
	}
}

// vkNetRights is the server's 0x5615 (buf, n, op): op 0 drops the
// kernel's references on the n description indexes at buf (tokens of a
// closed socket's queue), op 1 takes one more on each (MSG_PEEK hands the
// caller copies while the queue keeps its own), op 2 replaces each with
// its reference count if it is a socket, else -1 (the unix garbage
// collector's question: is every reference a token?).
func vkNetRights(buf, n, op uintptr) uintptr {
	if n > vkMaxFiles || op > 2 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(buf, n*4, op == 2) {
		return vkErr(vkEFAULT)
	}
	if op == 2 {
		vkSpinLock(&vkFDLock)
		for j := uintptr(0); j < n; j++ {
			p := (*int32)(unsafe.Pointer(buf + j*4))
			r := int32(-1)
			if i := *p; i >= 0 && i < vkFileCap && vkFileAt(i).kind == fdSocket && vkFileAt(i).refs > 0 {
				r = vkFileAt(i).refs
			}
			*p = r
		}
		vkSpinUnlock(&vkFDLock)
		return 0
	}
	for j := uintptr(0); j < n; j++ {
		i := *(*int32)(unsafe.Pointer(buf + j*4))
		if i < 0 || i >= vkFileCap || vkFileAt(i).kind == fdNone || vkFileAt(i).refs <= 0 {
			return vkErr(vkEINVAL) // not a token the kernel handed out
		}
		if op == 1 {
			vkFileRef(i)
		} else {
			vkNetPutAsync(i)
		}
	}
	return 0
}

// vkNetGCHint is told that an fd naming description i is being closed.
// If i is an AF_UNIX socket that other references keep (dups, a call in
// flight, or SCM_RIGHTS tokens queued on some socket), the server is
// asked, once until it has taken the request, to look for sockets that
// only tokens keep alive (netstack/unix_gc.go). A hint: refs is read
// without vkFDLock, under the kernel lock, while the fd still holds its
// reference. The caller holds the kernel lock.
func vkNetGCHint(i int32) {
	vkAssertHeld(&vkBKL)
	f := vkFileAt(i)
	if f.kind != fdSocket || f.sock.family != 1 || f.refs <= 1 || vkNet.gcQueued || !vkNet.attached ||
		vkNetAsyncFull() {
		return
	}
	vkNet.gcQueued = true
	vkNetAsyncPush(vkNetMsg{nr: vkNetUnixGC})
}

// vkNetPutAsync drops a reference for the server's thread. The caller
// holds the kernel lock. A socket's last reference cannot be released by
// vkFilePut there (vkNetRelease waits for the server: the caller), so its
// close is queued like a creation and the description freed at once: the
// queue is FIFO and taken before any call, so the server closes the old
// endpoint before it meets a new socket with the same sid, and the new
// socket's identity keeps late reports and the direct path off it.
func vkNetPutAsync(i int32) {
	vkSpinLock(&vkFDLock)
	f := vkFileAt(i)
	if f.kind != fdSocket || f.refs > 1 {
		vkSpinUnlock(&vkFDLock)
		vkFilePut(i) // waits for nobody
		return
	}
	if vkNetAsyncFull() {
		// No room to ask for the close: keep the description (and the
		// endpoint) rather than let the sid be reused under it.
		vkSpinUnlock(&vkFDLock)
		vkPrint("velocity: net: close queue full, a socket passed by SCM_RIGHTS leaks\n")
		return
	}
	f.refs = 0
	vkWatchDropAll(i)
	vkFileFree(i)
	vkSpinUnlock(&vkFDLock)
	vkNetAsyncPush(vkNetMsg{nr: 3, args: [6]uint64{uint64(i)}, newFD: -1})
}
