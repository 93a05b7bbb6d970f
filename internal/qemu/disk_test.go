package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiskArgs(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "m,1.gguf"), filepath.Join(dir, "b")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args, err := DiskArgs([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	want := "-drive if=none,id=vda,format=raw,readonly=on,file=" + strings.ReplaceAll(a, ",", ",,") + " -device virtio-blk-pci,drive=vda " +
		"-drive if=none,id=vdb,format=raw,readonly=on,file=" + b + " -device virtio-blk-pci,drive=vdb"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := DiskArgs([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing file was accepted")
	}
	if _, err := DiskArgs([]string{dir}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
}
