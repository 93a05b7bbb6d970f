// Package boot builds BOOT_ND.BIN, the multiboot1/multiboot2 stub that loads
// a Velocity Go kernel (an ELF64 module) and enters it in long mode. The
// hand-over contract is docs/boot-protocol.md.
package boot

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The sources are embedded so that Build works from any directory, e.g. in
// the velocity CLI, without a checkout of this package.
//
//go:embed boot.S link.ld
var sources embed.FS

// FileName is the name of the built stub.
const FileName = "BOOT_ND.BIN"

// Build assembles and links the boot stub into outDir (created if needed)
// with GNU as and ld, and returns the path of outDir/BOOT_ND.BIN.
func Build(outDir string) (path string, err error) {
	for _, tool := range []string{"as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("boot: GNU %s not found in PATH; install binutils (apt-get install binutils): %w", tool, err)
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("boot: %w", err)
	}
	out, err := filepath.Abs(outDir)
	if err != nil {
		return "", fmt.Errorf("boot: %w", err)
	}
	src, err := os.MkdirTemp("", "velocity-boot-")
	if err != nil {
		return "", fmt.Errorf("boot: %w", err)
	}
	defer os.RemoveAll(src)
	for _, name := range []string{"boot.S", "link.ld"} {
		data, err := sources.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("boot: %w", err)
		}
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			return "", fmt.Errorf("boot: %w", err)
		}
	}
	// Same commands and relative names as build.sh: identical output.
	obj := filepath.Join(src, "boot.o")
	path = filepath.Join(out, FileName)
	steps := [][]string{
		{"as", "--32", "-o", obj, "boot.S"},
		{"ld", "-m", "elf_i386", "-T", "link.ld", "-z", "max-page-size=0x1000", "--build-id=none", "-o", path, obj},
	}
	for _, argv := range steps {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = src
		if msg, err := cmd.CombinedOutput(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return "", fmt.Errorf("boot: %s failed: %s", argv[0], msg)
			}
			return "", fmt.Errorf("boot: running %s: %w", argv[0], err)
		}
	}
	return path, nil
}
