package netstack

import (
	"encoding/binary"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Multicast socket options (Linux values): group membership, and the
// interface, hop limit and loopback of what a socket sends to a group.
// Go's net.ListenMulticastUDP joins with IP_ADD_MEMBERSHIP or
// IPV6_JOIN_GROUP and sets IP_MULTICAST_IF / IPV6_MULTICAST_IF and the
// loop option; without them it failed with ENOPROTOOPT. gVisor's UDP and
// raw endpoints keep the state and deliver what arrives for a joined
// group; these functions only translate Linux's structures, as gVisor's
// own sentry does for its sockets.
const (
	ipMulticastIF      = 32
	ipMulticastTTL     = 33
	ipMulticastLoop    = 34
	ipAddMembership    = 35
	ipDropMembership   = 36
	ipv6MulticastIF    = 17
	ipv6MulticastHops  = 18
	ipv6MulticastLoop  = 19
	ipv6AddMembership  = 20 // IPV6_JOIN_GROUP
	ipv6DropMembership = 21 // IPV6_LEAVE_GROUP
)

// isMulticastOpt reports whether level and name are one of them.
func isMulticastOpt(level, name int) bool {
	switch level {
	case ipprotoIP:
		return name >= ipMulticastIF && name <= ipDropMembership
	case ipprotoIPv6:
		return name >= ipv6MulticastIF && name <= ipv6DropMembership
	}
	return false
}

// setMulticast sets one of them from the caller's bytes v. Linux's
// rules: a membership needs a struct ip_mreq (8 bytes) or ip_mreqn (12,
// with an interface index), or an ipv6_mreq (20); IP_MULTICAST_IF takes
// those or a bare in_addr; the TTL and loop options take an int, or for
// IPv4 a single byte; a stream socket cannot join (EPROTO) or set a
// multicast TTL (EINVAL; IPv6's hop limit, ENOPROTOOPT).
func (s *Server) setMulticast(sk *sock, level, name int, v []byte) syscall.Errno {
	ops := sk.ep.SocketOptions()
	if level == ipprotoIPv6 && sk.family != afInet6 {
		return syscall.ENOPROTOOPT
	}
	switch {
	case level == ipprotoIP && (name == ipAddMembership || name == ipDropMembership):
		if sk.typ == sockStream {
			return syscall.EPROTO
		}
		group, ifAddr, ifIndex, e := ipMreq(v, false)
		if e != 0 {
			return e
		}
		if !isMulticast4(group) {
			return syscall.EINVAL
		}
		return s.membership(sk, name == ipAddMembership, tcpip.MembershipOption{NIC: tcpip.NICID(ifIndex), InterfaceAddr: ifAddr, MulticastAddr: group})
	case level == ipprotoIPv6 && (name == ipv6AddMembership || name == ipv6DropMembership):
		if sk.typ == sockStream {
			return syscall.EPROTO
		}
		if len(v) < 20 {
			return syscall.EINVAL
		}
		group := tcpip.AddrFrom16Slice(v[:16])
		if v[0] != 0xff {
			return syscall.EINVAL
		}
		return s.membership(sk, name == ipv6AddMembership, tcpip.MembershipOption{NIC: tcpip.NICID(binary.LittleEndian.Uint32(v[16:])), MulticastAddr: group})
	case level == ipprotoIP && name == ipMulticastIF:
		_, ifAddr, ifIndex, e := ipMreq(v, true)
		if e != 0 {
			return e
		}
		return errno(sk.ep.SetSockOpt(&tcpip.MulticastInterfaceOption{NIC: tcpip.NICID(ifIndex), InterfaceAddr: ifAddr}))
	case level == ipprotoIPv6 && name == ipv6MulticastIF:
		x, e := optInt(v)
		if e != 0 {
			return e
		}
		if x < 0 {
			return syscall.EINVAL
		}
		return errno(sk.ep.SetSockOpt(&tcpip.MulticastInterfaceOption{NIC: tcpip.NICID(x)}))
	case name == ipMulticastTTL && level == ipprotoIP, name == ipv6MulticastHops && level == ipprotoIPv6:
		if sk.typ == sockStream && level == ipprotoIP {
			return syscall.EINVAL
		}
		if sk.typ == sockStream {
			return syscall.ENOPROTOOPT // as Linux's IPv6 says
		}
		x, e := optIntOrByte(v, level)
		if e != 0 {
			return e
		}
		if x == -1 {
			x = 1 // the default, as Linux's
		}
		if x < 0 || x > 255 {
			return syscall.EINVAL
		}
		return errno(sk.ep.SetSockOptInt(tcpip.MulticastTTLOption, x))
	case name == ipMulticastLoop && level == ipprotoIP, name == ipv6MulticastLoop && level == ipprotoIPv6:
		x, e := optIntOrByte(v, level)
		if e != 0 {
			return e
		}
		if level == ipprotoIPv6 && x != 0 && x != 1 {
			return syscall.EINVAL // IPv6 takes 0 or 1 only; IPv4 any value
		}
		ops.SetMulticastLoop(x != 0)
		return 0
	}
	return syscall.ENOPROTOOPT
}

// membership joins or leaves m's group and, when gVisor agrees, counts
// it for /proc/net/igmp (igmp.go).
func (s *Server) membership(sk *sock, join bool, m tcpip.MembershipOption) syscall.Errno {
	if join {
		o := tcpip.AddMembershipOption(m)
		if e := errno(sk.ep.SetSockOpt(&o)); e != 0 {
			return e
		}
		s.joined(sk, m.MulticastAddr)
		return 0
	}
	o := tcpip.RemoveMembershipOption(m)
	if e := errno(sk.ep.SetSockOpt(&o)); e != 0 {
		return e
	}
	s.left(sk, m.MulticastAddr)
	return 0
}

// getMulticast answers for the interface, hop limit and loop options
// (memberships cannot be read, as on Linux: ENOPROTOOPT).
func (s *Server) getMulticast(sk *sock, level, name int, val, lenp uint64) syscall.Errno {
	if level == ipprotoIPv6 && sk.family != afInet6 {
		return syscall.ENOPROTOOPT
	}
	var x int
	switch {
	case level == ipprotoIP && name == ipMulticastIF:
		var o tcpip.MulticastInterfaceOption
		if err := sk.ep.GetSockOpt(&o); err != nil {
			return errno(err)
		}
		var b [4]byte
		if o.InterfaceAddr.Len() == 4 {
			copy(b[:], o.InterfaceAddr.AsSlice())
		}
		return putOpt(val, lenp, b[:])
	case level == ipprotoIPv6 && name == ipv6MulticastIF:
		var o tcpip.MulticastInterfaceOption
		if err := sk.ep.GetSockOpt(&o); err != nil {
			return errno(err)
		}
		x = int(o.NIC)
	case name == ipMulticastTTL && level == ipprotoIP, name == ipv6MulticastHops && level == ipprotoIPv6:
		v, err := sk.ep.GetSockOptInt(tcpip.MulticastTTLOption)
		if err != nil {
			return errno(err)
		}
		x = v
	case name == ipMulticastLoop && level == ipprotoIP, name == ipv6MulticastLoop && level == ipprotoIPv6:
		x = boolInt(sk.ep.SocketOptions().GetMulticastLoop())
	default:
		return syscall.ENOPROTOOPT
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(int32(x)))
	return putOpt(val, lenp, b[:])
}

// ipMreq reads a struct ip_mreqn (12 bytes: group, interface address,
// interface index) or ip_mreq (8: group, interface address), or, when
// addrOnly (IP_MULTICAST_IF), a bare in_addr naming the interface by its
// address. An address of 0.0.0.0 is none (gVisor then picks by route).
func ipMreq(v []byte, addrOnly bool) (group, ifAddr tcpip.Address, ifIndex uint32, e syscall.Errno) {
	addr := func(b []byte) tcpip.Address {
		if [4]byte(b) == [4]byte{} {
			return tcpip.Address{}
		}
		return tcpip.AddrFrom4Slice(b)
	}
	switch {
	case len(v) >= 12:
		return addr(v[:4]), addr(v[4:8]), binary.LittleEndian.Uint32(v[8:]), 0
	case len(v) >= 8:
		return addr(v[:4]), addr(v[4:8]), 0, 0
	case addrOnly && len(v) >= 4:
		return tcpip.Address{}, addr(v[:4]), 0, 0
	}
	return tcpip.Address{}, tcpip.Address{}, 0, syscall.EINVAL
}

// optIntOrByte reads an int option, which at level IPPROTO_IP Linux also
// takes as a single byte (IPv6 wants the int).
func optIntOrByte(v []byte, level int) (int, syscall.Errno) {
	if len(v) >= 4 || level != ipprotoIP {
		return optInt(v)
	}
	if len(v) >= 1 {
		return int(v[0]), 0
	}
	return 0, syscall.EINVAL
}

func isMulticast4(a tcpip.Address) bool {
	return a.Len() == 4 && a.AsSlice()[0]&0xf0 == 0xe0
}
