package net

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	gonet "net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The AF_UNIX tests pass on Linux, which makes Linux the oracle for what
// the kernel's AF_UNIX sockets (netstack/unix.go) must answer.

// unixPath is a socket path in a fresh directory.
func unixPath(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(t.TempDir(), name)
}

// abstractName is an abstract socket name no other run uses.
func abstractName(t *testing.T) string {
	return fmt.Sprintf("@velocity-%s-%d-%d", t.Name(), os.Getpid(), time.Now().UnixNano())
}

func TestUnixStreamEcho(t *testing.T) {
	for _, name := range []string{unixPath(t, "echo.sock"), abstractName(t)} {
		kind := "path"
		if name[0] == '@' {
			kind = "abstract"
		}
		t.Run(kind, func(t *testing.T) {
			ln := echoServer(t, "unix", name)
			if got := ln.Addr().String(); got != name {
				t.Fatalf("listener's address %q, want %q", got, name)
			}
			if name[0] != '@' {
				if _, err := os.Stat(name); err != nil {
					t.Fatalf("the socket's path: %v", err)
				}
			}
			c, err := gonet.Dial("unix", name)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.RemoteAddr().String(); got != name {
				t.Fatalf("client's peer %q, want %q", got, name)
			}
			msg := bytes.Repeat([]byte("velocity unix "), 20000) // more than the socket buffers hold
			go c.Write(msg)
			got := make([]byte, len(msg))
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatal("echo differs")
			}
			// Half close: the server's io.Copy sees end of file and closes,
			// and the client reads end of file.
			if err := c.(*gonet.UnixConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if n, err := c.Read(got); n != 0 || err != io.EOF {
				t.Fatalf("read after the peer closed: %d, %v", n, err)
			}
			if name[0] != '@' {
				ln.Close()
				if _, err := os.Stat(name); !os.IsNotExist(err) {
					t.Fatalf("UnixListener.Close left the path: %v", err)
				}
			}
		})
	}
}

func TestUnixErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := gonet.Dial("unix", filepath.Join(dir, "missing.sock")); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("dial of a missing path: %v, want ENOENT", err)
	}
	if _, err := gonet.Dial("unix", abstractName(t)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial of a missing abstract name: %v, want ECONNREFUSED", err)
	}
	name := filepath.Join(dir, "busy.sock")
	ln, err := gonet.Listen("unix", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gonet.Listen("unix", name); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second listen on a path: %v, want EADDRINUSE", err)
	}
	// A stale path (its socket closed, the file left) refuses connections.
	ln.(*gonet.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := gonet.Dial("unix", name); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial of a stale path: %v, want ECONNREFUSED", err)
	}
	os.Remove(name)
	// An existing directory is a name in use.
	if _, err := gonet.Listen("unix", "//"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("listen on a directory: %v, want EADDRINUSE", err)
	}
	// A datagram socket's name is the wrong type for a stream dial.
	dg := filepath.Join(dir, "dgram.sock")
	pc, err := gonet.ListenUnixgram("unixgram", &gonet.UnixAddr{Name: dg, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := gonet.Dial("unix", dg); !errors.Is(err, syscall.EPROTOTYPE) {
		t.Errorf("stream dial of a datagram socket: %v, want EPROTOTYPE", err)
	}
	// Writing to a peer that has gone is EPIPE.
	a, b := socketpair(t, syscall.SOCK_STREAM)
	syscall.Close(b)
	if _, err := syscall.Write(a, []byte("x")); err != syscall.EPIPE {
		t.Errorf("write to a closed peer: %v, want EPIPE", err)
	}
	syscall.Close(a)
}

func TestUnixgram(t *testing.T) {
	dir := t.TempDir()
	la := &gonet.UnixAddr{Name: filepath.Join(dir, "a.sock"), Net: "unixgram"}
	a, err := gonet.ListenUnixgram("unixgram", la)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	lb := &gonet.UnixAddr{Name: abstractName(t), Net: "unixgram"}
	b, err := gonet.ListenUnixgram("unixgram", lb)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.SetDeadline(time.Now().Add(20 * time.Second))
	b.SetDeadline(time.Now().Add(20 * time.Second))
	for _, m := range []string{"first", "second datagram"} {
		if _, err := b.WriteToUnix([]byte(m), la); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	for _, want := range []string{"first", "second datagram"} {
		n, from, err := a.ReadFromUnix(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != want || from == nil || from.Name != lb.Name {
			t.Fatalf("read %q from %v, want %q from %s", buf[:n], from, want, lb.Name)
		}
	}
	// A short buffer truncates the datagram and drops the rest.
	b.WriteToUnix([]byte("0123456789"), la)
	b.WriteToUnix([]byte("next"), la)
	small := make([]byte, 4)
	n, _, flags, _, err := a.ReadMsgUnix(small, nil)
	if err != nil || string(small[:n]) != "0123" || flags&syscall.MSG_TRUNC == 0 {
		t.Fatalf("truncated read: %q flags %#x, %v", small[:n], flags, err)
	}
	if n, _, err := a.ReadFromUnix(buf); err != nil || string(buf[:n]) != "next" {
		t.Fatalf("after a truncated datagram: %q, %v", buf[:n], err)
	}
	// DialUnix: an unnamed, connected sender; the receiver sees no address.
	c, err := gonet.DialUnix("unixgram", nil, la)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("connected")); err != nil {
		t.Fatal(err)
	}
	n, from, err := a.ReadFromUnix(buf)
	if err != nil || string(buf[:n]) != "connected" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if from != nil {
		t.Fatalf("an unnamed sender's address: %v, want none", from)
	}
	if got := c.RemoteAddr().String(); got != la.Name {
		t.Fatalf("connected socket's peer %q, want %q", got, la.Name)
	}
}

// socketpair makes a pair of blocking AF_UNIX sockets.
func socketpair(t *testing.T, typ int) (int, int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fds[0], fds[1]
}

func TestUnixSocketpair(t *testing.T) {
	// Stream: blocking calls, a reader that waits for the writer.
	a, b := socketpair(t, syscall.SOCK_STREAM)
	done := make(chan string, 1)
	go func() {
		buf := make([]byte, 16)
		n, err := syscall.Read(a, buf)
		if err != nil {
			done <- err.Error()
			return
		}
		done <- string(buf[:n])
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := syscall.Write(b, []byte("pair")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if got != "pair" {
			t.Fatal(got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("blocking read on a socketpair never returned")
	}
	for _, fd := range []int{a, b} {
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			t.Fatal(err)
		}
		if n := sa.(*syscall.SockaddrUnix).Name; n != "" && n != "@" {
			t.Fatalf("socketpair socket named %q", n)
		}
		if _, err := syscall.Getpeername(fd); err != nil {
			t.Fatalf("getpeername: %v", err)
		}
	}
	syscall.Close(a)
	syscall.Close(b)
	buf := make([]byte, 16)

	// Seqpacket keeps boundaries; datagram pairs too.
	for _, typ := range []int{syscall.SOCK_SEQPACKET, syscall.SOCK_DGRAM} {
		x, y := socketpair(t, typ)
		for _, m := range []string{"one", "two!"} {
			if _, err := syscall.Write(x, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range []string{"one", "two!"} {
			n, err := syscall.Read(y, buf)
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("type %d: read %q, %v, want %q", typ, buf[:n], err, want)
			}
		}
		if _, err := syscall.Getpeername(y); err != nil {
			t.Fatalf("type %d: getpeername of a pair: %v", typ, err)
		}
		syscall.Close(x)
		if typ == syscall.SOCK_SEQPACKET {
			if n, err := syscall.Read(y, buf); n != 0 || err != nil {
				t.Fatalf("seqpacket read after close: %d, %v, want end of file", n, err)
			}
		}
		syscall.Close(y)
	}
	if _, err := syscall.Socketpair(syscall.AF_INET, syscall.SOCK_STREAM, 0); err != syscall.EOPNOTSUPP {
		t.Errorf("socketpair(AF_INET): %v, want EOPNOTSUPP", err)
	}
}

// TestUnixAutobind: binding the family alone picks an abstract name.
func TestUnixAutobind(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	if n := sa.(*syscall.SockaddrUnix).Name; n != "" && n != "@" {
		t.Fatalf("unbound socket's name %q", n)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{}); err != nil {
		t.Fatal(err)
	}
	sa, err = syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	if n := sa.(*syscall.SockaddrUnix).Name; len(n) != 6 || n[0] != '@' {
		t.Fatalf("autobind name %q, want @ and five hex digits", n)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: abstractName(t)}); err != syscall.EINVAL {
		t.Fatalf("second bind: %v, want EINVAL", err)
	}
}

// TestUnixManyConnections: connections from several goroutines at once,
// each echoing a byte; afterwards the fd table and the heap are back
// where they started (nothing of a closed socket stays behind).
func TestUnixManyConnections(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	name := abstractName(t)
	echoServer(t, "unix", name)
	fd0 := lowestFreeFD(t)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	const workers = 8
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			buf := make([]byte, 1)
			for i := 0; i < n/workers; i++ {
				c, err := gonet.Dial("unix", name)
				if err != nil {
					errs <- fmt.Errorf("connection %d: %v", i, err)
					return
				}
				c.Write([]byte{byte(i)})
				if _, err := io.ReadFull(c, buf); err != nil || buf[0] != byte(i) {
					errs <- fmt.Errorf("connection %d: echo %v %v", i, buf, err)
					return
				}
				c.Close()
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for lowestFreeFD(t) > fd0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if fd := lowestFreeFD(t); fd > fd0 {
		t.Errorf("after %d connections the lowest free fd is %d, was %d", n, fd, fd0)
		reportOpenFDs(t, fd0)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if grow := int64(m1.HeapAlloc) - int64(m0.HeapAlloc); grow > 4<<20 {
		t.Errorf("heap grew by %d KiB over %d connections", grow>>10, n)
	}
	t.Logf("%d connections; heap %d -> %d KiB", n, m0.HeapAlloc>>10, m1.HeapAlloc>>10)
}
