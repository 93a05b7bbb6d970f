package build

// UDP's receive path without three allocations per datagram.
//
// gVisor's UDP endpoint reads a received datagram's network header three
// times through PacketBuffer.Network, which returns the header as the
// header.Network interface: header.IPv4 and header.IPv6 are slices, so
// each call boxes a slice header on the heap. Under an allocation
// profile of a UDP round trip over loopback inside the kernel
// (2026-12-07), those were 3 of the 8 objects allocated per datagram
// sent and received. The edit reads the addresses and the traffic class
// once, from the header's concrete type (velocityNetHeader, a file of
// ours added to gVisor's package udp), and uses them at the three places.
// A protocol other than IPv4 and IPv6 still goes through Network, which
// panics naming it, as before.

// udpHeaderFile is added to gVisor's package udp.
const udpHeaderFile = `// Added by velocity (internal/build/netudpheader.go) to kernels that link
// the network stack.

package udp

import (
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// velocityNetHeader is what HandlePacket reads from a datagram's network
// header: its source and destination addresses and its TOS or traffic
// class, read through the header's own type rather than the
// header.Network interface, which would box it on the heap.
func velocityNetHeader(pkt *stack.PacketBuffer) (src, dst tcpip.Address, tos uint8) {
	switch pkt.NetworkProtocolNumber {
	case header.IPv4ProtocolNumber:
		h := header.IPv4(pkt.NetworkHeader().Slice())
		tos, _ = h.TOS()
		return h.SourceAddress(), h.DestinationAddress(), tos
	case header.IPv6ProtocolNumber:
		h := header.IPv6(pkt.NetworkHeader().Slice())
		tos, _ = h.TOS()
		return h.SourceAddress(), h.DestinationAddress(), tos
	}
	n := pkt.Network() // panics, naming the protocol
	tos, _ = n.TOS()
	return n.SourceAddress(), n.DestinationAddress(), tos
}
`

// udpHeaderEdits use velocityNetHeader in UDP's HandlePacket.
var udpHeaderEdits = []gvisorEdit{
	{
		"pkg/tcpip/transport/udp/endpoint.go",
		"\tnetHdr := pkt.Network()\n\tlengthValid, csumValid := header.UDPValid(\n",
		"\tnetSrc, netDst, netTOS := velocityNetHeader(pkt)\n\tlengthValid, csumValid := header.UDPValid(\n",
	},
	{
		"pkg/tcpip/transport/udp/endpoint.go",
		"\t\tnetHdr.SourceAddress(),\n\t\tnetHdr.DestinationAddress(),\n",
		"\t\tnetSrc,\n\t\tnetDst,\n",
	},
	{
		"pkg/tcpip/transport/udp/endpoint.go",
		"\tpacket.tosOrTClass, _ = pkt.Network().TOS()\n",
		"\tpacket.tosOrTClass = netTOS\n",
	},
	{
		"pkg/tcpip/transport/udp/endpoint.go",
		"\tlocalAddr := pkt.Network().DestinationAddress()\n",
		"\tlocalAddr := netDst\n",
	},
}
