package net

import (
	"io"
	gonet "net"
	"syscall"
	"testing"
	"time"
)

// TestEpollBesideNetpoller: a socket that Go's netpoller watches and
// that the program also watches with an epoll instance of its own gets
// every readability edge on both. In Velocity a readable event reaches
// the runtime's netpoller in the reporting goroutine and skips the
// runtime's own epoll instance (docs/net.md, "Readable events go to Go's
// netpoller in the process"); any other instance must still be told, and
// the reader in the netpoller must still wake.
func TestEpollBesideNetpoller(t *testing.T) {
	ln, err := gonet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan gonet.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := gonet.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer server.Close()

	raw, err := server.(*gonet.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	raw.Control(func(f uintptr) { fd = int(f) })
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ep)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | edgeTriggered, Fd: int32(fd)}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		t.Fatal(err)
	}

	buf := make([]byte, 1)
	for i := 0; i < 50; i++ {
		// The reader waits in the netpoller before the bytes are sent;
		// it takes one of two, so the socket stays readable for the
		// program's instance (epoll, on Linux too, reports a record only
		// if its file is still ready when the wait looks).
		got := make(chan error, 1)
		go func() {
			server.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.ReadFull(server, buf)
			got <- err
		}()
		time.Sleep(time.Millisecond)
		if _, err := client.Write([]byte{byte(i), byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("round %d: the reader in the netpoller: %v", i, err)
		}
		if buf[0] != byte(i) {
			t.Fatalf("round %d: read %d", i, buf[0])
		}
		evs := make([]syscall.EpollEvent, 4)
		n, err := epollWaitRetry(ep, evs, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || evs[0].Fd != int32(fd) || evs[0].Events&syscall.EPOLLIN == 0 {
			t.Fatalf("round %d: the program's epoll instance: %d events %+v, want EPOLLIN on fd %d", i, n, evs[:n], fd)
		}
		if n, _ := epollWaitRetry(ep, evs, 0); n != 0 {
			t.Fatalf("round %d: an edge-triggered record reported twice: %+v", i, evs[:n])
		}
		if _, err := io.ReadFull(server, buf); err != nil || buf[0] != byte(i) {
			t.Fatalf("round %d: the second byte: %d, %v", i, buf[0], err)
		}
	}
}

// edgeTriggered is EPOLLET as the uint32 of an epoll_event (package
// syscall's constant is negative).
const edgeTriggered = 1 << 31

func epollWaitRetry(ep int, evs []syscall.EpollEvent, ms int) (int, error) {
	for {
		n, err := syscall.EpollWait(ep, evs, ms)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
