package boot

// End-to-end tests of BOOT_ND.BIN: build the stub and testdata/kernel.S with
// build.sh, boot them in QEMU (TCG) through every supported loader path and
// check what the test kernel reports on COM1 and the isa-debug-exit status:
// 1 = test kernel exited 0 (all good), 7 = the stub failed (code 3).

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const aptHint = "apt-get install -y binutils qemu-system-x86 grub-pc-bin grub-efi-amd64-bin grub-common xorriso mtools ovmf"

const (
	statusKernelOK = 1 // (0<<1)|1: test kernel wrote 0 to port 0xf4
	statusStubFail = 7 // (3<<1)|1: BOOT_ND wrote 3
	ovmfCode       = "/usr/share/OVMF/OVMF_CODE.fd"
	ovmfVars       = "/usr/share/OVMF/OVMF_VARS.fd"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found; install the test dependencies with: %s", tool, aptHint)
		}
	}
}

// buildAll runs build.sh into a fresh directory and returns the stub and
// the test kernel.
func buildAll(t *testing.T) (stub, kernel string) {
	t.Helper()
	need(t, "as", "ld", "sh")
	dir := t.TempDir()
	if out, err := exec.Command("sh", "build.sh", dir, "testkernel").CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	return filepath.Join(dir, FileName), filepath.Join(dir, "testkernel.elf")
}

type run struct {
	serial string
	status int
	first  time.Duration // QEMU start to the first byte of the test kernel or stub
}

// qemu boots with the common flags plus args and waits for QEMU to exit.
func qemu(t *testing.T, timeout time.Duration, args ...string) run {
	t.Helper()
	need(t, "qemu-system-x86_64")
	serial := filepath.Join(t.TempDir(), "serial.txt")
	argv := append([]string{"-accel", "tcg", "-display", "none", "-serial", "file:" + serial,
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-no-reboot", "-m", "256"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Poll the serial file to time the first byte that is ours: firmware and
	// GRUB write to the same port before us.
	var r run
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case err := <-done:
			waiting = false
			if ctx.Err() != nil {
				out, _ := os.ReadFile(serial)
				t.Fatalf("qemu timed out after %v; serial:\n%s\nstderr:\n%s", timeout, out, stderr.String())
			}
			if _, ok := err.(*exec.ExitError); err != nil && !ok {
				t.Fatalf("qemu: %v", err)
			}
		case <-tick.C:
			if r.first == 0 {
				if b, _ := os.ReadFile(serial); bytes.Contains(b, []byte("VELOTEST")) || bytes.Contains(b, []byte("BOOT_ND")) {
					r.first = time.Since(start)
				}
			}
		}
	}
	out, err := os.ReadFile(serial)
	if err != nil {
		t.Fatal(err)
	}
	r.serial = strings.ReplaceAll(string(out), "\r", "")
	r.status = cmd.ProcessState.ExitCode()
	if stderr.Len() > 0 {
		t.Logf("qemu stderr: %s", stderr.String())
	}
	return r
}

// report parses the test kernel's "key=value" lines.
func report(t *testing.T, r run) map[string]string {
	t.Helper()
	if r.status != statusKernelOK || !strings.Contains(r.serial, "VELOTEST: done") {
		t.Fatalf("exit status %d, want %d; serial:\n%s", r.status, statusKernelOK, r.serial)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(r.serial, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.Contains(k, " ") {
			kv[k] = v
		}
	}
	return kv
}

func num(t *testing.T, kv map[string]string, key string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(kv[key], 0, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", key, kv[key], err)
	}
	return n
}

// checkHandover asserts what every successful boot must report.
func checkHandover(t *testing.T, kv map[string]string, r run, wantFlags uint64, cmdline string) {
	t.Helper()
	if got := kv["cmdline"]; got != "["+cmdline+"]" {
		t.Errorf("cmdline = %.80q..., want [%.80q...]", got, cmdline)
	}
	if got := num(t, kv, "cmdline_len"); got != uint64(len(cmdline)) {
		t.Errorf("cmdline_len = %d, want %d", got, len(cmdline))
	}
	if f := num(t, kv, "flags"); f&wantFlags != wantFlags {
		t.Errorf("flags = %#x, want bits %#x", f, wantFlags)
	}
	if n := num(t, kv, "mmap_count"); n == 0 || n > 128 {
		t.Errorf("mmap_count = %d", n)
	}
	if u := num(t, kv, "usable_bytes"); u < 200<<20 || u > 256<<20 {
		t.Errorf("usable_bytes = %d, want about 256 MiB", u)
	}
	if kv["rsdp"] != "ok" {
		t.Errorf("rsdp = %q, want ok", kv["rsdp"])
	}
	if kv["bss"] != "zero" || num(t, kv, "bss_bytes") != 40<<20 {
		t.Errorf("bss = %q (%s bytes), want zero (40 MiB)", kv["bss"], kv["bss_bytes"])
	}
	if kv["rsp_ok"] != "1" {
		t.Errorf("rsp = %s not 16-byte aligned inside the stub", kv["rsp"])
	}
	if s, e := num(t, kv, "image_start"), num(t, kv, "image_end"); s != 0x1001000 || e < s+40<<20 {
		t.Errorf("image = %#x-%#x", s, e)
	}
	cr0, cr4, efer := num(t, kv, "cr0"), num(t, kv, "cr4"), num(t, kv, "efer")
	const pe, mp, em, wp, pg = 1, 2, 4, 1 << 16, 1 << 31
	if cr0&(pe|mp|wp|pg) != pe|mp|wp|pg || cr0&em != 0 {
		t.Errorf("cr0 = %#x", cr0)
	}
	if cr4&(1<<5|1<<9|1<<10) != 1<<5|1<<9|1<<10 {
		t.Errorf("cr4 = %#x, want PAE|OSFXSR|OSXMMEXCPT", cr4)
	}
	if efer&(1<<8|1<<10|1<<11) != 1<<8|1<<10|1<<11 {
		t.Errorf("efer = %#x, want LME|LMA|NXE", efer)
	}
	t.Logf("first serial byte %v after QEMU start; stub entry->kernel %s TSC ticks; 40 MiB BSS clear %s ticks (%s)",
		r.first.Round(time.Millisecond), kv["stub_cycles"], kv["bss_clear_cycles"], ticksToTime(num(t, kv, "bss_clear_cycles")))
}

// ticksToTime converts guest TSC ticks to time. Under TCG the guest TSC is
// the host's, so the host's nominal clock is a fair approximation.
func ticksToTime(ticks uint64) string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			if mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && mhz > 0 {
				return fmt.Sprintf("~%v at %.0f MHz", time.Duration(float64(ticks)/mhz*1e3), mhz)
			}
		}
	}
	return "host clock unknown"
}

func TestBuildMatchesScript(t *testing.T) {
	stub, _ := buildAll(t)
	path, err := Build(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(stub)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("Build output (%d bytes) differs from build.sh output (%d bytes)", len(b), len(a))
	}
	// Header placement the loaders require.
	if len(b) < 52 || string(b[:4]) != "\x7fELF" || b[4] != 1 || binary.LittleEndian.Uint16(b[18:]) != 3 {
		t.Fatal("not an ELF32 i386 file")
	}
	find := func(magic uint32, align, limit int) int {
		for off := 0; off+12 <= len(b) && off < limit; off += align {
			if binary.LittleEndian.Uint32(b[off:]) == magic {
				return off
			}
		}
		return -1
	}
	if off := find(0x1BADB002, 4, 8192); off < 0 {
		t.Error("no multiboot1 header in the first 8 KiB")
	} else if sum := binary.LittleEndian.Uint32(b[off:]) + binary.LittleEndian.Uint32(b[off+4:]) + binary.LittleEndian.Uint32(b[off+8:]); sum != 0 {
		t.Errorf("multiboot1 checksum off by %#x", sum)
	}
	if off := find(0xE85250D6, 8, 32768); off < 0 {
		t.Error("no multiboot2 header in the first 32 KiB")
	} else {
		var sum uint32
		for i := 0; i < 4; i++ {
			sum += binary.LittleEndian.Uint32(b[off+4*i:])
		}
		if sum != 0 {
			t.Errorf("multiboot2 checksum off by %#x", sum)
		}
	}
}

func TestMultiboot1(t *testing.T) {
	t.Parallel()
	stub, kernel := buildAll(t)
	args := "console=ttyS0 velocity.test=mb1 x=1"
	r := qemu(t, 60*time.Second, "-kernel", stub, "-initrd", kernel, "-append", args)
	kv := report(t, r)
	checkHandover(t, kv, r, 2, args)
	if kv["loader"] != "[qemu]" {
		t.Errorf("loader = %s, want [qemu]", kv["loader"])
	}
}

func TestMultiboot1NoArgs(t *testing.T) {
	t.Parallel()
	stub, kernel := buildAll(t)
	r := qemu(t, 60*time.Second, "-kernel", stub, "-initrd", kernel)
	checkHandover(t, report(t, r), r, 2, "")
}

func TestMultiboot1LongCmdline(t *testing.T) {
	t.Parallel()
	stub, kernel := buildAll(t)
	long := func(n int) string {
		var sb strings.Builder
		for i := 0; sb.Len() < n; i++ {
			fmt.Fprintf(&sb, "arg%d=%d ", i, i*i)
		}
		return strings.TrimSpace(sb.String()[:n])
	}
	t.Run("3000", func(t *testing.T) {
		t.Parallel()
		args := long(3000)
		r := qemu(t, 60*time.Second, "-kernel", stub, "-initrd", kernel, "-append", args)
		if f := bootFlags(t, r.serial); f&0x10 != 0 {
			t.Errorf("flags %#x: a 3000-byte command line is flagged as cut", f)
		}
		checkHandover(t, report(t, r), r, 2, args)
	})
	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		args := long(6000)
		r := qemu(t, 60*time.Second, "-kernel", stub, "-initrd", kernel, "-append", args)
		if f := bootFlags(t, r.serial); f&0x10 == 0 {
			t.Errorf("flags %#x: the cut command line is not flagged (bit 4)", f)
		}
		checkHandover(t, report(t, r), r, 2, args[:4095])
	})
}

// TestModuleMoved pads the kernel so that the module, which QEMU puts just
// above the stub, reaches into the kernel's load range (and its BSS, with
// non-zero bytes): the stub must move it first and still zero the BSS.
func TestModuleMoved(t *testing.T) {
	t.Parallel()
	stub, kernel := buildAll(t)
	b, err := os.ReadFile(kernel)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, bytes.Repeat([]byte{0xAA}, 24<<20)...)
	padded := filepath.Join(t.TempDir(), "padded.elf")
	if err := os.WriteFile(padded, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := qemu(t, 60*time.Second, "-kernel", stub, "-initrd", padded, "-append", "moved")
	kv := report(t, r)
	checkHandover(t, kv, r, 2, "moved")
	if elf, end := num(t, kv, "elf"), num(t, kv, "image_end"); elf < end {
		t.Errorf("module at %#x was not moved above image_end %#x", elf, end)
	}
	if num(t, kv, "elf_size") != uint64(len(b)) {
		t.Errorf("elf_size = %s, want %d", kv["elf_size"], len(b))
	}
}

func TestBadKernel(t *testing.T) {
	t.Parallel()
	stub, kernel := buildAll(t)
	good, err := os.ReadFile(kernel)
	if err != nil {
		t.Fatal(err)
	}
	// Offsets into the ELF64 header and the first program header.
	phoff := binary.LittleEndian.Uint64(good[32:])
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	cases := []struct {
		name string
		elf  []byte // nil: no module at all
		want string
		cpu  string // QEMU -cpu model, if not the default
	}{
		{"no-module", nil, "no kernel module", ""},
		{"truncated-header", good[:40], "kernel ELF is truncated (smaller than an ELF header)", ""},
		{"truncated-segment", good[:0x1100], "kernel ELF is truncated (segment data past end of file)", ""},
		{"non-elf", []byte("#!/bin/sh\necho this is not a kernel\n"), "kernel module is not an ELF file (bad magic)", ""},
		{"elf32", edit(func(b []byte) { b[4] = 1 }), "kernel ELF is not 64-bit (ELFCLASS64 required)", ""},
		{"wrong-machine", edit(func(b []byte) { binary.LittleEndian.PutUint16(b[18:], 183) }), "kernel ELF is not for x86-64 (e_machine != EM_X86_64)", ""},
		{"outside-ram", edit(func(b []byte) { binary.LittleEndian.PutUint64(b[phoff+24:], 0x40000000) }), "kernel ELF segment lies outside usable RAM", ""},
		{"over-stub", edit(func(b []byte) { binary.LittleEndian.PutUint64(b[phoff+24:], 0x100000) }), "kernel ELF segment overlaps the boot stub", ""},
		{"no-long-mode", good, "CPU does not support 64-bit long mode (x86-64)", "qemu32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"-kernel", stub, "-append", "bad"}
			if c.elf != nil {
				mod := filepath.Join(t.TempDir(), "kernel.elf")
				if err := os.WriteFile(mod, c.elf, 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-initrd", mod)
			}
			if c.cpu != "" {
				args = append(args, "-cpu", c.cpu)
			}
			r := qemu(t, 60*time.Second, args...)
			if r.status != statusStubFail {
				t.Errorf("exit status %d, want %d", r.status, statusStubFail)
			}
			if !strings.Contains(r.serial, "BOOT_ND: "+c.want) {
				t.Errorf("serial output %q does not contain %q", r.serial, "BOOT_ND: "+c.want)
			}
			if strings.Contains(r.serial, "VELOTEST") {
				t.Errorf("test kernel ran")
			}
		})
	}
}

// TestGRUB boots one hybrid ISO made by grub-mkrescue through GRUB's BIOS
// and UEFI (OVMF) multiboot2 paths.
func TestGRUB(t *testing.T) {
	t.Parallel()
	need(t, "grub-mkrescue", "xorriso", "mformat")
	stub, kernel := buildAll(t)
	root := t.TempDir()
	iso := filepath.Join(root, "velocity.iso")
	tree := filepath.Join(root, "iso")
	args := "velocity.test=grub a=b last" // GRUB collapses runs of spaces
	// all_video + gfxpayload=auto: on UEFI, GRUB sets a GOP mode and passes a
	// framebuffer tag; on BIOS (VGA text available) gfxpayload is ignored.
	cfg := "set timeout=0\nset default=0\ninsmod all_video\nset gfxpayload=auto\n" +
		"menuentry velocity {\n\tmultiboot2 /boot/BOOT_ND.BIN " + args + "\n\tmodule2 /boot/kernel.elf kernel\n\tboot\n}\n"
	for name, data := range map[string]string{"boot/grub/grub.cfg": cfg, "boot/BOOT_ND.BIN": stub, "boot/kernel.elf": kernel} {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		content := []byte(data)
		if name != "boot/grub/grub.cfg" {
			var err error
			if content, err = os.ReadFile(data); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("grub-mkrescue", "-o", iso, tree).CombinedOutput(); err != nil {
		t.Fatalf("grub-mkrescue: %v\n%s", err, out)
	}

	t.Run("BIOS", func(t *testing.T) {
		t.Parallel()
		r := qemu(t, 120*time.Second, "-cdrom", iso, "-boot", "d")
		kv := report(t, r)
		checkHandover(t, kv, r, 1, args)
		if !strings.HasPrefix(kv["loader"], "[GRUB") {
			t.Errorf("loader = %s", kv["loader"])
		}
	})
	t.Run("UEFI", func(t *testing.T) {
		t.Parallel()
		if _, err := os.Stat(ovmfCode); err != nil {
			t.Skipf("%s missing; install with: %s", ovmfCode, aptHint)
		}
		vars, err := os.ReadFile(ovmfVars)
		if err != nil {
			t.Skipf("%s missing; install with: %s", ovmfVars, aptHint)
		}
		varsCopy := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
		if err := os.WriteFile(varsCopy, vars, 0o644); err != nil {
			t.Fatal(err)
		}
		r := qemu(t, 300*time.Second,
			"-drive", "if=pflash,format=raw,readonly=on,file="+ovmfCode,
			"-drive", "if=pflash,format=raw,file="+varsCopy,
			"-cdrom", iso)
		kv := report(t, r)
		checkHandover(t, kv, r, 1, args)
		if !strings.HasPrefix(kv["loader"], "[GRUB") {
			t.Errorf("loader = %s", kv["loader"])
		}
		if num(t, kv, "flags")&8 == 0 || num(t, kv, "fb_addr") == 0 || num(t, kv, "fb_width") == 0 {
			t.Errorf("no GOP framebuffer: flags=%s fb_addr=%s fb_width=%s", kv["flags"], kv["fb_addr"], kv["fb_width"])
		}
	})
}

// bootFlags returns the boot info flags the test kernel printed.
func bootFlags(t *testing.T, serial string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`flags=0x([0-9a-fA-F]+)`).FindStringSubmatch(serial)
	if m == nil {
		t.Fatalf("no flags line in serial output:\n%.400s", serial)
	}
	f, err := strconv.ParseUint(m[1], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
