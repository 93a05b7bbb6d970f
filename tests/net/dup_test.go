package net

import (
	"io"
	gonet "net"
	"syscall"
	"testing"
	"time"
)

// TestDupSocket: fds that dup makes name the same socket. A dup'd end of
// a socketpair carries data after the original fd is closed, shares the
// socket's identity (fstat), and the peer sees end of file only when the
// last fd goes. On TCP, net's File (which dups with F_DUPFD_CLOEXEC) keeps
// the connection usable after the net.Conn is closed.
func TestDupSocket(t *testing.T) {
	a, b := socketpair(t, syscall.SOCK_STREAM)
	defer syscall.Close(b)
	d, err := syscall.Dup(a)
	if err != nil {
		t.Fatalf("dup of a socket: %v", err)
	}
	var sa, sd syscall.Stat_t
	if err := syscall.Fstat(a, &sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fstat(d, &sd); err != nil {
		t.Fatal(err)
	}
	if sa.Ino != sd.Ino || sa.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		t.Errorf("fstat: inode %d and its dup's %d, mode %#o", sa.Ino, sd.Ino, sa.Mode)
	}
	buf := make([]byte, 16)
	expect := func(fd int, want string) {
		t.Helper()
		n, err := syscall.Read(fd, buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("read %q, %v, want %q", buf[:n], err, want)
		}
	}
	if _, err := syscall.Write(d, []byte("via dup")); err != nil {
		t.Fatal(err)
	}
	expect(b, "via dup")
	if _, err := syscall.Write(b, []byte("back")); err != nil {
		t.Fatal(err)
	}
	expect(d, "back") // what arrives for a is d's to read
	syscall.Close(a)
	if _, err := syscall.Write(d, []byte("still")); err != nil {
		t.Fatalf("write through the dup after the original closed: %v", err)
	}
	expect(b, "still")
	if _, err := syscall.Getsockname(d); err != nil {
		t.Errorf("getsockname of the dup: %v", err)
	}
	d2, err := syscall.Dup(d)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(d)
	if _, err := syscall.Write(d2, []byte("dup of dup")); err != nil {
		t.Fatal(err)
	}
	expect(b, "dup of dup")
	syscall.Close(d2) // the last fd: the peer sees end of file
	if n, err := syscall.Read(b, buf); n != 0 || err != nil {
		t.Fatalf("read after the last dup closed: %d, %v, want end of file", n, err)
	}

	// TCP through net's File.
	ln, err := gonet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
	}()
	c, err := gonet.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.(*gonet.TCPConn).File()
	if err != nil {
		t.Fatalf("File of a TCP connection (dup): %v", err)
	}
	if _, err := c.Write([]byte("conn,")); err != nil {
		t.Fatal(err)
	}
	c.Close() // the connection lives on in f
	if _, err := f.Write([]byte("file")); err != nil {
		t.Fatalf("write through the dup'd file: %v", err)
	}
	f.Close() // the last fd: the server reads end of file
	select {
	case s := <-got:
		if s != "conn,file" {
			t.Fatalf("server read %q, want %q", s, "conn,file")
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the server never saw end of file")
	}
}
