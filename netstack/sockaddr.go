package netstack

import (
	"encoding/binary"
	"errors"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
)

const (
	afUnspec = 0
	afUnix   = 1
	afInet   = 2
	afInet6  = 10
)

var errAddrFamily = errors.New("sockaddr: address family not supported")

// decodeSockaddr parses a struct sockaddr_in or sockaddr_in6 as Linux
// lays them out (port in network order). The family must match the
// socket's; a short buffer is EINVAL, another family EAFNOSUPPORT. An
// IPv4 address on an IPv6 socket must arrive v4-mapped, as on Linux.
func decodeSockaddr(b []byte, family int) (tcpip.FullAddress, syscall.Errno) {
	if len(b) < 2 {
		return tcpip.FullAddress{}, syscall.EINVAL
	}
	af := int(binary.LittleEndian.Uint16(b))
	switch {
	case af == afInet && family == afInet:
		if len(b) < 8 {
			return tcpip.FullAddress{}, syscall.EINVAL
		}
		a := tcpip.FullAddress{
			Addr: tcpip.AddrFrom4([4]byte(b[4:8])),
			Port: binary.BigEndian.Uint16(b[2:]),
		}
		if a.Addr.Unspecified() {
			a.Addr = tcpip.Address{} // INADDR_ANY: every address
		}
		return a, 0
	case af == afInet6 && family == afInet6:
		if len(b) < 24 {
			return tcpip.FullAddress{}, syscall.EINVAL
		}
		a := tcpip.FullAddress{
			Addr: tcpip.AddrFrom16([16]byte(b[8:24])),
			Port: binary.BigEndian.Uint16(b[2:]),
		}
		if a.Addr.Unspecified() {
			a.Addr = tcpip.Address{} // in6addr_any: every address
		}
		if len(b) >= 28 && linkScoped(a.Addr) {
			// sin6_scope_id: the interface a link-local address is
			// on (Go's "%eth0"); 0 leaves it to the route.
			a.NIC = tcpip.NICID(binary.LittleEndian.Uint32(b[24:]))
		}
		return a, 0
	case af == afInet && family == afInet6:
		return tcpip.FullAddress{}, syscall.EAFNOSUPPORT
	case af == afInet6 && family == afInet:
		return tcpip.FullAddress{}, syscall.EAFNOSUPPORT
	}
	return tcpip.FullAddress{}, syscall.EAFNOSUPPORT
}

// linkScoped reports whether a is an IPv6 address that names an
// interface's link (link-local unicast or multicast), the addresses whose
// sockaddr_in6 carries a scope id on Linux.
func linkScoped(a tcpip.Address) bool {
	if a.Len() != 16 {
		return false
	}
	b := a.As16()
	return b[0] == 0xfe && b[1]&0xc0 == 0x80 || b[0] == 0xff && b[1]&0x0f == 0x02
}

// encodeSockaddr writes a into buf as the socket family's sockaddr and
// returns the full length, which may exceed len(buf) (the caller then
// learns the size it needed, as with Linux's truncation rule).
func encodeSockaddr(buf []byte, a tcpip.FullAddress, family int) int {
	var tmp [28]byte
	n := 16
	if family == afInet6 {
		n = 28
		binary.LittleEndian.PutUint16(tmp[0:], afInet6)
		binary.BigEndian.PutUint16(tmp[2:], a.Port)
		switch a.Addr.Len() {
		case 16:
			s := a.Addr.As16()
			copy(tmp[8:24], s[:])
			if linkScoped(a.Addr) {
				// The interface's index (NIC ids are): Go names it
				// in the address it reports, [fe80::1%eth0]:80.
				binary.LittleEndian.PutUint32(tmp[24:], uint32(a.NIC))
			}
		case 4: // an IPv4 peer of a dual-stack socket: v4-mapped
			s := a.Addr.As4()
			tmp[18], tmp[19] = 0xff, 0xff
			copy(tmp[20:24], s[:])
		}
	} else {
		binary.LittleEndian.PutUint16(tmp[0:], afInet)
		binary.BigEndian.PutUint16(tmp[2:], a.Port)
		if a.Addr.Len() == 4 {
			s := a.Addr.As4()
			copy(tmp[4:8], s[:])
		}
	}
	copy(buf, tmp[:n])
	return n
}
