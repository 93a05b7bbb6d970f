package gvisortest

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// TestUDPHeaderReads checks UDP's receive path with its network header
// read once (internal/build/netudpheader.go): over IPv4 and IPv6, a
// datagram arrives whole, from the sender's address, with the TOS or
// traffic class it was sent with and the destination address in its
// packet information: each of them is one of the values the edit reads.
func TestUDPHeaderReads(t *testing.T) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol},
	})
	defer s.Close()
	if err := s.CreateNIC(1, loopback.New()); err != nil {
		t.Fatal(err)
	}
	v4, v6 := tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), tcpip.AddrFrom16([16]byte{15: 1})
	for _, pa := range []tcpip.ProtocolAddress{
		{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: v4.WithPrefix()},
		{Protocol: ipv6.ProtocolNumber, AddressWithPrefix: v6.WithPrefix()},
	} {
		if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
			t.Fatal(err)
		}
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: v4.WithPrefix().Subnet(), NIC: 1},
		{Destination: v6.WithPrefix().Subnet(), NIC: 1},
	})
	for _, tc := range []struct {
		name  string
		proto tcpip.NetworkProtocolNumber
		addr  tcpip.Address
		opt   tcpip.SockOptInt
	}{
		{"ipv4", ipv4.ProtocolNumber, v4, tcpip.IPv4TOSOption},
		{"ipv6", ipv6.ProtocolNumber, v6, tcpip.IPv6TrafficClassOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := func(port uint16) tcpip.Endpoint {
				var wq waiter.Queue
				ep, err := s.NewEndpoint(udp.ProtocolNumber, tc.proto, &wq)
				if err != nil {
					t.Fatal(err)
				}
				if err := ep.Bind(tcpip.FullAddress{Addr: tc.addr, Port: port}); err != nil {
					t.Fatal(err)
				}
				return ep
			}
			rx, tx := open(7001), open(7002)
			defer rx.Close()
			defer tx.Close()
			if tc.proto == ipv4.ProtocolNumber {
				rx.SocketOptions().SetReceiveTOS(true)
				rx.SocketOptions().SetReceivePacketInfo(true)
			} else {
				rx.SocketOptions().SetReceiveTClass(true)
				rx.SocketOptions().SetIPv6ReceivePacketInfo(true)
			}
			if err := tx.SetSockOptInt(tc.opt, 0x28); err != nil {
				t.Fatal(err)
			}
			msg := []byte("datagram " + tc.name)
			var r bytes.Reader
			r.Reset(msg)
			if _, err := tx.Write(&r, tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: tc.addr, Port: 7001}}); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			res, err := rx.Read(&got, tcpip.ReadOptions{NeedRemoteAddr: true})
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got.Bytes(), msg) {
				t.Errorf("read %q, want %q", got.Bytes(), msg)
			}
			if res.RemoteAddr.Addr != tc.addr || res.RemoteAddr.Port != 7002 {
				t.Errorf("from %v, want %v port 7002", res.RemoteAddr, tc.addr)
			}
			cm := res.ControlMessages
			if tc.proto == ipv4.ProtocolNumber {
				if !cm.HasTOS || cm.TOS != 0x28 {
					t.Errorf("TOS %#x (set: %v), want 0x28", cm.TOS, cm.HasTOS)
				}
				if !cm.HasIPPacketInfo || cm.PacketInfo.LocalAddr != tc.addr || cm.PacketInfo.DestinationAddr != tc.addr {
					t.Errorf("packet info %+v (set: %v), want local and destination %v", cm.PacketInfo, cm.HasIPPacketInfo, tc.addr)
				}
			} else {
				if !cm.HasTClass || cm.TClass != 0x28 {
					t.Errorf("traffic class %#x (set: %v), want 0x28", cm.TClass, cm.HasTClass)
				}
				if !cm.HasIPv6PacketInfo || cm.IPv6PacketInfo.Addr != tc.addr {
					t.Errorf("packet info %+v (set: %v), want %v", cm.IPv6PacketInfo, cm.HasIPv6PacketInfo, tc.addr)
				}
			}
		})
	}
}
