package netstack

import (
	"fmt"
	"net/netip"
	"strings"
)

// How the network card gets its IPv4 address. The kernel command line
// chooses (docs/net.md):
//
//	ip=dhcp                       DHCPv4 (the default)
//	ip=A.B.C.D/N [gw=A.B.C.D]     a static address, and a default route
//	ip=off                        the card stays down
//	dns=A.B.C.D[,A.B.C.D...]      name servers (overriding DHCP's)
//
// The runtime accepts these words and leaves them to this package, which
// reads them from /proc/cmdline: the kernel owns the command line, and
// netstack is not part of the kernel.
type ipMode int

const (
	ipDHCP ipMode = iota
	ipStatic
	ipOff
)

// netOptions is the parsed network configuration of the command line.
type netOptions struct {
	mode ipMode
	addr netip.Prefix // ipStatic
	gw   netip.Addr   // ipStatic; invalid when there is no default route
	dns  []netip.Addr
}

// cmdlineWords splits a command line as the kernel does (runtime/vk_boot.go):
// words separated by blanks, double quotes grouping, nothing after "--"
// (those words are the program's arguments, not options).
func cmdlineWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			quoted = !quoted
			in = true
		case !quoted && (c == ' ' || c == '\t' || c == '\n'):
			if in {
				if cur.String() == "--" {
					return words, nil
				}
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated double quote")
	}
	if in && cur.String() != "--" {
		words = append(words, cur.String())
	}
	return words, nil
}

// parseNetOptions reads ip=, gw= and dns= from a command line. Every
// error names the word at fault and the syntax it should have had.
func parseNetOptions(cmdline string) (netOptions, error) {
	words, err := cmdlineWords(cmdline)
	if err != nil {
		return netOptions{}, fmt.Errorf("kernel command line: %v", err)
	}
	var o netOptions
	var ip, gw, dns string
	var haveIP, haveGW, haveDNS bool
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			continue
		}
		dup := false
		switch k {
		case "ip":
			dup, haveIP, ip = haveIP, true, v
		case "gw":
			dup, haveGW, gw = haveGW, true, v
		case "dns":
			dup, haveDNS, dns = haveDNS, true, v
		default:
			continue
		}
		if dup {
			return netOptions{}, fmt.Errorf("%s= given twice", k)
		}
	}
	switch {
	case !haveIP || ip == "dhcp":
		o.mode = ipDHCP
	case ip == "off":
		o.mode = ipOff
	default:
		p, err := netip.ParsePrefix(ip)
		if err != nil || !p.Addr().Is4() || p.Bits() == 0 || p.Masked().Addr() == p.Addr() && p.Bits() < 31 {
			return netOptions{}, fmt.Errorf("ip=%s: want dhcp, off, or an IPv4 host address with a prefix length, such as ip=10.0.2.15/24", ip)
		}
		o.mode, o.addr = ipStatic, p
	}
	if haveGW {
		if o.mode != ipStatic {
			return netOptions{}, fmt.Errorf("gw=%s needs a static address (ip=A.B.C.D/N); with DHCP the server names the router", gw)
		}
		g, err := netip.ParseAddr(gw)
		if err != nil || !g.Is4() {
			return netOptions{}, fmt.Errorf("gw=%s: want an IPv4 address, such as gw=10.0.2.2", gw)
		}
		if !o.addr.Masked().Contains(g) {
			return netOptions{}, fmt.Errorf("gw=%s is not in ip=%s's subnet %s", gw, ip, o.addr.Masked())
		}
		o.gw = g
	}
	if haveDNS {
		for _, s := range strings.Split(dns, ",") {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return netOptions{}, fmt.Errorf("dns=%s: want comma-separated IP addresses, such as dns=10.0.2.3", dns)
			}
			o.dns = append(o.dns, a)
		}
		if len(o.dns) > maxNameservers {
			return netOptions{}, fmt.Errorf("dns=%s: at most %d servers (the resolver reads no more)", dns, maxNameservers)
		}
	}
	return o, nil
}

// maxNameservers is how many nameserver lines Go's resolver reads
// (net/dnsconfig_unix.go keeps three, as glibc does).
const maxNameservers = 3
