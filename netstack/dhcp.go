package netstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// The DHCPv4 client (RFC 2131) that configures the card when the command
// line gives no static address. Messages are encoded and decoded by
// github.com/insomniacslk/dhcp; the exchange runs over a UDP endpoint of
// the stack itself, bound to port 68 on the card before it has an address.

// lease is what the server granted.
type lease struct {
	addr    netip.Prefix
	router  netip.Addr // invalid when the server names none
	dns     []netip.Addr
	server  netip.Addr
	time    time.Duration // lease time; renewal at half of it
	renewal time.Duration
}

func (l *lease) String() string {
	s := l.addr.String()
	if l.router.IsValid() {
		s += " via " + l.router.String()
	}
	return s
}

// dhcpTries are the waits for an answer to each DISCOVER (and then to
// the REQUEST): 3.5 s in all before the card is left unconfigured. QEMU's
// server answers in well under a millisecond; a LAN's in a few.
var dhcpTries = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// dhcpConn is a UDP endpoint on the card, port 68, allowed to broadcast.
type dhcpConn struct {
	ep   tcpip.Endpoint
	wq   waiter.Queue
	nic  tcpip.NICID
	wake chan struct{}
}

// dialDHCP binds to local on the card: no address before the card has
// one (the stack then sends from its primary address, 0.0.0.0, and
// delivers broadcasts to the endpoint), the lease's address to renew it.
func dialDHCP(st *stack.Stack, nic tcpip.NICID, local tcpip.Address) (*dhcpConn, error) {
	c := &dhcpConn{nic: nic, wake: make(chan struct{}, 1)}
	ep, terr := st.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &c.wq)
	if terr != nil {
		return nil, fmt.Errorf("UDP endpoint: %v", terr)
	}
	ep.SocketOptions().SetBroadcast(true)
	if terr := ep.Bind(tcpip.FullAddress{NIC: nic, Addr: local, Port: dhcpv4.ClientPort}); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("bind port %d: %v", dhcpv4.ClientPort, terr)
	}
	c.ep = ep
	e := waiter.NewFunctionEntry(waiter.ReadableEvents, func(waiter.EventMask) {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	})
	c.wq.EventRegister(&e)
	return c, nil
}

func (c *dhcpConn) close() { c.ep.Close() }

// send broadcasts m to the servers' port (or unicasts it to to, when valid).
func (c *dhcpConn) send(m *dhcpv4.DHCPv4, to netip.Addr) error {
	dst := tcpip.AddrFrom4([4]byte{255, 255, 255, 255})
	if to.IsValid() {
		dst = tcpip.AddrFrom4(to.As4())
	}
	var r bytes.Reader
	r.Reset(m.ToBytes())
	_, terr := c.ep.Write(&r, tcpip.WriteOptions{To: &tcpip.FullAddress{NIC: c.nic, Addr: dst, Port: dhcpv4.ServerPort}})
	if terr != nil {
		return fmt.Errorf("send %s: %v", m.MessageType(), terr)
	}
	return nil
}

// recv waits until deadline for a reply to xid of one of the types want,
// skipping anything else (other clients' traffic, malformed packets).
func (c *dhcpConn) recv(ctx context.Context, xid dhcpv4.TransactionID, deadline time.Time, want ...dhcpv4.MessageType) (*dhcpv4.DHCPv4, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		var buf bytes.Buffer
		_, terr := c.ep.Read(&buf, tcpip.ReadOptions{})
		if _, ok := terr.(*tcpip.ErrWouldBlock); ok {
			select {
			case <-c.wake:
				continue
			case <-t.C:
				return nil, errTimeout
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if terr != nil {
			return nil, fmt.Errorf("receive: %v", terr)
		}
		m, err := dhcpv4.FromBytes(buf.Bytes())
		if err != nil || m.TransactionID != xid || m.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		for _, w := range want {
			if m.MessageType() == w {
				return m, nil
			}
		}
	}
}

var errTimeout = errors.New("no answer")

// dhcpAcquire runs DISCOVER, OFFER, REQUEST, ACK on the card. The card
// must be in the stack, running, with no IPv4 address yet.
func dhcpAcquire(ctx context.Context, st *stack.Stack, nic tcpip.NICID, mac net.HardwareAddr) (*lease, error) {
	// Until it has an address the card sends from 0.0.0.0. The messages
	// set the broadcast flag, so the server answers to 255.255.255.255,
	// which the stack delivers to the endpoint. (Promiscuous mode, which
	// would take unicast answers too, stops that delivery in gVisor.)
	unspecified := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{}), PrefixLen: 0}}
	if err := st.AddProtocolAddress(nic, unspecified, stack.AddressProperties{}); err != nil {
		return nil, fmt.Errorf("DHCP: %v", err)
	}
	defer st.RemoveAddress(nic, unspecified.AddressWithPrefix.Address)
	// Broadcasts need a route out of the card.
	bcast := tcpip.Route{Destination: header.IPv4Broadcast.WithPrefix().Subnet(), NIC: nic}
	st.AddRoute(bcast)
	defer st.RemoveRoutes(func(r tcpip.Route) bool { return sameRoute(r, bcast) })
	c, err := dialDHCP(st, nic, tcpip.Address{})
	if err != nil {
		return nil, fmt.Errorf("DHCP: %v", err)
	}
	defer c.close()

	opts := dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter,
		dhcpv4.OptionDomainNameServer, dhcpv4.OptionIPAddressLeaseTime)
	var offer *dhcpv4.DHCPv4
	var xid dhcpv4.TransactionID
	start := time.Now()
	for _, wait := range dhcpTries {
		disc, err := dhcpv4.NewDiscovery(mac, opts, dhcpv4.WithBroadcast(true))
		if err != nil {
			return nil, fmt.Errorf("DHCP: %v", err)
		}
		xid = disc.TransactionID
		if err := c.send(disc, netip.Addr{}); err != nil {
			return nil, fmt.Errorf("DHCP: %v", err)
		}
		offer, err = c.recv(ctx, xid, time.Now().Add(wait), dhcpv4.MessageTypeOffer)
		if err == nil {
			break
		}
		if err != errTimeout {
			return nil, fmt.Errorf("DHCP: %v", err)
		}
	}
	if offer == nil {
		return nil, fmt.Errorf("DHCP: no server answered in %.1f s (%d DISCOVERs from %s)",
			time.Since(start).Seconds(), len(dhcpTries), mac)
	}
	req, err := dhcpv4.NewRequestFromOffer(offer, opts, dhcpv4.WithBroadcast(true))
	if err != nil {
		return nil, fmt.Errorf("DHCP: REQUEST: %v", err)
	}
	if err := c.send(req, netip.Addr{}); err != nil {
		return nil, fmt.Errorf("DHCP: %v", err)
	}
	ack, err := c.recv(ctx, req.TransactionID, time.Now().Add(dhcpTries[len(dhcpTries)-1]), dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak)
	if err != nil {
		return nil, fmt.Errorf("DHCP: REQUEST for %s: %v", offer.YourIPAddr, err)
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, fmt.Errorf("DHCP: the server refused %s: %s", offer.YourIPAddr, ack.Message())
	}
	return leaseFromAck(ack)
}

// leaseFromAck checks an ACK and turns it into a lease: an address the
// card can take, a router on its subnet, and name servers.
func leaseFromAck(ack *dhcpv4.DHCPv4) (*lease, error) {
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || !ip.IsGlobalUnicast() && !ip.IsPrivate() {
		return nil, fmt.Errorf("DHCP: the server offered %v, which is not a host address", ack.YourIPAddr)
	}
	bits := 24 // RFC 2131 leaves the mask optional; a class C guess is what most clients make
	if m := ack.SubnetMask(); m != nil {
		ones, total := m.Size()
		if total != 32 || ones == 0 {
			return nil, fmt.Errorf("DHCP: the server's subnet mask %v is not a prefix", net.IP(m))
		}
		bits = ones
	}
	l := &lease{addr: netip.PrefixFrom(ip, bits)}
	for _, r := range ack.Router() {
		if a, ok := netip.AddrFromSlice(r.To4()); ok && l.addr.Masked().Contains(a) {
			l.router = a
			break
		}
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok && len(l.dns) < maxNameservers {
			l.dns = append(l.dns, a)
		}
	}
	if s, ok := netip.AddrFromSlice(ack.ServerIdentifier().To4()); ok {
		l.server = s
	}
	l.time = ack.IPAddressLeaseTime(time.Hour)
	l.renewal = ack.IPAddressRenewalTime(l.time / 2)
	return l, nil
}

// dhcpRenew asks the server that granted l to extend it, unicast from the
// card's address, and returns the new lease.
func dhcpRenew(ctx context.Context, st *stack.Stack, nic tcpip.NICID, mac net.HardwareAddr, l *lease) (*lease, error) {
	c, err := dialDHCP(st, nic, tcpip.AddrFrom4(l.addr.Addr().As4()))
	if err != nil {
		return nil, err
	}
	defer c.close()
	ip := net.IP(l.addr.Addr().AsSlice())
	req, err := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithClientIP(ip),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest))
	if err != nil {
		return nil, err
	}
	if err := c.send(req, l.server); err != nil {
		return nil, err
	}
	ack, err := c.recv(ctx, req.TransactionID, time.Now().Add(dhcpTries[len(dhcpTries)-1]), dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak)
	if err != nil {
		return nil, err
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, fmt.Errorf("the server refused to renew: %s", ack.Message())
	}
	return leaseFromAck(ack)
}
