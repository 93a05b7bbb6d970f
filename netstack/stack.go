package netstack

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/raw"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// loopbackNIC is the NIC id of the loopback device, which always exists.
const loopbackNIC = 1

// newStack builds the TCP/IP stack with the loopback NIC (127.0.0.1/8
// and ::1) that every node has, with or without a network card.
func newStack() (*stack.Stack, error) { return newStackNDP(newNDPEvents()) }

// newStackNDP is newStack with ndp receiving the card's neighbor
// discovery events.
func newStackNDP(ndp *ndpEvents) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6Protocol(ndp), arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		HandleLocal:        true,
		RawFactory:         raw.EndpointFactory{}, // SOCK_RAW (server.go)
		Clock:              newStackClock(),
	})
	ndp.mu.Lock()
	ndp.st = s
	ndp.mu.Unlock()
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return nil, fmt.Errorf("netstack: TCP SACK: %v", err)
	}
	// RACK off, and with it gVisor's tail-loss probe, which it schedules
	// 2*SRTT after a send with no floor (Linux adds at least two
	// jiffies). On a link of tens of microseconds the probe fired
	// before a busy guest had processed the ACK, and sent the segment
	// again: over tap, one new connection in five and one 64 KiB
	// response in fourteen (TestNoSpuriousTailLossProbe shows it). Loss
	// is still found by SACK and three duplicate ACKs, or the 200 ms
	// minimum timeout. VELOCITY_TCPRACK=1 keeps RACK on.
	if os.Getenv("VELOCITY_TCPRACK") != "1" {
		rec := tcpip.TCPRecovery(0)
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &rec); err != nil {
			return nil, fmt.Errorf("netstack: TCP recovery: %v", err)
		}
	}
	// A closed connection's endpoint waits in TIME-WAIT on the Go heap.
	// Linux keeps it 60 s in kernel memory; here it would hold the heap
	// of a busy server, so it waits 5 s (still many round trips on any
	// network this stack serves).
	tw := tcpip.TCPTimeWaitTimeoutOption(5 * time.Second)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &tw); err != nil {
		return nil, fmt.Errorf("netstack: TCP TIME-WAIT: %v", err)
	}
	// Named as on Linux: net.Interfaces and netlink (netlink.go) report
	// the names.
	lo := loopback.New()
	if err := s.CreateNICWithOptions(loopbackNIC, lo, stack.NICOptions{Name: "lo", QDisc: newQDisc(lo)}); err != nil {
		return nil, fmt.Errorf("netstack: loopback NIC: %v", err)
	}
	v4 := tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), PrefixLen: 8}
	v6 := tcpip.AddressWithPrefix{Address: tcpip.AddrFrom16([16]byte{15: 1}), PrefixLen: 128}
	for _, pa := range []tcpip.ProtocolAddress{
		{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: v4},
		{Protocol: ipv6.ProtocolNumber, AddressWithPrefix: v6},
	} {
		if err := s.AddProtocolAddress(loopbackNIC, pa, stack.AddressProperties{}); err != nil {
			return nil, fmt.Errorf("netstack: loopback address %s: %v", pa.AddressWithPrefix, err)
		}
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: v4.Subnet(), NIC: loopbackNIC},
		{Destination: v6.Subnet(), NIC: loopbackNIC},
	})
	return s, nil
}

// ipv6Protocol is IPv6 with a link-local address on the card, made from
// its MAC address (modified EUI-64, fe80::/64) when the card joins the
// stack (startIPv6): guests on one link reach each other over IPv6 with
// no configuration. The card asks for routers (three solicitations, four
// seconds apart) and acts on their advertisements, as Linux does: an
// address from each advertised prefix (SLAAC), a route for each on-link
// prefix and one through each router, which events turns into routes and
// console lines (ndp.go).
//
// No temporary addresses (RFC 8981), which gVisor would make by default:
// a server's address should stay what the console said, and Linux's own
// default (use_tempaddr=0) makes none either.
func ipv6Protocol(events *ndpEvents) stack.NetworkProtocolFactory {
	cfg := ipv6.DefaultNDPConfigurations()
	cfg.AutoGenTempGlobalAddresses = false
	return ipv6.NewProtocolWithOptions(ipv6.Options{
		AutoGenLinkLocal: true,
		NDPConfigs:       cfg,
		NDPDisp:          events,
	})
}

// startIPv6 enables NIC id, created disabled, with duplicate address
// detection on its IPv6 endpoint first (one solicitation, one second, as
// Linux does), so that its link-local address is used only once found
// unique; and routes fe80::/64 out of it. Only the card gets detection:
// with it on for the protocol, loopback's ::1 was tentative for its first
// second too.
func startIPv6(s *stack.Stack, id tcpip.NICID) error {
	ep, err := s.GetNetworkEndpoint(id, ipv6.ProtocolNumber)
	if err != nil {
		return fmt.Errorf("IPv6 endpoint: %v", err)
	}
	if d, ok := ep.(stack.DuplicateAddressDetector); ok {
		d.SetDADConfigurations(stack.DefaultDADConfigurations())
	}
	s.AddRoute(tcpip.Route{Destination: header.IPv6LinkLocalPrefix.Subnet(), NIC: id})
	if err := s.EnableNIC(id); err != nil {
		return fmt.Errorf("enabling the card: %v", err)
	}
	return nil
}

// sameRoute reports whether a and b route the same destination through
// the same gateway and NIC. Not ==: a tcpip.Route carries the links of
// gVisor's route list (RouteEntry), so a route read back from the table
// never equals the one that was added (the DHCP broadcast route stayed
// in the table after every lease until 2026-12-05).
func sameRoute(a, b tcpip.Route) bool {
	return a.Destination == b.Destination && a.Gateway == b.Gateway && a.NIC == b.NIC
}

// nicID is the network card's NIC in the stack, and nicName its name
// (Linux's first Ethernet card's).
const (
	nicID   = 2
	nicName = "eth0"
)

// configureNIC gives the card its address and routes: the subnet
// directly, everything else through the gateway when there is one.
func configureNIC(s *stack.Stack, id tcpip.NICID, addr netip.Prefix, gw netip.Addr) error {
	ap := tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(addr.Addr().As4()), PrefixLen: addr.Bits()}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: ap}
	if err := s.AddProtocolAddress(id, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("address %s: %v", addr, err)
	}
	s.AddRoute(tcpip.Route{Destination: ap.Subnet(), NIC: id})
	if gw.IsValid() {
		s.AddRoute(tcpip.Route{Destination: header.IPv4EmptySubnet, Gateway: tcpip.AddrFrom4(gw.As4()), NIC: id})
	}
	return nil
}
