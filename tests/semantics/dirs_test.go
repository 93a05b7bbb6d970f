package semantics

import (
	"os"
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
