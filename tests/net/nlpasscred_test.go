package net

import (
	"encoding/binary"
	"os"
	"syscall"
	"testing"
)

// TestNetlinkPasscred: SO_PASSCRED on NETLINK_ROUTE sockets, as Linux
// has it (NETLINK_CREDS): a receiver with it gets an SCM_CREDENTIALS
// message with every read, the kernel's answers as pid, uid and gid 0,
// another socket's datagram with its sender's pid and ids; without it,
// no control message. Passes on Linux, the oracle, and inside the kernel
// (tests/netboot).
func TestNetlinkPasscred(t *testing.T) {
	open := func() (int, uint32) {
		t.Helper()
		fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Close(fd) })
		if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
			t.Fatal(err)
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			t.Fatal(err)
		}
		return fd, sa.(*syscall.SockaddrNetlink).Pid
	}
	// recv reads one datagram and returns the credentials it came with,
	// or nil if there was no control message.
	recv := func(fd int) *syscall.Ucred {
		t.Helper()
		buf := make([]byte, 1<<16)
		oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred))
		_, oobn, _, _, err := syscall.Recvmsg(fd, buf, oob, 0)
		if err != nil {
			t.Fatalf("recvmsg: %v", err)
		}
		if oobn == 0 {
			return nil
		}
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			t.Fatalf("control: %d bytes, %d messages, %v", oobn, len(msgs), err)
		}
		c, err := syscall.ParseUnixCredentials(&msgs[0])
		if err != nil {
			t.Fatalf("control message: %v", err)
		}
		return c
	}
	// RTM_GETLINK, a dump of every link: nlmsghdr and rtgenmsg.
	getlink := make([]byte, syscall.NLMSG_HDRLEN+1)
	binary.LittleEndian.PutUint32(getlink[0:], uint32(len(getlink)))
	binary.LittleEndian.PutUint16(getlink[4:], syscall.RTM_GETLINK)
	binary.LittleEndian.PutUint16(getlink[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP)
	binary.LittleEndian.PutUint32(getlink[8:], 1) // sequence; port 0, family AF_UNSPEC
	kernel := &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}

	a, aport := open()
	if v, err := syscall.GetsockoptInt(a, syscall.SOL_SOCKET, syscall.SO_PASSCRED); err != nil || v != 0 {
		t.Fatalf("SO_PASSCRED before: %d, %v", v, err)
	}
	if err := syscall.Sendto(a, getlink, 0, kernel); err != nil {
		t.Fatal(err)
	}
	if c := recv(a); c != nil {
		t.Errorf("without SO_PASSCRED a read got credentials %+v", *c)
	}
	if err := syscall.SetsockoptInt(a, syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1); err != nil {
		t.Fatalf("SO_PASSCRED on netlink: %v", err)
	}
	if v, err := syscall.GetsockoptInt(a, syscall.SOL_SOCKET, syscall.SO_PASSCRED); err != nil || v != 1 {
		t.Fatalf("SO_PASSCRED reads back %d, %v", v, err)
	}
	// Drain the dump's remaining datagrams, then ask again: the kernel's
	// answer comes with pid, uid and gid 0.
	for {
		buf := make([]byte, 1<<16)
		if _, _, err := syscall.Recvfrom(a, buf, syscall.MSG_DONTWAIT); err != nil {
			break
		}
	}
	if err := syscall.Sendto(a, getlink, 0, kernel); err != nil {
		t.Fatal(err)
	}
	if c := recv(a); c == nil || c.Pid != 0 || c.Uid != 0 || c.Gid != 0 {
		t.Errorf("the kernel's answer came with %+v, want pid, uid and gid 0", c)
	}
	for {
		buf := make([]byte, 1<<16)
		if _, _, err := syscall.Recvfrom(a, buf, syscall.MSG_DONTWAIT); err != nil {
			break
		}
	}

	// Another socket's datagram: its sender's pid and real ids.
	b, _ := open()
	if err := syscall.Sendto(b, []byte("velocity"), 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK, Pid: aport}); err != nil {
		t.Fatalf("sendto another netlink socket: %v", err)
	}
	want := syscall.Ucred{Pid: int32(os.Getpid()), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if c := recv(a); c == nil || *c != want {
		t.Errorf("a datagram from another socket came with %+v, want %+v", c, want)
	}
}
