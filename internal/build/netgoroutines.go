package build

// The network stack's goroutines are the kernel's, not the program's.
//
// On Linux a program's goroutines are its own: the kernel's network stack
// runs in the kernel's threads, which no goroutine count or dump shows. In
// a Velocity kernel that links the network stack, the stack's server,
// gVisor's TCP processors and the drivers' goroutines live in the same Go
// runtime as the program. Left as they are, they appear in
// runtime.NumGoroutine, in runtime.Stack(buf, true), in panics' dumps and
// in the goroutine profile, and every goroutine-leak check a program or
// its tests make (net/http's own, go.uber.org/goleak) reports them.
//
// Go already has the notion: system goroutines, those that start in
// package runtime, are left out of all of these unless GOTRACEBACK=system
// (or debug.SetTraceback("system")) asks for them. So the network GOROOT
// (netroot.go) gets a runtime/traceback.go whose isSystemGoroutine also
// counts goroutines that start in a package of the stack: anything vendored
// from this module (netstack, drivers) or from gVisor. The copy is made
// from the GOROOT's own file by one replacement, and the build stops with
// an error naming the file if the line is not found, as for the syscall
// hook (netdirect.go). Goroutines the program starts, even ones blocked in
// a socket call, start in the program's code and stay its own.

import (
	"fmt"
	"strings"
)

// kernelGoroutinesFile is added to package runtime.
const kernelGoroutinesFile = `// Added by velocity (internal/build/netgoroutines.go) to kernels that
// link the network stack.

package runtime

import "internal/stringslite"

// vkKernelGoroutine reports whether a goroutine whose first function is
// fn belongs to the kernel's network stack (vendored into the standard
// library's tree by the build), so that isSystemGoroutine counts it with
// the runtime's own.
func vkKernelGoroutine(fn string) bool {
	return stringslite.HasPrefix(fn, "vendor/github.com/velocityos/velocity/") ||
		stringslite.HasPrefix(fn, "vendor/gvisor.dev/gvisor/")
}
`

// tracebackEdit is the replacement made in runtime/traceback.go: the last
// line of isSystemGoroutine, which must occur exactly once.
var tracebackEdit = struct{ old, new string }{
	"\treturn stringslite.HasPrefix(funcname(f), \"runtime.\")\n}\n",
	"\treturn stringslite.HasPrefix(funcname(f), \"runtime.\") || vkKernelGoroutine(funcname(f))\n}\n",
}

// patchTraceback returns traceback.go's text with the kernel's goroutines
// counted as system goroutines.
func patchTraceback(src string) (string, error) {
	if n := strings.Count(src, tracebackEdit.old); n != 1 {
		return "", fmt.Errorf("isSystemGoroutine's last line occurs %d times, want once (has this Go release changed it?)", n)
	}
	return strings.Replace(src, tracebackEdit.old, tracebackEdit.new, 1), nil
}

// kernelGoroutinesVersion identifies the patch for the network GOROOT's
// cache key.
func kernelGoroutinesVersion() string {
	return kernelGoroutinesFile + tracebackEdit.old + tracebackEdit.new
}

// kernelGoroutines is the patch of package runtime.
var kernelGoroutines = stdPatch{
	pkg: "runtime", file: "traceback.go", patch: patchTraceback, why: "to count the stack's goroutines as the kernel's",
	addName: "zz_velocity_netgoroutines.go", addText: kernelGoroutinesFile,
}
