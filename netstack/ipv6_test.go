package netstack

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// newIPv6Card is a stack with a card (MAC 52:54:00:12:34:56) started as
// startNIC starts one, its frames in ch, and the console lines of its
// neighbor discovery events in lines.
func newIPv6Card(t *testing.T) (*stack.Stack, *channel.Endpoint, chan string) {
	t.Helper()
	return newIPv6CardDNS(t, nil)
}

// newIPv6CardDNS is newIPv6Card whose advertised name servers go to dns.
func newIPv6CardDNS(t *testing.T, dns *nameServers) (*stack.Stack, *channel.Endpoint, chan string) {
	t.Helper()
	lines := make(chan string, 16)
	events := newNDPEvents()
	events.logf = func(format string, args ...any) { lines <- fmt.Sprintf(format, args...) }
	events.dns = dns
	st, err := newStackNDP(events)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	ch := channel.New(64, mtu+header.EthernetMinimumSize, "\x52\x54\x00\x12\x34\x56")
	if err := st.CreateNICWithOptions(nicID, ethernet.New(ch), stack.NICOptions{Name: nicName, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := startIPv6(st, nicID); err != nil {
		t.Fatal(err)
	}
	return st, ch, lines
}

// waitICMPv6 reads the card's frames until an ICMPv6 message that match
// accepts, for at most 10 s.
func waitICMPv6(t *testing.T, ch *channel.Endpoint, what string, match func(header.ICMPv6) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		pkt := ch.ReadContext(ctx)
		if pkt == nil {
			t.Fatalf("the card sent no %s", what)
		}
		b := pkt.ToView().AsSlice()
		pkt.DecRef()
		if header.Ethernet(b).Type() != header.IPv6ProtocolNumber {
			continue
		}
		ip := header.IPv6(b[header.EthernetMinimumSize:])
		if ip.TransportProtocol() == header.ICMPv6ProtocolNumber && match(header.ICMPv6(ip.Payload())) {
			return
		}
	}
}

// TestCardLinkLocal: the card gets the link-local address its MAC makes,
// asks the link whether anyone has it (a neighbor solicitation) and uses
// it only after that, with a route for fe80::/64 out of the card;
// loopback's ::1 is usable from the start.
func TestCardLinkLocal(t *testing.T) {
	st, ch, _ := newIPv6Card(t)
	if a, err := st.GetMainNICAddress(loopbackNIC, ipv6.ProtocolNumber); err != nil || a.Address.String() != "::1" {
		t.Errorf("loopback's IPv6 address at once: %v, %v", a, err)
	}
	want := "fe80::5054:ff:fe12:3456"
	if a, _ := st.GetMainNICAddress(nicID, ipv6.ProtocolNumber); a.Address.String() == want {
		t.Errorf("%s in use before duplicate address detection", want)
	}
	waitICMPv6(t, ch, "neighbor solicitation for "+want, func(icmp header.ICMPv6) bool {
		return icmp.Type() == header.ICMPv6NeighborSolicit && header.NDPNeighborSolicit(icmp.MessageBody()).TargetAddress().String() == want
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, err := st.GetMainNICAddress(nicID, ipv6.ProtocolNumber)
		if err == nil && a.Address.String() == want && a.PrefixLen == 64 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the card's IPv6 address: %v, %v; want %s/64", a, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r, rerr := st.FindRoute(0, tcpip.Address{}, tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 7}), ipv6.ProtocolNumber, false)
	if rerr != nil {
		t.Fatalf("no route to fe80::7: %v", rerr)
	}
	defer r.Release()
	if r.NICID() != nicID || r.LocalAddress().String() != want {
		t.Errorf("route to fe80::7: NIC %d from %s", r.NICID(), r.LocalAddress())
	}
}

// TestRouterAdvertisement: the card asks for routers, and an
// advertisement from one (prefix 2001:db8:1::/64, on-link and
// autonomous) gives it an address from the prefix (SLAAC, after
// duplicate address detection), a route for the prefix and a default
// route through the router, and a console line naming the address.
func TestRouterAdvertisement(t *testing.T) {
	st, ch, lines := newIPv6Card(t)
	waitICMPv6(t, ch, "router solicitation", func(icmp header.ICMPv6) bool {
		return icmp.Type() == header.ICMPv6RouterSolicit
	})
	router := tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 2})
	ch.InjectInbound(0, stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(routerAdvert(router, 1800))}))
	want := "2001:db8:1:0:5054:ff:fe12:3456"
	deadline := time.Now().Add(8 * time.Second)
	for {
		var haveAddr, haveDefault, havePrefix bool
		for _, pa := range st.AllAddresses()[nicID] {
			haveAddr = haveAddr || (pa.AddressWithPrefix.Address.String() == want && pa.AddressWithPrefix.PrefixLen == 64)
		}
		for _, r := range st.GetRouteTable() {
			haveDefault = haveDefault || (r.Destination.Prefix() == 0 && r.Destination.ID().Len() == 16 && r.Gateway == router && r.NIC == nicID)
			havePrefix = havePrefix || (r.Destination.String() == "2001:db8:1::/64" && r.NIC == nicID && r.Gateway.Len() == 0)
		}
		_, mainErr := st.GetMainNICAddress(nicID, ipv6.ProtocolNumber)
		if haveAddr && haveDefault && havePrefix && mainErr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the advertisement: address %v, default route %v, prefix route %v; routes %v", haveAddr, haveDefault, havePrefix, st.GetRouteTable())
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case l := <-lines:
		if !strings.Contains(l, want+"/64") || !strings.Contains(l, "SLAAC") {
			t.Errorf("console line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Error("no console line for the SLAAC address")
	}
	// Off the link through the router, from the new address once it has
	// passed detection (the link-local one until then).
	for {
		r, rerr := st.FindRoute(0, tcpip.Address{}, tcpip.AddrFrom16([16]byte{0: 0x20, 1: 0x01, 2: 0x0d, 3: 0xb8, 4: 0x99, 15: 1}), ipv6.ProtocolNumber, false)
		var hop, from string
		if rerr == nil {
			hop, from = r.NextHop().String(), r.LocalAddress().String()
			r.Release()
		}
		if hop == router.String() && from == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("route to 2001:db8:99::1: next hop %q, from %q, %v", hop, from, rerr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defaults := func() (n int) {
		for _, r := range st.GetRouteTable() {
			if r.Destination.Prefix() == 0 && r.Destination.ID().Len() == 16 && r.Gateway == router {
				n++
			}
		}
		return n
	}
	// The router advertises again: still one route through it. Then it
	// says it is no longer a router (lifetime 0): the route goes.
	for _, c := range []struct {
		lifetime uint16
		want     int
	}{{1800, 1}, {0, 0}} {
		ch.InjectInbound(0, stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(routerAdvert(router, c.lifetime))}))
		deadline := time.Now().Add(5 * time.Second)
		time.Sleep(200 * time.Millisecond)
		for defaults() != c.want {
			if time.Now().After(deadline) {
				t.Fatalf("after an advertisement with lifetime %d: %d default routes, want %d (%v)", c.lifetime, defaults(), c.want, st.GetRouteTable())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// routerAdvert is an Ethernet frame with a router advertisement from
// router to all nodes: router lifetime lifetime seconds, and the prefix
// 2001:db8:1::/64, on-link and autonomous, valid 3600 s, preferred 1800 s.
func routerAdvert(router tcpip.Address, lifetime uint16) []byte {
	prefix := make([]byte, 32)
	prefix[0], prefix[1], prefix[2], prefix[3] = 3, 4, 64, 0xc0 // prefix information, 32 bytes, /64, L and A
	binary.BigEndian.PutUint32(prefix[4:], 3600)
	binary.BigEndian.PutUint32(prefix[8:], 1800)
	copy(prefix[16:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 1})
	return advertFrame(router, lifetime, prefix)
}

// advertFrame is an Ethernet frame with a router advertisement from router
// to all nodes, router lifetime lifetime seconds, with options opts (each
// a whole option, its length a multiple of 8).
func advertFrame(router tcpip.Address, lifetime uint16, opts ...[]byte) []byte {
	var all []byte
	for _, o := range opts {
		all = append(all, o...)
	}
	raLen := header.ICMPv6HeaderSize + header.NDPRAMinimumSize + len(all)
	b := make([]byte, header.EthernetMinimumSize+header.IPv6MinimumSize+raLen)
	header.Ethernet(b).Encode(&header.EthernetFields{
		SrcAddr: "\x52\x54\x00\x12\x35\x02", DstAddr: "\x33\x33\x00\x00\x00\x01", Type: header.IPv6ProtocolNumber})
	allNodes := header.IPv6AllNodesMulticastAddress
	ip := header.IPv6(b[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv6Fields{PayloadLength: uint16(raLen), TransportProtocol: header.ICMPv6ProtocolNumber,
		HopLimit: header.NDPHopLimit, SrcAddr: router, DstAddr: allNodes})
	icmp := header.ICMPv6(ip.Payload())
	icmp.SetType(header.ICMPv6RouterAdvert)
	ra := icmp.MessageBody()
	ra[0] = 64                                   // cur hop limit
	binary.BigEndian.PutUint16(ra[2:], lifetime) // router lifetime
	copy(ra[header.NDPRAMinimumSize:], all)
	icmp.SetChecksum(header.ICMPv6Checksum(header.ICMPv6ChecksumParams{Header: icmp, Src: router, Dst: allNodes}))
	return b
}

// rdnssOption is an RDNSS option (RFC 8106): servers for lifetime seconds.
func rdnssOption(lifetime uint32, servers ...tcpip.Address) []byte {
	o := make([]byte, 8+16*len(servers))
	o[0], o[1] = 25, byte(1+2*len(servers))
	binary.BigEndian.PutUint32(o[4:], lifetime)
	for i, s := range servers {
		copy(o[8+16*i:], s.AsSlice())
	}
	return o
}

// dnsslOption is a DNSSL option (RFC 8106): domains for lifetime seconds,
// in DNS wire form, padded to a multiple of 8 bytes.
func dnsslOption(lifetime uint32, domains ...string) []byte {
	o := make([]byte, 8)
	o[0] = 31
	binary.BigEndian.PutUint32(o[4:], lifetime)
	for _, d := range domains {
		for _, label := range strings.Split(d, ".") {
			o = append(o, byte(len(label)))
			o = append(o, label...)
		}
		o = append(o, 0)
	}
	for len(o)%8 != 0 {
		o = append(o, 0)
	}
	o[1] = byte(len(o) / 8)
	return o
}

// TestDuplicateLinkLocal: when another node answers for the card's
// tentative link-local address, the card does not use it and the console
// says so.
func TestDuplicateLinkLocal(t *testing.T) {
	st, ch, lines := newIPv6Card(t)
	mine := header.LinkLocalAddr("\x52\x54\x00\x12\x34\x56")
	// A neighbor advertisement for it from another MAC, to all nodes.
	const naLen = header.ICMPv6HeaderSize + header.NDPNAMinimumSize + 8
	b := make([]byte, header.EthernetMinimumSize+header.IPv6MinimumSize+naLen)
	header.Ethernet(b).Encode(&header.EthernetFields{
		SrcAddr: "\x52\x54\x00\x12\x34\x99", DstAddr: "\x33\x33\x00\x00\x00\x01", Type: header.IPv6ProtocolNumber})
	other := tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 0x99})
	ip := header.IPv6(b[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv6Fields{PayloadLength: naLen, TransportProtocol: header.ICMPv6ProtocolNumber,
		HopLimit: header.NDPHopLimit, SrcAddr: other, DstAddr: header.IPv6AllNodesMulticastAddress})
	icmp := header.ICMPv6(ip.Payload())
	icmp.SetType(header.ICMPv6NeighborAdvert)
	na := header.NDPNeighborAdvert(icmp.MessageBody())
	na.SetOverrideFlag(true)
	na.SetTargetAddress(mine)
	opt := icmp.MessageBody()[header.NDPNAMinimumSize:]
	opt[0], opt[1] = 2, 1 // target link-layer address
	copy(opt[2:], "\x52\x54\x00\x12\x34\x99")
	icmp.SetChecksum(header.ICMPv6Checksum(header.ICMPv6ChecksumParams{Header: icmp, Src: other, Dst: header.IPv6AllNodesMulticastAddress}))
	ch.InjectInbound(0, stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)}))
	var said []string
	for timeout := time.After(2 * time.Second); ; { // past the detection's second
		select {
		case l := <-lines:
			said = append(said, l)
			continue
		case <-timeout:
		}
		break
	}
	if len(said) != 1 || !strings.Contains(said[0], mine.String()+" is in use on the link") || !strings.Contains(said[0], "52:54:00:12:34:99") {
		t.Errorf("console lines %q, want one saying %s is in use", said, mine)
	}
	for _, pa := range st.AllAddresses()[nicID] {
		if pa.AddressWithPrefix.Address == mine {
			t.Errorf("the card kept %s", mine)
		}
	}
}

// TestRouterAdvertisementDNS: the name servers and search domains of an
// advertisement's RDNSS and DNSSL options, as gVisor parses them from the
// wire, reach /etc/resolv.conf with their lifetime, and a later one with
// lifetime 0 takes them back.
func TestRouterAdvertisementDNS(t *testing.T) {
	files := make(chan string, 16)
	dns := newNameServers(func(text string) error { files <- text; return nil }, func(string, ...any) {})
	_, ch, _ := newIPv6CardDNS(t, dns)
	waitICMPv6(t, ch, "router solicitation", func(icmp header.ICMPv6) bool {
		return icmp.Type() == header.ICMPv6RouterSolicit
	})
	router := tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 2})
	server := tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0xc0, 15: 3})
	advertise := func(lifetime uint32) string {
		t.Helper()
		frame := advertFrame(router, 1800, rdnssOption(lifetime, server, router), dnsslOption(lifetime, "example.com", "lab.example"))
		ch.InjectInbound(0, stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)}))
		var last string
		select {
		case last = <-files:
		case <-time.After(5 * time.Second):
			t.Fatalf("no resolv.conf after an advertisement with lifetime %d", lifetime)
		}
		for { // each option is applied on its own: the last file has both
			select {
			case last = <-files:
			case <-time.After(300 * time.Millisecond):
				return last
			}
		}
	}
	got := advertise(600)
	for _, want := range []string{"nameserver fec0::3\n", "nameserver fe80::2%eth0\n", "search example.com lab.example\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, got)
		}
	}
	dns.mu.Lock()
	until := dns.ra[0].until
	dns.mu.Unlock()
	if left := time.Until(until); left < 590*time.Second || left > 600*time.Second {
		t.Errorf("the server lasts %v, want the option's 600 s", left)
	}
	if got := advertise(0); strings.Contains(got, "nameserver") || strings.Contains(got, "search") {
		t.Errorf("after lifetime 0:\n%s", got)
	}
}
