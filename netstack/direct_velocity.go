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
}

// directServer is the server installDirect gave the direct path.
var directServer *Server

// directEntry is the handler package syscall calls. It is nosplit because
// setsockopt's value may lie in the caller's stack (the runtime allowed
// it, runtime/vk_netdirect.go): it is copied into a4 here, before
// Server.direct, which is ordinary Go code, can grow and move that stack.
//
//go:nosplit
func directEntry(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, syscall.Errno, bool) {
	if trap == syscall.SYS_SETSOCKOPT {
		a4 = uintptr(loadOptval(a4))
	}
	return directServer.direct(trap, [6]uintptr{a1, a2, a3, a4, a5, a6})
}
