package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/qemu"
)

func TestGrubConfig(t *testing.T) {
	cfg, err := GrubConfig(`A=1 -v -- "hello world" it's`)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"set timeout=0\n",
		`multiboot2 /boot/BOOT_ND.BIN 'A=1' '-v' '--' 'hello world' 'it'\''s'` + "\n",
		"module2 /boot/kernel.elf\n",
		"boot\n",
		"terminal_output console\n", // GRUB stays off the serial port
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("grub.cfg lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "serial") && strings.Contains(cfg, "terminal_output serial") {
		t.Error("GRUB prints on the serial console")
	}
	if strings.Index(cfg, "multiboot2") > strings.Index(cfg, "module2 ") {
		t.Error("module2 before multiboot2")
	}
	empty, _ := GrubConfig("")
	if !strings.Contains(empty, "multiboot2 /boot/BOOT_ND.BIN\n") {
		t.Errorf("empty command line: %s", empty)
	}
	if _, err := GrubConfig(`a\b`); err == nil {
		t.Error("backslash accepted")
	}
}

func TestGrubConfigMode(t *testing.T) {
	serial, _ := GrubConfig("")
	if !strings.Contains(serial, "then set gfxpayload=auto; else set gfxpayload=text; fi\n") {
		t.Errorf("serial-only image: VGA text under BIOS, GOP kept under UEFI:\n%s", serial)
	}
	gfx, err := GrubConfigMode("", "1024x768")
	if err != nil || !strings.Contains(gfx, "set gfxpayload=1024x768x32,1024x768\n") || strings.Contains(gfx, "gfxpayload=text") {
		t.Errorf("graphics image (%v):\n%s", err, gfx)
	}
	for _, bad := range []string{"1024", "x768", "10x10", "1024x768x32", "99999x1", "-5x100"} {
		if _, err := GrubConfigMode("", bad); err == nil {
			t.Errorf("mode %q accepted", bad)
		}
	}
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (run scripts/deps.sh)", tool)
		}
	}
	for _, p := range []string{"i386-pc", "x86_64-efi"} {
		if _, err := os.Stat(filepath.Join(GrubLibDir, p)); err != nil {
			t.Skipf("GRUB %s modules missing (run scripts/deps.sh)", p)
		}
	}
}

// TestISOBootsEchoKernel builds an ISO around the real stub and a tiny
// kernel that echoes its command line, boots it under BIOS (and UEFI when
// not -short) and checks the GRUB-quoted command line arrives intact.
func TestISOBootsEchoKernel(t *testing.T) {
	needTools(t, "grub-mkrescue", "xorriso", "mformat", qemu.DefaultBinary, "as", "ld")
	dir := t.TempDir()
	t.Setenv("VELOCITY_CACHE", filepath.Join(dir, "cache"))
	stub, err := Stub()
	if err != nil {
		t.Fatal(err)
	}
	kernel := filepath.Join(dir, "kernel.elf")
	if err := os.WriteFile(kernel, qemu.EchoKernel(5), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(dir, "echo.iso")
	cmdline := `A=1 -- "hello world" x`
	if err := MakeISO(ISOConfig{Kernel: kernel, Stub: stub, Append: cmdline, Out: iso}); err != nil {
		t.Fatal(err)
	}
	if kind, err := qemu.Detect(iso); err != nil || kind != qemu.KindISO {
		t.Fatalf("Detect(iso) = %v, %v", kind, err)
	}
	modes := []bool{false}
	if _, _, err := qemu.FindOVMF(); err == nil && !testing.Short() {
		modes = append(modes, true)
	}
	for _, uefi := range modes {
		var out bytes.Buffer
		res, err := qemu.Run(context.Background(), qemu.Config{Kernel: iso, UEFI: uefi,
			Accel: "tcg", Timeout: 3 * time.Minute, Stdout: &out})
		if err != nil {
			t.Fatalf("uefi=%v: %v\nserial: %s", uefi, err, out.String())
		}
		if res.ExitCode != 5 || !strings.Contains(out.String(), cmdline+"\n") {
			t.Errorf("uefi=%v: exit %d, serial %q; want 5 and %q", uefi, res.ExitCode, out.String(), cmdline)
		}
		if !uefi && (strings.Contains(out.String(), "GRUB") || strings.Contains(out.String(), "error")) {
			t.Errorf("BIOS boot: GRUB wrote to serial: %q", out.String())
		}
	}
}

// FuzzParseGfx: any string is either refused or gives a mode in range
// that prints back to the same numbers.
func FuzzParseGfx(f *testing.F) {
	for _, s := range []string{"1024x768", "64x64", "8192x8192", "x", "1024x", "0x0", "99999999999999999999x1", "+640x480"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, h, err := ParseGfx(s)
		if err != nil {
			return
		}
		if w < 64 || h < 64 || w > 8192 || h > 8192 {
			t.Fatalf("ParseGfx(%q) = %d, %d: out of range", s, w, h)
		}
		cfg, err := GrubConfigMode("", s)
		if err != nil || !strings.Contains(cfg, fmt.Sprintf("gfxpayload=%dx%dx32,%dx%d\n", w, h, w, h)) {
			t.Fatalf("GrubConfigMode(%q): %v\n%s", s, err, cfg)
		}
	})
}
