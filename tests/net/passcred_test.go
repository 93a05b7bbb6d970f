package net

import (
	gonet "net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SO_PASSCRED and SCM_CREDENTIALS over named AF_UNIX sockets through
// package net (in the kernel: runtime/vk_netrights.go and
// netstack/unix_calls.go). They pass on Linux, the oracle, and inside
// the kernel (tests/netboot).

func setPasscred(t *testing.T, c syscall.Conn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("SO_PASSCRED: %v", serr)
	}
}

func getPasscred(t *testing.T, c syscall.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED) })
	if gerr != nil {
		t.Fatalf("get SO_PASSCRED: %v", gerr)
	}
	return v
}

// readCreds reads one message with ReadMsgUnix and the credentials that
// came with it (nil: none).
func readCreds(t *testing.T, c *gonet.UnixConn) (string, *syscall.Ucred, *gonet.UnixAddr) {
	t.Helper()
	buf := make([]byte, 64)
	oob := make([]byte, 128)
	n, oobn, flags, from, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatalf("ReadMsgUnix: %v", err)
	}
	if flags&syscall.MSG_CTRUNC != 0 {
		t.Fatalf("ReadMsgUnix: MSG_CTRUNC with a 128-byte control buffer")
	}
	scms, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	var cred *syscall.Ucred
	for i := range scms {
		if scms[i].Header.Type == syscall.SCM_CREDENTIALS {
			if cred, err = syscall.ParseUnixCredentials(&scms[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return string(buf[:n]), cred, from
}

// TestPasscredStream: an accepted connection takes the listener's
// SO_PASSCRED; each read reports the credentials of what it read, and a
// read does not join writes whose credentials differ.
func TestPasscredStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passcred.sock")
	l, err := gonet.ListenUnix("unix", &gonet.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	setPasscred(t, l)
	c, err := gonet.DialUnix("unix", nil, &gonet.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := getPasscred(t, s); v != 1 {
		t.Fatalf("accepted socket's SO_PASSCRED = %d, want the listener's 1", v)
	}
	own := syscall.Ucred{Pid: int32(os.Getpid()), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	other := own
	if os.Getuid() == 0 { // root may name other ids (CAP_SETUID, CAP_SETGID)
		other.Uid, other.Gid = 12345, 54321
	}
	if _, err := c.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("cd")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.WriteMsgUnix([]byte("ef"), syscall.UnixCredentials(&other), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("gh")); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		data string
		cred syscall.Ucred
	}{{"abcd", own}, {"ef", other}, {"gh", own}}
	if other == own {
		want = []struct {
			data string
			cred syscall.Ucred
		}{{"abcdefgh", own}}
	}
	for _, w := range want {
		d, cred, _ := readCreds(t, s)
		if d != w.data || cred == nil || *cred != w.cred {
			t.Fatalf("read %q with credentials %+v, want %q with %+v", d, cred, w.data, w.cred)
		}
	}
}

// TestPasscredDgram: a datagram sender with SO_PASSCRED and no name is
// given one (autobind) on its first send, and its credentials go with
// every datagram; a malformed or foreign SCM_CREDENTIALS is refused.
func TestPasscredDgram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passcred.dgram")
	srv, err := gonet.ListenUnixgram("unixgram", &gonet.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Sendto(fd, []byte("x"), 0, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	name := sa.(*syscall.SockaddrUnix).Name
	if len(name) != 6 || name[0] != '@' {
		t.Fatalf("sender's name after a send with SO_PASSCRED = %q, want an autobind name", name)
	}
	// The receiver has no SO_PASSCRED, the sender has: no message, but
	// the sender's name.
	d, cred, from := readCreds(t, srv)
	if d != "x" || cred != nil || from == nil || from.Name != name {
		t.Fatalf("read %q, credentials %+v, from %v; want \"x\", none, from %q", d, cred, from, name)
	}
	setPasscred(t, srv)
	if err := syscall.Sendto(fd, []byte("y"), 0, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	d, cred, _ = readCreds(t, srv)
	own := syscall.Ucred{Pid: int32(os.Getpid()), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if d != "y" || cred == nil || *cred != own {
		t.Fatalf("read %q with credentials %+v, want \"y\" with %+v", d, cred, own)
	}
	to := &syscall.SockaddrUnix{Name: path}
	bad := syscall.UnixCredentials(&syscall.Ucred{Pid: int32(os.Getpid()), Uid: ^uint32(0)})
	if err := syscall.Sendmsg(fd, []byte("z"), bad, to, 0); err != syscall.EINVAL {
		t.Fatalf("SCM_CREDENTIALS with uid -1: %v, want EINVAL", err)
	}
	short := syscall.UnixCredentials(&own)
	short[0] = 24 // cmsg_len other than CMSG_LEN(sizeof(struct ucred))
	if err := syscall.Sendmsg(fd, []byte("z"), short, to, 0); err != syscall.EINVAL {
		t.Fatalf("SCM_CREDENTIALS of length 24: %v, want EINVAL", err)
	}
	gone := syscall.UnixCredentials(&syscall.Ucred{Pid: 0x3fffffff, Uid: own.Uid, Gid: own.Gid})
	want := syscall.EPERM // the pid is another's: only CAP_SYS_ADMIN may
	if os.Getuid() == 0 {
		want = syscall.ESRCH // root may, but no such process exists
	}
	if err := syscall.Sendmsg(fd, []byte("z"), gone, to, 0); err != want {
		t.Fatalf("SCM_CREDENTIALS of pid %#x: %v, want %v", 0x3fffffff, err, want)
	}
}
