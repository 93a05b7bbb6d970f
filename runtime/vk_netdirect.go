//go:build velocity

// Velocity: socket calls served in the calling goroutine.
//
// A socket call that goes through the kernel (vk_net.go) costs a trap, a
// switch to the netstack server's thread (often an IPI to the other CPU),
// the server's own system calls and a switch back. Linux pays one system
// call. So in kernels that link the network stack, package syscall's
// Syscall and Syscall6 first offer the hot socket calls (read, write,
// readv, writev, sendto, recvfrom, sendmsg, recvmsg, setsockopt of an int,
// which Go makes five times on every connection, shutdown and accept4) to a
// handler that package netstack installs (internal/build/netdirect.go
// patches package syscall; netstack/direct.go is the handler, and
// vk_netaccept.go has accept's two kernel calls), which serves them on the
// gVisor endpoint in the calling goroutine: no trap, no server, no thread
// switch. Whatever the handler declines takes the kernel's path as before.
//
// These functions are NOT kernel code: they run in the calling goroutine
// with neither the kernel lock nor the fd table lock held, so they only
// read the kernel's tables, with single atomic loads, and the handler
// checks the socket's identity (vkNetDirectFD says why that is enough).
//
// The stack hazard: Syscall is nosplit and its arguments are uintptrs that
// may point into the caller's stack, which the handler (ordinary Go code)
// may grow and so move. So a call goes direct only if every pointer it
// passes lies inside an in-use span of the Go heap (vkNetDirectArgs, in
// nosplit code before anything can grow the stack): such memory never
// moves, the caller keeps it alive (//go:uintptrkeepalive), and it is
// mapped, so the kernel's EFAULT checks could not have failed either.
// Stacks are spans too, but never "in use" heap spans. Socket addresses
// and one option value may lie in the calling goroutine's own stack,
// where Go keeps them: setsockopt's 4-byte value, which the handler's
// nosplit entry copies (vkNetLoadOptval) before anything can grow that
// stack; sendto's destination, which the entry hands on as a slice, a
// pointer the stack copier moves (vkNetStackBytes); and accept4's peer
// address and recvfrom's sender, with their lengths, which the entry
// writes after the handler returned (vkNetPutPeer). The entry finds each
// again by its distance from the stack's top (vkNetStackOff,
// vkNetStackAt), since its own first step may grow the stack.
// Anything else (stack buffers, globals, bad pointers) goes through the
// kernel, which checks it and answers as Linux does.

package runtime

import (
	"internal/runtime/atomic"
	"internal/runtime/sys"
	"unsafe"
)

// vkNetHeapRange reports whether [p, p+n) lies inside one in-use span of
// the Go heap (n > 0).
//
//go:linkname vkNetHeapRange
//go:nosplit
func vkNetHeapRange(p, n uintptr) bool {
	if n == 0 || p+n < p {
		return false
	}
	s := spanOfHeap(p)
	return s != nil && p+n <= s.limit
}

// vkNetDirectArgs is package syscall's test, in nosplit code, of whether a
// call may be offered to the direct handler: a socket call the handler
// serves, on a socket fd, whose pointer arguments all lie in the heap.
// The handler checks what those point to (iovecs, msghdr contents)
// itself, and the fd again (vkNetDirectFD): this is only a filter.
//
//go:linkname vkNetDirectArgs syscall.vkNetDirectArgs
//go:nosplit
func vkNetDirectArgs(trap, a1, a2, a3, a4, a5, a6 uintptr) bool {
	if a1 >= vkMaxFDs {
		return false
	}
	i := int32(atomic.Load((*uint32)(unsafe.Pointer(&vkFDs[a1].file)))) - 1
	f := vkNetDirectFile(i)
	if f == nil || atomic.Load((*uint32)(unsafe.Pointer(&f.kind))) != fdSocket {
		return false
	}
	switch trap {
	case 0, 1: // read, write
		return vkNetHeapRange(a2, a3)
	case 19, 20: // readv, writev
		return a3 <= 1024 && vkNetHeapRange(a2, a3*16)
	case 44: // sendto: the destination may be in the stack (the entry reads it as a typed slice)
		return vkNetHeapRange(a2, a3) && (a5 == 0 || a6 > 0 && a6 <= 128 && vkNetOwnStackOrHeap(a5, a6))
	case 45: // recvfrom: the sender's address goes back through the nosplit entry
		return vkNetHeapRange(a2, a3) && vkNetNameOut(a5, a6)
	case 46, 47: // sendmsg, recvmsg
		return vkNetHeapRange(a2, 56)
	case 48: // shutdown: no memory
		return true
	case 54: // setsockopt of an int: the handler's nosplit entry copies it first
		return a5 == 4 && vkNetOwnStackOrHeap(a4, 4)
	case 43, 288: // accept, accept4: the peer's address goes back through the nosplit entry
		return vkNetNameOut(a2, a3)
	}
	return false
}

// vkNetNameOut is vkNetDirectArgs' test of an address the call returns
// (accept's peer, recvfrom's sender) at addr, with its room in *lenp:
// none asked for, or a length of 0 to 128 and that much room, each in
// the caller's own stack or in the heap.
//
//go:nosplit
func vkNetNameOut(addr, lenp uintptr) bool {
	if addr == 0 {
		return true
	}
	if !vkNetOwnStackOrHeap(lenp, 4) {
		return false
	}
	n := *(*int32)(unsafe.Pointer(lenp))
	return n >= 0 && n <= 128 && (n == 0 || vkNetOwnStackOrHeap(addr, uintptr(n)))
}

// vkNetStackOff is p's distance from the top of the calling goroutine's
// stack, or 0 when p is not in it. Growing the stack copies it whole to
// a new one with every frame at the same distance from the top, so
// vkNetStackAt finds the same variable again after the handler ran.
//
//go:linkname vkNetStackOff
//go:nosplit
func vkNetStackOff(p uintptr) uintptr {
	gp := getg()
	if p >= gp.stack.lo && p < gp.stack.hi {
		return gp.stack.hi - p
	}
	return 0
}

// vkNetStackAt is where a pointer p whose vkNetStackOff was off points
// now: p itself when it was not in the stack.
//
//go:linkname vkNetStackAt
//go:nosplit
func vkNetStackAt(p, off uintptr) uintptr {
	if off == 0 {
		return p
	}
	return getg().stack.hi - off
}

// vkNetStackRoom is how many bytes of the calling goroutine's stack lie
// below its caller's frame: the direct path grows a small stack once, at
// its entry, rather than let netstack's deep send path grow it step by
// step (netstack/direct_velocity.go, growForDirect).
//
//go:linkname vkNetStackRoom
//go:nosplit
func vkNetStackRoom() uintptr {
	return sys.GetCallerSP() - getg().stack.lo
}

// vkNetSyscallStackOff and vkNetSyscallStackAt are the two above for
// package syscall's Syscall and Syscall6 (internal/build/netdirect.go):
// a call the handler declines goes to the kernel with the addresses of
// its arguments in the stack found again, since the handler may have
// grown the stack. Without that, accept4 on an AF_UNIX listener (which
// the handler declines) had the kernel write the peer's address into
// the stack the goroutine had left, and Go's accept, reading an address
// never written, failed and closed the connection.
//
//go:linkname vkNetSyscallStackOff syscall.vkNetStackOff
//go:nosplit
func vkNetSyscallStackOff(p uintptr) uintptr { return vkNetStackOff(p) }

//go:linkname vkNetSyscallStackAt syscall.vkNetStackAt
//go:nosplit
func vkNetSyscallStackAt(p, off uintptr) uintptr { return vkNetStackAt(p, off) }

// vkNetPutPeer writes a peer's address (sa: accept's peer, recvfrom's
// sender) to the caller's addr, truncated to the length *lenp gives, and
// the full length to *lenp, as Linux does. vkNetDirectArgs checked both
// ranges; the caller passes them through vkNetStackAt.
//
//go:linkname vkNetPutPeer
//go:nosplit
func vkNetPutPeer(addr, lenp uintptr, sa []byte) {
	room := *(*int32)(unsafe.Pointer(lenp))
	for i := range sa { // no bounds check: nosplit, under the handler's entry
		if i >= int(room) {
			break
		}
		*(*byte)(unsafe.Pointer(addr + uintptr(i))) = sa[i]
	}
	*(*int32)(unsafe.Pointer(lenp)) = int32(len(sa))
}

// vkNetStackBytes is [p, p+n) as a slice, p having been off from the top
// of the calling goroutine's stack (vkNetStackOff; 0: not in it) before
// the handler's entry grew the stack. A slice is a pointer the garbage
// collector and the stack copier know: if p is in the stack, growing it
// again moves the slice with the bytes, where a uintptr would be left
// behind. So sendto's destination, which Go passes in the stack, is read
// through it, from the handler's frames only (never stored in the heap).
//
//go:linkname vkNetStackBytes
//go:nosplit
func vkNetStackBytes(p, off, n uintptr) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(vkNetStackAt(p, off))), n)
}

// vkNetOwnStackOrHeap reports whether [p, p+n) lies in the calling
// goroutine's stack or in one in-use heap span (n > 0). Go passes a
// socket option's value from the stack (syscall.SetsockoptInt's local),
// which the handler may move by growing the stack, so such a value is
// read only by the handler's nosplit entry (vkNetLoadOptval), before
// anything can grow it; both kinds of memory are mapped.
//
//go:nosplit
func vkNetOwnStackOrHeap(p, n uintptr) bool {
	gp := getg()
	if n != 0 && p+n > p && p >= gp.stack.lo && p+n <= gp.stack.hi {
		return true
	}
	return vkNetHeapRange(p, n)
}

// vkNetLoadOptval is the 4-byte option value at p, which
// vkNetDirectArgs accepted (vkNetOwnStackOrHeap). Package netstack's
// nosplit entry calls it before the handler can grow the stack.
//
//go:linkname vkNetLoadOptval
//go:nosplit
func vkNetLoadOptval(p uintptr) uint32 {
	return *(*uint32)(unsafe.Pointer(p))
}

// vkNetDirectFile is description i read without the fd table lock, or nil
// if i is not an index a slot can hold. Descriptions live in chunks that
// are never unmapped, so the memory stays valid whatever happens to the
// description meanwhile; a chunk's address is stored before any
// description in it is handed out, and so before any slot names one, so
// a reader that loaded the slot (atomically: loads are not reordered with
// older loads on x86) sees the address too.
//
//go:nosplit
func vkNetDirectFile(i int32) *vkFile {
	if i < 0 || i >= vkMaxFiles {
		return nil
	}
	c := vkFileChunks[i/vkFilesPerChunk]
	if c == 0 {
		if i >= vkFilesPerChunk {
			return nil
		}
		c = uintptr(unsafe.Pointer(&vkFiles0))
	}
	return (*vkFile)(unsafe.Pointer(c + uintptr(i%vkFilesPerChunk)*unsafe.Sizeof(vkFile{})))
}

// vkNetDirectFD is the kernel's view of a socket fd for the direct handler:
// the sid of the description it names (the server's key for the socket),
// the socket's identity (which the server's endpoint for that sid must
// carry), whether it is in non-blocking mode, and the readiness level
// epoll has for it (the handler reports a new level only when it
// differs). ok is false for an fd that is not a socket, or whose slot
// changed while it was read.
//
// Without the fd table lock, close and dup2 may change the slot, and the
// description may be released and its index reused for another socket,
// at any moment. So the slot is loaded, then the description's fields,
// then the slot again, and the answer counts only if both loads agree:
//
//   - if the slot did not change in between, the fd named description sid
//     all along, which its reference kept from being released, so its
//     identity (set once, at creation, before the first direct call can
//     see it; 0 before that, which the handler declines) is the fd's;
//   - if it changed and came back to sid (close, the index reused, and the
//     fd given the same index again), the identity read may be that of a
//     socket the fd never named, held at sid in between. A sid is reused
//     as soon as its socket is released, while the server's close of
//     that socket may still be queued (a TCP socket's close is, since
//     vkNetReleaseTCP); so after the second load the answer counts only
//     if the server is done with every creation and close queued for
//     sid (vkNetSidBusy, read atomically: the new socket's creation was
//     queued before its fd was installed, which the second load saw).
//     Then the server no longer has the released socket under sid, and
//     the handler, which looks the sid up after this and compares
//     identities, declines. If the identity is that of the socket the fd
//     names at the second load, the call is the fd's.
//
// What the handler does after this can still race with a close of the fd:
// as on Linux, a call that began before the close may complete on the
// socket it found (the endpoint copes with a concurrent close), and its
// readiness report, carrying that socket's identity, is dropped if the
// sid has been given to another socket meanwhile (vkNetReady). nonblock
// and ready are hints read once; a racing fcntl or report is no worse than
// one that came just after the call.
//
//go:linkname vkNetDirectFD
//go:nosplit
func vkNetDirectFD(fd int32) (sid int32, id uint64, nonblock bool, ready uint32, ok bool) {
	if fd < 0 || fd >= vkMaxFDs {
		return 0, 0, false, 0, false
	}
	slot := (*uint32)(unsafe.Pointer(&vkFDs[fd].file))
	s1 := atomic.Load(slot)
	f := vkNetDirectFile(int32(s1) - 1)
	if f == nil || atomic.Load((*uint32)(unsafe.Pointer(&f.kind))) != fdSocket {
		return 0, 0, false, 0, false
	}
	id = atomic.Load64(&f.sock.id)
	nonblock = atomic.Load8((*uint8)(unsafe.Pointer(&f.nonblock))) != 0
	ready = atomic.Load(&f.ready)
	if atomic.Load(slot) != s1 || vkNetSidBusy(int32(s1)-1) {
		return 0, 0, false, 0, false
	}
	return int32(s1) - 1, id, nonblock, ready, true
}

// New goroutines' stacks in kernels that link the network stack. The
// direct path runs gVisor's send path on the calling goroutine's stack
// and first grows that stack to 16 KiB in one copy (netstack,
// direct_velocity.go: growForDirect). Under a new connection per request
// that copy came once per connection, for net/http's new goroutine:
// 2.4% of the guest's CPU time (25 us a request under TCG), most of it
// the unwinder's table lookups for the frames copied. A goroutine that
// starts with 16 KiB never makes it, and when it exits Go keeps its stack
// with it for the next goroutine (gfput keeps only stacks of the starting
// size), so the stack's allocation and release go too. So when the direct
// path has to grow a stack it also raises Go's starting size to 16 KiB
// (vkNetStackStartRaise), as Linux gives each thread 16 KiB of kernel
// stack for its system calls. Go's own sizing stays on: each collection
// sets the size again from the average of the stacks it scanned
// (adaptivestackstart), and the next growth on the direct path raises it
// again, so the copy comes once per collection instead of once per
// connection. With many goroutines the size is left to Go: never raised
// while more than vkNetStackStartMaxG exist, so the larger start costs at
// most 16 MiB of stacks until the next collection, which also shrinks
// the stacks of goroutines that use less than a quarter of theirs.
// Measured against Go's sizing alone (bench/netbench -against
// VELOCITY_STACKSTART=16384 with the raise made unconditional, a new
// connection per request over tap, 2026-12-07, 16 pairs each way): 1.035x
// requests/s with the boot-order bias taken out, host CPU per request 4%
// lower.
const (
	vkNetStackStartSize = 16 << 10
	vkNetStackStartMaxG = 1024
)

// vkNetStackStartRaise raises the starting stack size (see above). A
// program that turned Go's sizing off (GODEBUG=adaptivestackstart=0)
// keeps the size it chose.
//
//go:linkname vkNetStackStartRaise
func vkNetStackStartRaise() {
	if debug.adaptivestackstart == 0 || startingStackSize >= vkNetStackStartSize ||
		gcount(false) > vkNetStackStartMaxG {
		return
	}
	// A plain store, as the collector's own (during a stop of the world):
	// newproc reads it without a lock, and an aligned 32-bit store is
	// atomic on amd64.
	atomic.Store(&startingStackSize, vkNetStackStartSize)
}
