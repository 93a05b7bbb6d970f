package netstack

import (
	"encoding/binary"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// recvWithin reads one datagram from fd, waiting up to d for it; nil if
// none came.
func (h *harness) recvWithin(fd int32, d time.Duration) []byte {
	h.t.Helper()
	buf := make([]byte, 64)
	for end := time.Now().Add(d); ; {
		r := h.call(45, -1, true, uint64(fd), bptr(buf), uint64(len(buf)), 0, 0, 0)
		if r >= 0 {
			return buf[:r]
		}
		if r != -int64(syscall.EAGAIN) {
			h.t.Fatalf("recvfrom = %d", r)
		}
		if time.Now().After(end) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// getInt reads an int socket option.
func (h *harness) getInt(fd int32, level, name int) (int32, int64) {
	h.t.Helper()
	var v int32
	n := int32(4)
	r := h.call(55, -1, true, uint64(fd), uint64(level), uint64(name), ptr(&v), ptr(&n))
	return v, r
}

func (h *harness) setInt(fd int32, level, name int, v int32) int64 {
	h.t.Helper()
	return h.call(54, -1, true, uint64(fd), uint64(level), uint64(name), ptr(&v), 4)
}

// TestMulticastIPv4: a socket that joins 224.0.0.251 on loopback (struct
// ip_mreqn, interface index 1) receives what another sends to the group
// through IP_MULTICAST_IF, and after IP_DROP_MEMBERSHIP no longer does;
// the TTL and loop options read back what was set; Linux's errors for a
// short structure, a group that is not multicast and a TCP socket.
func TestMulticastIPv4(t *testing.T) {
	h := newHarness(t)
	const rx, tx, st = 20, 21, 22
	h.call(41, rx, false, afInet, sockDgram|sockNonblock, 0)
	h.call(41, tx, false, afInet, sockDgram|sockNonblock, 0)
	h.call(41, st, false, afInet, sockStream|sockNonblock, 0)
	if r := h.call(49, -1, true, rx, bptr(sockaddr4([4]byte{}, 0)), 16); r != 0 {
		t.Fatalf("bind = %d", r)
	}
	sa := make([]byte, 16)
	n := int32(16)
	h.call(51, -1, true, rx, bptr(sa), ptr(&n))
	port := binary.BigEndian.Uint16(sa[2:])
	group := [4]byte{224, 0, 0, 251}
	mreqn := func(g [4]byte, index uint32) []byte {
		b := make([]byte, 12)
		copy(b, g[:])
		binary.LittleEndian.PutUint32(b[8:], index)
		return b
	}
	join := mreqn(group, 1)
	if r := h.call(54, -1, true, rx, ipprotoIP, ipAddMembership, bptr(join), 12); r != 0 {
		t.Fatalf("IP_ADD_MEMBERSHIP = %d", r)
	}
	if r := h.call(54, -1, true, tx, ipprotoIP, ipMulticastIF, bptr(mreqn([4]byte{}, 1)), 12); r != 0 {
		t.Fatalf("IP_MULTICAST_IF = %d", r)
	}
	send := func(msg string) {
		t.Helper()
		if r := h.call(44, -1, true, tx, bptr([]byte(msg)), uint64(len(msg)), 0, bptr(sockaddr4(group, port)), 16); r != int64(len(msg)) {
			t.Fatalf("sendto the group = %d", r)
		}
	}
	send("to the group")
	if got := h.recvWithin(rx, 5*time.Second); string(got) != "to the group" {
		t.Fatalf("the member received %q", got)
	}
	var ifAddr [4]byte
	n = 4
	if r := h.call(55, -1, true, tx, ipprotoIP, ipMulticastIF, bptr(ifAddr[:]), ptr(&n)); r != 0 || n != 4 {
		t.Errorf("getsockopt(IP_MULTICAST_IF) = %d, length %d", r, n)
	}
	if r := h.call(54, -1, true, rx, ipprotoIP, ipDropMembership, bptr(join), 12); r != 0 {
		t.Fatalf("IP_DROP_MEMBERSHIP = %d", r)
	}
	send("after leaving")
	if got := h.recvWithin(rx, 300*time.Millisecond); got != nil {
		t.Errorf("a socket that left the group received %q", got)
	}
	if r := h.setInt(tx, ipprotoIP, ipMulticastTTL, 5); r != 0 {
		t.Fatalf("IP_MULTICAST_TTL = %d", r)
	}
	if v, r := h.getInt(tx, ipprotoIP, ipMulticastTTL); r != 0 || v != 5 {
		t.Errorf("IP_MULTICAST_TTL reads %d (%d), want 5", v, r)
	}
	if r := h.setInt(tx, ipprotoIP, ipMulticastTTL, 256); r != -int64(syscall.EINVAL) {
		t.Errorf("IP_MULTICAST_TTL 256 = %d, want EINVAL", r)
	}
	if r := h.call(54, -1, true, tx, ipprotoIP, ipMulticastTTL, bptr([]byte{7}), 1); r != 0 {
		t.Fatalf("IP_MULTICAST_TTL as one byte = %d", r)
	}
	if v, _ := h.getInt(tx, ipprotoIP, ipMulticastTTL); v != 7 {
		t.Errorf("IP_MULTICAST_TTL reads %d after the byte 7", v)
	}
	if r := h.setInt(st, ipprotoIP, ipMulticastTTL, 5); r != -int64(syscall.EINVAL) {
		t.Errorf("IP_MULTICAST_TTL on a TCP socket = %d, want EINVAL", r)
	}
	if r := h.setInt(tx, ipprotoIP, ipMulticastLoop, 0); r != 0 {
		t.Fatalf("IP_MULTICAST_LOOP = %d", r)
	}
	if v, _ := h.getInt(tx, ipprotoIP, ipMulticastLoop); v != 0 {
		t.Errorf("IP_MULTICAST_LOOP reads %d after 0", v)
	}
	for _, c := range []struct {
		what string
		fd   int32
		v    []byte
		want syscall.Errno
	}{
		{"a 4-byte membership", rx, join[:4], syscall.EINVAL},
		{"a unicast group", rx, mreqn([4]byte{127, 0, 0, 1}, 1), syscall.EINVAL},
		{"a TCP socket", st, join, syscall.EPROTO},
	} {
		if r := h.call(54, -1, true, uint64(c.fd), ipprotoIP, ipAddMembership, bptr(c.v), uint64(len(c.v))); r != -int64(c.want) {
			t.Errorf("IP_ADD_MEMBERSHIP with %s = %d, want %v", c.what, r, c.want)
		}
	}
}

// TestMulticastIPv6: the same for IPv6 (struct ipv6_mreq with the
// interface index, IPV6_MULTICAST_IF as an index), and that an AF_INET
// socket has no IPv6 options.
func TestMulticastIPv6(t *testing.T) {
	h := newHarness(t)
	const rx, tx, v4 = 20, 21, 22
	h.call(41, rx, false, afInet6, sockDgram|sockNonblock, 0)
	h.call(41, tx, false, afInet6, sockDgram|sockNonblock, 0)
	h.call(41, v4, false, afInet, sockDgram|sockNonblock, 0)
	any6 := make([]byte, 28)
	binary.LittleEndian.PutUint16(any6, afInet6)
	if r := h.call(49, -1, true, rx, bptr(any6), 28); r != 0 {
		t.Fatalf("bind = %d", r)
	}
	sa := make([]byte, 28)
	n := int32(28)
	h.call(51, -1, true, rx, bptr(sa), ptr(&n))
	port := binary.BigEndian.Uint16(sa[2:])
	group := [16]byte{0: 0xff, 1: 0x02, 13: 0x01, 14: 0x00, 15: 0xfb} // ff02::1:fb
	mreq := make([]byte, 20)
	copy(mreq, group[:])
	binary.LittleEndian.PutUint32(mreq[16:], 1)
	if r := h.call(54, -1, true, rx, ipprotoIPv6, ipv6AddMembership, bptr(mreq), 20); r != 0 {
		t.Fatalf("IPV6_JOIN_GROUP = %d", r)
	}
	if r := h.setInt(tx, ipprotoIPv6, ipv6MulticastIF, 1); r != 0 {
		t.Fatalf("IPV6_MULTICAST_IF = %d", r)
	}
	if v, r := h.getInt(tx, ipprotoIPv6, ipv6MulticastIF); r != 0 || v != 1 {
		t.Errorf("IPV6_MULTICAST_IF reads %d (%d), want 1", v, r)
	}
	to := make([]byte, 28)
	binary.LittleEndian.PutUint16(to, afInet6)
	binary.BigEndian.PutUint16(to[2:], port)
	copy(to[8:], group[:])
	binary.LittleEndian.PutUint32(to[24:], 1)
	msg := []byte("to the IPv6 group")
	if r := h.call(44, -1, true, tx, bptr(msg), uint64(len(msg)), 0, bptr(to), 28); r != int64(len(msg)) {
		t.Fatalf("sendto the group = %d", r)
	}
	if got := h.recvWithin(rx, 5*time.Second); string(got) != string(msg) {
		t.Fatalf("the member received %q", got)
	}
	if r := h.call(54, -1, true, rx, ipprotoIPv6, ipv6DropMembership, bptr(mreq), 20); r != 0 {
		t.Fatalf("IPV6_LEAVE_GROUP = %d", r)
	}
	if r := h.setInt(tx, ipprotoIPv6, ipv6MulticastHops, -1); r != 0 {
		t.Fatalf("IPV6_MULTICAST_HOPS -1 = %d", r)
	}
	if v, _ := h.getInt(tx, ipprotoIPv6, ipv6MulticastHops); v != 1 {
		t.Errorf("IPV6_MULTICAST_HOPS reads %d after -1, want the default 1", v)
	}
	if r := h.call(54, -1, true, tx, ipprotoIPv6, ipv6MulticastHops, bptr([]byte{7}), 1); r != -int64(syscall.EINVAL) {
		t.Errorf("IPV6_MULTICAST_HOPS as one byte = %d, want EINVAL", r)
	}
	if r := h.setInt(tx, ipprotoIPv6, ipv6MulticastLoop, 2); r != -int64(syscall.EINVAL) {
		t.Errorf("IPV6_MULTICAST_LOOP 2 = %d, want EINVAL", r)
	}
	if r := h.call(54, -1, true, rx, ipprotoIPv6, ipv6AddMembership, bptr(mreq[:16]), 16); r != -int64(syscall.EINVAL) {
		t.Errorf("a 16-byte ipv6_mreq = %d, want EINVAL", r)
	}
	if r := h.setInt(v4, ipprotoIPv6, ipv6MulticastLoop, 1); r != -int64(syscall.ENOPROTOOPT) {
		t.Errorf("IPV6_MULTICAST_LOOP on an AF_INET socket = %d, want ENOPROTOOPT", r)
	}
}

// TestGroupFiles: /proc/net/igmp and igmp6 in Linux's formats (what Go's
// parser reads: an interface line, then each IPv4 group as 8 hex digits
// in host order; an IPv6 line per group with the index, the name and 32
// hex digits), with the stack's own groups, the program's while a socket
// holds them, and rewritten only when they change.
func TestGroupFiles(t *testing.T) {
	h := newHarness(t)
	var writes []string
	h.s.mc.write = func(file int, text string) error {
		writes = append(writes, fmt.Sprintf("%d:%s", file, text))
		return nil
	}
	h.s.writeGroups()
	v4, v6 := h.s.groupTexts()
	if !strings.HasPrefix(v4, "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n") {
		t.Errorf("igmp header:\n%s", v4)
	}
	if !strings.Contains(v4, "1\tlo        :     1      V3\n\t\t\t\t010000E0     1 0:00000000\t\t0\n") {
		t.Errorf("igmp lacks lo's all-systems group (224.0.0.1):\n%s", v4)
	}
	if !strings.Contains(v6, "1    lo              ff020000000000000000000000000001     1 00000000 0\n") {
		t.Errorf("igmp6 lacks lo's all-nodes group:\n%s", v6)
	}
	before := len(writes)
	h.s.writeGroups()
	if len(writes) != before {
		t.Errorf("unchanged groups were written again: %q", writes[before:])
	}
	const a, b = 20, 21
	h.call(41, a, false, afInet, sockDgram|sockNonblock, 0)
	h.call(41, b, false, afInet, sockDgram|sockNonblock, 0)
	join := []byte{224, 0, 0, 251, 0, 0, 0, 0, 1, 0, 0, 0}
	for _, fd := range []uint64{a, b} {
		if r := h.call(54, -1, true, fd, ipprotoIP, ipAddMembership, bptr(join), 12); r != 0 {
			t.Fatalf("IP_ADD_MEMBERSHIP = %d", r)
		}
	}
	v4, _ = h.s.groupTexts()
	if !strings.Contains(v4, "1\tlo        :     2      V3\n") || !strings.Contains(v4, "\t\t\t\tFB0000E0     2 0:00000000\t\t0\n") {
		t.Errorf("igmp with two members of 224.0.0.251:\n%s", v4)
	}
	if last := writes[len(writes)-1]; !strings.HasPrefix(last, "1:") || !strings.Contains(last, "FB0000E0") {
		t.Errorf("the join was not written: %q", last)
	}
	h.call(3, -1, true, a)
	if v4, _ = h.s.groupTexts(); !strings.Contains(v4, "FB0000E0     1 ") {
		t.Errorf("after one member closed:\n%s", v4)
	}
	if r := h.call(54, -1, true, b, ipprotoIP, ipDropMembership, bptr(join), 12); r != 0 {
		t.Fatalf("IP_DROP_MEMBERSHIP = %d", r)
	}
	if v4, _ = h.s.groupTexts(); strings.Contains(v4, "FB0000E0") {
		t.Errorf("after the last member left:\n%s", v4)
	}
	if last := writes[len(writes)-1]; strings.Contains(last, "FB0000E0") {
		t.Errorf("the leave was not written: %q", last)
	}
}

// FuzzIPMreq: ipMreq reads any bytes a caller passes as struct ip_mreq,
// ip_mreqn or (IP_MULTICAST_IF) in_addr without panicking, refuses what is
// too short, and takes each field from its offset.
func FuzzIPMreq(f *testing.F) {
	f.Add([]byte{224, 0, 0, 251, 0, 0, 0, 0, 1, 0, 0, 0}, false)
	f.Add([]byte{224, 0, 0, 251, 127, 0, 0, 1}, false)
	f.Add([]byte{127, 0, 0, 1}, true)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, v []byte, addrOnly bool) {
		group, ifAddr, ifIndex, e := ipMreq(v, addrOnly)
		short := len(v) < 8 && !(addrOnly && len(v) >= 4)
		if short != (e == syscall.EINVAL) || (e != 0 && e != syscall.EINVAL) {
			t.Fatalf("%d bytes (addrOnly %v): errno %v", len(v), addrOnly, e)
		}
		if e != 0 {
			return
		}
		field := func(b []byte) string {
			if [4]byte(b) == [4]byte{} {
				return ""
			}
			return string(b)
		}
		if len(v) >= 8 && (string(group.AsSlice()) != field(v[:4]) || string(ifAddr.AsSlice()) != field(v[4:8])) {
			t.Fatalf("%x: group %v, interface %v", v, group, ifAddr)
		}
		if len(v) < 8 && (group.Len() != 0 || string(ifAddr.AsSlice()) != field(v[:4])) {
			t.Fatalf("%x as in_addr: group %v, interface %v", v, group, ifAddr)
		}
		if want := uint32(0); len(v) >= 12 && ifIndex != binary.LittleEndian.Uint32(v[8:]) || len(v) < 12 && ifIndex != want {
			t.Fatalf("%x: index %d", v, ifIndex)
		}
	})
}
