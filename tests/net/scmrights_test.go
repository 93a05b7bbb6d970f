package net

import (
	"encoding/binary"
	"fmt"
	gonet "net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// SCM_RIGHTS: passing open files over AF_UNIX sockets (in the kernel:
// runtime/vk_netrights.go and netstack/unix.go). These pass on Linux,
// the oracle, and inside the kernel (tests/netboot).

// openFDs counts the open fds below 1024 (there is no /proc/self/fd in
// the kernel).
func openFDs() int {
	n := 0
	for fd := 0; fd < 1024; fd++ {
		if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0); e == 0 {
			n++
		}
	}
	return n
}

// settledFDs is openFDs once the count stops moving: after a GC (whose
// finalizers close what earlier tests dropped without closing) it looks
// every 20 ms until three looks agree, for at most 2 s. An earlier test's
// goroutine that closes its listener late, or a finalizer, changed the
// count under TestSCMRightsChurn in CI ("6 fds open after, 8 before"),
// which is not what these tests measure.
func settledFDs() int {
	runtime.GC()
	runtime.GC()
	n, same := openFDs(), 0
	for deadline := time.Now().Add(2 * time.Second); same < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if m := openFDs(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// nbPipe is a non-blocking pipe: a read says EAGAIN while a writer's
// description is alive somewhere and 0 once the last one is released.
func nbPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

// writerGone waits (up to 5 s: a socket released from a closed queue is
// closed asynchronously in the kernel) until pipe read end r sees end of
// file, that is until every reference to its write end is released.
func writerGone(t *testing.T, r int, what string) {
	t.Helper()
	buf := make([]byte, 16)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := syscall.Read(r, buf)
		if err == nil && n == 0 {
			return
		}
		if err != syscall.EAGAIN {
			t.Fatalf("%s: read = %d, %v", what, n, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the pipe's write end is still referenced", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recvRights receives on fd (non-blocking, retried until data comes) into
// a buffer of size n and a control buffer of oobLen bytes.
func recvRights(t *testing.T, fd, n, oobLen, flags int) (data []byte, fds []int, rflags int, oobn int) {
	t.Helper()
	buf := make([]byte, n)
	var oob []byte
	if oobLen > 0 {
		oob = make([]byte, oobLen)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, on, rf, _, err := syscall.Recvmsg(fd, buf, oob, flags)
		if err == syscall.EAGAIN && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("recvmsg: %v", err)
		}
		scms, err := syscall.ParseSocketControlMessage(oob[:on])
		if err != nil {
			t.Fatalf("ParseSocketControlMessage(% x): %v", oob[:on], err)
		}
		for i := range scms {
			got, err := syscall.ParseUnixRights(&scms[i])
			if err != nil {
				t.Fatalf("ParseUnixRights: %v", err)
			}
			fds = append(fds, got...)
		}
		return buf[:m], fds, rf, on
	}
}

func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	if e != 0 {
		t.Fatalf("F_GETFD of received fd %d: %v", fd, e)
	}
	return r&syscall.FD_CLOEXEC != 0
}

// TestSCMRightsSocketpair passes a pipe's write end and a file over each
// kind of socketpair, uses them through the received fds, and checks
// MSG_CMSG_CLOEXEC, the cmsg's length and that nothing is left open.
func TestSCMRightsSocketpair(t *testing.T) {
	for _, typ := range []struct {
		name string
		typ  int
	}{{"stream", syscall.SOCK_STREAM}, {"dgram", syscall.SOCK_DGRAM}, {"seqpacket", syscall.SOCK_SEQPACKET}} {
		t.Run(typ.name, func(t *testing.T) {
			base := settledFDs()
			a, b := socketpair(t, typ.typ|syscall.SOCK_NONBLOCK)
			r, w := nbPipe(t)
			path := filepath.Join(t.TempDir(), "passed")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Sendmsg(a, []byte("x"), syscall.UnixRights(w, int(f.Fd())), nil, 0); err != nil {
				t.Fatalf("sendmsg with SCM_RIGHTS: %v", err)
			}
			syscall.Close(w)
			f.Close()
			data, fds, rf, oobn := recvRights(t, b, 16, syscall.CmsgSpace(8), syscall.MSG_CMSG_CLOEXEC)
			if string(data) != "x" || len(fds) != 2 || rf&syscall.MSG_CTRUNC != 0 || oobn != syscall.CmsgSpace(8) {
				t.Fatalf("recvmsg: %q, fds %v, flags %#x, controllen %d", data, fds, rf, oobn)
			}
			for _, fd := range fds {
				if !cloexec(t, fd) {
					t.Errorf("fd %d received with MSG_CMSG_CLOEXEC has no FD_CLOEXEC", fd)
				}
			}
			if _, err := syscall.Write(fds[0], []byte("via pipe")); err != nil {
				t.Fatalf("write through the received pipe end: %v", err)
			}
			buf := make([]byte, 32)
			if n, err := syscall.Read(r, buf); err != nil || string(buf[:n]) != "via pipe" {
				t.Fatalf("pipe read = %q, %v", buf[:n], err)
			}
			if _, err := syscall.Write(fds[1], []byte("via file")); err != nil {
				t.Fatalf("write through the received file: %v", err)
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != "via file" {
				t.Fatalf("file holds %q, %v", got, err)
			}
			syscall.Close(fds[0])
			syscall.Close(fds[1])
			writerGone(t, r, "after closing the received fd")

			// Without MSG_CMSG_CLOEXEC the new fd has no FD_CLOEXEC.
			if err := syscall.Sendmsg(a, []byte("y"), syscall.UnixRights(r), nil, 0); err != nil {
				t.Fatal(err)
			}
			_, fds, _, _ = recvRights(t, b, 16, syscall.CmsgSpace(4), 0)
			if len(fds) != 1 || cloexec(t, fds[0]) {
				t.Fatalf("fds %v received without MSG_CMSG_CLOEXEC", fds)
			}
			syscall.Close(fds[0])
			syscall.Close(r)
			syscall.Close(a)
			syscall.Close(b)
			if n := settledFDs(); n != base {
				t.Errorf("%d fds open after, %d before", n, base)
			}
		})
	}
}

// TestSCMRightsNamed passes fds the way Go programs do, with
// (*net.UnixConn).WriteMsgUnix and ReadMsgUnix, over a named stream
// connection and between named datagram sockets.
func TestSCMRightsNamed(t *testing.T) {
	dir := t.TempDir()
	check := func(t *testing.T, send func(b, oob []byte) error, recv func(b, oob []byte) (int, int, int, error)) {
		t.Helper()
		r, w := nbPipe(t)
		defer syscall.Close(r)
		if err := send([]byte("hello"), syscall.UnixRights(w)); err != nil {
			t.Fatalf("WriteMsgUnix: %v", err)
		}
		syscall.Close(w)
		b, oob := make([]byte, 16), make([]byte, syscall.CmsgSpace(4))
		n, oobn, flags, err := recv(b, oob)
		if err != nil || string(b[:n]) != "hello" || flags&syscall.MSG_CTRUNC != 0 {
			t.Fatalf("ReadMsgUnix = %q, flags %#x, %v", b[:n], flags, err)
		}
		scms, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(scms) != 1 {
			t.Fatalf("control messages %v, %v", scms, err)
		}
		fds, err := syscall.ParseUnixRights(&scms[0])
		if err != nil || len(fds) != 1 {
			t.Fatalf("rights %v, %v", fds, err)
		}
		if !cloexec(t, fds[0]) { // net passes MSG_CMSG_CLOEXEC
			t.Error("fd from ReadMsgUnix has no FD_CLOEXEC")
		}
		if _, err := syscall.Write(fds[0], []byte("z")); err != nil {
			t.Fatal(err)
		}
		one := make([]byte, 1)
		if n, err := syscall.Read(r, one); n != 1 || err != nil {
			t.Fatalf("pipe read = %d, %v", n, err)
		}
		syscall.Close(fds[0])
		writerGone(t, r, "after closing the received fd")
	}
	t.Run("stream", func(t *testing.T) {
		ln, err := gonet.ListenUnix("unix", &gonet.UnixAddr{Name: filepath.Join(dir, "s.sock"), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := gonet.DialUnix("unix", nil, ln.Addr().(*gonet.UnixAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.AcceptUnix()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		check(t, func(b, oob []byte) error { _, _, err := c.WriteMsgUnix(b, oob, nil); return err },
			func(b, oob []byte) (int, int, int, error) {
				n, oobn, fl, _, err := s.ReadMsgUnix(b, oob)
				return n, oobn, fl, err
			})
	})
	t.Run("dgram", func(t *testing.T) {
		a, err := gonet.ListenUnixgram("unixgram", &gonet.UnixAddr{Name: filepath.Join(dir, "a.sock"), Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := gonet.ListenUnixgram("unixgram", &gonet.UnixAddr{Name: filepath.Join(dir, "b.sock"), Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		b.SetReadDeadline(time.Now().Add(10 * time.Second))
		check(t, func(p, oob []byte) error {
			_, _, err := a.WriteMsgUnix(p, oob, b.LocalAddr().(*gonet.UnixAddr))
			return err
		}, func(p, oob []byte) (int, int, int, error) {
			n, oobn, fl, from, err := b.ReadMsgUnix(p, oob)
			if err == nil && (from == nil || from.Name != a.LocalAddr().String()) {
				t.Errorf("datagram from %v, want %v", from, a.LocalAddr())
			}
			return n, oobn, fl, err
		})
	})
}

// TestSCMRightsTruncated: a control buffer too small for every fd gets
// those that fit and MSG_CTRUNC, and the rest are closed; with no control
// buffer at all, every one is.
func TestSCMRightsTruncated(t *testing.T) {
	base := settledFDs()
	a, b := socketpair(t, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK)
	var rs, ws [3]int
	for i := range rs {
		rs[i], ws[i] = nbPipe(t)
	}
	if err := syscall.Sendmsg(a, []byte("x"), syscall.UnixRights(ws[:]...), nil, 0); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		syscall.Close(w)
	}
	_, fds, rf, oobn := recvRights(t, b, 16, syscall.CmsgLen(4), 0)
	if len(fds) != 1 || rf&syscall.MSG_CTRUNC == 0 || oobn != syscall.CmsgLen(4) {
		t.Fatalf("recvmsg with room for one fd: fds %v, flags %#x, controllen %d", fds, rf, oobn)
	}
	writerGone(t, rs[1], "the second fd, which did not fit")
	writerGone(t, rs[2], "the third fd, which did not fit")
	one := make([]byte, 1)
	if _, err := syscall.Read(rs[0], one); err != syscall.EAGAIN {
		t.Fatalf("the received fd's pipe: %v, want EAGAIN (a writer left)", err)
	}
	syscall.Close(fds[0])
	writerGone(t, rs[0], "the received fd, closed")

	// No control buffer: all of them closed, MSG_CTRUNC.
	r, w := nbPipe(t)
	if err := syscall.Sendmsg(a, []byte("y"), syscall.UnixRights(w), nil, 0); err != nil {
		t.Fatal(err)
	}
	syscall.Close(w)
	data, fds, rf, _ := recvRights(t, b, 16, 0, 0)
	if string(data) != "y" || len(fds) != 0 || rf&syscall.MSG_CTRUNC == 0 {
		t.Fatalf("recvmsg without a control buffer: %q, fds %v, flags %#x", data, fds, rf)
	}
	writerGone(t, r, "an fd received without a control buffer")
	// A plain read drops them too.
	if err := syscall.Sendmsg(a, []byte("z"), syscall.UnixRights(r), nil, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if n, err := syscall.Read(b, buf); n != 1 || err != nil {
		t.Fatalf("read = %d, %v", n, err)
	}
	for _, fd := range append(rs[:], r, a, b) {
		syscall.Close(fd)
	}
	if n := settledFDs(); n != base {
		t.Errorf("%d fds open after, %d before", n, base)
	}
}

// TestSCMRightsStreamBoundary: on a stream the fds come with the first
// byte of the write that sent them, and a read ends after that write's
// bytes (Linux's unix_stream_read_generic), so data after it is not
// merged into the read that takes the fds.
func TestSCMRightsStreamBoundary(t *testing.T) {
	a, b := socketpair(t, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK)
	defer syscall.Close(a)
	defer syscall.Close(b)
	r, w := nbPipe(t)
	defer syscall.Close(r)
	syscall.Write(a, []byte("ab"))
	if err := syscall.Sendmsg(a, []byte("cd"), syscall.UnixRights(w), nil, 0); err != nil {
		t.Fatal(err)
	}
	syscall.Close(w)
	syscall.Write(a, []byte("ef"))
	data, fds, _, _ := recvRights(t, b, 64, syscall.CmsgSpace(4), 0)
	if string(data) != "abcd" || len(fds) != 1 {
		t.Fatalf("first read %q with fds %v, want \"abcd\" and one fd", data, fds)
	}
	syscall.Close(fds[0])
	data, fds, _, _ = recvRights(t, b, 64, syscall.CmsgSpace(4), 0)
	if string(data) != "ef" || len(fds) != 0 {
		t.Fatalf("second read %q with fds %v", data, fds)
	}
	// Peeking shows the fds (as new fds) and leaves them queued.
	if err := syscall.Sendmsg(a, []byte("gh"), syscall.UnixRights(r), nil, 0); err != nil {
		t.Fatal(err)
	}
	_, peeked, _, _ := recvRights(t, b, 64, syscall.CmsgSpace(4), syscall.MSG_PEEK)
	data, fds, _, _ = recvRights(t, b, 64, syscall.CmsgSpace(4), 0)
	if len(peeked) != 1 || string(data) != "gh" || len(fds) != 1 {
		t.Fatalf("peek fds %v, then read %q with fds %v", peeked, data, fds)
	}
	syscall.Close(peeked[0])
	syscall.Close(fds[0])
}

// TestSCMRightsInFlight: descriptions still queued when the sockets close
// are released: a pipe's write end (its reader sees end of file), a socket
// (its peer sees end of file), and nothing stays open. A socket sent over
// itself, with a pipe's write end beside it, is a cycle that only the
// unix garbage collector frees (netstack/unix_gc.go, as Linux's): the
// pipe's reader sees end of file when it has. Linux collects when a unix
// socket is released, so one more pair is made and closed after.
func TestSCMRightsInFlight(t *testing.T) {
	base := settledFDs()
	for _, typ := range []int{syscall.SOCK_STREAM, syscall.SOCK_DGRAM} {
		a, b := socketpair(t, typ|syscall.SOCK_NONBLOCK)
		r, w := nbPipe(t)
		c, d := socketpair(t, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK)
		if err := syscall.Sendmsg(a, []byte("x"), syscall.UnixRights(w, d), nil, 0); err != nil {
			t.Fatal(err)
		}
		syscall.Close(w)
		syscall.Close(d)
		syscall.Close(a)
		syscall.Close(b)
		writerGone(t, r, "a pipe end queued on a closed socket")
		buf := make([]byte, 4)
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, err := syscall.Read(c, buf)
			if n == 0 && err == nil {
				break
			}
			if err != syscall.EAGAIN || time.Now().After(deadline) {
				t.Fatalf("peer of a socket queued on a closed socket: read = %d, %v, want end of file", n, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		syscall.Close(r)
		syscall.Close(c)
	}
	// A cycle: e's peer f is sent over e, so f's queue holds f, and a
	// pipe's write end with it.
	r, w := nbPipe(t)
	e, f := socketpair(t, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK)
	if err := syscall.Sendmsg(e, []byte("x"), syscall.UnixRights(f, w), nil, 0); err != nil {
		t.Fatal(err)
	}
	syscall.Close(w)
	syscall.Close(e)
	syscall.Close(f)
	g, h := socketpair(t, syscall.SOCK_STREAM)
	syscall.Close(g)
	syscall.Close(h)
	writerGone(t, r, "a pipe end queued in a socket that only its own queue holds")
	syscall.Close(r)
	if n := settledFDs(); n != base {
		t.Errorf("%d fds open after, %d before", n, base)
	}
}

// TestSCMRightsErrors: what sendmsg says about bad control data, Linux's
// answers (__scm_send, scm_fp_copy).
func TestSCMRightsErrors(t *testing.T) {
	a, b := socketpair(t, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK)
	defer syscall.Close(a)
	defer syscall.Close(b)
	cmsg := func(level, typ int32, l uint64, payload ...int32) []byte {
		out := make([]byte, 16, 16+4*len(payload)+8)
		binary.LittleEndian.PutUint64(out, l)
		binary.LittleEndian.PutUint32(out[8:], uint32(level))
		binary.LittleEndian.PutUint32(out[12:], uint32(typ))
		for _, v := range payload {
			out = binary.LittleEndian.AppendUint32(out, uint32(v))
		}
		for len(out)%8 != 0 {
			out = append(out, 0)
		}
		return out
	}
	many := func(n int) []int32 {
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(a)
		}
		return v
	}
	drain := func() {
		buf := make([]byte, 8)
		for {
			if _, _, _, _, err := syscall.Recvmsg(b, buf, nil, 0); err != nil {
				return
			}
		}
	}
	for _, c := range []struct {
		name string
		oob  []byte
		want error
	}{
		{"a closed fd", cmsg(1, 1, 20, 1000), syscall.EBADF},
		{"a negative fd", cmsg(1, 1, 20, -1), syscall.EBADF},
		{"cmsg_len below the header", cmsg(1, 1, 12, int32(a)), syscall.EINVAL},
		{"cmsg_len past the buffer", cmsg(1, 1, 64, int32(a)), syscall.EINVAL},
		{"an unknown SOL_SOCKET type", cmsg(1, 99, 20, int32(a)), syscall.EINVAL},
		{"254 fds", cmsg(1, 1, 16+4*254, many(254)...), syscall.EINVAL},
		{"two messages of 200 fds", append(cmsg(1, 1, 16+4*200, many(200)...), cmsg(1, 1, 16+4*200, many(200)...)...), syscall.EINVAL},
		{"253 fds", cmsg(1, 1, 16+4*253, many(253)...), nil},
		{"another level (ignored)", cmsg(6, 1, 20, 1000), nil},
		{"no fds", cmsg(1, 1, 16), nil},
		{"a buffer shorter than a header (ignored)", cmsg(1, 1, 20, 1000)[:12], nil},
	} {
		err := syscall.Sendmsg(a, []byte("x"), c.oob, nil, 0)
		if err != c.want && !(err == nil && c.want == nil) {
			t.Errorf("sendmsg with %s: %v, want %v", c.name, err, c.want)
		}
		drain() // 253 fds received without a control buffer are closed
	}
}

// TestSCMRightsChurn: goroutines pass a pipe end and a socket, receive
// them or close the carrying sockets with them still queued, over and
// over, with descriptions and sids reused all the time; every pipe writer
// and socket must be released and the fd count come back.
func TestSCMRightsChurn(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	base := settledFDs()
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func(g int) {
			errs <- func() error {
				for i := 0; i < rounds; i++ {
					fds, err := syscall.Socketpair(syscall.AF_UNIX, []int{syscall.SOCK_STREAM, syscall.SOCK_DGRAM}[i%2]|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
					if err != nil {
						return err
					}
					a, b := fds[0], fds[1]
					cd, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
					if err != nil {
						return err
					}
					var p [2]int
					if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
						return err
					}
					if err := syscall.Sendmsg(a, []byte("x"), syscall.UnixRights(p[1], cd[1]), nil, 0); err != nil {
						return err
					}
					syscall.Close(p[1])
					syscall.Close(cd[1])
					if (i+g)%3 != 0 { // receive them, use them, close them
						buf, oob := make([]byte, 4), make([]byte, syscall.CmsgSpace(8))
						_, oobn, _, _, err := syscall.Recvmsg(b, buf, oob, syscall.MSG_CMSG_CLOEXEC)
						if err != nil {
							return err
						}
						scms, err := syscall.ParseSocketControlMessage(oob[:oobn])
						if err != nil || len(scms) != 1 {
							return fmt.Errorf("round %d: control messages %v, %v", i, scms, err)
						}
						got, err := syscall.ParseUnixRights(&scms[0])
						if err != nil || len(got) != 2 {
							return fmt.Errorf("round %d: rights %v, %v", i, got, err)
						}
						if _, err := syscall.Write(got[0], []byte("p")); err != nil {
							return fmt.Errorf("round %d: write to received pipe end: %v", i, err)
						}
						for _, fd := range got {
							syscall.Close(fd)
						}
					}
					syscall.Close(a)
					syscall.Close(b)
					for _, fd := range []int{p[0], cd[0]} {
						deadline := time.Now().Add(5 * time.Second)
						buf := make([]byte, 4)
						for {
							n, err := syscall.Read(fd, buf)
							if n == 0 && err == nil {
								break
							}
							if n > 0 {
								continue
							}
							if err != syscall.EAGAIN || time.Now().After(deadline) {
								return fmt.Errorf("round %d: fd %d never saw end of file: %d, %v", i, fd, n, err)
							}
							time.Sleep(time.Millisecond)
						}
						syscall.Close(fd)
					}
				}
				return nil
			}()
		}(g)
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := settledFDs(); n != base {
		t.Errorf("%d fds open after, %d before", n, base)
	}
}
