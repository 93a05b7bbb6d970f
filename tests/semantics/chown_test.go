package semantics

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/velocityos/velocity/kernel"
)

// TestChown: changing a file's owner is done, or refused with the errno
// Linux gives, never acknowledged without effect. The program is root
// (uid 0) on Velocity, so under /tmp the change happens and stat shows
// it; the image is read-only, so there it is EROFS; a name that does not
// exist is ENOENT; a closed fd is EBADF.
func TestChown(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "owned")
	if err := os.WriteFile(name, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	owner := func() (uint32, uint32) {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(name, &st); err != nil {
			t.Fatal(err)
		}
		return st.Uid, st.Gid
	}
	err := os.Chown(name, 1234, 5678)
	if errors.Is(err, syscall.EPERM) && os.Getuid() != 0 {
		t.Skip("not root on this host: chown to another user is refused")
	}
	if err != nil {
		t.Fatal(err)
	}
	if u, g := owner(); u != 1234 || g != 5678 {
		t.Fatalf("after chown(1234, 5678): owner %d:%d", u, g)
	}
	// -1 keeps that id.
	if err := os.Lchown(name, -1, 42); err != nil {
		t.Fatal(err)
	}
	if u, g := owner(); u != 1234 || g != 42 {
		t.Fatalf("after lchown(-1, 42): owner %d:%d", u, g)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Chown(7, 8); err != nil {
		t.Fatal(err)
	}
	if u, g := owner(); u != 7 || g != 8 {
		t.Fatalf("after fchown(7, 8): owner %d:%d", u, g)
	}
	fd := f.Fd()
	f.Close()
	if err := syscall.Fchown(int(fd), 0, 0); err != syscall.EBADF {
		t.Errorf("fchown of a closed fd: %v, want EBADF", err)
	}
	if err := os.Chown(filepath.Join(dir, "missing"), 0, 0); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("chown of a missing file: %v, want ENOENT", err)
	}
	if err := syscall.Fchownat(-100, name, 0, 0, 0x4000); err != syscall.EINVAL {
		t.Errorf("fchownat with an unknown flag: %v, want EINVAL", err)
	}
	if _, err := kernel.ReadInfo(); err == nil {
		// Only inside Velocity: on a host, root could really change the
		// owner of the checkout's files.
		if err := os.Chown("testdata", 0, 0); !errors.Is(err, syscall.EROFS) {
			t.Errorf("chown of a file of the read-only image: %v, want EROFS", err)
		}
	}
}
