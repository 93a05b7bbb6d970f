package netstack

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestNetOptions(t *testing.T) {
	for _, c := range []struct {
		line string
		mode ipMode
		addr string
		gw   string
		dns  string
	}{
		{"", ipDHCP, "invalid Prefix", "invalid IP", ""},
		{"quiet ip=dhcp -- ip=off", ipDHCP, "invalid Prefix", "invalid IP", ""},
		{"ip=off\n", ipOff, "invalid Prefix", "invalid IP", ""},
		{"ip=10.0.3.1/24", ipStatic, "10.0.3.1/24", "invalid IP", ""},
		{`GODEBUG=x=1 "ip=10.0.3.1/24" gw=10.0.3.254 dns=1.1.1.1,::1 -- x`, ipStatic, "10.0.3.1/24", "10.0.3.254", "[1.1.1.1 ::1]"},
		{"dns=10.0.2.3", ipDHCP, "invalid Prefix", "invalid IP", "[10.0.2.3]"},
		{"ip=10.0.3.1/31", ipStatic, "10.0.3.1/31", "invalid IP", ""},
	} {
		o, err := parseNetOptions(c.line)
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		dns := ""
		if o.dns != nil {
			dns = fmt.Sprint(o.dns)
		}
		if o.mode != c.mode || o.addr.String() != c.addr || o.gw.String() != c.gw || dns != c.dns {
			t.Errorf("%q: got mode %d %s gw %s dns %s", c.line, o.mode, o.addr, o.gw, dns)
		}
	}
	for _, c := range []struct{ line, want string }{
		{"ip=10.0.3.1", "ip=10.0.3.1: want dhcp, off, or an IPv4 host address"},
		{"ip=fe80::1/64", "want dhcp, off"},
		{"ip=10.0.3.0/24", "want dhcp, off"},
		{"ip=10.0.3.1/0", "want dhcp, off"},
		{"ip=10.0.3.1/24 gw=10.9.9.9", "gw=10.9.9.9 is not in ip=10.0.3.1/24's subnet 10.0.3.0/24"},
		{"ip=10.0.3.1/24 gw=x", "gw=x: want an IPv4 address"},
		{"gw=10.0.2.2", "gw=10.0.2.2 needs a static address"},
		{"ip=dhcp ip=off", "ip= given twice"},
		{"dns=1.1.1.1,", "dns=1.1.1.1,: want comma-separated IP addresses"},
		{"dns=1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4", "at most 3 servers"},
		{`ip="10.0.3.1/24`, "unterminated double quote"},
	} {
		_, err := parseNetOptions(c.line)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.line, err, c.want)
		}
	}
}

// TestLeaseFromAck checks what the client takes from a server's ACK, and
// that it refuses answers it cannot use.
func TestLeaseFromAck(t *testing.T) {
	ack := func(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
			dhcpv4.WithYourIP(net.IPv4(10, 0, 2, 15))}, mods...)...)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	l, err := leaseFromAck(ack(
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.IPv4(10, 9, 9, 9), net.IPv4(10, 0, 2, 2)),
		dhcpv4.WithDNS(net.IPv4(10, 0, 2, 3)),
		dhcpv4.WithServerIP(net.IPv4(10, 0, 2, 2)),
		dhcpv4.WithLeaseTime(86400),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 2, 2))),
	))
	if err != nil {
		t.Fatal(err)
	}
	if l.String() != "10.0.2.15/24 via 10.0.2.2" || len(l.dns) != 1 || l.dns[0].String() != "10.0.2.3" ||
		l.server.String() != "10.0.2.2" || l.time != 24*time.Hour || l.renewal != 12*time.Hour {
		t.Errorf("lease %s dns %v server %v time %v renewal %v", l, l.dns, l.server, l.time, l.renewal)
	}
	// No mask: a /24 guess; no router: no default route.
	l, err = leaseFromAck(ack())
	if err != nil || l.String() != "10.0.2.15/24" {
		t.Errorf("bare ACK: %v %v", l, err)
	}
	if _, err := leaseFromAck(ack(dhcpv4.WithYourIP(net.IPv4zero))); err == nil {
		t.Error("0.0.0.0 accepted")
	}
	if _, err := leaseFromAck(ack(dhcpv4.WithNetmask(net.IPMask{255, 0, 255, 0}))); err == nil {
		t.Error("a non-prefix mask accepted")
	}
}

// FuzzNetOptions: any command line gives options or an error, and the
// options it gives are usable.
func FuzzNetOptions(f *testing.F) {
	for _, s := range []string{"", "ip=10.0.2.15/24 gw=10.0.2.2 dns=10.0.2.3", "ip=off", "ip=dhcp -- x", `"ip=1.2.3.4/8" quiet`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		o, err := parseNetOptions(line)
		if err != nil {
			return
		}
		if o.mode == ipStatic && (!o.addr.IsValid() || !o.addr.Addr().Is4()) {
			t.Fatalf("%q: static without an IPv4 address: %v", line, o.addr)
		}
		if o.gw.IsValid() && !o.addr.Masked().Contains(o.gw) {
			t.Fatalf("%q: gateway %v off subnet %v", line, o.gw, o.addr)
		}
		if len(o.dns) > maxNameservers {
			t.Fatalf("%q: %d servers", line, len(o.dns))
		}
	})
}
