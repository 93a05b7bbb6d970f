package net

import (
	gonet "net"
	"reflect"
	"syscall"
	"testing"
)

// TestInterfacesLoopback: net.Interfaces, InterfaceByName, InterfaceByIndex
// and Addrs, which Go answers through NETLINK_ROUTE sockets
// (syscall.NetlinkRIB), list the loopback interface as Linux does.
func TestInterfacesLoopback(t *testing.T) {
	ift, err := gonet.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var lo *gonet.Interface
	for i := range ift {
		t.Logf("%s: index %d flags %v mtu %d hwaddr %v", ift[i].Name, ift[i].Index, ift[i].Flags, ift[i].MTU, ift[i].HardwareAddr)
		if ift[i].Name == "lo" {
			lo = &ift[i]
		}
	}
	if lo == nil {
		t.Fatalf("no lo among %v", ift)
	}
	if want := gonet.FlagUp | gonet.FlagLoopback; lo.Flags&want != want {
		t.Errorf("lo flags %v, want up|loopback", lo.Flags)
	}
	if lo.MTU <= 0 || lo.Index <= 0 {
		t.Errorf("lo mtu %d index %d", lo.MTU, lo.Index)
	}
	byName, err := gonet.InterfaceByName("lo")
	if err != nil || !reflect.DeepEqual(byName, lo) {
		t.Errorf("InterfaceByName(lo) = %v, %v; want %v", byName, err, lo)
	}
	byIndex, err := gonet.InterfaceByIndex(lo.Index)
	if err != nil || !reflect.DeepEqual(byIndex, lo) {
		t.Errorf("InterfaceByIndex(%d) = %v, %v; want %v", lo.Index, byIndex, err, lo)
	}
	if _, err := gonet.InterfaceByName("no-such-if0"); err == nil {
		t.Errorf("InterfaceByName of a missing interface succeeded")
	}
	addrs, err := lo.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, a := range addrs {
		have[a.String()] = true
	}
	for _, want := range []string{"127.0.0.1/8", "::1/128"} {
		if !have[want] {
			t.Errorf("lo addresses %v lack %s", addrs, want)
		}
	}
	all, err := gonet.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range all {
		found = found || a.String() == "127.0.0.1/8"
	}
	if !found {
		t.Errorf("InterfaceAddrs %v lacks 127.0.0.1/8", all)
	}
}

// TestNetlinkSocketErrors: what socket(AF_NETLINK, ...) refuses, as on
// Linux.
func TestNetlinkSocketErrors(t *testing.T) {
	for _, c := range []struct {
		typ, proto int
		want       syscall.Errno
	}{
		{syscall.SOCK_RAW, 99, syscall.EPROTONOSUPPORT},
		{syscall.SOCK_STREAM, syscall.NETLINK_ROUTE, syscall.ESOCKTNOSUPPORT},
		{12, syscall.NETLINK_ROUTE, syscall.EINVAL}, // beyond SOCK_MAX
	} {
		fd, err := syscall.Socket(syscall.AF_NETLINK, c.typ, c.proto)
		if err == nil {
			syscall.Close(fd)
		}
		if err != c.want {
			t.Errorf("socket(AF_NETLINK, %d, %d): %v, want %v", c.typ, c.proto, err, c.want)
		}
	}
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	// Before bind: port 0.
	sa, err := syscall.Getsockname(fd)
	if nl, ok := sa.(*syscall.SockaddrNetlink); err != nil || !ok || nl.Pid != 0 {
		t.Errorf("getsockname before bind: %#v, %v", sa, err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	sa, err = syscall.Getsockname(fd)
	if nl, ok := sa.(*syscall.SockaddrNetlink); err != nil || !ok || nl.Pid == 0 {
		t.Errorf("getsockname after bind: %#v, %v", sa, err)
	}
	// Nothing asked, nothing to read.
	buf := make([]byte, 64)
	if _, _, err := syscall.Recvfrom(fd, buf, syscall.MSG_DONTWAIT); err != syscall.EAGAIN {
		t.Errorf("recvfrom on an empty netlink socket: %v, want EAGAIN", err)
	}
	if _, err := syscall.Socketpair(syscall.AF_NETLINK, syscall.SOCK_RAW, syscall.NETLINK_ROUTE); err != syscall.EOPNOTSUPP {
		t.Errorf("socketpair(AF_NETLINK): %v, want EOPNOTSUPP", err)
	}
}
