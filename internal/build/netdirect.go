package build

// Package syscall's hook for the network stack's direct path.
//
// Kernels that link the network stack get a package syscall whose Syscall
// and Syscall6 first offer the hot socket calls to a handler package
// netstack installs, which serves them in the calling goroutine instead
// of through the kernel and its netstack server (netstack/direct.go,
// runtime/vk_netdirect.go, docs/net.md). Two overlay entries do it, only
// in the network GOROOT (netroot.go), so other kernels and every host
// build keep Go's package syscall unchanged:
//
//   - syscall_linux.go: a copy in which Syscall and Syscall6 begin with the
//     offer, before runtime_entersyscall (the handler never sleeps in the
//     kernel). The copy is made from the GOROOT's own file by replacing
//     the two functions' first lines, and the build stops with an error
//     naming the file if they are not found (a Go release that changed
//     them needs this patch looked at, not a silent kernel without it);
//   - zz_velocity_netdirect.go: the hook variable, its setter (which
//     netstack reaches with go:linkname) and the runtime's argument check.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// syscallHookFile is added to package syscall.
const syscallHookFile = `// Added by velocity (internal/build/netdirect.go) to kernels that link
// the network stack: the hook through which Syscall and Syscall6 offer
// socket calls to netstack's direct path (netstack/direct.go).

package syscall

import _ "unsafe" // go:linkname

// vkNetDirect serves a socket call in the calling goroutine; ok false
// means it did nothing and the call goes to the kernel.
var vkNetDirect func(trap, a1, a2, a3, a4, a5, a6 uintptr) (r uintptr, err Errno, ok bool)

// vkSetNetDirect installs the handler (netstack's init).
//
//go:linkname vkSetNetDirect
func vkSetNetDirect(h func(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, Errno, bool)) {
	vkNetDirect = h
}

// vkNetDirectArgs is the runtime's (runtime/vk_netdirect.go), nosplit:
// whether the call is one the handler serves, on a socket, with every
// pointer argument in the Go heap, so that the handler (ordinary Go code,
// which may grow and move this goroutine's stack) cannot leave one stale;
// setsockopt's value, accept4's address and sendto's and recvfrom's names
// may be in the stack.
func vkNetDirectArgs(trap, a1, a2, a3, a4, a5, a6 uintptr) bool

// vkNetStackOff and vkNetStackAt are the runtime's too, nosplit: an
// argument's distance from the top of this goroutine's stack (0 if it is
// not in it), and where it is after the handler ran, which may have grown
// the stack. A call the handler declines goes to the kernel with its
// stack arguments found again this way.
func vkNetStackOff(p uintptr) uintptr
func vkNetStackAt(p, off uintptr) uintptr
`

// syscallHookEdits are the replacements made in syscall_linux.go: each
// old text must occur exactly once.
var syscallHookEdits = []struct{ old, new string }{
	{
		"func Syscall(trap, a1, a2, a3 uintptr) (r1, r2 uintptr, err Errno) {\n\truntime_entersyscall()\n",
		"func Syscall(trap, a1, a2, a3 uintptr) (r1, r2 uintptr, err Errno) {\n" +
			"\tif vkNetDirect != nil && vkNetDirectArgs(trap, a1, a2, a3, 0, 0, 0) {\n" +
			"\t\to2, o3 := vkNetStackOff(a2), vkNetStackOff(a3)\n" +
			"\t\tif r, e, ok := vkNetDirect(trap, a1, a2, a3, 0, 0, 0); ok {\n" +
			"\t\t\treturn r, 0, e\n" +
			"\t\t}\n" +
			"\t\ta2, a3 = vkNetStackAt(a2, o2), vkNetStackAt(a3, o3)\n" +
			"\t}\n" +
			"\truntime_entersyscall()\n",
	},
	{
		"func Syscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err Errno) {\n\truntime_entersyscall()\n",
		"func Syscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err Errno) {\n" +
			"\tif vkNetDirect != nil && vkNetDirectArgs(trap, a1, a2, a3, a4, a5, a6) {\n" +
			"\t\to2, o3, o4, o5, o6 := vkNetStackOff(a2), vkNetStackOff(a3), vkNetStackOff(a4), vkNetStackOff(a5), vkNetStackOff(a6)\n" +
			"\t\tif r, e, ok := vkNetDirect(trap, a1, a2, a3, a4, a5, a6); ok {\n" +
			"\t\t\treturn r, 0, e\n" +
			"\t\t}\n" +
			"\t\ta2, a3, a4 = vkNetStackAt(a2, o2), vkNetStackAt(a3, o3), vkNetStackAt(a4, o4)\n" +
			"\t\ta5, a6 = vkNetStackAt(a5, o5), vkNetStackAt(a6, o6)\n" +
			"\t}\n" +
			"\truntime_entersyscall()\n",
	},
}

// patchSyscall returns syscall_linux.go's text with the hook inserted.
func patchSyscall(src string) (string, error) {
	for _, e := range syscallHookEdits {
		if n := strings.Count(src, e.old); n != 1 {
			first, _, _ := strings.Cut(e.old, "\n")
			return "", fmt.Errorf("%q occurs %d times, want once (has this Go release changed Syscall?)", first, n)
		}
		src = strings.Replace(src, e.old, e.new, 1)
	}
	return src, nil
}

// syscallHookVersion identifies the hook for the network GOROOT's cache key.
func syscallHookVersion() string {
	var b strings.Builder
	b.WriteString(syscallHookFile)
	for _, e := range syscallHookEdits {
		b.WriteString(e.old)
		b.WriteString(e.new)
	}
	return b.String()
}

// syscallHook is the hook's patch of package syscall.
var syscallHook = stdPatch{
	pkg: "syscall", file: "syscall_linux.go", patch: patchSyscall, why: "for the direct socket path",
	addName: "zz_velocity_netdirect.go", addText: syscallHookFile,
}

// stdPatch is a checked edit of one file of a standard-library package in
// the network GOROOT, with a file of ours added to the package.
type stdPatch struct {
	pkg, file string                       // the file edited, GOROOT/src/<pkg>/<file>
	patch     func(string) (string, error) // the edit; an error if it does not apply
	why       string                       // what the edit is for, in errors
	addName   string                       // the file added
	addText   string
}

// add writes the patched file and the added one into patchDir and maps
// them (at their paths in the final tree finalRoot) in overlay.
func (sp stdPatch) add(goroot, finalRoot, patchDir string, overlay map[string]string) error {
	orig := filepath.Join(goroot, "src", sp.pkg, sp.file)
	data, err := os.ReadFile(orig)
	if err != nil {
		return fmt.Errorf("network stack: %w", err)
	}
	patched, err := sp.patch(string(data))
	if err != nil {
		return fmt.Errorf("network stack: patching %s %s: %w", orig, sp.why, err)
	}
	dir := filepath.Join(patchDir, sp.pkg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, text := range map[string]string{sp.file: patched, sp.addName: sp.addText} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return err
		}
		overlay[filepath.Join(finalRoot, "src", sp.pkg, name)] = p
	}
	return nil
}
