package semantics

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDeepDirectories: a directory tree deeper than PATH_MAX (4,096
// bytes), reached one relative step at a time, works as on Linux: mkdir,
// chdir, files at the bottom, os.Getwd (getcwd says ENAMETOOLONG and Go
// finds its way up through ".."), a rename of the top that changes every
// name below it, and RemoveAll. Velocity's /tmp kept whole paths of at
// most 1,024 bytes before; it keeps short names in their entry and long
// ones in memory of their own (runtime/vk_tmpfs.go).
func TestDeepDirectories(t *testing.T) {
	top := t.TempDir()
	t.Chdir(top)
	comp := strings.Repeat("d", 200)
	const depth = 24 // 24 * 201 bytes below top
	if err := os.Mkdir("a", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir("a"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < depth; i++ {
		if err := os.Mkdir(comp, 0o755); err != nil {
			t.Fatalf("mkdir at depth %d: %v", i, err)
		}
		if err := os.Chdir(comp); err != nil {
			t.Fatalf("chdir at depth %d: %v", i, err)
		}
	}
	if err := os.WriteFile("f", []byte("bottom"), 0o644); err != nil {
		t.Fatalf("a file at the bottom: %v", err)
	}
	want := filepath.Join(append([]string{top, "a"}, strings.Split(strings.Repeat(comp+"/", depth), "/")...)...)
	os.Unsetenv("PWD")
	var buf [4096]byte
	if _, err := syscall.Getcwd(buf[:]); err != syscall.ENAMETOOLONG {
		t.Errorf("getcwd %d bytes down = %v, want ENAMETOOLONG", len(want), err)
	}
	wd, err := os.Getwd()
	if err != nil || wd != want {
		t.Fatalf("Getwd %d bytes down: %d bytes, %v", len(want), len(wd), err)
	}

	// Rename the top: every name below it changes, from short to long
	// and across the length kept in an entry. (os.Chdir, not t.Chdir: its
	// cleanup would go back to a directory this test removes.)
	if err := os.Chdir(top); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename("a", strings.Repeat("b", 100)); err != nil {
		t.Fatalf("rename of the top of the tree: %v", err)
	}
	d := strings.Repeat("b", 100)
	if err := os.Chdir(d); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < depth; i++ {
		if err := os.Chdir(comp); err != nil {
			t.Fatalf("chdir at depth %d after the rename: %v", i, err)
		}
	}
	if b, err := os.ReadFile("f"); err != nil || string(b) != "bottom" {
		t.Fatalf("the bottom file after the rename: %q, %v", b, err)
	}
	wd, err = os.Getwd()
	if want := strings.Replace(want, top+"/a/", top+"/"+d+"/", 1); err != nil || wd != want {
		t.Fatalf("Getwd after the rename: %d bytes, %v; want %d bytes", len(wd), err, len(want))
	}
	if err := os.Chdir(top); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(d, "c"); err != nil {
		t.Fatalf("rename back to a short name: %v", err)
	}
	if err := os.RemoveAll("c"); err != nil {
		t.Fatalf("RemoveAll of the deep tree: %v", err)
	}
	if ents, err := os.ReadDir(top); err != nil || len(ents) != 0 {
		t.Fatalf("left in the top directory: %v, %v", ents, err)
	}
}
