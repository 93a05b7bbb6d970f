package guest

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestShellLine(t *testing.T) {
	got := ShellLine("q", []string{"-append", "", "-append", "a b", "x"})
	if want := `q -append '' -append 'a b' x`; got != want {
		t.Errorf("ShellLine = %q, want %q", got, want)
	}
}

// TestInitramfs checks that the archive is gzip'd newc cpio with /init.
func TestInitramfs(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "initramfs.cpio.gz")
	if err := MakeInitramfs(bin, out); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("070701")) {
		t.Fatalf("not a newc archive: %q", data[:min(len(data), 16)])
	}
	if !bytes.Contains(data, []byte("init\x00")) || !bytes.Contains(data, []byte("TRAILER!!!")) {
		t.Errorf("archive lacks init or the trailer")
	}
}
