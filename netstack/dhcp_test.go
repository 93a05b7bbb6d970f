package netstack

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

var (
	clientMAC = net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	serverMAC = net.HardwareAddr{0x52, 0x55, 10, 0, 2, 2}
)

// dhcpWire is a stack with one card whose frames the test sees and
// answers, as a DHCP server on the wire would.
type dhcpWire struct {
	st *stack.Stack
	ch *channel.Endpoint
}

func newDHCPWire(t *testing.T) *dhcpWire {
	st, err := newStack()
	if err != nil {
		t.Fatal(err)
	}
	ch := channel.New(64, 1500, tcpip.LinkAddress(clientMAC))
	if err := st.CreateNIC(nicID, ethernet.New(ch)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &dhcpWire{st: st, ch: ch}
}

// next returns the next DHCP message the client sent, with its IPv4
// destination.
func (w *dhcpWire) next(t *testing.T) (*dhcpv4.DHCPv4, net.IP) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		pkt := w.ch.ReadContext(ctx)
		if pkt == nil {
			t.Fatal("the client sent nothing")
		}
		b := pkt.ToView().AsSlice()
		pkt.DecRef()
		eth := header.Ethernet(b)
		if eth.Type() != header.IPv4ProtocolNumber {
			continue
		}
		ip := header.IPv4(b[header.EthernetMinimumSize:])
		if ip.Protocol() != uint8(header.UDPProtocolNumber) {
			continue
		}
		udp := header.UDP(ip.Payload())
		if udp.DestinationPort() != dhcpv4.ServerPort || udp.SourcePort() != dhcpv4.ClientPort {
			t.Fatalf("UDP %d -> %d, want 68 -> 67", udp.SourcePort(), udp.DestinationPort())
		}
		if src := ip.SourceAddress(); src != tcpip.AddrFrom4([4]byte{}) {
			t.Fatalf("sent from %v, want 0.0.0.0", src)
		}
		m, err := dhcpv4.FromBytes(udp.Payload())
		if err != nil {
			t.Fatalf("the client sent a malformed message: %v", err)
		}
		dst := ip.DestinationAddress().As4()
		return m, net.IP(dst[:])
	}
}

// answer sends m from the server, 10.0.2.2:67, to the broadcast address.
func (w *dhcpWire) answer(m *dhcpv4.DHCPv4) {
	w.inject(m.ToBytes(), dhcpv4.ServerPort)
}

func (w *dhcpWire) inject(payload []byte, srcPort uint16) {
	src := tcpip.AddrFrom4([4]byte{10, 0, 2, 2})
	dst := header.IPv4Broadcast
	b := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+header.UDPMinimumSize+len(payload))
	header.Ethernet(b).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress(serverMAC), DstAddr: header.EthernetBroadcastAddress, Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(b[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b) - header.EthernetMinimumSize), TTL: 64,
		Protocol: uint8(header.UDPProtocolNumber), SrcAddr: src, DstAddr: dst})
	ip.SetChecksum(^ip.CalculateChecksum())
	udp := header.UDP(ip.Payload())
	udp.Encode(&header.UDPFields{SrcPort: srcPort, DstPort: dhcpv4.ClientPort, Length: uint16(header.UDPMinimumSize + len(payload))})
	copy(udp.Payload(), payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, src, dst, udp.Length())
	udp.SetChecksum(^udp.CalculateChecksum(checksum.Checksum(payload, xsum)))
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	w.ch.InjectInbound(0, pkt)
	pkt.DecRef()
}

func serverReply(t *testing.T, req *dhcpv4.DHCPv4, typ dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithYourIP(net.IPv4(10, 0, 2, 15)),
		dhcpv4.WithServerIP(net.IPv4(10, 0, 2, 2)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.IPv4(10, 0, 2, 2)),
		dhcpv4.WithDNS(net.IPv4(10, 0, 2, 3)),
		dhcpv4.WithLeaseTime(86400),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 2, 2))),
	)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDHCPExchange runs the client against a server played by the test:
// DISCOVER, OFFER (after a stray answer to somebody else), REQUEST, ACK.
func TestDHCPExchange(t *testing.T) {
	w := newDHCPWire(t)
	type result struct {
		l   *lease
		err error
	}
	done := make(chan result, 1)
	go func() {
		l, err := dhcpAcquire(context.Background(), w.st, nicID, clientMAC)
		done <- result{l, err}
	}()
	disc, dst := w.next(t)
	if disc.MessageType() != dhcpv4.MessageTypeDiscover || !dst.Equal(net.IPv4bcast) || !disc.IsBroadcast() ||
		disc.ClientHWAddr.String() != clientMAC.String() {
		t.Fatalf("first message %s to %v (broadcast flag %v, hw %v)", disc.MessageType(), dst, disc.IsBroadcast(), disc.ClientHWAddr)
	}
	stray := serverReply(t, disc, dhcpv4.MessageTypeOffer)
	stray.TransactionID[0] ^= 1
	w.answer(stray)
	w.inject([]byte("not DHCP at all"), dhcpv4.ServerPort)
	w.answer(serverReply(t, disc, dhcpv4.MessageTypeOffer))
	req, _ := w.next(t)
	if req.MessageType() != dhcpv4.MessageTypeRequest || !req.RequestedIPAddress().Equal(net.IPv4(10, 0, 2, 15)) {
		t.Fatalf("second message %s for %v", req.MessageType(), req.RequestedIPAddress())
	}
	w.answer(serverReply(t, req, dhcpv4.MessageTypeAck))
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.l.String() != "10.0.2.15/24 via 10.0.2.2" || len(r.l.dns) != 1 || r.l.time != 24*time.Hour {
		t.Errorf("lease %s dns %v time %v", r.l, r.l.dns, r.l.time)
	}
	// The temporary 0.0.0.0 address is gone, and so is the route for
	// broadcasts.
	if a, err := w.st.GetMainNICAddress(nicID, header.IPv4ProtocolNumber); err == nil && a.Address.Len() != 0 {
		t.Errorf("the card kept %v after DHCP", a)
	}
	for _, rt := range w.st.GetRouteTable() {
		if rt.Destination == header.IPv4Broadcast.WithPrefix().Subnet() {
			t.Errorf("the broadcast route stayed after DHCP: %v", rt)
		}
	}
}

// TestDHCPNak: a server that refuses gives an error naming the refusal.
func TestDHCPNak(t *testing.T) {
	w := newDHCPWire(t)
	done := make(chan error, 1)
	go func() {
		_, err := dhcpAcquire(context.Background(), w.st, nicID, clientMAC)
		done <- err
	}()
	disc, _ := w.next(t)
	w.answer(serverReply(t, disc, dhcpv4.MessageTypeOffer))
	req, _ := w.next(t)
	nak := serverReply(t, req, dhcpv4.MessageTypeNak)
	nak.UpdateOption(dhcpv4.OptMessage("address in use"))
	w.answer(nak)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "refused 10.0.2.15: address in use") {
		t.Errorf("err %v", err)
	}
}

// TestDHCPNoServer: with nobody answering the client gives up after its
// tries, with an error that says so.
func TestDHCPNoServer(t *testing.T) {
	w := newDHCPWire(t)
	old := dhcpTries
	dhcpTries = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond}
	defer func() { dhcpTries = old }()
	_, err := dhcpAcquire(context.Background(), w.st, nicID, clientMAC)
	if err == nil || !strings.Contains(err.Error(), "DHCP: no server answered in") || !strings.Contains(err.Error(), "2 DISCOVERs from 52:54:00:12:34:56") {
		t.Errorf("err %v", err)
	}
}
