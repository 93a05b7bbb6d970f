package build

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The hook must apply to this GOROOT's syscall_linux.go, and the results
// must parse; a file whose Syscall has changed is refused, not half patched.
func TestPatchSyscall(t *testing.T) {
	goroot, err := GOROOT(".")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(goroot, "src", "syscall", "syscall_linux.go"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := patchSyscall(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "vkNetDirect(trap"); n != 2 {
		t.Fatalf("hook inserted %d times, want 2 (Syscall and Syscall6)", n)
	}
	fset := token.NewFileSet()
	for name, src := range map[string]string{"syscall_linux.go": out, "zz_velocity_netdirect.go": syscallHookFile} {
		if _, err := parser.ParseFile(fset, name, src, parser.ParseComments); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	changed := strings.Replace(string(data), "\truntime_entersyscall()\n", "\truntime_entersyscall() // moved\n", 1)
	if _, err := patchSyscall(changed); err == nil {
		t.Fatal("a syscall_linux.go whose Syscall changed was patched anyway")
	}
}

// The kernel-goroutine patch must apply to this GOROOT's traceback.go and
// parse; a traceback.go whose isSystemGoroutine changed is refused.
func TestPatchTraceback(t *testing.T) {
	goroot, err := GOROOT(".")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(goroot, "src", "runtime", "traceback.go"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := patchTraceback(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "vkKernelGoroutine(funcname(f))"); n != 1 {
		t.Fatalf("check inserted %d times, want 1", n)
	}
	fset := token.NewFileSet()
	for name, src := range map[string]string{"traceback.go": out, "zz_velocity_netgoroutines.go": kernelGoroutinesFile} {
		if _, err := parser.ParseFile(fset, name, src, parser.ParseComments); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	changed := strings.Replace(string(data), `HasPrefix(funcname(f), "runtime.")`, `HasPrefix(funcname(f), "runtime/")`, 1)
	if _, err := patchTraceback(changed); err == nil {
		t.Fatal("a traceback.go whose isSystemGoroutine changed was patched anyway")
	}
}
