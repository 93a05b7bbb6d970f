package netstack

import (
	"context"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// TestCardLinkLocal: the card gets the link-local address its MAC makes,
// asks the link whether anyone has it (a neighbor solicitation) and uses
// it only after that, with a route for fe80::/64 out of the card;
// loopback's ::1 is usable from the start.
func TestCardLinkLocal(t *testing.T) {
	st, err := newStack()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ch := channel.New(64, mtu+header.EthernetMinimumSize, "\x52\x54\x00\x12\x34\x56")
	if err := st.CreateNICWithOptions(nicID, ethernet.New(ch), stack.NICOptions{Name: nicName, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := startIPv6(st, nicID); err != nil {
		t.Fatal(err)
	}
	if a, err := st.GetMainNICAddress(loopbackNIC, ipv6.ProtocolNumber); err != nil || a.Address.String() != "::1" {
		t.Errorf("loopback's IPv6 address at once: %v, %v", a, err)
	}
	want := "fe80::5054:ff:fe12:3456"
	if a, _ := st.GetMainNICAddress(nicID, ipv6.ProtocolNumber); a.Address.String() == want {
		t.Errorf("%s in use before duplicate address detection", want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for solicited := false; !solicited; {
		pkt := ch.ReadContext(ctx)
		if pkt == nil {
			t.Fatal("no neighbor solicitation for the link-local address")
		}
		b := pkt.ToView().AsSlice()
		pkt.DecRef()
		if header.Ethernet(b).Type() != header.IPv6ProtocolNumber {
			continue
		}
		ip := header.IPv6(b[header.EthernetMinimumSize:])
		icmp := header.ICMPv6(ip.Payload())
		if ip.TransportProtocol() == header.ICMPv6ProtocolNumber && icmp.Type() == header.ICMPv6NeighborSolicit {
			solicited = header.NDPNeighborSolicit(icmp.MessageBody()).TargetAddress().String() == want
		}
	}
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
