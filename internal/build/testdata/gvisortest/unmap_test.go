package gvisortest

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// TestAddrNetProtoUnmap checks AddrNetProtoLocked with the v4-mapped
// unwrapping edit (internal/build/netunmap.go): a mapped address comes
// back as its IPv4 address, ::ffff:0.0.0.0 as the unspecified one (then,
// not binding, the loopback address), an IPv4 or IPv6 address as it was,
// and none of this allocates, as it did on every call before.
func TestAddrNetProtoUnmap(t *testing.T) {
	info := stack.TransportEndpointInfo{NetProto: header.IPv6ProtocolNumber}
	v4 := tcpip.AddrFrom4([4]byte{10, 0, 2, 15})
	mapped := tcpip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: 10, 13: 0, 14: 2, 15: 15})
	v6 := tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 1})
	for _, tc := range []struct {
		in, want tcpip.Address
		proto    tcpip.NetworkProtocolNumber
	}{
		{mapped, v4, header.IPv4ProtocolNumber},
		{tcpip.AddrFrom16([16]byte{10: 0xff, 11: 0xff}), header.IPv4Loopback, header.IPv4ProtocolNumber},
		{v4, v4, header.IPv4ProtocolNumber},
		{v6, v6, header.IPv6ProtocolNumber},
	} {
		got, proto, err := info.AddrNetProtoLocked(tcpip.FullAddress{Addr: tc.in, Port: 53}, false, false)
		if err != nil || got.Addr != tc.want || got.Port != 53 || proto != tc.proto {
			t.Errorf("AddrNetProtoLocked(%v) = %v, %d, %v; want %v, %d", tc.in, got, proto, err, tc.want, tc.proto)
		}
	}
	if _, _, err := info.AddrNetProtoLocked(tcpip.FullAddress{Addr: mapped}, true, false); err == nil {
		t.Error("a v4-mapped address on a v6-only endpoint was accepted")
	}
	allocs := testing.AllocsPerRun(100, func() {
		info.AddrNetProtoLocked(tcpip.FullAddress{Addr: mapped, Port: 53}, false, false)
		info.AddrNetProtoLocked(tcpip.FullAddress{Addr: v4, Port: 53}, false, false)
	})
	if allocs != 0 {
		t.Errorf("AddrNetProtoLocked allocated %v objects per two calls, want 0", allocs)
	}
}
