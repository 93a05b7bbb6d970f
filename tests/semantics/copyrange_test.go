package semantics

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"github.com/velocityos/velocity/kernel"
)

// TestCopyFileRange: os.File.ReadFrom between two files uses
// copy_file_range, which the kernel serves for files under /tmp (the
// bytes arrive, both positions move); from the image's read-only file
// system to /tmp the call is EXDEV, as Linux says between file systems
// without a copy of their own, and Go copies through memory instead.
func TestCopyFileRange(t *testing.T) {
	dir := t.TempDir()
	want := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16,000 bytes: several pages, unaligned
	src, err := os.Create(filepath.Join(dir, "src"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Write(want); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(filepath.Join(dir, "dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := dst.Write([]byte("xyz")); err != nil {
		t.Fatal(err)
	}

	// The raw call first, so that a silent fallback could not hide it.
	offIn, offOut := int64(100), int64(3)
	n, _, e := syscall.Syscall6(326, src.Fd(), uintptr(unsafe.Pointer(&offIn)), dst.Fd(), uintptr(unsafe.Pointer(&offOut)), 5000, 0)
	if e != 0 || n != 5000 || offIn != 5100 || offOut != 5003 {
		t.Fatalf("copy_file_range(src@100, dst@3, 5000) = %d, %v; offsets now %d, %d", n, e, offIn, offOut)
	}
	got, err := os.ReadFile(dst.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:3], []byte("xyz")) || !bytes.Equal(got[3:], want[100:5100]) {
		t.Fatalf("after copy_file_range: dst holds %d bytes, not xyz and src[100:5100]", len(got))
	}

	// os's path: from src's position (5) to dst's (3, after the write).
	if _, err := dst.ReadFrom(src); err != nil {
		t.Fatal(err)
	}
	got, err = os.ReadFile(dst.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append([]byte("xyz"), want[5:]...)) {
		t.Fatalf("after ReadFrom: dst holds %d bytes, want %d", len(got), 3+len(want)-5)
	}
	if pos, _ := src.Seek(0, io.SeekCurrent); pos != int64(len(want)) {
		t.Fatalf("src position %d after ReadFrom, want %d", pos, len(want))
	}

	// From the image (a file system of its own inside Velocity).
	img, err := os.Open("testdata/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	hello, err := os.ReadFile("testdata/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	if kernel.OnVelocity() {
		offIn, offOut = 0, 0
		_, _, e := syscall.Syscall6(326, img.Fd(), uintptr(unsafe.Pointer(&offIn)), dst.Fd(), uintptr(unsafe.Pointer(&offOut)), 8, 0)
		if e != syscall.EXDEV {
			t.Fatalf("copy_file_range(image file, /tmp file): %v, want EXDEV", e)
		}
	}
	out, err := os.Create(filepath.Join(dir, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, img); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out.Name()); !bytes.Equal(got, hello) {
		t.Fatalf("io.Copy from the image: %q, want %q", got, hello)
	}
}
