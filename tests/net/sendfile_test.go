package net

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand"
	gonet "net"
	"os"
	"syscall"
	"testing"
)

// The tests here call sendfile and splice themselves, on the fds of net's
// connections, so that a kernel that refused them (EINVAL, which Go's
// io.Copy takes as "copy through memory") fails instead of passing
// quietly; io.Copy's own use of them is checked too, by the bytes.

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*gonet.TCPConn, *gonet.TCPConn) {
	t.Helper()
	ln, err := gonet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   gonet.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	c, err := gonet.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { c.Close(); r.c.Close() })
	return c.(*gonet.TCPConn), r.c.(*gonet.TCPConn)
}

// tempData makes a file of n pseudo-random bytes in the temporary
// directory (/tmp in the kernel) and returns it, open, and its bytes.
func tempData(t *testing.T, n int, seed int64) (*os.File, []byte) {
	t.Helper()
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	f, err := os.CreateTemp("", "sendfile")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(); os.Remove(f.Name()) })
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return f, b
}

// drainHash reads c to its end in a goroutine and sends the bytes' hash.
func drainHash(c io.Reader) <-chan [32]byte {
	ch := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		io.Copy(h, c)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		ch <- s
	}()
	return ch
}

// sendfileRaw sends n bytes of src from *off over c with sendfile(2)
// itself, waiting in the netpoller while the socket is full.
func sendfileRaw(t *testing.T, c syscall.Conn, src *os.File, off *int64, n int) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	sent, calls := 0, 0
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		for sent < n {
			m, err := syscall.Sendfile(int(fd), int(src.Fd()), off, n-sent)
			calls++
			if m > 0 {
				sent += m
			}
			switch {
			case errors.Is(err, syscall.EAGAIN):
				return false
			case errors.Is(err, syscall.EINTR):
			case err != nil:
				serr = err
				return true
			case m == 0:
				serr = io.ErrUnexpectedEOF
				return true
			}
		}
		return true
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		t.Fatalf("sendfile after %d of %d bytes (%d calls): %v", sent, n, calls, err)
	}
}

// TestSendfileTCP serves a /tmp file and the test's own executable (an
// image file in the kernel) over TCP with sendfile and an offset pointer:
// the bytes arrive intact, the offset advances and the file position
// stays where it was.
func TestSendfileTCP(t *testing.T) {
	tmp, data := tempData(t, 700<<10+123, 1)
	// The executable is in the image when the kernel was told its path
	// (velocity test); a kernel booted without it has the generated
	// /etc/hosts, a small image file.
	exe, err := os.Executable()
	if err != nil {
		exe = "/etc/hosts"
	}
	img, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	st, err := img.Stat()
	if err != nil {
		t.Fatal(err)
	}
	start := min(st.Size()/2, 4096)
	n := int(min(st.Size()-start, 3<<20))
	imgData := make([]byte, n)
	if _, err := img.ReadAt(imgData, start); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		f     *os.File
		start int64
		want  []byte
	}{{"tmp", tmp, 0, data}, {"image", img, start, imgData}} {
		t.Run(c.name, func(t *testing.T) {
			a, b := tcpPair(t)
			sum := drainHash(b)
			off := c.start
			sendfileRaw(t, a, c.f, &off, len(c.want))
			a.CloseWrite()
			if got := <-sum; got != sha256.Sum256(c.want) {
				t.Fatalf("the bytes that arrived are not the file's")
			}
			if off != c.start+int64(len(c.want)) {
				t.Errorf("offset %d after sendfile, want %d", off, c.start+int64(len(c.want)))
			}
			if pos, _ := c.f.Seek(0, io.SeekCurrent); pos != 0 {
				t.Errorf("file position %d after sendfile with an offset, want 0", pos)
			}
		})
	}
}

// TestSendfileIOCopy: io.Copy from a file to a TCP connection (which Go
// does with sendfile and no offset) moves the file's position.
func TestSendfileIOCopy(t *testing.T) {
	f, data := tempData(t, 300<<10, 2)
	f.Seek(1000, io.SeekStart)
	a, b := tcpPair(t)
	sum := drainHash(b)
	n, err := io.Copy(a, f)
	if err != nil || n != int64(len(data)-1000) {
		t.Fatalf("io.Copy: %d, %v", n, err)
	}
	a.CloseWrite()
	if got := <-sum; got != sha256.Sum256(data[1000:]) {
		t.Fatal("the bytes that arrived are not the file's")
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != int64(len(data)) {
		t.Errorf("file position %d, want %d", pos, len(data))
	}
}

// TestSendfileBlockingUnix: sendfile to a blocking AF_UNIX stream socket
// sends everything it is asked to, waiting for the reader.
func TestSendfileBlockingUnix(t *testing.T) {
	f, data := tempData(t, 400<<10, 3)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := os.NewFile(uintptr(fds[1]), "reader")
	defer r.Close()
	sum := drainHash(r)
	sent := 0
	for sent < len(data) {
		n, err := syscall.Sendfile(fds[0], int(f.Fd()), nil, len(data)-sent)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("sendfile after %d bytes: %d, %v", sent, n, err)
		}
		sent += n
	}
	syscall.Close(fds[0])
	if got := <-sum; got != sha256.Sum256(data) {
		t.Fatal("the bytes that arrived are not the file's")
	}
}

// splice moves up to n bytes with splice(2), retrying EINTR.
func splice(in, out, n int, flags int) (int, error) {
	for {
		m, err := syscall.Splice(in, nil, out, nil, n, flags)
		if err != syscall.EINTR {
			return int(m), err
		}
	}
}

// TestSpliceSocketPipeFile: what a TCP peer sends goes socket → pipe →
// /tmp file with splice(2), as Go's os.File.ReadFrom does; a pipe that
// is full or a socket that is empty is EAGAIN with SPLICE_F_NONBLOCK.
func TestSpliceSocketPipeFile(t *testing.T) {
	_, data := tempData(t, 500<<10, 4)
	out, err := os.CreateTemp("", "splice")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	a, b := tcpPair(t)
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	// Nothing sent yet: the socket is empty.
	rc, err := b.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	rc.Control(func(fd uintptr) { _, serr = splice(int(fd), p[1], 4096, 2) })
	if serr != syscall.EAGAIN {
		t.Errorf("splice from an empty non-blocking socket: %v, want EAGAIN", serr)
	}
	serr = nil
	go func() {
		a.Write(data)
		a.CloseWrite()
	}()
	total := 0
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, err := splice(int(fd), p[1], 1<<20, 2) // SPLICE_F_NONBLOCK
			if err == syscall.EAGAIN {
				return false
			}
			if err != nil {
				serr = err
				return true
			}
			if n == 0 {
				return true // the peer is done
			}
			for n > 0 {
				m, err := splice(p[0], int(out.Fd()), n, 0)
				if err != nil || m == 0 {
					serr = err
					if err == nil {
						serr = io.ErrUnexpectedEOF
					}
					return true
				}
				n -= m
				total += m
			}
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		t.Fatalf("splice after %d bytes: %v", total, err)
	}
	got, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("the file holds %d bytes that are not the %d sent", len(got), len(data))
	}
	if pos, _ := out.Seek(0, io.SeekCurrent); pos != int64(len(data)) {
		t.Errorf("file position %d, want %d", pos, len(data))
	}
}

// TestSplicePipeToSocket: bytes written to a pipe go to a TCP connection
// with splice(2).
func TestSplicePipeToSocket(t *testing.T) {
	_, data := tempData(t, 200<<10, 5)
	a, b := tcpPair(t)
	sum := drainHash(b)
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	go func() {
		w := os.NewFile(uintptr(p[1]), "pipe")
		w.Write(data)
		w.Close()
	}()
	rc, err := a.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		for {
			n, err := splice(p[0], int(fd), 64<<10, 0)
			if err == syscall.EAGAIN {
				return false // the socket is full: the bytes stay in the pipe
			}
			if err != nil || n == 0 {
				serr = err
				return true
			}
			total += n
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		t.Fatalf("splice after %d bytes: %v", total, err)
	}
	a.CloseWrite()
	if got := <-sum; total != len(data) || got != sha256.Sum256(data) {
		t.Fatalf("%d bytes spliced of %d, or not the bytes written", total, len(data))
	}
}

// TestSpliceIOCopy: io.Copy between TCP connections, and from a TCP
// connection to a file, which Go does with splice through a pipe.
func TestSpliceIOCopy(t *testing.T) {
	_, data := tempData(t, 600<<10, 6)
	up1, up2 := tcpPair(t)
	down1, down2 := tcpPair(t)
	go func() {
		up1.Write(data)
		up1.CloseWrite()
	}()
	sum := drainHash(down2)
	n, err := io.Copy(down1, up2)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("io.Copy between connections: %d, %v", n, err)
	}
	down1.CloseWrite()
	if got := <-sum; got != sha256.Sum256(data) {
		t.Fatal("the bytes that arrived are not the ones sent")
	}

	out, err := os.CreateTemp("", "splice")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	c1, c2 := tcpPair(t)
	go func() {
		c1.Write(data)
		c1.CloseWrite()
	}()
	if n, err := io.Copy(out, c2); err != nil || n != int64(len(data)) {
		t.Fatalf("io.Copy to a file: %d, %v", n, err)
	}
	if got, _ := os.ReadFile(out.Name()); !bytes.Equal(got, data) {
		t.Fatal("the file does not hold the bytes sent")
	}
}
