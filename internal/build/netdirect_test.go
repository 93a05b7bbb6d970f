package build

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkStdPatch: sp must apply to this GOROOT's file, leaving mark in it
// want times, and the patched file and the added one must parse; the
// file with old replaced by new (a Go release that changed what the edit
// looks for) is refused, not half patched.
func checkStdPatch(t *testing.T, sp stdPatch, mark string, want int, old, new string) {
	t.Helper()
	goroot, err := GOROOT(".")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(goroot, "src", sp.pkg, sp.file))
	if err != nil {
		t.Fatal(err)
	}
	out, err := sp.patch(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, mark); n != want {
		t.Fatalf("%s: %q inserted %d times, want %d", sp.file, mark, n, want)
	}
	fset := token.NewFileSet()
	for name, src := range map[string]string{sp.file: out, sp.addName: sp.addText} {
		if _, err := parser.ParseFile(fset, name, src, parser.ParseComments); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	changed := strings.Replace(string(data), old, new, 1)
	if changed == string(data) {
		t.Fatalf("%s has no %q to change", sp.file, old)
	}
	if _, err := sp.patch(changed); err == nil {
		t.Fatalf("a %s with %q changed was patched anyway", sp.file, old)
	}
}

// The hook goes into Syscall and Syscall6.
func TestPatchSyscall(t *testing.T) {
	checkStdPatch(t, syscallHook, "vkNetDirect(trap", 2, "\truntime_entersyscall()\n", "\truntime_entersyscall() // moved\n")
}

// isSystemGoroutine also asks vkKernelGoroutine.
func TestPatchTraceback(t *testing.T) {
	checkStdPatch(t, kernelGoroutines, "vkKernelGoroutine(funcname(f))", 1, `HasPrefix(funcname(f), "runtime.")`, `HasPrefix(funcname(f), "runtime/")`)
}
