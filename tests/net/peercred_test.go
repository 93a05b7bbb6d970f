package net

import (
	"fmt"
	gonet "net"
	"os"
	"syscall"
	"testing"
)

// TestPeerCred: SO_PEERCRED is the peer's pid and effective ids when the
// connection was made, as Linux's sk_peer_cred: a socketpair's creator;
// for a connection, the listener's at listen(2) on the connecting end and
// the connecting thread's on the accepted one. Run as root (the kernel's
// program is), the connection is made with a different effective uid,
// which the accepted end keeps after the uid is changed back. An
// abstract name, so that no file's permissions are involved. Passes on
// Linux, the oracle, and inside the kernel (tests/netboot).
func TestPeerCred(t *testing.T) {
	peer := func(fd int) *syscall.Ucred {
		t.Helper()
		c, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
		if err != nil {
			t.Fatalf("SO_PEERCRED: %v", err)
		}
		return c
	}
	pid, euid, egid := int32(os.Getpid()), uint32(os.Geteuid()), uint32(os.Getegid())
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	if c := peer(fds[0]); c.Pid != pid || c.Uid != euid || c.Gid != egid {
		t.Errorf("socketpair: SO_PEERCRED %+v, want pid %d uid %d gid %d", *c, pid, euid, egid)
	}
	if euid != 0 {
		t.Skip("changing the effective uid needs root")
	}

	name := fmt.Sprintf("@velocity-peercred-%d", os.Getpid())
	l, err := gonet.ListenUnix("unix", &gonet.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const other = 4321
	if err := syscall.Setresuid(-1, other, -1); err != nil {
		t.Fatalf("seteuid %d: %v", other, err)
	}
	c, err := gonet.DialUnix("unix", nil, &gonet.UnixAddr{Name: name, Net: "unix"})
	if err := syscall.Setresuid(-1, 0, -1); err != nil {
		t.Fatalf("seteuid back to 0: %v", err) // before anything can fail with euid 4321
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ucredOf := func(conn *gonet.UnixConn) *syscall.Ucred {
		t.Helper()
		rc, err := conn.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var u *syscall.Ucred
		if err := rc.Control(func(fd uintptr) { u = peer(int(fd)) }); err != nil {
			t.Fatal(err)
		}
		return u
	}
	if u := ucredOf(s); u.Pid != pid || u.Uid != other {
		t.Errorf("accepted end: SO_PEERCRED %+v, want pid %d and the connecting euid %d (it is 0 again now)", *u, pid, other)
	}
	if u := ucredOf(c); u.Pid != pid || u.Uid != 0 {
		t.Errorf("connecting end: SO_PEERCRED %+v, want pid %d and the listener's euid 0", *u, pid)
	}
}
