package modelfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/velocityos/velocity/kernel"
)

func TestDiskIndex(t *testing.T) {
	for path, want := range map[string]int{"/dev/vda": 0, "/dev/vdb": 1, "/dev/vdz": 25} {
		if n, ok := diskIndex(path); !ok || n != want {
			t.Errorf("diskIndex(%q) = %d, %v", path, n, ok)
		}
	}
	for _, path := range []string{"/dev/vd", "/dev/vdaa", "/dev/vdA", "/dev/sda", "vda", "/tmp/dev/vda"} {
		if _, ok := diskIndex(path); ok {
			t.Errorf("%q taken for a disk", path)
		}
	}
}

// Off Velocity the disk names are ordinary paths (a Linux host's
// /dev/vda is its own disk, not this driver's).
func TestOpenOffVelocity(t *testing.T) {
	if kernel.OnVelocity() {
		t.Skip("on Velocity")
	}
	if _, err := Open("/dev/vdz"); err == nil || strings.Contains(err.Error(), "virtio") {
		t.Errorf("Open(/dev/vdz) on the host: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	if err := os.WriteFile(bad, []byte("GGML not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("a bad file: %v", err)
	}
}
