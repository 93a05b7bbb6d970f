package netstack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"syscall"
	"testing"
)

// testState is a node with loopback and one configured Ethernet card.
func testState() nlState {
	return nlState{
		links: []nlLink{
			{index: 1, name: "lo", typ: arphrdLoopback, flags: iffUp | iffLoopback | iffRunning | iffLowerUp, mtu: 65536,
				addr: make([]byte, 6), brd: make([]byte, 6), operstate: ifOperUnknown},
			{index: 2, name: "eth0", typ: arphrdEther, flags: iffUp | iffBroadcast | iffRunning | iffMulticast | iffLowerUp, mtu: 1500,
				addr: []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}, brd: bytes.Repeat([]byte{0xff}, 6), operstate: ifOperUp},
		},
		addrs: []nlAddr{
			{family: afInet, prefix: 8, flags: ifaFPermanent, scope: rtScopeHost, index: 1, addr: []byte{127, 0, 0, 1}, label: "lo"},
			{family: afInet, prefix: 24, flags: ifaFPermanent, index: 2, addr: []byte{10, 0, 2, 15}, brd: []byte{10, 0, 2, 255}, label: "eth0"},
			{family: afInet6, prefix: 128, flags: ifaFPermanent, scope: rtScopeHost, index: 1, addr: net.IPv6loopback},
		},
	}
}

// nlReq builds one request message as Go's syscall.NetlinkRIB does (an
// rtgenmsg), with extra payload bytes after the family when given.
func nlReq(typ, flags uint16, seq uint32, payload ...byte) []byte {
	b := make([]byte, 16, 16+len(payload))
	b = append(b, payload...)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(b)))
	binary.LittleEndian.PutUint16(b[4:], typ)
	binary.LittleEndian.PutUint16(b[6:], flags)
	binary.LittleEndian.PutUint32(b[8:], seq)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// parseAll parses every datagram with package syscall's own parser, as
// Go's net does, and checks the port id and sequence of every message.
func parseAll(t *testing.T, dgrams [][]byte, port, seq uint32) []syscall.NetlinkMessage {
	t.Helper()
	var all []syscall.NetlinkMessage
	for _, d := range dgrams {
		if len(d) > nlGoodSize {
			t.Errorf("datagram of %d bytes", len(d))
		}
		msgs, err := syscall.ParseNetlinkMessage(d)
		if err != nil {
			t.Fatalf("ParseNetlinkMessage: %v (%x)", err, d)
		}
		for _, m := range msgs {
			if m.Header.Pid != port || m.Header.Seq != seq {
				t.Errorf("message type %d: pid %d seq %d, want %d %d", m.Header.Type, m.Header.Pid, m.Header.Seq, port, seq)
			}
		}
		all = append(all, msgs...)
	}
	return all
}

func attrs(t *testing.T, m *syscall.NetlinkMessage) map[uint16][]byte {
	t.Helper()
	as, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		t.Fatalf("ParseNetlinkRouteAttr: %v", err)
	}
	r := map[uint16][]byte{}
	for _, a := range as {
		r[a.Attr.Type] = a.Value
	}
	return r
}

func route(req []byte, port uint32) [][]byte {
	d, _ := netlinkRoute(req, port, nlBuf, testState)
	return d
}

func TestNetlinkLinkDump(t *testing.T) {
	msgs := parseAll(t, route(nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFDump, 1, syscall.AF_UNSPEC), 4242), 4242, 1)
	if len(msgs) != 3 || msgs[2].Header.Type != syscall.NLMSG_DONE {
		t.Fatalf("%d messages, want 2 links and NLMSG_DONE", len(msgs))
	}
	for i, want := range testState().links {
		m := &msgs[i]
		if m.Header.Type != syscall.RTM_NEWLINK || m.Header.Flags != nlmFMulti {
			t.Fatalf("message %d: type %d flags %#x", i, m.Header.Type, m.Header.Flags)
		}
		ifi := m.Data[:16]
		if typ, idx, fl := binary.LittleEndian.Uint16(ifi[2:]), int32(binary.LittleEndian.Uint32(ifi[4:])), binary.LittleEndian.Uint32(ifi[8:]); typ != want.typ || idx != want.index || fl != want.flags {
			t.Errorf("%s: type %d index %d flags %#x", want.name, typ, idx, fl)
		}
		a := attrs(t, m)
		if string(a[syscall.IFLA_IFNAME]) != want.name+"\x00" {
			t.Errorf("IFLA_IFNAME %q", a[syscall.IFLA_IFNAME])
		}
		if mtu := binary.LittleEndian.Uint32(a[syscall.IFLA_MTU]); mtu != want.mtu {
			t.Errorf("%s: mtu %d", want.name, mtu)
		}
		if !bytes.Equal(a[syscall.IFLA_ADDRESS], want.addr) || !bytes.Equal(a[syscall.IFLA_BROADCAST], want.brd) {
			t.Errorf("%s: address %x broadcast %x", want.name, a[syscall.IFLA_ADDRESS], a[syscall.IFLA_BROADCAST])
		}
	}
	if msgs[0].Header.Flags&nlmFMulti == 0 || len(msgs[2].Data) != 4 {
		t.Errorf("NLMSG_DONE: flags %#x, %d bytes of status", msgs[2].Header.Flags, len(msgs[2].Data))
	}
	// AF_BRIDGE's dump lists bridge ports: none.
	if msgs := parseAll(t, route(nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFDump, 7, afBridge), 1), 1, 7); len(msgs) != 1 || msgs[0].Header.Type != syscall.NLMSG_DONE {
		t.Errorf("AF_BRIDGE link dump: %d messages", len(msgs))
	}
}

// addrOf reads an RTM_NEWADDR as Go's net (interface_linux.go, newAddr)
// does: IFA_LOCAL when present, else IFA_ADDRESS, taking the first
// attribute that is not a skipped IFA_ADDRESS.
func addrOf(t *testing.T, m *syscall.NetlinkMessage) (family, prefix uint8, ip net.IP) {
	as, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		t.Fatal(err)
	}
	local := false
	for _, a := range as {
		local = local || a.Attr.Type == syscall.IFA_LOCAL
	}
	for _, a := range as {
		if local && a.Attr.Type == syscall.IFA_ADDRESS {
			continue
		}
		return m.Data[0], m.Data[1], net.IP(a.Value)
	}
	return m.Data[0], m.Data[1], nil
}

func TestNetlinkAddrDump(t *testing.T) {
	for _, tc := range []struct {
		family uint8
		want   []string
	}{
		{syscall.AF_UNSPEC, []string{"127.0.0.1/8", "10.0.2.15/24", "::1/128"}},
		{syscall.AF_INET, []string{"127.0.0.1/8", "10.0.2.15/24"}},
		{syscall.AF_INET6, []string{"::1/128"}},
		{5, []string{"127.0.0.1/8", "10.0.2.15/24", "::1/128"}}, // any other family: all, as Linux
		{afPacket, []string{"127.0.0.1/8", "10.0.2.15/24", "::1/128"}},
	} {
		msgs := parseAll(t, route(nlReq(syscall.RTM_GETADDR, nlmFRequest|nlmFDump, 3, tc.family), 9), 9, 3)
		var got []string
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Type == syscall.NLMSG_DONE {
				if i != len(msgs)-1 {
					t.Errorf("family %d: NLMSG_DONE before the end", tc.family)
				}
				break
			}
			if m.Header.Type != syscall.RTM_NEWADDR {
				t.Fatalf("family %d: type %d", tc.family, m.Header.Type)
			}
			_, prefix, ip := addrOf(t, m)
			got = append(got, (&net.IPNet{IP: ip, Mask: net.CIDRMask(int(prefix), len(ip)*8)}).String())
		}
		if len(got) != len(tc.want) || len(got) > 0 && !equalStrings(got, tc.want) {
			t.Errorf("family %d: %v, want %v", tc.family, got, tc.want)
		}
	}
	// The label and scope of 127.0.0.1 on lo.
	msgs := parseAll(t, route(nlReq(syscall.RTM_GETADDR, nlmFRequest|nlmFDump, 3, syscall.AF_INET), 9), 9, 3)
	if a := attrs(t, &msgs[0]); string(a[syscall.IFA_LABEL]) != "lo\x00" || msgs[0].Data[3] != rtScopeHost || binary.LittleEndian.Uint32(msgs[0].Data[4:]) != 1 {
		t.Errorf("127.0.0.1: label %q scope %d", a[syscall.IFA_LABEL], msgs[0].Data[3])
	}
}

func equalStrings(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// nlErrno reads the errno of a datagram holding one NLMSG_ERROR.
func nlErrno(t *testing.T, dgrams [][]byte) (syscall.Errno, syscall.NetlinkMessage) {
	t.Helper()
	if len(dgrams) != 1 {
		t.Fatalf("%d datagrams, want one NLMSG_ERROR", len(dgrams))
	}
	msgs, err := syscall.ParseNetlinkMessage(dgrams[0])
	if err != nil || len(msgs) != 1 || msgs[0].Header.Type != syscall.NLMSG_ERROR {
		t.Fatalf("not one NLMSG_ERROR: %v %x", err, dgrams[0])
	}
	return syscall.Errno(-int32(binary.LittleEndian.Uint32(msgs[0].Data))), msgs[0]
}

func TestNetlinkErrors(t *testing.T) {
	// Not offered: routes, and any change. The error carries the request.
	for _, typ := range []uint16{syscall.RTM_GETROUTE, syscall.RTM_NEWADDR, syscall.RTM_DELLINK, syscall.RTM_GETNEIGH, 200} {
		req := nlReq(typ, nlmFRequest|nlmFDump, 5, syscall.AF_UNSPEC)
		e, m := nlErrno(t, route(req, 3))
		if e != syscall.EOPNOTSUPP || m.Header.Seq != 5 || m.Header.Pid != 3 || !bytes.Equal(m.Data[4:], req[:17]) {
			t.Errorf("type %d: errno %v seq %d, echoed %x", typ, e, m.Header.Seq, m.Data[4:])
		}
	}
	// RTM_GETADDR for one address: no handler, as for IPv4 on Linux.
	if e, _ := nlErrno(t, route(nlReq(syscall.RTM_GETADDR, nlmFRequest, 1, syscall.AF_INET), 3)); e != syscall.EOPNOTSUPP {
		t.Errorf("RTM_GETADDR without NLM_F_DUMP: %v", e)
	}
	// An acknowledgement: errno 0, the header only, NLM_F_CAPPED.
	e, m := nlErrno(t, route(nlReq(syscall.NLMSG_NOOP, nlmFRequest|nlmFAck, 8), 3))
	if e != 0 || m.Header.Flags != nlmFCapped || len(m.Data) != 4+16 {
		t.Errorf("ack: errno %v flags %#x, %d bytes", e, m.Header.Flags, len(m.Data))
	}
	// Silence: no NLM_F_REQUEST, a control message, no rtgenmsg, a header
	// whose length is short or runs past the datagram.
	for name, req := range map[string][]byte{
		"not a request": nlReq(syscall.RTM_GETLINK, nlmFDump, 1, 0),
		"control":       nlReq(syscall.NLMSG_NOOP, nlmFRequest, 1),
		"no rtgenmsg":   nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFDump, 1),
		"short length":  append(binary.LittleEndian.AppendUint32(nil, 8), make([]byte, 12)...),
		"long length":   append(binary.LittleEndian.AppendUint32(nil, 1000), make([]byte, 16)...),
		"tiny":          {1, 2, 3},
	} {
		if d := route(req, 3); len(d) != 0 {
			t.Errorf("%s: %d datagrams", name, len(d))
		}
	}
	// Two requests in one datagram: two answers, in order.
	two := append(nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFDump, 1, 0), nlReq(syscall.RTM_GETROUTE, nlmFRequest|nlmFDump, 2, 0)...)
	if d := route(two, 3); len(d) != 2 {
		t.Errorf("two requests: %d datagrams", len(d))
	} else if e, _ := nlErrno(t, d[1:]); e != syscall.EOPNOTSUPP {
		t.Errorf("second request: %v", e)
	}
}

func TestNetlinkGetLink(t *testing.T) {
	ifi := func(index int32, attrs ...byte) []byte {
		b := make([]byte, 16, 16+len(attrs))
		binary.LittleEndian.PutUint32(b[4:], uint32(index))
		return append(b, attrs...)
	}
	name := func(n string) []byte { return nlAttrString(nil, iflaIfname, n) }
	for _, tc := range []struct {
		payload []byte
		want    string
		e       syscall.Errno
	}{
		{ifi(2), "eth0", 0},
		{ifi(0, name("lo")...), "lo", 0},
		{ifi(1, name("eth0")...), "lo", 0}, // the index wins
		{ifi(9), "", syscall.ENODEV},
		{ifi(0, name("wlan0")...), "", syscall.ENODEV},
		{ifi(0), "", syscall.EINVAL},
		{ifi(0, name("a-name-far-too-long")...), "", syscall.EINVAL},
		{[]byte{0}, "", syscall.EINVAL}, // no ifinfomsg
	} {
		req := nlReq(syscall.RTM_GETLINK, nlmFRequest, 4, tc.payload...)
		d := route(req, 6)
		if tc.e != 0 {
			if e, _ := nlErrno(t, d); e != tc.e {
				t.Errorf("%x: %v, want %v", tc.payload, e, tc.e)
			}
			continue
		}
		msgs := parseAll(t, d, 6, 4)
		if len(msgs) != 1 || msgs[0].Header.Type != syscall.RTM_NEWLINK || msgs[0].Header.Flags != 0 {
			t.Fatalf("%x: %d messages", tc.payload, len(msgs))
		}
		if n := attrs(t, &msgs[0])[syscall.IFLA_IFNAME]; string(n) != tc.want+"\x00" {
			t.Errorf("%x: %q, want %q", tc.payload, n, tc.want)
		}
	}
	// With NLM_F_ACK: the link, then the acknowledgement.
	if d := route(nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFAck, 4, ifi(1)...), 6); len(d) != 2 {
		t.Errorf("with NLM_F_ACK: %d datagrams", len(d))
	}
}

func TestNetlinkOverrun(t *testing.T) {
	req := nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFDump, 1, 0)
	full, _ := netlinkRoute(req, 1, nlBuf, testState)
	d, over := netlinkRoute(req, 1, len(full[0])-1, testState)
	if !over || len(d) != 0 {
		t.Errorf("room one byte short: overrun %v, %d datagrams", over, len(d))
	}
	// Many small dumps fill the room; nothing past it is made.
	var many []byte
	for i := 0; i < 100; i++ {
		many = append(many, req...)
	}
	d, over = netlinkRoute(many, 1, 10*len(full[0]), testState)
	if !over || len(d) != 10 {
		t.Errorf("100 dumps in room for 10: overrun %v, %d datagrams", over, len(d))
	}
}

// TestNetlinkLikeLinux compares the loopback link and its addresses with
// the host's own answer, when the host is Linux with a loopback
// interface: the same flags, type, MTU and attributes Go reads.
func TestNetlinkLikeLinux(t *testing.T) {
	host, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		t.Skipf("host netlink: %v", err)
	}
	hmsgs, err := syscall.ParseNetlinkMessage(host)
	if err != nil {
		t.Fatal(err)
	}
	var hlo *syscall.NetlinkMessage
	for i := range hmsgs {
		if hmsgs[i].Header.Type == syscall.RTM_NEWLINK && string(attrs(t, &hmsgs[i])[syscall.IFLA_IFNAME]) == "lo\x00" {
			hlo = &hmsgs[i]
		}
	}
	if hlo == nil {
		t.Skip("the host has no lo")
	}
	// Ours, from the server's real stack.
	st := newHarness(t).s.netlinkState()
	olo, err := syscall.ParseNetlinkMessage(nlLinkMsg(nil, st.links[0], nlmFMulti, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	hi, oi := hlo.Data[:16], olo[0].Data[:16]
	if !bytes.Equal(hi[2:4], oi[2:4]) || !bytes.Equal(hi[8:12], oi[8:12]) {
		t.Errorf("ifinfomsg: host %x, ours %x", hi, oi)
	}
	ha, oa := attrs(t, hlo), attrs(t, &olo[0])
	for _, typ := range []uint16{syscall.IFLA_IFNAME, syscall.IFLA_MTU, syscall.IFLA_ADDRESS, syscall.IFLA_BROADCAST, iflaOperstate} {
		if !bytes.Equal(ha[typ], oa[typ]) {
			t.Errorf("attribute %d: host %x, ours %x", typ, ha[typ], oa[typ])
		}
	}
	// lo's addresses: the same ifaddrmsg (family, prefix, flags, scope,
	// index when the host's lo is 1) and the same attributes, of those we
	// give (the host adds IFA_CACHEINFO and IFA_PROTO).
	hidx := binary.LittleEndian.Uint32(hi[4:8])
	hostAddrs := map[string]*syscall.NetlinkMessage{}
	for _, d := range hostNetlink(t, nlReq(syscall.RTM_GETADDR, nlmFRequest|nlmFDump, 1, 0)) {
		msgs, _ := syscall.ParseNetlinkMessage(d)
		for i := range msgs {
			if m := &msgs[i]; m.Header.Type == syscall.RTM_NEWADDR && binary.LittleEndian.Uint32(m.Data[4:]) == hidx {
				hostAddrs[string(attrs(t, m)[syscall.IFA_ADDRESS])] = m
			}
		}
	}
	for _, a := range st.addrs {
		if a.index != 1 {
			continue
		}
		hm := hostAddrs[string(a.addr)]
		if hm == nil {
			t.Logf("the host's lo has no %x", a.addr)
			continue
		}
		om, _ := syscall.ParseNetlinkMessage(nlAddrMsg(nil, a, nlmFMulti, 1, 1))
		if !bytes.Equal(hm.Data[:4], om[0].Data[:4]) {
			t.Errorf("%x: ifaddrmsg host %x, ours %x", a.addr, hm.Data[:8], om[0].Data[:8])
		}
		ha, oa := attrs(t, hm), attrs(t, &om[0])
		for typ, v := range oa {
			if !bytes.Equal(ha[typ], v) {
				t.Errorf("%x: attribute %d: host %x, ours %x", a.addr, typ, ha[typ], v)
			}
		}
	}
}

// TestNetlinkSocket goes through the server as Go's syscall.NetlinkRIB
// does: socket, bind, sendto, getsockname, recvfrom until NLMSG_DONE,
// on the stack's real loopback.
func TestNetlinkSocket(t *testing.T) {
	h := newHarness(t)
	const fd = 20
	if r := h.call(41, fd, false, afNetlink, sockRaw|sockCloexec, 0); r != fd {
		t.Fatalf("socket = %d", r)
	}
	for _, c := range []struct {
		typ, proto uint64
		e          syscall.Errno
	}{{sockRaw, 9, syscall.EPROTONOSUPPORT}, {sockStream, 0, syscall.ESOCKTNOSUPPORT}} {
		if r := h.call(41, 30, false, afNetlink, c.typ, c.proto); r != -int64(c.e) {
			t.Errorf("socket(AF_NETLINK, %d, %d) = %d, want %v", c.typ, c.proto, r, c.e)
		}
	}
	sa := nlSockaddrBytes(0)
	if r := h.call(49, -1, false, fd, bptr(sa[:]), 12); r != 0 {
		t.Fatalf("bind = %d", r)
	}
	var name [12]byte
	nlen := int32(12)
	h.call(51, -1, false, fd, bptr(name[:]), ptr(&nlen))
	port := binary.LittleEndian.Uint32(name[4:])
	if nlen != 12 || binary.LittleEndian.Uint16(name[:]) != afNetlink || port == 0 {
		t.Fatalf("getsockname: %d bytes %x", nlen, name)
	}
	// A second socket gets another port id.
	if r := h.call(41, fd+1, false, afNetlink, sockDgram, 0); r != fd+1 {
		t.Fatalf("socket = %d", r)
	}
	if r := h.call(49, -1, false, fd+1, bptr(sa[:]), 12); r != 0 {
		t.Fatalf("bind = %d", r)
	}
	h.call(51, -1, false, fd+1, bptr(name[:]), ptr(&nlen))
	if p2 := binary.LittleEndian.Uint32(name[4:]); p2 == port {
		t.Errorf("two sockets with port id %d", port)
	}
	for _, q := range []struct {
		typ  uint16
		want string
	}{{syscall.RTM_GETLINK, "lo"}, {syscall.RTM_GETADDR, "127.0.0.1/8 ::1/128"}} {
		req := nlReq(q.typ, nlmFRequest|nlmFDump, 1, syscall.AF_UNSPEC)
		if r := h.call(44, -1, false, fd, bptr(req), uint64(len(req)), 0, bptr(sa[:]), 12); r != int64(len(req)) {
			t.Fatalf("sendto = %d", r)
		}
		if h.k.level(fd)&uint32(syscall.EPOLLIN) == 0 {
			t.Errorf("not readable after the request")
		}
		var got []string
		rb := make([]byte, 4096)
	done:
		for {
			var from [16]byte
			flen := int32(len(from))
			n := h.call(45, -1, true, fd, bptr(rb), uint64(len(rb)), 0, bptr(from[:]), ptr(&flen))
			if n < 16 {
				t.Fatalf("recvfrom = %d", n)
			}
			if flen != 12 || binary.LittleEndian.Uint16(from[:]) != afNetlink || binary.LittleEndian.Uint32(from[4:]) != 0 {
				t.Errorf("from %x (%d bytes)", from, flen)
			}
			msgs := parseAll(t, [][]byte{rb[:n]}, port, 1)
			for i := range msgs {
				m := &msgs[i]
				switch m.Header.Type {
				case syscall.NLMSG_DONE:
					break done
				case syscall.RTM_NEWLINK:
					got = append(got, string(bytes.TrimRight(attrs(t, m)[syscall.IFLA_IFNAME], "\x00")))
				case syscall.RTM_NEWADDR:
					_, prefix, ip := addrOf(t, m)
					got = append(got, (&net.IPNet{IP: ip, Mask: net.CIDRMask(int(prefix), len(ip)*8)}).String())
				}
			}
		}
		if s := joinStrings(got); s != q.want {
			t.Errorf("type %d: %q, want %q", q.typ, s, q.want)
		}
	}
	if h.k.level(fd)&uint32(syscall.EPOLLIN) != 0 {
		t.Errorf("readable after the dump was read")
	}
	rb := make([]byte, 64)
	if r := h.call(45, -1, true, fd, bptr(rb), 64, 0, 0, 0); r != -int64(syscall.EAGAIN) {
		t.Errorf("recvfrom on an empty queue = %d", r)
	}
	// Bad sends: a short address, another family, too large.
	req := nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFDump, 1, 0)
	if r := h.call(44, -1, false, fd, bptr(req), uint64(len(req)), 0, bptr(sa[:]), 8); r != -int64(syscall.EINVAL) {
		t.Errorf("sendto with 8-byte address = %d", r)
	}
	big := make([]byte, nlBuf)
	if r := h.call(44, -1, false, fd, bptr(big), uint64(len(big)), 0, 0, 0); r != -int64(syscall.EMSGSIZE) {
		t.Errorf("sendto of %d bytes = %d", len(big), r)
	}
	// To another user socket: delivered with the sender's port; to a
	// port nobody has: ECONNREFUSED.
	other := nlSockaddrBytes(binary.LittleEndian.Uint32(name[4:]))
	hello := []byte("hello, port")
	if r := h.call(44, -1, false, fd, bptr(hello), uint64(len(hello)), 0, bptr(other[:]), 12); r != int64(len(hello)) {
		t.Errorf("sendto a user socket = %d", r)
	}
	var from [12]byte
	flen := int32(12)
	if n := h.call(45, -1, true, fd+1, bptr(rb), 64, 0, bptr(from[:]), ptr(&flen)); n != int64(len(hello)) || binary.LittleEndian.Uint32(from[4:]) != port {
		t.Errorf("recvfrom the user socket = %d from %x", n, from)
	}
	nobody := nlSockaddrBytes(12345678)
	if r := h.call(44, -1, false, fd, bptr(hello), uint64(len(hello)), 0, bptr(nobody[:]), 12); r != -int64(syscall.ECONNREFUSED) {
		t.Errorf("sendto port nobody has = %d", r)
	}
	// A short buffer: MSG_TRUNC.
	if r := h.call(44, -1, false, fd, bptr(req), uint64(len(req)), 0, 0, 0); r != int64(len(req)) {
		t.Fatalf("sendto = %d", r)
	}
	small := make([]byte, 20)
	if n := h.call(45, -1, true, fd, bptr(small), 20, msgTrunc, 0, 0); n <= 20 {
		t.Errorf("recvfrom MSG_TRUNC into 20 bytes = %d, want the datagram's length", n)
	}
	for _, nr := range []uint64{50, 48} { // listen, shutdown
		if r := h.call(nr, -1, false, fd, 0); r != -int64(syscall.EOPNOTSUPP) {
			t.Errorf("call %d = %d", nr, r)
		}
	}
	if r := h.call(3, -1, false, fd); r != 0 {
		t.Errorf("close = %d", r)
	}
	// The port is free again.
	if _, taken := h.s.nl.ports[port]; taken {
		t.Errorf("port %d still taken after close", port)
	}
}

func joinStrings(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

// FuzzNetlinkRoute feeds arbitrary requests to the answerer: it must not
// panic, must stay within its room, and everything it makes must parse
// with Go's own netlink parser and name the sender's port.
func FuzzNetlinkRoute(f *testing.F) {
	f.Add(nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFDump, 1, 0))
	f.Add(nlReq(syscall.RTM_GETADDR, nlmFRequest|nlmFDump, 1, 0))
	f.Add(nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFAck, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, req []byte) {
		const port, room = 77, 1 << 16
		dgrams, _ := netlinkRoute(req, port, room, testState)
		total := 0
		for _, d := range dgrams {
			total += len(d)
			msgs, err := syscall.ParseNetlinkMessage(d)
			if err != nil || len(msgs) == 0 {
				t.Fatalf("unparsable answer %x: %v", d, err)
			}
			for _, m := range msgs {
				if m.Header.Pid != port {
					t.Fatalf("answer for port %d", m.Header.Pid)
				}
				if m.Header.Type == syscall.RTM_NEWLINK || m.Header.Type == syscall.RTM_NEWADDR {
					if _, err := syscall.ParseNetlinkRouteAttr(&m); err != nil {
						t.Fatalf("attributes: %v", err)
					}
				}
			}
		}
		if total > room {
			t.Fatalf("%d bytes made in room for %d", total, room)
		}
	})
}

// hostNetlink sends req to the host kernel's NETLINK_ROUTE and returns
// every datagram until NLMSG_DONE, an NLMSG_ERROR, or nothing more.
func hostNetlink(t *testing.T, req []byte) [][]byte {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		t.Skipf("host netlink: %v", err)
	}
	defer syscall.Close(fd)
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		b := make([]byte, 1<<16)
		n, _, err := syscall.Recvfrom(fd, b, syscall.MSG_DONTWAIT)
		if err == syscall.EAGAIN {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b[:n])
	}
}

// TestNetlinkErrnosLikeLinux sends the same read-only requests to the host
// kernel and to netlinkRoute and compares what kind of answer each gives:
// message types in order, and the errno of an NLMSG_ERROR. Only requests
// that change nothing are sent to the host.
func TestNetlinkErrnosLikeLinux(t *testing.T) {
	ifi := func(index int32, attrs ...byte) []byte {
		b := make([]byte, 16, 16+len(attrs))
		binary.LittleEndian.PutUint32(b[4:], uint32(index))
		return append(b, attrs...)
	}
	for name, req := range map[string][]byte{
		"getaddr one":        nlReq(syscall.RTM_GETADDR, nlmFRequest, 1, syscall.AF_INET),
		"getlink none":       nlReq(syscall.RTM_GETLINK, nlmFRequest, 1, ifi(0)...),
		"getlink no index":   nlReq(syscall.RTM_GETLINK, nlmFRequest, 1, ifi(999999)...),
		"getlink no name":    nlReq(syscall.RTM_GETLINK, nlmFRequest, 1, ifi(0, nlAttrString(nil, iflaIfname, "no-such-if9")...)...),
		"getlink short":      nlReq(syscall.RTM_GETLINK, nlmFRequest, 1, 0),
		"type past RTM_MAX":  nlReq(200, nlmFRequest|nlmFDump, 1, 0),
		"noop ack":           nlReq(syscall.NLMSG_NOOP, nlmFRequest|nlmFAck, 1),
		"no rtgenmsg ack":    nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFDump|nlmFAck, 1),
		"not a request ack":  nlReq(syscall.RTM_GETLINK, nlmFAck, 1, 0),
		"getlink AF_BRIDGE":  nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFDump, 1, afBridge),
		"getlink by lo name": nlReq(syscall.RTM_GETLINK, nlmFRequest|nlmFAck, 1, ifi(0, nlAttrString(nil, iflaIfname, "lo")...)...),
	} {
		kinds := func(dgrams [][]byte) []string {
			var r []string
			for _, d := range dgrams {
				msgs, err := syscall.ParseNetlinkMessage(d)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for _, m := range msgs {
					k := fmt.Sprint(m.Header.Type)
					if m.Header.Type == syscall.NLMSG_ERROR {
						k = fmt.Sprintf("error %v flags %#x", syscall.Errno(-int32(binary.LittleEndian.Uint32(m.Data))), m.Header.Flags&^0x200)
					}
					r = append(r, k)
				}
			}
			return r
		}
		host, ours := kinds(hostNetlink(t, req)), kinds(route(req, 1))
		if fmt.Sprint(host) != fmt.Sprint(ours) {
			t.Errorf("%s: host %v, ours %v", name, host, ours)
		}
	}
}
