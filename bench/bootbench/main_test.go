package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(5), 5 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond},
		{ms(4, 1, 3, 2), 2500 * time.Microsecond},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestMedianRatio(t *testing.T) {
	v := []boot{{marker: 100}, {marker: 200}, {marker: 100}}
	l := []boot{{marker: 2000}, {marker: 2000}, {marker: 3000}}
	if got := medianRatio(l, v); got != 20 {
		t.Errorf("medianRatio = %v, want 20", got)
	}
}

func TestCPUTime(t *testing.T) {
	if d := cpuTime(os.Getpid()); d < 0 {
		t.Errorf("cpuTime(self) = %v", d)
	}
	if d := cpuTime(-5); d != -1 {
		t.Errorf("cpuTime(-5) = %v, want -1", d)
	}
}

func TestShellLine(t *testing.T) {
	got := shellLine("q", []string{"-append", "", "-append", "a b", "x"})
	if want := `q -append '' -append 'a b' x`; got != want {
		t.Errorf("shellLine = %q, want %q", got, want)
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
	if err := makeInitramfs(bin, out); err != nil {
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
