package semantics

import (
	"os"
	"strings"
	"testing"
)

// TestStandardDirectories: programs take Linux's standard directories for
// granted (os's own tests chdir into /usr/bin and list it). Velocity's
// /usr/bin is empty, since it runs one program, but it is a directory that
// can be opened, listed and made the working directory, as on Linux.
func TestStandardDirectories(t *testing.T) {
	for _, d := range []string{"/", "/etc", "/tmp", "/usr/bin"} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatalf("stat %s: %v", d, err)
		}
		if !st.IsDir() {
			t.Fatalf("%s: mode %v, want a directory", d, st.Mode())
		}
		if _, err := os.ReadDir(d); err != nil {
			t.Fatalf("read %s: %v", d, err)
		}
	}
	t.Chdir("/usr/bin")
	if wd, err := os.Getwd(); err != nil || wd != "/usr/bin" {
		t.Fatalf("Getwd in /usr/bin = %q, %v", wd, err)
	}
	if _, err := os.Stat("../bin/."); err != nil {
		t.Fatalf("stat ../bin/. from /usr/bin: %v", err)
	}
}

// TestRootDirectory: / lists the directories every Linux program expects
// there, and each directory is a file of its own to os.SameFile. os.Getwd
// walks up a tree deeper than PATH_MAX by comparing device and inode
// numbers: when / did not list tmp, and /usr, /etc and / shared inode 1,
// it failed with ENAMETOOLONG in any working directory the image did not
// put a tmp beside.
func TestRootDirectory(t *testing.T) {
	ents, err := os.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, e := range ents {
		if listed[e.Name()] {
			t.Errorf("/ lists %s twice", e.Name())
		}
		listed[e.Name()] = true
	}
	seen := map[string]os.FileInfo{}
	for _, d := range []string{"/", "/dev", "/etc", "/proc", "/tmp", "/usr", "/usr/bin"} {
		if name := d[1:]; name != "" && !strings.Contains(name, "/") && !listed[name] {
			t.Errorf("/ does not list %s: %v", name, ents)
		}
		st, err := os.Lstat(d)
		if err != nil {
			t.Fatalf("lstat %s: %v", d, err)
		}
		if !st.IsDir() {
			t.Errorf("%s: mode %v, want a directory", d, st.Mode())
		}
		for other, ost := range seen {
			if os.SameFile(st, ost) {
				t.Errorf("%s and %s are the same file to os.SameFile", d, other)
			}
		}
		seen[d] = st
		// Opened and described by fstat, a directory is the same file.
		f, err := os.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		fst, err := f.Stat()
		f.Close()
		if err != nil || !os.SameFile(st, fst) {
			t.Errorf("fstat of %s is not its lstat: %v", d, err)
		}
	}
}
