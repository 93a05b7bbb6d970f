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
		return a, 0
	case af == afInet && family == afInet6:
		return tcpip.FullAddress{}, syscall.EAFNOSUPPORT
	case af == afInet6 && family == afInet:
		return tcpip.FullAddress{}, syscall.EAFNOSUPPORT
	}
	return tcpip.FullAddress{}, syscall.EAFNOSUPPORT
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
