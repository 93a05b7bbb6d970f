//go:build velocity

// Velocity: accept on the direct path.
//
// Through the kernel, accept4 is a round trip to the netstack server: the
// kernel allocates the new socket's description, the server accepts on
// its thread and registers the endpoint under that description's index
// (its sid), and the kernel gives it an fd (vkNetCall). With a new
// connection per request that was the last round trip per connection
// (docs/net.md). The direct path (vk_netdirect.go, netstack/direct.go)
// does the same steps in the calling goroutine, with two short system
// calls that never wait and never reach the server:
//
//  1. reserve (vkNetAcceptReserve): the fd must still name the listener
//     the handler looked at (its identity); the kernel allocates the new
//     description, gives it an identity, the listener's family, and
//     marks it reserved. It has no fd yet, so no other call can name it.
//     Its index is one the server is done with: the kernel's path keeps
//     a sid's life in order by queueing creations and closes ahead of
//     every call, but this registration does not pass that queue, so a
//     sid whose old socket's creation or close the server may not have
//     handled yet is passed over (vkNetSidBusy); were it taken, that
//     close would close the new connection.
//  2. the handler accepts on the listener's endpoint and registers the
//     new endpoint under the sid with that identity. Readiness reports
//     for it may come from now on; they carry the identity and land on
//     the reserved description (vkNetReady), as they do while the
//     kernel's path waits for the server's reply.
//  3. install (vkNetAcceptInstall): the kernel completes the
//     description (vkNetAcceptDone, shared with the kernel's path) and
//     gives it the lowest free fd. EMFILE closes the new socket through
//     the server, as on the kernel's path.
//
// When the accept finds no connection after all (another thread took
// it), cancel (vkNetAcceptCancel) frees the reserved description, which
// holds nothing. All three run under the kernel lock, like every call on
// the kernel's path that allocates descriptions or fds.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

// vkSysNetAccept(op, ...) is the direct path's accept, in three ops.
const vkSysNetAccept = 0x5617

const (
	vkNetAcceptReserve = 0 // (fd, listener identity, *uint64 for the new identity) -> sid
	vkNetAcceptInstall = 1 // (sid, accept4 flags, *vkSockNames, level, level's number) -> fd
	vkNetAcceptCancel  = 2 // (sid) -> 0

	vkESTALE = 116 // reserve: the fd no longer names that listener, or no sid is free of the server's queue
)

func vkCallNetAccept(f *vkFrame, canBlock bool) uintptr {
	switch f.rdi {
	case vkNetAcceptReserve:
		return vkNetAcceptReserveCall(int64(f.rsi), f.rdx, uintptr(f.r10))
	case vkNetAcceptInstall:
		return vkNetAcceptInstallCall(int64(f.rsi), uintptr(f.rdx), uintptr(f.r10), uint32(f.r8), f.r9)
	case vkNetAcceptCancel:
		nf := vkNetReserved(int64(f.rsi))
		if nf == nil {
			return vkErr(vkEINVAL)
		}
		vkFileUnalloc(int32(f.rsi))
		return 0
	}
	return vkErr(vkEINVAL)
}

// vkNetAcceptReserveCall allocates the description of a connection about
// to be accepted on listener fd, which must still be the socket of
// identity lid (ESTALE otherwise: the caller takes the kernel's path). The
// new identity is written to idp; the result is the new sid.
func vkNetAcceptReserveCall(fd int64, lid uint64, idp uintptr) uintptr {
	if fd < 0 || fd >= vkMaxFDs {
		return vkErr(vkEBADF)
	}
	l := vkFDFile(int32(fd)) // once: a close on another CPU may empty the slot
	if l == nil {
		return vkErr(vkEBADF)
	}
	if l.kind != fdSocket {
		return vkErr(vkENOTSOCK)
	}
	if !vkUserOK(idp, 8, true) {
		return vkErr(vkEFAULT)
	}
	if l.sock.id != lid || lid == 0 {
		return vkErr(vkESTALE)
	}
	nid, nf := vkFileAllocSkip(fdSocket, true)
	if nid < 0 {
		return vkErr(vkESTALE) // ENFILE, or every free sid busy: the kernel's path knows which
	}
	nf.sock.id = vkNetNewID(1)
	nf.sock.family = l.sock.family
	nf.sock.tcp = l.sock.tcp
	nf.sock.reserved = true
	*(*uint64)(unsafe.Pointer(idp)) = nf.sock.id
	return uintptr(nid)
}

// vkNetAcceptInstallCall completes reserved description sid with what the
// handler learnt when it registered the endpoint (names, readiness level
// and its number) and gives it an fd.
func vkNetAcceptInstallCall(sid int64, flags, names uintptr, ready uint32, readySeq uint64) uintptr {
	nf := vkNetReserved(sid)
	if nf == nil {
		return vkErr(vkEINVAL)
	}
	if flags&^(oNonblock|oCloexec) != 0 {
		return vkErr(vkEINVAL)
	}
	var n vkSockNames
	if names != 0 {
		if !vkUserOK(names, unsafe.Sizeof(n), false) {
			return vkErr(vkEFAULT)
		}
		n = *(*vkSockNames)(unsafe.Pointer(names))
		if n.localLen > uint32(len(n.local)) || n.remoteLen > uint32(len(n.remote)) {
			return vkErr(vkEINVAL)
		}
	}
	nf.sock.reserved = false
	return uintptr(vkNetAcceptDone(int32(sid), nf, flags, ready, readySeq, &n))
}

// vkNetReserved is description sid if it is a socket reserved by
// vkNetAcceptReserveCall and not installed yet, else nil.
func vkNetReserved(sid int64) *vkFile {
	if sid < 0 || sid >= int64(vkFileCap) {
		return nil
	}
	nf := vkFileAt(int32(sid))
	if nf.kind != fdSocket || !nf.sock.reserved {
		return nil
	}
	return nf
}

// vkNetAcceptDone completes the description nid of a socket the server
// has accepted and registered (on the kernel's path, from its reply; on
// the direct path, from vkNetAcceptInstallCall): accept4's flags, the
// readiness level the server computed (unless a later report came
// first), its names, and the lowest free fd. It returns the fd, or
// -EMFILE after closing the new socket. The kernel lock is held.
func vkNetAcceptDone(nid int32, nf *vkFile, flags uintptr, ready uint32, readySeq uint64, names *vkSockNames) int64 {
	nf.nonblock = flags&oNonblock != 0
	nf.flags = 2
	vkSpinLock(&vkFDLock) // the level is vkFDLock's (vkNetReady)
	if readySeq >= nf.readySeq {
		atomic.Store(&nf.ready, ready)
		nf.readySeq = readySeq
	} else {
		// An event for the new socket came first (it carries the
		// identity given at allocation): keep it, and the older level
		// too, which at worst wakes a reader for nothing.
		atomic.Or(&nf.ready, ready)
	}
	vkSpinUnlock(&vkFDLock)
	if names != nil {
		nf.sock.names = *names
	}
	fd := vkFDInstall(nid, 0, flags&oCloexec != 0)
	if fd < 0 {
		vkFilePut(nid) // closes the accepted endpoint
		return -vkEMFILE
	}
	return int64(fd)
}
