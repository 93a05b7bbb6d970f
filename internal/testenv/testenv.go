// Package testenv holds what the QEMU test packages (tests/...) share: a
// scratch directory per run, and skipping with the exact apt-get command
// when a tool is missing.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/velocityos/velocity/internal/qemu"
)

// Main runs the tests of a package with *dir set to a fresh scratch
// directory, removed afterwards. Call it from TestMain.
func Main(m *testing.M, prefix string, dir *string) {
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		panic(err)
	}
	*dir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// Need skips t unless the tools for what it boots are installed: "qemu"
// (QEMU and binutils for the stub), "grub" (ISO images), "ovmf" (UEFI) or
// "gdb". The skip message is the apt-get command that installs them.
func Need(t testing.TB, what ...string) {
	t.Helper()
	var missing []string
	lack := func(pkg string, ok bool) {
		if !ok {
			missing = append(missing, pkg)
		}
	}
	cmd := func(name string) bool { _, err := exec.LookPath(name); return err == nil }
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	for _, w := range what {
		switch w {
		case "qemu":
			lack("qemu-system-x86", cmd(qemu.DefaultBinary))
			lack("binutils", cmd("as") && cmd("ld"))
		case "grub":
			lack("grub-common", cmd("grub-mkrescue"))
			lack("xorriso", cmd("xorriso"))
			lack("mtools", cmd("mformat"))
			lack("grub-pc-bin", exists("/usr/lib/grub/i386-pc"))
			lack("grub-efi-amd64-bin", exists("/usr/lib/grub/x86_64-efi"))
		case "ovmf":
			_, _, err := qemu.FindOVMF()
			lack("ovmf", err == nil)
		case "gdb":
			lack("gdb", cmd("gdb"))
		default:
			panic("testenv.Need: unknown tool " + w)
		}
	}
	if len(missing) > 0 {
		t.Skipf("missing Debian packages; install them with: sudo apt-get install -y %s", strings.Join(missing, " "))
	}
}

// Get returns what a build step (a sync.OnceValues) made, or fails t with
// its error: the QEMU tests share kernels and stubs built once per run.
func Get[T any](t testing.TB, once func() (T, error)) T {
	t.Helper()
	v, err := once()
	if err != nil {
		t.Fatal(err)
	}
	return v
}
