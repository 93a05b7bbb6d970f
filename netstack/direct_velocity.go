//go:build velocity

package netstack

// The direct path's links into the kernel: only kernels that link this
// package are built with package syscall's hook (internal/build/netdirect.go)
// and the runtime's helpers (runtime/vk_netdirect.go).

import (
	"os"
	"syscall"
	_ "unsafe" // go:linkname
)

//go:linkname setDirect syscall.vkSetNetDirect
func setDirect(h func(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, syscall.Errno, bool))

//go:linkname kernelFD runtime.vkNetDirectFD
func kernelFD(fd int32) (sid int32, id uint64, nonblock bool, ready uint32, ok bool)

//go:linkname heapRange runtime.vkNetHeapRange
func heapRange(p, n uintptr) bool

//go:linkname loadOptval runtime.vkNetLoadOptval
func loadOptval(p uintptr) uint32

//go:linkname stackOff runtime.vkNetStackOff
func stackOff(p uintptr) uintptr

//go:linkname stackAt runtime.vkNetStackAt
func stackAt(p, off uintptr) uintptr

//go:linkname stackRoom runtime.vkNetStackRoom
func stackRoom() uintptr

//go:linkname raiseStackStart runtime.vkNetStackStartRaise
func raiseStackStart()

// putPeer only reads sa: without noescape, recvfrom's dgram, in whose
// frame sa lies, would be moved to the heap on every call.
//
//go:linkname putPeer runtime.vkNetPutPeer
//go:noescape
func putPeer(addr, lenp uintptr, sa []byte)

//go:linkname stackBytes runtime.vkNetStackBytes
func stackBytes(p, off, n uintptr) []byte

func (velocityKernel) FD(fd int32) (int32, uint64, bool, uint32, bool) { return kernelFD(fd) }

func (velocityKernel) Mem(p, n uintptr) bool { return heapRange(p, n) }

// installDirect makes package syscall offer the hot socket calls to s
// (direct.go). VELOCITY_NETDIRECT=0 on the kernel command line leaves
// every call on the kernel's path, to compare the two or to rule the
// direct path out when looking for a bug.
func installDirect(s *Server) {
	if os.Getenv("VELOCITY_NETDIRECT") == "0" {
		return
	}
	directServer = s
	setDirect(directEntry)
	stackStartRaise = os.Getenv("VELOCITY_STACKSTART") != "0"
}

// stackStartRaise says whether a growth on the direct path also raises
// the size new goroutines start with (runtime/vk_netdirect.go says why).
// VELOCITY_STACKSTART=0 on the kernel command line leaves it to Go, to
// compare the two.
var stackStartRaise bool

// directServer is the server installDirect gave the direct path.
var directServer *Server

// directEntry is the handler package syscall calls. It is nosplit because
// some arguments may lie in the caller's stack (the runtime allowed them,
// runtime/vk_netdirect.go), which the handler, ordinary Go code, may grow
// and so move: setsockopt's value is copied into a4 here, before the
// handler runs, sendto's destination is handed on as a slice, which moves
// with the stack (directSendtoEntry), and accept4's peer address and
// recvfrom's sender are written after it returned (directAcceptEntry,
// directRecvfromEntry).
//
//go:nosplit
func directEntry(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, syscall.Errno, bool) {
	switch trap {
	case syscall.SYS_SETSOCKOPT:
		a4 = uintptr(loadOptval(a4))
	case syscall.SYS_ACCEPT4, syscall.SYS_ACCEPT:
		return directAcceptEntry(trap, a1, a2, a3, a4)
	case syscall.SYS_SENDTO:
		if a5 != 0 {
			return directSendtoEntry(a1, a2, a3, a4, a5, a6)
		}
	case syscall.SYS_RECVFROM:
		if a5 != 0 {
			return directRecvfromEntry(a1, a2, a3, a4, a5, a6)
		}
	}
	growForDirect()
	return directServer.direct(trap, [6]uintptr{a1, a2, a3, a4, a5, a6}, nil)
}

// directSendtoEntry serves sendto with a destination, which Go passes in
// the stack (syscall.SendtoInet4's sockaddr): it is remembered by its
// distance from the stack's top and, once the stack has grown, handed
// to the handler as a slice, which moves with the stack should it grow
// again (runtime.vkNetStackBytes).
//
//go:nosplit
func directSendtoEntry(fd, p, n, flags, to, tolen uintptr) (uintptr, syscall.Errno, bool) {
	off := stackOff(to)
	growForDirect() // to is found again by its offset
	dg := dgram{to: stackBytes(to, off, tolen)}
	return directServer.direct(syscall.SYS_SENDTO, [6]uintptr{fd, p, n, flags, 0, 0}, &dg)
}

// directRecvfromEntry serves recvfrom asking for the sender's address,
// which Go wants in the stack (syscall.Recvfrom's RawSockaddrAny): the
// handler leaves it in dg, in this frame, and it is written here after
// the handler returned, with addr and lenp found again by their distance
// from the stack's top, as accept's peer is.
//
//go:nosplit
func directRecvfromEntry(fd, p, n, flags, addr, lenp uintptr) (uintptr, syscall.Errno, bool) {
	addrOff, lenOff := stackOff(addr), stackOff(lenp)
	growForDirect()
	dg := dgram{wantFrom: true}
	r, e, ok := directServer.direct(syscall.SYS_RECVFROM, [6]uintptr{fd, p, n, flags, 0, 0}, &dg)
	if ok && e == 0 {
		putPeer(stackAt(addr, addrOff), stackAt(lenp, lenOff), dg.from[:dg.fromLen])
	}
	return r, e, ok
}

// directStackRoom is the stack the direct path wants free at its entry.
// The handler runs netstack on the calling goroutine's stack, and its
// send path (tcp.sendTCP down to the NIC's notify) is deep: a new
// goroutine, net/http's per-connection one, used to outgrow its stack
// there, and each growth copies the stack by walking every frame
// (runtime.copystack). Growing once here, where the stack is shallow,
// makes one copy of fewer frames: in 8 s profiles of images/httpd under
// new connections (wrk -c16, "Connection: close"; 2026-12-05) stack
// growth fell from 7.2% and 9.2% of the guest's CPU time to 5.2% and
// 5.4%. What is left is mostly this one copy: the unwinder's table
// lookups for each frame cost tens of microseconds under TCG.
//
// Why 10 KiB: the card's transmit, the deepest point of a send, was at
// most 11.8 KiB below the top of the sending goroutine's stack under new
// connections and 64 KiB pages on images/httpd (2026-12-05; one other
// goroutine's own frames took 52 KiB), a few KiB of which are net/http's
// frames. So a goroutine that grows here from its first 2 KiB gets a
// 16 KiB stack, the largest size Go keeps in each P's stack cache. With
// 16 KiB of room it got 32 KiB, which Go takes from the heap under the
// heap lock and gives back when the goroutine exits, once per connection
// (stackalloc and stackfree were 1.3% of the guest's CPU; against that,
// -against over 3 rounds: 1.08x requests/s for a new connection per
// request, rounds 0.91x, 1.06x and 1.09x; loopback 1.02x). A path that
// does go deeper only grows again, as any Go code does.
const directStackRoom = 10 << 10

// growForDirect grows the calling goroutine's stack, if it has less than
// directStackRoom free, in one step: the runtime sizes a growth to fit
// the frame that asked for it (runtime.newstack), and growFrame's frame
// is directStackRoom bytes. It zeroes that frame once per growth only.
//
//go:nosplit
func growForDirect() {
	if stackRoom() < directStackRoom {
		if stackStartRaise {
			raiseStackStart()
		}
		growFrame()
	}
}

//go:noinline
func growFrame() {
	var pad [directStackRoom - 1024]byte // the rest of the room is the guard and the callee's frame
	keepFrame(&pad)
}

//go:noinline
func keepFrame(p *[directStackRoom - 1024]byte) { p[0] = 1 }

// directAcceptEntry serves accept and accept4 (fd, addr, lenp, flags):
// addr and lenp are remembered by their distance from the stack's top
// when they are in it, and found there again after the handler, whose
// stack may have moved meanwhile.
//
//go:nosplit
func directAcceptEntry(trap, fd, addr, lenp, flags uintptr) (uintptr, syscall.Errno, bool) {
	addrOff, lenOff := stackOff(addr), stackOff(lenp)
	growForDirect() // addr and lenp are found again by their offsets
	r, e, ok, peer, n := directServer.directAccept(trap, fd, flags, addr != 0)
	if ok && e == 0 && peer != nil {
		putPeer(stackAt(addr, addrOff), stackAt(lenp, lenOff), peer[:n])
	}
	return r, e, ok
}
