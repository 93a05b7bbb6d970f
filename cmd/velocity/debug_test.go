package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestGDBCommand(t *testing.T) {
	goroot := t.TempDir()
	got := GDBCommand("/k/kernel.elf", "4321", goroot, "")
	want := []string{"gdb", "-q", "-ex", "target remote localhost:4321", "/k/kernel.elf"}
	if !slices.Equal(got, want) {
		t.Errorf("without runtime-gdb.py: %q, want %q", got, want)
	}
	py := filepath.Join(goroot, "src", "runtime", "runtime-gdb.py")
	os.MkdirAll(filepath.Dir(py), 0o755)
	os.WriteFile(py, nil, 0o644)
	got = GDBCommand("/k/kernel.elf", "4321", goroot, "")
	want = []string{"gdb", "-q", "-iex", "set auto-load python-scripts off", "-ex", "source " + py, "-ex", "target remote localhost:4321", "/k/kernel.elf"}
	if !slices.Equal(got, want) {
		t.Errorf("with runtime-gdb.py: %q, want %q", got, want)
	}
	got = GDBCommand("/k/kernel.elf", "4321", "", "/cache/src-1")
	want = []string{"gdb", "-q", "-ex", "directory /cache/src-1", "-ex", "target remote localhost:4321", "/k/kernel.elf"}
	if !slices.Equal(got, want) {
		t.Errorf("with the kernel source directory: %q, want %q", got, want)
	}
	if s := shellJoin([]string{"gdb", "-ex", "target remote localhost:1", "/a b/it's.elf"}); s != `gdb -ex 'target remote localhost:1' '/a b/it'\''s.elf'` {
		t.Errorf("shellJoin: %s", s)
	}
}

func TestWithDebugOption(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{nil, []string{"debug"}},
		{[]string{"quiet", "--", "a"}, []string{"quiet", "debug", "--", "a"}},
		{[]string{"debug=wait"}, []string{"debug=wait"}},
		{[]string{"--", "debug"}, []string{"debug", "--", "debug"}},
	} {
		if got := withDebugOption(c.in); !slices.Equal(got, c.want) {
			t.Errorf("withDebugOption(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
