package qemu

import (
	"context"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testdata/kvm-emulation-failure.txt is QEMU 7.2's error output when a
// nested KVM could not emulate the kernel's first Go instruction.
func readKVMReport(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/kvm-emulation-failure.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestParseKVMError(t *testing.T) {
	e, ok := parseKVMError("qemu-system-x86_64: warning: host doesn't support requested feature\n" + readKVMReport(t))
	if !ok {
		t.Fatal("no KVM error found in the report")
	}
	if e.Reason != "emulation failure" || e.RIP != 0x10cb84d {
		t.Fatalf("got reason %q RIP %#x, want emulation failure at 0x10cb84d", e.Reason, e.RIP)
	}
	e.Symbol = "runtime.vkBoot.abi0+0xd"
	msg := e.Error()
	for _, want := range []string{"emulation failure at RIP 0x10cb84d (runtime.vkBoot.abi0+0xd)", "-accel tcg", "qemu stderr:\nqemu-system-x86_64: warning"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if e, ok := parseKVMError("KVM internal error. Suberror: 3\n"); !ok || e.Reason != "suberror 3" || e.RIP != 0 {
		t.Errorf("suberror 3 without a dump: got %+v, %v", e, ok)
	}
	if _, ok := parseKVMError("qemu-system-x86_64: -accel kvm: failed to initialize kvm: Permission denied\n"); ok {
		t.Error("an error that is not KVM's internal error was taken for one")
	}
}

// TestKVMWatch feeds the report in small pieces, as a pipe may deliver
// it: seen must close at the first line and done only after the Code=
// line is whole.
func TestKVMWatch(t *testing.T) {
	report := readKVMReport(t)
	w := newKVMWatch()
	w.Write([]byte(strings.Repeat("qemu-system-x86_64: warning: something\n", 3000))) // past the trim
	closed := func(c chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	code := strings.Index(report, "\nCode=")
	for i := 0; i < len(report); i += 7 {
		end := min(i+7, len(report))
		w.Write([]byte(report[i:end]))
		if got, want := closed(w.seen), end >= len(kvmMarker); got != want {
			t.Fatalf("after %d bytes: seen closed %v, want %v", end, got, want)
		}
		if closed(w.done) && end < len(report) && !strings.Contains(report[code+1:end], "\n") {
			t.Fatalf("done closed after %d bytes, before the Code= line ended", end)
		}
	}
	if !closed(w.done) {
		t.Fatal("done not closed after the whole report")
	}
}

func TestSymbolAt(t *testing.T) {
	syms := []elf.Symbol{
		{Name: "runtime.b", Value: 0x2000, Size: 0x10, Info: byte(elf.STT_FUNC)},
		{Name: "runtime.a", Value: 0x1000, Size: 0x100, Info: byte(elf.STT_FUNC)},
		{Name: "asm", Value: 0x3000, Info: byte(elf.STT_FUNC)},
		{Name: "data", Value: 0x1050, Size: 8, Info: byte(elf.STT_OBJECT)},
	}
	for pc, want := range map[uint64]string{
		0x1000: "runtime.a+0x0",
		0x1050: "runtime.a+0x50",
		0x1100: "", // past a's end, before b
		0x200f: "runtime.b+0xf",
		0x3040: "asm+0x40", // no size: up to the next symbol
		0x0fff: "",
	} {
		if got := symbolAt(syms, pc); got != want {
			t.Errorf("symbolAt(%#x) = %q, want %q", pc, got, want)
		}
	}
}

// TestRunKVMErrorEndsAtOnce runs a stand-in for QEMU that prints the
// report and then waits paused, as QEMU does: Run must end it well before
// the timeout and say what happened.
func TestRunKVMErrorEndsAtOnce(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report.txt")
	if err := os.WriteFile(report, []byte(readKVMReport(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "fake-qemu")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat "+report+" >&2\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := run(context.Background(), Config{Binary: script, Stdout: os.Stdout, Timeout: 30 * time.Second}, nil, "")
	var ke *KVMError
	if !errors.As(err, &ke) {
		t.Fatalf("Run returned %v, want a *KVMError", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Run took %v to give up on a paused QEMU", took)
	}
	if ke.RIP != 0x10cb84d {
		t.Errorf("RIP %#x, want 0x10cb84d", ke.RIP)
	}
}
