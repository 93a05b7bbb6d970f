package netstack

import (
	"encoding/binary"
	"syscall"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
)

func TestSockaddrRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		family int
		addr   tcpip.FullAddress
	}{
		{afInet, tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{10, 0, 2, 15}), Port: 8080}},
		{afInet6, tcpip.FullAddress{Addr: tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 1}), Port: 443}},
		// A link-local address carries its interface (sin6_scope_id).
		{afInet6, tcpip.FullAddress{Addr: tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 1}), Port: 443, NIC: 2}},
		{afInet6, tcpip.FullAddress{Addr: tcpip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 1}), Port: 5353, NIC: 2}},
	} {
		buf := make([]byte, 28)
		n := encodeSockaddr(buf, tc.addr, tc.family)
		got, e := decodeSockaddr(buf[:n], tc.family)
		if e != 0 || got != tc.addr {
			t.Errorf("family %d: %v -> %x -> %v, %v", tc.family, tc.addr, buf[:n], got, e)
		}
	}
	// A v4 peer of a dual-stack socket is reported v4-mapped.
	buf := make([]byte, 28)
	encodeSockaddr(buf, tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), Port: 1}, afInet6)
	if got, _ := decodeSockaddr(buf, afInet6); got.Addr.As16() != [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1} {
		t.Errorf("v4-mapped: %v", got)
	}
	// A scope id means nothing for a global address, as on Linux.
	g := make([]byte, 28)
	binary.LittleEndian.PutUint16(g, afInet6)
	g[8], g[9], g[23], g[24] = 0x20, 0x01, 1, 2
	if got, _ := decodeSockaddr(g, afInet6); got.NIC != 0 {
		t.Errorf("2001::1 with scope id 2 decoded as NIC %d", got.NIC)
	}
	if n := encodeSockaddr(g, tcpip.FullAddress{Addr: tcpip.AddrFrom16([16]byte{0: 0x20, 1: 0x01, 15: 1}), NIC: 2}, afInet6); n != 28 || binary.LittleEndian.Uint32(g[24:]) != 0 {
		t.Errorf("2001::1 on NIC 2 encoded with scope id %d", binary.LittleEndian.Uint32(g[24:]))
	}
	// The wildcard address binds to every address.
	any4 := make([]byte, 16)
	binary.LittleEndian.PutUint16(any4, afInet)
	if got, _ := decodeSockaddr(any4, afInet); got.Addr.Len() != 0 {
		t.Errorf("INADDR_ANY decoded as %v", got.Addr)
	}
	if _, e := decodeSockaddr(any4[:7], afInet); e != syscall.EINVAL {
		t.Errorf("short sockaddr_in: %v", e)
	}
	if _, e := decodeSockaddr(any4, afInet6); e != syscall.EAFNOSUPPORT {
		t.Errorf("sockaddr_in on an IPv6 socket: %v", e)
	}
}

// FuzzDecodeSockaddr: any bytes decode to an address or a clear errno,
// and what decodes encodes back to bytes that decode to the same address.
func FuzzDecodeSockaddr(f *testing.F) {
	f.Add([]byte{2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, afInet)
	f.Add(append([]byte{10, 0, 1, 187, 0, 0, 0, 0}, make([]byte, 20)...), afInet6)
	f.Add(append([]byte{10, 0, 1, 187, 0, 0, 0, 0, 0xfe, 0x80}, append(make([]byte, 14), 2, 0, 0, 0)...), afInet6)
	f.Add([]byte{2}, afInet)
	f.Add([]byte{}, afInet6)
	f.Fuzz(func(t *testing.T, b []byte, family int) {
		if family != afInet && family != afInet6 {
			family = afInet
		}
		a, e := decodeSockaddr(b, family)
		if e != 0 {
			if e != syscall.EINVAL && e != syscall.EAFNOSUPPORT {
				t.Fatalf("errno %v", e)
			}
			return
		}
		buf := make([]byte, 28)
		n := encodeSockaddr(buf, a, family)
		a2, e := decodeSockaddr(buf[:n], family)
		if e != 0 || a2 != a {
			t.Fatalf("%x -> %v -> %x -> %v %v", b, a, buf[:n], a2, e)
		}
	})
}
