//go:build velocity

// Velocity: socket calls served in the calling goroutine.
//
// A socket call that goes through the kernel (vk_net.go) costs a trap, a
// switch to the netstack server's thread (often an IPI to the other CPU),
// the server's own system calls and a switch back. Linux pays one system
// call. So in kernels that link the network stack, package syscall's
// Syscall and Syscall6 first offer the hot socket calls (read, write,
// readv, writev, sendto, recvfrom, sendmsg, recvmsg) to a handler that
// package netstack installs (internal/build/netdirect.go patches package
// syscall; netstack/direct.go is the handler), which serves them on the
// gVisor endpoint in the calling goroutine: no trap, no server, no thread
// switch. Whatever the handler declines takes the kernel's path as before.
//
// These functions are NOT kernel code: they run in the calling goroutine
// with the kernel lock not held, so they only read the kernel's tables
// (word-sized loads; a racing change is no worse than a call racing with
// close on Linux, and the handler checks the socket's identity).
//
// The stack hazard: Syscall is nosplit and its arguments are uintptrs that
// may point into the caller's stack, which the handler (ordinary Go code)
// may grow and so move. So a call goes direct only if every pointer it
// passes lies inside an in-use span of the Go heap (vkNetDirectArgs, in
// nosplit code before anything can grow the stack): such memory never
// moves, the caller keeps it alive (//go:uintptrkeepalive), and it is
// mapped, so the kernel's EFAULT checks could not have failed either.
// Stacks are spans too, but never "in use" heap spans. Anything else
// (stack buffers, globals, bad pointers) goes through the kernel, which
// checks it and answers as Linux does.

package runtime

import _ "unsafe" // go:linkname

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
// itself.
//
//go:linkname vkNetDirectArgs syscall.vkNetDirectArgs
//go:nosplit
func vkNetDirectArgs(trap, a1, a2, a3, a4, a5, a6 uintptr) bool {
	if int64(a1) < 3 || int64(a1) >= vkMaxFDs || vkFDs[a1].kind != fdSocket {
		return false
	}
	switch trap {
	case 0, 1: // read, write
		return vkNetHeapRange(a2, a3)
	case 19, 20: // readv, writev
		return a3 <= 1024 && vkNetHeapRange(a2, a3*16)
	case 44: // sendto
		return vkNetHeapRange(a2, a3) && (a5 == 0 || vkNetHeapRange(a5, a6))
	case 45: // recvfrom
		return vkNetHeapRange(a2, a3) && (a5 == 0 || vkNetHeapRange(a5, 1) && vkNetHeapRange(a6, 4))
	case 46, 47: // sendmsg, recvmsg
		return vkNetHeapRange(a2, 56)
	}
	return false
}

// vkNetDirectFD is the kernel's view of a socket fd for the direct handler:
// the socket's identity (which the server's endpoint must carry, or the fd
// was closed and reused, or is not the server's yet), whether it is in
// non-blocking mode, and the readiness level epoll has for it (the handler
// reports a new level only when it differs). ok is false for an fd that
// is not a socket.
//
//go:linkname vkNetDirectFD
//go:nosplit
func vkNetDirectFD(fd int32) (id uint64, nonblock bool, ready uint32, ok bool) {
	if fd < 3 || fd >= vkMaxFDs {
		return 0, false, 0, false
	}
	f := &vkFDs[fd]
	if f.kind != fdSocket {
		return 0, false, 0, false
	}
	return f.sock.id, f.nonblock, f.ready, true
}
