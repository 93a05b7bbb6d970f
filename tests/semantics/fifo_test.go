package semantics

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFIFO: named pipes made by mkfifo and mknod. Opening one end waits
// for the other; bytes pass through the netpoller (os puts FIFOs there);
// the reader sees EOF when the writer goes; O_NONBLOCK and O_RDWR opens
// follow Linux; an unlinked FIFO still carries bytes while open.
func TestFIFO(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(name, 0o640); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&fs.ModeNamedPipe == 0 || st.Mode().Perm() != 0o640&^umask() || st.Size() != 0 {
		t.Errorf("stat: mode %v size %d, want a named pipe, %o", st.Mode(), st.Size(), 0o640&^umask())
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 || ents[0].Type() != fs.ModeNamedPipe {
		t.Errorf("readdir: %v, %v; want one named pipe", ents, err)
	}
	if err := syscall.Mkfifo(name, 0o600); err != syscall.EEXIST {
		t.Errorf("mkfifo over an existing name: %v, want EEXIST", err)
	}

	// A non-blocking writer with no reader: ENXIO. A non-blocking reader
	// opens at once and reads EOF: no writer.
	if _, err := syscall.Open(name, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err != syscall.ENXIO {
		t.Errorf("O_WRONLY|O_NONBLOCK with no reader: %v, want ENXIO", err)
	}
	if fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_NONBLOCK, 0); err != nil {
		t.Errorf("O_RDONLY|O_NONBLOCK: %v", err)
	} else {
		if n, err := syscall.Read(fd, make([]byte, 8)); n != 0 || err != nil {
			t.Errorf("read with no writer: %d, %v; want 0 (EOF)", n, err)
		}
		syscall.Close(fd)
	}

	// Blocking opens meet: the reader waits for the writer.
	rc := make(chan *os.File, 1)
	opened := make(chan time.Time, 1)
	go func() {
		r, err := os.Open(name)
		opened <- time.Now()
		if err != nil {
			t.Error(err)
		}
		rc <- r
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case <-opened:
		t.Fatal("open O_RDONLY of a FIFO returned with no writer")
	default:
	}
	w, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := <-rc
	if r == nil {
		t.FailNow()
	}
	defer r.Close()
	go func() {
		w.Write([]byte("through the fifo"))
		time.Sleep(20 * time.Millisecond)
		w.Close()
	}()
	b, err := io.ReadAll(r) // blocks in the netpoller until EOF
	if err != nil || string(b) != "through the fifo" {
		t.Errorf("read %q, %v", b, err)
	}

	// The writer first this time: the reader, opened after it, still
	// sees EOF (epoll's hang-up) when it goes.
	wc := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
		}
		wc <- w
	}()
	time.Sleep(50 * time.Millisecond)
	r2, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	w2 := <-wc
	if w2 == nil {
		t.FailNow()
	}
	go func() {
		w2.Write([]byte("second"))
		time.Sleep(20 * time.Millisecond)
		w2.Close()
	}()
	if b, err := io.ReadAll(r2); err != nil || string(b) != "second" {
		t.Errorf("writer first: read %q, %v", b, err)
	}

	// O_RDWR never waits, and is both ends; unlinked, it still works.
	rw, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("O_RDWR: %v", err)
	}
	defer rw.Close()
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Write([]byte("loop")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := rw.Read(buf); err != nil || string(buf[:n]) != "loop" {
		t.Errorf("O_RDWR read back %q, %v", buf[:n], err)
	}
	if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat after unlink: %v", err)
	}
}

// TestMknod: mknod makes FIFOs and regular files; a directory type is
// EPERM and an unknown type EINVAL, checked before the path.
func TestMknod(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := syscall.Mknod(file, syscall.S_IFREG|0o600, 0); err != nil {
		t.Fatalf("mknod S_IFREG: %v", err)
	}
	if st, err := os.Stat(file); err != nil || !st.Mode().IsRegular() {
		t.Errorf("stat: %v, %v; want a regular file", st, err)
	}
	if err := syscall.Mknod(filepath.Join(dir, "p"), syscall.S_IFIFO|0o600, 0); err != nil {
		t.Errorf("mknod S_IFIFO: %v", err)
	}
	if err := syscall.Mknod(file, syscall.S_IFIFO|0o600, 0); err != syscall.EEXIST {
		t.Errorf("mknod over a file: %v, want EEXIST", err)
	}
	if err := syscall.Mknod(filepath.Join(dir, "d"), syscall.S_IFDIR|0o700, 0); err != syscall.EPERM {
		t.Errorf("mknod S_IFDIR: %v, want EPERM", err)
	}
	if err := syscall.Mknod(filepath.Join(dir, "missing", "x"), 0o070000|0o600, 0); err != syscall.EINVAL {
		t.Errorf("mknod of an unknown type: %v, want EINVAL", err)
	}
	if err := syscall.Mknod(filepath.Join(dir, "missing", "x"), syscall.S_IFIFO|0o600, 0); err != syscall.ENOENT {
		t.Errorf("mknod in a missing directory: %v, want ENOENT", err)
	}
}

func umask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}
