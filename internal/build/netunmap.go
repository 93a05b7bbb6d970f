package build

// An allocation less on every send to an address.
//
// gVisor's TransportEndpointInfo.AddrNetProtoLocked, which every UDP
// send with a destination, connect and bind passes through, unwraps a
// v4-mapped IPv6 address with tcpip.AddrFrom4Slice(addr.Addr.AsSlice()
// [12:]). The slice of its parameter, which AddrFrom4Slice may quote in a
// panic, makes the compiler move the parameter to the heap on every call,
// whatever the address (go build -gcflags=-m: "moved to heap: addr"); an
// allocation profile of a UDP round trip over loopback inside the kernel
// (2026-12-07) had it as 1 of the 5 objects left per datagram. The edit
// unwraps through the address's value (As16) instead, in a file of ours
// added to gVisor's package stack.

// unmapFile is added to gVisor's package stack.
const unmapFile = `// Added by velocity (internal/build/netunmap.go) to kernels that link
// the network stack.

package stack

import "gvisor.dev/gvisor/pkg/tcpip"

// velocityUnmapV4 is the IPv4 address a v4-mapped IPv6 address
// (::ffff:a.b.c.d) carries, read from the address's value, so that the
// caller's address stays in its frame.
func velocityUnmapV4(a tcpip.Address) tcpip.Address {
	b := a.As16()
	return tcpip.AddrFrom4([4]byte(b[12:16]))
}
`

// unmapEdits use velocityUnmapV4 in AddrNetProtoLocked.
var unmapEdits = []gvisorEdit{
	{
		"pkg/tcpip/stack/stack.go",
		"\t\t\taddr.Addr = tcpip.AddrFrom4Slice(addr.Addr.AsSlice()[header.IPv6AddressSize-header.IPv4AddressSize:])\n",
		"\t\t\taddr.Addr = velocityUnmapV4(addr.Addr)\n",
	},
}
