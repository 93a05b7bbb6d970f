package netstack

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// nameServers keeps /etc/resolv.conf in step with what the node learns
// about name servers, from three sources, as Linux's network managers
// merge them:
//
//   - dns= on the command line: the user's choice, used alone;
//   - DHCPv4's servers, for as long as the lease lasts;
//   - IPv6 router advertisements (RFC 8106): recursive DNS servers
//     (RDNSS) and search domains (DNSSL), each for its lifetime, which
//     every later advertisement refreshes, shortens or, with 0, ends.
//
// DHCP's servers come first, then the advertised ones, at most
// maxNameservers in all (Go's resolver reads no more). A link-local
// server is written with its zone (fe80::1%eth0), which Go's resolver
// keeps and its dial turns into the socket's scope id. The file is
// rewritten only when its text changes.
//
// Without it, an IPv6-only link with SLAAC (addresses and routes from the
// advertisements, ndp.go) gave the node addresses but no way to look
// names up. (QEMU's user networking advertises a server of its own,
// fec0::3, only when the host has an IPv6 name server, and its DHCP
// names none under restrict=on: docs/net.md.)
type nameServers struct {
	mu     sync.Mutex
	static []netip.Addr
	dhcp   []netip.Addr
	ra     []expiring // servers, in the order first advertised
	search []expiring // domains, the same
	timer  *time.Timer
	last   string
	now    func() time.Time
	// write replaces /etc/resolv.conf (setResolvConf; tests watch).
	write func(text string) error
	// logf writes a console line.
	logf func(format string, args ...any)
}

// expiring is a server or a domain with the end of its lifetime (zero:
// never).
type expiring struct {
	name  string
	until time.Time
}

func newNameServers(write func(string) error, logf func(string, ...any)) *nameServers {
	return &nameServers{write: write, logf: logf, now: time.Now}
}

// setStatic makes servers (dns=) the only ones.
func (n *nameServers) setStatic(servers []netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.static = slices.Clone(servers)
	n.updateLocked("")
}

// setDHCP replaces DHCPv4's servers (none when the lease ended).
func (n *nameServers) setDHCP(servers []netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dhcp = slices.Clone(servers)
	n.updateLocked("")
}

// advertised applies an RDNSS option from NIC nic: servers for lifetime.
// gVisor calls it with its locks held; it never calls back into the stack.
func (n *nameServers) advertised(nic tcpip.NICID, servers []tcpip.Address, lifetime time.Duration) {
	var names []string
	for _, s := range servers {
		a, ok := netip.AddrFromSlice(s.AsSlice())
		if !ok || !a.Is6() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
			continue // RFC 8106: such an address is not a server
		}
		if a.IsLinkLocalUnicast() {
			a = a.WithZone(nicNameOf(nic))
		}
		names = append(names, a.String())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ra = refresh(n.ra, names, n.until(lifetime))
	n.updateLocked("a router advertisement")
}

// advertisedSearch applies a DNSSL option: domains for lifetime.
func (n *nameServers) advertisedSearch(domains []string, lifetime time.Duration) {
	var names []string
	for _, d := range domains {
		d = strings.TrimSuffix(d, ".")
		if d != "" && !strings.ContainsAny(d, " \t\n#;") {
			names = append(names, d)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.search = refresh(n.search, names, n.until(lifetime))
	n.updateLocked("a router advertisement")
}

// until is when a lifetime from now ends: zero for the infinite one, and
// a time already past for 0.
func (n *nameServers) until(lifetime time.Duration) time.Time {
	if lifetime >= header.NDPInfiniteLifetime {
		return time.Time{}
	}
	return n.now().Add(lifetime)
}

// refresh sets each name's end to until, adding the new ones at the end.
func refresh(list []expiring, names []string, until time.Time) []expiring {
	for _, name := range names {
		i := slices.IndexFunc(list, func(e expiring) bool { return e.name == name })
		if i < 0 {
			list = append(list, expiring{name: name, until: until})
		} else {
			list[i].until = until
		}
	}
	return list
}

// expire drops what outlived its lifetime; the timer calls it.
func (n *nameServers) expire() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.updateLocked("a lifetime that ran out")
}

// updateLocked drops expired entries, rewrites the file if its text
// changed (saying why on the console when why is not empty) and sets the
// timer for the next expiry.
func (n *nameServers) updateLocked(why string) {
	now := n.now()
	expired := func(e expiring) bool { return !e.until.IsZero() && !e.until.After(now) }
	n.ra = slices.DeleteFunc(n.ra, expired)
	n.search = slices.DeleteFunc(n.search, expired)
	text := n.renderLocked()
	if text == "" && n.last != "" {
		// Everything it named is gone: no servers, as on Linux with an
		// empty file (Go's resolver then asks localhost).
		text = "# generated by Velocity's netstack (no name servers known)\n" + resolvOptions
	}
	if text != n.last {
		if err := n.write(text); err != nil {
			n.logf("velocity: net: /etc/resolv.conf: %v\n", err)
		} else if why != "" {
			n.logf("velocity: net: /etc/resolv.conf after %s: %s\n", why, summary(text))
		}
		n.last = text
	}
	var next time.Time
	for _, e := range slices.Concat(n.ra, n.search) {
		if !e.until.IsZero() && (next.IsZero() || e.until.Before(next)) {
			next = e.until
		}
	}
	if n.timer != nil {
		n.timer.Stop()
		n.timer = nil
	}
	if !next.IsZero() {
		n.timer = time.AfterFunc(next.Sub(now), n.expire)
	}
}

// renderLocked is the file's text; empty when there is nothing to say,
// which leaves the kernel's file as it is (n.last starts empty).
func (n *nameServers) renderLocked() string {
	var servers []string
	var sources []string
	if len(n.static) > 0 {
		for _, a := range n.static {
			servers = append(servers, a.String())
		}
		sources = append(sources, "dns=")
	} else {
		for _, a := range n.dhcp {
			servers = append(servers, a.String())
		}
		if len(n.dhcp) > 0 {
			sources = append(sources, "DHCP")
		}
		for _, e := range n.ra {
			if !slices.Contains(servers, e.name) {
				servers = append(servers, e.name)
			}
		}
		if len(n.ra) > 0 || len(n.search) > 0 {
			sources = append(sources, "router advertisements")
		}
	}
	if len(servers) == 0 && len(n.search) == 0 {
		return ""
	}
	servers = servers[:min(len(servers), maxNameservers)]
	var b strings.Builder
	fmt.Fprintf(&b, "# generated by Velocity's netstack (%s)\n", strings.Join(sources, ", "))
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(n.static) == 0 && len(n.search) > 0 {
		b.WriteString("search")
		for _, e := range n.search[:min(len(n.search), maxSearch)] {
			b.WriteString(" " + e.name)
		}
		b.WriteString("\n")
	}
	b.WriteString(resolvOptions)
	return b.String()
}

// resolvOptions ends every file, as it ends the kernel's default one
// (runtime/vk_etc.go): a lookup no server answers fails after 2 s rather
// than Go's default of two attempts of 5 s.
const resolvOptions = "options timeout:2 attempts:1\n"

// maxSearch is how many search domains the file names (glibc's limit;
// Go's resolver reads them all).
const maxSearch = 6

// summary is the file's servers and search line on one line.
func summary(text string) string {
	var parts []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "nameserver ") || strings.HasPrefix(l, "search ") {
			parts = append(parts, l)
		}
	}
	if len(parts) == 0 {
		return "no name servers"
	}
	return strings.Join(parts, "; ")
}

// nicNameOf is the name of one of this package's NICs, the zone of a
// link-local address on it.
func nicNameOf(nic tcpip.NICID) string {
	if nic == loopbackNIC {
		return "lo"
	}
	return nicName
}
