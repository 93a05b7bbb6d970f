package netstack

import (
	"fmt"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// ndpEvents acts on what IPv6 neighbor discovery learns on the card:
// routers and on-link prefixes from router advertisements become routes,
// and addresses made by SLAAC, or found in use by another node, are
// reported on the console. gVisor calls it with its locks held and
// forbids calling back into the stack, so the changes go to a queue that
// one goroutine applies in order (run).
type ndpEvents struct {
	mu      sync.Mutex
	st      *stack.Stack // set by newStack before any card is enabled
	queue   []ndpChange
	running bool
	// logf writes a console line (os.Stderr in the kernel; tests watch).
	logf func(format string, args ...any)
	// dns takes the name servers and search domains advertisements name
	// (the node's nameServers in the kernel; nil ignores them).
	dns *nameServers
	// addrsChanged, if set, is called (from the queue's goroutine) after
	// an address came or went: the NIC's multicast groups follow its
	// addresses (igmp.go).
	addrsChanged func()
}

// ndpChange is one queued change: a route added or removed, or a line.
type ndpChange struct {
	add, remove bool
	route       tcpip.Route
	line        string
	addrs       bool // an address came or went
}

var _ ipv6.NDPDispatcher = (*ndpEvents)(nil)

func newNDPEvents() *ndpEvents {
	d := &ndpEvents{logf: consoleLine}
	if onVelocity() {
		d.dns = nodeNameServers
	}
	return d
}

// push queues c and starts the goroutine that applies the queue if it is
// not running. It never blocks.
func (d *ndpEvents) push(c ndpChange) {
	d.mu.Lock()
	d.queue = append(d.queue, c)
	start := !d.running
	d.running = true
	d.mu.Unlock()
	if start {
		go d.run()
	}
}

// run applies the queue until it is empty, then ends.
func (d *ndpEvents) run() {
	for {
		d.mu.Lock()
		q := d.queue
		d.queue = nil
		if len(q) == 0 {
			d.running = false
			d.mu.Unlock()
			return
		}
		st, addrsChanged := d.st, d.addrsChanged
		d.mu.Unlock()
		addrs := false
		for _, c := range q {
			if c.line != "" {
				d.logf("%s", c.line)
			}
			addrs = addrs || c.addrs
			if st == nil {
				continue
			}
			switch {
			case c.remove:
				st.RemoveRoutes(func(r tcpip.Route) bool { return sameRoute(r, c.route) })
			case c.add && !hasRoute(st, c.route):
				// Every advertisement updates the routes it names:
				// one already there stays as it is.
				st.AddRoute(c.route)
			}
		}
		if addrs && addrsChanged != nil {
			addrsChanged() // once for the batch: it rereads every NIC's groups
		}
	}
}

func hasRoute(st *stack.Stack, r tcpip.Route) bool {
	for _, have := range st.GetRouteTable() {
		if sameRoute(have, r) {
			return true
		}
	}
	return false
}

// OnDuplicateAddressDetectionResult implements ipv6.NDPDispatcher: an
// address another node holds is not used, which the console says.
func (d *ndpEvents) OnDuplicateAddressDetectionResult(nic tcpip.NICID, addr tcpip.Address, res stack.DADResult) {
	switch r := res.(type) {
	case *stack.DADDupAddrDetected:
		d.push(ndpChange{addrs: true, line: fmt.Sprintf("velocity: net: IPv6 address %s is in use on the link (by %s); the card does not use it\n", addr, r.HolderLinkAddress)})
	case *stack.DADError:
		d.push(ndpChange{addrs: true, line: fmt.Sprintf("velocity: net: IPv6 address %s: duplicate address detection failed: %v\n", addr, r.Err)})
	default:
		d.push(ndpChange{addrs: true})
	}
}

// OnOffLinkRouteUpdated implements ipv6.NDPDispatcher: a router (the
// default route, ::/0, or a more specific one).
func (d *ndpEvents) OnOffLinkRouteUpdated(nic tcpip.NICID, dest tcpip.Subnet, router tcpip.Address, _ header.NDPRoutePreference) {
	d.push(ndpChange{add: true, route: tcpip.Route{Destination: dest, Gateway: router, NIC: nic}})
}

// OnOffLinkRouteInvalidated implements ipv6.NDPDispatcher.
func (d *ndpEvents) OnOffLinkRouteInvalidated(nic tcpip.NICID, dest tcpip.Subnet, router tcpip.Address) {
	d.push(ndpChange{remove: true, route: tcpip.Route{Destination: dest, Gateway: router, NIC: nic}})
}

// OnOnLinkPrefixDiscovered implements ipv6.NDPDispatcher: the prefix's
// addresses are reached directly on the card's link.
func (d *ndpEvents) OnOnLinkPrefixDiscovered(nic tcpip.NICID, prefix tcpip.Subnet) {
	d.push(ndpChange{add: true, route: tcpip.Route{Destination: prefix, NIC: nic}})
}

// OnOnLinkPrefixInvalidated implements ipv6.NDPDispatcher.
func (d *ndpEvents) OnOnLinkPrefixInvalidated(nic tcpip.NICID, prefix tcpip.Subnet) {
	d.push(ndpChange{remove: true, route: tcpip.Route{Destination: prefix, NIC: nic}})
}

// OnAutoGenAddress implements ipv6.NDPDispatcher: the link-local
// address, or one SLAAC made from an advertised prefix, which the console
// names.
func (d *ndpEvents) OnAutoGenAddress(nic tcpip.NICID, addr tcpip.AddressWithPrefix) stack.AddressDispatcher {
	c := ndpChange{addrs: true}
	if !linkScoped(addr.Address) { // the card's line names the link-local one
		c.line = fmt.Sprintf("velocity: net: IPv6 %s on NIC %d (SLAAC, from a router advertisement)\n", addr, nic)
	}
	d.push(c)
	return nil
}

// OnAutoGenAddressDeprecated implements ipv6.NDPDispatcher.
func (d *ndpEvents) OnAutoGenAddressDeprecated(tcpip.NICID, tcpip.AddressWithPrefix) {}

// OnAutoGenAddressInvalidated implements ipv6.NDPDispatcher: a SLAAC
// address's valid lifetime ran out, or it was found in use.
func (d *ndpEvents) OnAutoGenAddressInvalidated(nic tcpip.NICID, addr tcpip.AddressWithPrefix) {
	c := ndpChange{addrs: true}
	if !linkScoped(addr.Address) { // a link-local one goes only when found in use, said above
		c.line = fmt.Sprintf("velocity: net: IPv6 %s on NIC %d is no longer valid\n", addr, nic)
	}
	d.push(c)
}

// OnRecursiveDNSServerOption implements ipv6.NDPDispatcher: name servers
// for /etc/resolv.conf, for the option's lifetime (resolv.go).
func (d *ndpEvents) OnRecursiveDNSServerOption(nic tcpip.NICID, servers []tcpip.Address, lifetime time.Duration) {
	if d.dns != nil {
		d.dns.advertised(nic, servers, lifetime)
	}
}

// OnDNSSearchListOption implements ipv6.NDPDispatcher: search domains, the
// same way.
func (d *ndpEvents) OnDNSSearchListOption(_ tcpip.NICID, domains []string, lifetime time.Duration) {
	if d.dns != nil {
		d.dns.advertisedSearch(domains, lifetime)
	}
}

// OnDHCPv6Configuration implements ipv6.NDPDispatcher: there is no DHCPv6
// client.
func (d *ndpEvents) OnDHCPv6Configuration(tcpip.NICID, ipv6.DHCPv6ConfigurationFromNDPRA) {}
