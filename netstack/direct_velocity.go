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

//go:linkname putPeer runtime.vkNetPutPeer
func putPeer(addr, lenp uintptr, sa *[128]byte, n uint32)

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
// handler runs, and accept4's peer address is written after it returned
// (directAcceptEntry).
//
//go:nosplit
func directEntry(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, syscall.Errno, bool) {
	switch trap {
	case syscall.SYS_SETSOCKOPT:
		a4 = uintptr(loadOptval(a4))
	case syscall.SYS_ACCEPT4, syscall.SYS_ACCEPT:
		return directAcceptEntry(trap, a1, a2, a3, a4)
	}
	growForDirect()
	return directServer.direct(trap, [6]uintptr{a1, a2, a3, a4, a5, a6})
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
		putPeer(stackAt(addr, addrOff), stackAt(lenp, lenOff), peer, n)
	}
	return r, e, ok
}
