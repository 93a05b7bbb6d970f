package net

import (
	gonet "net"
	"syscall"
	"testing"
	"time"
)

// TestMulticastUDP: net.ListenMulticastUDP joins a group on the loopback
// interface (IP_ADD_MEMBERSHIP, IP_MULTICAST_IF, IP_MULTICAST_LOOP) and
// receives a datagram another socket sends to the group through that
// interface (IP_MULTICAST_IF with a struct ip_mreqn), and the interface
// lists the group until its member closes, as on Linux.
func TestMulticastUDP(t *testing.T) {
	lo, err := gonet.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	group := gonet.IPv4(224, 0, 0, 251)
	c, err := gonet.ListenMulticastUDP("udp4", lo, &gonet.UDPAddr{IP: group})
	if err != nil {
		t.Fatalf("ListenMulticastUDP: %v", err)
	}
	defer c.Close()
	port := c.LocalAddr().(*gonet.UDPAddr).Port
	s, err := gonet.ListenUDP("udp4", &gonet.UDPAddr{IP: gonet.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rc, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptIPMreqn(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, &syscall.IPMreqn{Ifindex: int32(lo.Index)})
	}); err != nil || serr != nil {
		t.Fatalf("IP_MULTICAST_IF: %v %v", err, serr)
	}
	msg := []byte("to 224.0.0.251")
	if _, err := s.WriteToUDP(msg, &gonet.UDPAddr{IP: group, Port: port}); err != nil {
		t.Fatalf("send to the group: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("the member received nothing: %v", err)
	}
	if string(buf[:n]) != string(msg) || from.Port != s.LocalAddr().(*gonet.UDPAddr).Port {
		t.Errorf("received %q from %v", buf[:n], from)
	}
	// The interface lists the group while a socket holds it, and not
	// after the last one closed (/proc/net/igmp).
	listed := func() bool {
		t.Helper()
		groups, err := lo.MulticastAddrs()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			if g.(*gonet.IPAddr).IP.Equal(group) {
				return true
			}
		}
		return false
	}
	if !listed() {
		t.Errorf("lo's groups lack %v while a socket holds it", group)
	}
	c.Close()
	if listed() {
		t.Errorf("lo still lists %v after its only member closed", group)
	}
}
