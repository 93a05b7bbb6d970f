package qemu

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDetect(t *testing.T) {
	probe, _ := ProbeImage("V", 0)
	iso := make([]byte, 0x9000)
	copy(iso[0x8001:], "CD001")
	elf32 := []byte("\x7fELF\x01\x01\x01\x00")
	for _, tc := range []struct {
		name string
		data []byte
		want Kind
	}{
		{"kernel.elf", EchoKernel(0), KindKernelELF},
		{"stub.bin", elf32, KindMultiboot},
		{"probe.bin", probe, KindMultiboot},
		{"x.iso", iso, KindISO},
	} {
		got, err := Detect(writeFile(t, tc.name, tc.data))
		if err != nil || got != tc.want {
			t.Errorf("Detect(%s) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := Detect(writeFile(t, "empty", nil)); err == nil {
		t.Error("Detect(empty file) succeeded")
	}
}

// argAfter returns the argument following flag, or "".
func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

func TestArgsFastPath(t *testing.T) {
	c := Config{Kernel: "/k/kernel.elf", Stub: "/s/BOOT_ND.BIN", Append: `-- "a b"`, SMP: 2, Mem: "1G", QEMUGDB: "1234", QEMUGDBWait: true, Extra: []string{"-foo"}}
	args, err := c.Args(KindKernelELF, "tcg", "")
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"-kernel": "/s/BOOT_ND.BIN", "-initrd": "/k/kernel.elf", "-append": `-- "a b"`,
		"-smp": "2", "-m": "1G", "-accel": "tcg", "-display": "none", "-serial": "stdio",
		"-device": "isa-debug-exit,iobase=0xf4,iosize=0x04", "-gdb": "tcp:127.0.0.1:1234", "-monitor": "none",
	} {
		if got := argAfter(args, flag); got != want {
			t.Errorf("%s %q; want %q (args %q)", flag, got, want, args)
		}
	}
	for _, flag := range []string{"-no-reboot", "-S"} {
		if !slices.Contains(args, flag) {
			t.Errorf("missing %s in %q", flag, args)
		}
	}
	if args[len(args)-1] != "-foo" {
		t.Errorf("extra args not last: %q", args)
	}
}

func TestArgsDefaultsAndInteractive(t *testing.T) {
	c := Config{Kernel: "k.elf", Stub: "stub", Interactive: true}
	args, err := c.Args(KindKernelELF, "kvm", "")
	if err != nil {
		t.Fatal(err)
	}
	if argAfter(args, "-smp") != "1" || argAfter(args, "-m") != "512M" || argAfter(args, "-serial") != "mon:stdio" {
		t.Errorf("defaults/interactive wrong: %q", args)
	}
	if slices.Contains(args, "-S") || slices.Contains(args, "-gdb") || strings.Contains(strings.Join(args, " "), "tcp:") {
		t.Errorf("gdb flags without GDBPort or QEMUGDB: %q", args)
	}
}

func TestArgsGDBPortIsCOM2(t *testing.T) {
	c := Config{Kernel: "k.elf", Stub: "stub", GDBPort: "4321"}
	args, err := c.Args(KindKernelELF, "tcg", "")
	if err != nil {
		t.Fatal(err)
	}
	var serials []string
	for i, a := range args {
		if a == "-serial" && i+1 < len(args) {
			serials = append(serials, args[i+1])
		}
	}
	if len(serials) != 2 || serials[0] != "stdio" || serials[1] != "tcp:127.0.0.1:4321,server=on,wait=off,nodelay=on" {
		t.Errorf("serial ports %q: want COM1 on stdio and COM2 on localhost:4321", serials)
	}
	if slices.Contains(args, "-gdb") || slices.Contains(args, "-S") {
		t.Errorf("-gdb-port must not start QEMU's gdbstub: %q", args)
	}
}

func TestArgsISOAndUEFI(t *testing.T) {
	c := Config{Kernel: "/a,b/x.iso", UEFI: true, OVMFCode: "/fw/CODE.fd"}
	args, err := c.Args(KindISO, "tcg", "/tmp/VARS.fd")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"if=pflash,format=raw,readonly=on,file=/fw/CODE.fd",
		"if=pflash,format=raw,file=/tmp/VARS.fd",
		"media=cdrom,readonly=on,file=/a,,b/x.iso", // commas escaped for QEMU
		"-boot d",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("args lack %q: %s", want, joined)
		}
	}
	if slices.Contains(args, "-kernel") {
		t.Errorf("ISO boot uses -kernel: %s", joined)
	}
}

func TestArgsErrors(t *testing.T) {
	if _, err := (&Config{Kernel: "k.elf", UEFI: true}).Args(KindKernelELF, "tcg", ""); err == nil {
		t.Error("UEFI with a kernel ELF accepted")
	}
	if _, err := (&Config{Kernel: "k.elf"}).Args(KindKernelELF, "tcg", ""); err == nil {
		t.Error("kernel ELF without stub accepted")
	}
	if _, err := (&Config{Kernel: "a b/k.elf", Stub: "s"}).Args(KindKernelELF, "tcg", ""); err == nil {
		t.Error("-initrd path with a space accepted")
	}
}

func TestProbeImageHeaders(t *testing.T) {
	img, err := ProbeImage("hello", 3)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(off int, n int) uint32 {
		var s uint32
		for i := 0; i < n; i++ {
			s += uint32(img[off+4*i]) | uint32(img[off+4*i+1])<<8 | uint32(img[off+4*i+2])<<16 | uint32(img[off+4*i+3])<<24
		}
		return s
	}
	if sum(0, 3) != 0 {
		t.Error("multiboot1 checksum does not add up to 0")
	}
	if sum(0x20, 4) != 0 {
		t.Error("multiboot2 checksum does not add up to 0")
	}
	if _, err := ProbeImage(strings.Repeat("x", 4096), 0); err == nil {
		t.Error("oversized message accepted")
	}
}

func TestArgsDisplayAndMonitor(t *testing.T) {
	c := Config{Kernel: "k.elf", Stub: "stub", Display: "gtk", Monitor: "/tmp/a,b/mon.sock"}
	args, err := c.Args(KindKernelELF, "tcg", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := argAfter(args, "-display"); got != "gtk" {
		t.Errorf("-display %q", got)
	}
	if got := argAfter(args, "-monitor"); got != "unix:/tmp/a,,b/mon.sock,server=on,wait=off" {
		t.Errorf("-monitor %q", got)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		mode string
		env  map[string]string
		want string
	}{
		{"", nil, "none"}, {"none", map[string]string{"DISPLAY": ":0"}, "none"},
		{"auto", nil, "none"}, {"auto", map[string]string{"DISPLAY": ":0"}, "gtk"},
		{"auto", map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, "gtk"}, {"sdl", nil, "sdl"},
	} {
		if got := ResolveDisplay(c.mode, env(c.env)); got != c.want {
			t.Errorf("ResolveDisplay(%q, %v) = %q, want %q", c.mode, c.env, got, c.want)
		}
	}
}

func TestLastLines(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\r\nb\r\nc\r\n", 2, "b\r\nc\n"},
		{"a\nb", 5, "a\nb\n"},
		{"", 3, "\n"},
	} {
		if got := LastLines(c.s, c.n); got != c.want {
			t.Errorf("LastLines(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}
