package net

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	gonet "net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/velocityos/velocity/kernel"
)

// serveEach accepts connections on ln until it is closed, and runs handle
// on each in a goroutine of its own, closing the connection after.
func serveEach(ln gonet.Listener, handle func(gonet.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

func echoServer(t *testing.T, network, addr string) gonet.Listener {
	t.Helper()
	ln, err := gonet.Listen(network, addr)
	if err != nil {
		t.Fatalf("listen %s %s: %v", network, addr, err)
	}
	go serveEach(ln, func(c gonet.Conn) { io.Copy(c, c) })
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestTCPEcho(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
		{"tcp", ":0"}, // dual stack: an IPv6 socket that accepts IPv4
	} {
		t.Run(tc.network, func(t *testing.T) {
			ln := echoServer(t, tc.network, tc.addr)
			target := ln.Addr().String()
			if tc.addr == ":0" {
				target = fmt.Sprintf("127.0.0.1:%d", ln.Addr().(*gonet.TCPAddr).Port)
			}
			c, err := gonet.Dial("tcp", target)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			msg := bytes.Repeat([]byte("velocity "), 1000)
			go c.Write(msg)
			got := make([]byte, len(msg))
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatal("echo differs")
			}
		})
	}
}

func TestUDP(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		a, err := gonet.ListenPacket("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := gonet.ListenPacket("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		for i := 0; i < 10; i++ {
			msg := fmt.Sprintf("datagram %d", i)
			if _, err := b.WriteTo([]byte(msg), a.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			a.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, from, err := a.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			if string(buf[:n]) != msg || from.String() != b.LocalAddr().String() {
				t.Fatalf("got %q from %v, want %q from %v", buf[:n], from, msg, b.LocalAddr())
			}
		}
	}
}

func TestLookupLocalhost(t *testing.T) {
	addrs, err := gonet.LookupHost("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(addrs, " "), "127.0.0.1") {
		t.Fatalf("localhost is %v", addrs)
	}
}

func TestSomaxconnReadable(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscan(string(b), &n); err != nil || n < 128 {
		t.Fatalf("somaxconn %q", b)
	}
}

// TestHTTP serves and fetches over loopback: small requests, a
// multi-megabyte download and upload checked by hash, and concurrent
// clients.
func TestHTTP(t *testing.T) {
	const size = 4 << 20
	body := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(body)
	sum := sha256.Sum256(body)
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
	ln, err := gonet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 60 * time.Second}

	resp, err := client.Get(base + "/big")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("download: %d bytes, err %v, hash match %v", n, err, bytes.Equal(h.Sum(nil), sum[:]))
	}
	resp, err = client.Post(base+"/upload", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("%d %x", size, sum); string(got) != want {
		t.Fatalf("upload: server saw %q, want %q", got, want)
	}

	const clients, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				resp, err := client.Get(base + "/hello")
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "hello" {
					errs <- fmt.Errorf("got %q", b)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// lowestFreeFD is the fd the next socket gets: fds are allocated lowest
// first, so it measures how many stay open.
func lowestFreeFD(t *testing.T) int {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	return fd
}

// reportOpenFDs, after a test found fds from fd0 on still open, says what
// each is (its names, what poll finds ready on it) and where every
// goroutine stands: a leak that happens once in many runs must be
// understood from the one log that shows it.
func reportOpenFDs(t *testing.T, fd0 int) {
	t.Helper()
	for fd := fd0; fd < fd0+64; fd++ {
		var st syscall.Stat_t
		if syscall.Fstat(fd, &st) != nil {
			continue
		}
		local, _ := syscall.Getsockname(fd)
		peer, _ := syscall.Getpeername(fd)
		ev, err := readyWithin(fd, syscall.EPOLLIN|syscall.EPOLLOUT|syscall.EPOLLRDHUP, 0)
		t.Logf("fd %d: mode %#o, name %s, peer %s, ready %#x (%v)", fd, st.Mode, sockaddrString(local), sockaddrString(peer), ev, err)
	}
	buf := make([]byte, 256<<10)
	t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
}

func sockaddrString(sa syscall.Sockaddr) string {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return fmt.Sprintf("%v:%d", gonet.IP(a.Addr[:]), a.Port)
	case *syscall.SockaddrInet6:
		return fmt.Sprintf("[%v]:%d", gonet.IP(a.Addr[:]), a.Port)
	case *syscall.SockaddrUnix:
		return fmt.Sprintf("unix %q", a.Name)
	case nil:
		return "-"
	}
	return fmt.Sprintf("%T", sa)
}

// TestManyConnections opens and closes connections one after another:
// afterwards the fd table and the heap are back where they started.
func TestManyConnections(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 300
	}
	ln := echoServer(t, "tcp4", "127.0.0.1:0")
	fd0 := lowestFreeFD(t)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	buf := make([]byte, 1)
	for i := 0; i < n; i++ {
		c, err := gonet.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.Write([]byte{byte(i)})
		if _, err := io.ReadFull(c, buf); err != nil || buf[0] != byte(i) {
			t.Fatalf("connection %d: echo %v %v", i, buf, err)
		}
		c.Close()
	}
	// The server side closes when it sees EOF; give it a moment.
	deadline := time.Now().Add(10 * time.Second)
	// An fd some earlier test still held may have closed meanwhile, so
	// the lowest free fd may be lower than before, never higher.
	for lowestFreeFD(t) > fd0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if fd := lowestFreeFD(t); fd > fd0 {
		t.Errorf("after %d connections the lowest free fd is %d, was %d", n, fd, fd0)
		reportOpenFDs(t, fd0)
	}
	// Closed connections linger in TIME-WAIT for a while (60 s on Linux,
	// 5 s in Velocity's stack), so wait for the heap to come back.
	var grow int64
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(time.Second) {
		runtime.GC()
		runtime.ReadMemStats(&m1)
		if grow = int64(m1.HeapAlloc) - int64(m0.HeapAlloc); grow <= 4<<20 || time.Now().After(deadline) {
			break
		}
	}
	if grow > 4<<20 {
		t.Errorf("heap grew by %d KiB over %d connections", grow>>10, n)
	}
	t.Logf("%d connections; heap %d -> %d KiB", n, m0.HeapAlloc>>10, m1.HeapAlloc>>10)
}

func TestConnectRefused(t *testing.T) {
	ln, err := gonet.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = gonet.DialTimeout("tcp4", addr, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("dial of a closed port: %v, want connection refused", err)
	}
}

// TestBlockingSockets uses raw system calls on sockets without
// O_NONBLOCK: accept, connect, read and write wait as on Linux.
func TestBlockingSockets(t *testing.T) {
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(lfd)
	if err := syscall.Bind(lfd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(lfd, 8); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	done := make(chan string, 1)
	go func() {
		nfd, _, err := syscall.Accept(lfd)
		if err != nil {
			done <- "accept: " + err.Error()
			return
		}
		defer syscall.Close(nfd)
		buf := make([]byte, 5)
		n, err := syscall.Read(nfd, buf)
		if err != nil {
			done <- "read: " + err.Error()
			return
		}
		done <- string(buf[:n])
	}()
	cfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(cfd)
	if err := syscall.Connect(cfd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the reader block first
	if _, err := syscall.Write(cfd, []byte("block")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if got != "block" {
			t.Fatal(got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("blocking accept/read never returned")
	}
}

// TestBadArguments: the socket calls answer bad pointers, fds and sizes
// with the errno Linux gives, and nothing else breaks.
func TestBadArguments(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	var pipe [2]int
	if err := syscall.Pipe(pipe[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(pipe[0])
	defer syscall.Close(pipe[1])
	var sa [16]byte
	var n int32 = 16
	kernelHalf := uintptr(0xffff800000001000)
	nonCanonical := uintptr(0x0000900000000000)
	cases := []struct {
		name string
		nr   uintptr
		args [6]uintptr
		want syscall.Errno
	}{
		{"bind NULL", syscall.SYS_BIND, [6]uintptr{uintptr(fd), 0, 16}, syscall.EFAULT},
		{"bind kernel half", syscall.SYS_BIND, [6]uintptr{uintptr(fd), kernelHalf, 16}, syscall.EFAULT},
		{"bind non-canonical", syscall.SYS_BIND, [6]uintptr{uintptr(fd), nonCanonical, 16}, syscall.EFAULT},
		{"bind huge length", syscall.SYS_BIND, [6]uintptr{uintptr(fd), uintptr(unsafe.Pointer(&sa)), 4096}, syscall.EINVAL},
		{"bind bad fd", syscall.SYS_BIND, [6]uintptr{999, uintptr(unsafe.Pointer(&sa)), 16}, syscall.EBADF},
		{"bind negative fd", syscall.SYS_BIND, [6]uintptr{^uintptr(0), uintptr(unsafe.Pointer(&sa)), 16}, syscall.EBADF},
		{"bind on a pipe", syscall.SYS_BIND, [6]uintptr{uintptr(pipe[0]), uintptr(unsafe.Pointer(&sa)), 16}, syscall.ENOTSOCK},
		{"getsockname bad length pointer", syscall.SYS_GETSOCKNAME, [6]uintptr{uintptr(fd), uintptr(unsafe.Pointer(&sa)), kernelHalf}, syscall.EFAULT},
		{"getsockopt bad length pointer", syscall.SYS_GETSOCKOPT, [6]uintptr{uintptr(fd), syscall.SOL_SOCKET, syscall.SO_ERROR, uintptr(unsafe.Pointer(&sa)), 0x10}, syscall.EFAULT},
		{"setsockopt negative length", syscall.SYS_SETSOCKOPT, [6]uintptr{uintptr(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, uintptr(unsafe.Pointer(&n)), ^uintptr(0)}, syscall.EINVAL},
		{"setsockopt unknown option", syscall.SYS_SETSOCKOPT, [6]uintptr{uintptr(fd), syscall.SOL_SOCKET, 4242, uintptr(unsafe.Pointer(&n)), 4}, syscall.ENOPROTOOPT},
		{"socket bad family", syscall.SYS_SOCKET, [6]uintptr{4242, syscall.SOCK_STREAM, 0}, syscall.EAFNOSUPPORT},
		// Linux's order: type flags, family beyond AF_MAX, type beyond
		// SOCK_MAX, then whether the family exists.
		{"socket bad type flags, bad family", syscall.SYS_SOCKET, [6]uintptr{4242, syscall.SOCK_STREAM | 0x40, 0}, syscall.EINVAL},
		{"socket type beyond SOCK_MAX, bad family", syscall.SYS_SOCKET, [6]uintptr{4242, 12, 0}, syscall.EAFNOSUPPORT},
		{"socket AF_INET type beyond SOCK_MAX", syscall.SYS_SOCKET, [6]uintptr{syscall.AF_INET, 12, 0}, syscall.EINVAL},
		{"socket AF_UNIX type beyond SOCK_MAX", syscall.SYS_SOCKET, [6]uintptr{syscall.AF_UNIX, 15, 0}, syscall.EINVAL},
		{"socket unsupported family, type beyond SOCK_MAX", syscall.SYS_SOCKET, [6]uintptr{syscall.AF_PACKET + 20, 12, 0}, syscall.EINVAL},
		{"socket raw protocol 0", syscall.SYS_SOCKET, [6]uintptr{syscall.AF_INET, syscall.SOCK_RAW, 0}, syscall.EPROTONOSUPPORT},
		{"socket raw IPv6 protocol past IPPROTO_MAX", syscall.SYS_SOCKET, [6]uintptr{syscall.AF_INET6, syscall.SOCK_RAW, 300}, syscall.EINVAL},
		{"connect NULL", syscall.SYS_CONNECT, [6]uintptr{uintptr(fd), 0, 16}, syscall.EFAULT},
		{"sendto bad buffer", syscall.SYS_SENDTO, [6]uintptr{uintptr(fd), kernelHalf, 10, 0, 0, 0}, syscall.EFAULT},
	}
	for _, c := range cases {
		_, _, e := syscall.Syscall6(c.nr, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5])
		if e != c.want {
			t.Errorf("%s: errno %d (%v), want %d (%v)", c.name, int(e), e, int(c.want), c.want)
		}
	}
	// The socket still works after all that.
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR); err != nil || v == 0 {
		t.Fatalf("SO_REUSEADDR reads back %d, %v", v, err)
	}
}

// TestAcceptedKeepaliveOptions sets the options Go sets on every accepted
// connection (TCP_NODELAY and the keepalive ones), with values of its own,
// and reads them back: inside Velocity these are served in the calling
// goroutine, on the network stack's endpoint, without entering the kernel
// (netstack/direct.go, directSetsockopt), while getsockopt goes through
// the kernel to the server, so this checks that both see one socket, that
// values out of range still get EINVAL, that an option set just before
// close does not land on the next connection, which may reuse the closed
// one's socket, and, inside Velocity, that the kernel saw none of them.
func TestAcceptedKeepaliveOptions(t *testing.T) {
	ln, err := gonet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accept := func() (*gonet.TCPConn, int, func()) {
		t.Helper()
		c, err := gonet.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.(*gonet.TCPConn).File() // a dup of the accepted socket, blocking
		if err != nil {
			t.Fatal(err)
		}
		return s.(*gonet.TCPConn), int(f.Fd()), func() { f.Close(); s.Close(); c.Close() }
	}
	get := func(fd, level, opt int) int {
		t.Helper()
		v, err := syscall.GetsockoptInt(fd, level, opt)
		if err != nil {
			t.Fatalf("getsockopt(%d, %d): %v", level, opt, err)
		}
		return v
	}
	_, fd, done := accept()
	defIdle := get(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
	setsBefore := kernelCalls(t, syscall.SYS_SETSOCKOPT)
	sets := []struct{ level, opt, v int }{
		{syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 0},
		{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 123},
		{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 45},
		{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 7},
	}
	for _, o := range sets {
		if err := syscall.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
			t.Fatalf("setsockopt(%d, %d, %d): %v", o.level, o.opt, o.v, err)
		}
	}
	if kernel.OnVelocity() {
		// Each SetsockoptInt above went direct; allow a few from
		// anything else running meanwhile.
		if n := kernelCalls(t, syscall.SYS_SETSOCKOPT) - setsBefore; n > 2 {
			t.Errorf("the kernel served %d setsockopt calls for the %d made on an accepted socket: the direct path declined them", n, len(sets))
		}
	}
	for _, o := range sets {
		if got := get(fd, o.level, o.opt); got != o.v {
			t.Errorf("getsockopt(%d, %d) = %d after setting %d", o.level, o.opt, got, o.v)
		}
	}
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		t.Fatal(err)
	}
	if got := get(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); got != 1 {
		t.Errorf("TCP_NODELAY reads back %d after setting 1", got)
	}
	for _, o := range []struct{ opt, v int }{
		{syscall.TCP_KEEPIDLE, 0}, {syscall.TCP_KEEPINTVL, 32768}, {syscall.TCP_KEEPCNT, 128}, {syscall.TCP_KEEPCNT, -1},
	} {
		if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, o.opt, o.v); err != syscall.EINVAL {
			t.Errorf("setsockopt(TCP, %d, %d) = %v, want EINVAL", o.opt, o.v, err)
		}
	}
	// Set and close at once, many times: the next connection, on a
	// socket the closed one may have left, keeps the default. Inside
	// Velocity the accepts are the direct path's too (netstack/direct.go,
	// directAccept), on sids that closes still queued for the server do
	// not name (runtime/vk_netaccept.go).
	done()
	acceptsBefore := kernelCalls(t, syscall.SYS_ACCEPT4)
	for i := 0; i < 20; i++ {
		_, fd, done := accept()
		if got := get(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE); got != defIdle {
			t.Fatalf("connection %d: TCP_KEEPIDLE %d on a new connection, want the default %d", i, got, defIdle)
		}
		if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 1000+i); err != nil {
			t.Fatal(err)
		}
		done()
	}
	if kernel.OnVelocity() {
		if n := kernelCalls(t, syscall.SYS_ACCEPT4) - acceptsBefore; n > 2 {
			t.Errorf("the kernel served %d of 20 accepts: the direct path declined them", n)
		}
	}
}

// kernelCalls is how many calls of number nr the kernel has served since
// boot (0 outside Velocity).
func kernelCalls(t *testing.T, nr int) uint64 {
	t.Helper()
	if !kernel.OnVelocity() {
		return 0
	}
	calls, err := kernel.Syscalls()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if c.Nr == nr {
			return c.Count
		}
	}
	return 0
}

// TestConnectionChurn opens and closes connections from several
// goroutines at once, each carrying a token of its own that must come
// back on the same connection, followed by the server's close. Inside
// Velocity every close of a TCP socket reaches the network server after
// the call returned (it is queued), and accepts are made in the calling
// goroutine on descriptions whose index an earlier socket had: a close
// still queued for that index must never reach the new connection, and a
// token must never reach another connection.
func TestConnectionChurn(t *testing.T) {
	clients, each := 8, 150
	if testing.Short() {
		each = 40
	}
	ln, err := gonet.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		serveEach(ln, func(c gonet.Conn) {
			var tok [8]byte
			if _, err := io.ReadFull(c, tok[:]); err == nil {
				c.Write(tok[:])
			}
		})
		close(served)
	}()
	errs := make(chan error, clients)
	for g := 0; g < clients; g++ {
		go func() {
			for i := 0; i < each; i++ {
				err := func() error {
					c, err := gonet.Dial("tcp4", ln.Addr().String())
					if err != nil {
						return err
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(30 * time.Second))
					tok := []byte(fmt.Sprintf("%02d%06d", g, i))
					if _, err := c.Write(tok); err != nil {
						return fmt.Errorf("write: %v", err)
					}
					back, err := io.ReadAll(c) // the token, then the server's close
					if err != nil {
						return fmt.Errorf("read: %v", err)
					}
					if !bytes.Equal(back, tok) {
						return fmt.Errorf("sent %q, got back %q", tok, back)
					}
					return nil
				}()
				if err != nil {
					errs <- fmt.Errorf("client %d, connection %d: %v", g, i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < clients; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// The listener's fd closes only when the blocked Accept returns: wait
	// for it, so later tests that count open fds do not see it go.
	ln.Close()
	<-served
}
