package qemu

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Net is the guest's network card: a virtio-net-pci device (legacy,
// modern or transitional; see Virtio) on one
// QEMU back end. Every back end here keeps traffic on this machine: user
// networking always runs with restrict=on, so the guest reaches nothing
// but the forwarded ports, and its forwards bind 127.0.0.1; guest-to-guest
// links are TCP streams on 127.0.0.1. Multicast sockets are never used.
type Net struct {
	// User selects QEMU user networking (the guest is 10.0.2.15, the host
	// 10.0.2.2). Forwards imply it.
	User bool
	// Forwards are "tcp:HOSTPORT-:GUESTPORT" (or udp:), optionally with
	// 127.0.0.1 as the host address; any other host address is refused.
	Forwards []string
	// Listen or Connect make a guest-to-guest link: one guest listens on
	// 127.0.0.1:Listen, the other connects to 127.0.0.1:Connect once the
	// first is up.
	Listen, Connect int
	// Tap is the name of a tap device to use as the back end, with
	// virtio-net headers (vnet_hdr=on), so QEMU offers the guest
	// checksum and segmentation offloads. The caller creates it, in a
	// network namespace of its own that it runs QEMU in (bench/netbench
	// -net tap), so the traffic stays in that namespace.
	Tap string
	// Virtio picks the card's PCI interfaces: "" or "transitional" is a
	// transitional device with both (the driver picks modern), "legacy"
	// one with only the legacy interface (disable-modern=on), "modern" a
	// virtio 1.x-only device (0x1041, disable-legacy=on).
	Virtio string
}

// ConnectMAC is the card's MAC address on the connecting end of a
// guest-to-guest link; the listening end keeps QEMU's 52:54:00:12:34:56.
const ConnectMAC = "52:54:00:12:34:57"

// Enabled reports whether the guest gets a card.
func (n Net) Enabled() bool {
	return n.User || len(n.Forwards) > 0 || n.Listen != 0 || n.Connect != 0 || n.Tap != ""
}

// ParseForward checks a forward and pins its host side to 127.0.0.1.
func ParseForward(f string) (string, error) {
	proto, rest, ok := strings.Cut(f, ":")
	if !ok || (proto != "tcp" && proto != "udp") {
		return "", fmt.Errorf("forward %q: want tcp:HOSTPORT-:GUESTPORT", f)
	}
	host, guest, ok := strings.Cut(rest, "-")
	if !ok {
		return "", fmt.Errorf("forward %q: want tcp:HOSTPORT-:GUESTPORT", f)
	}
	if i := strings.LastIndex(host, ":"); i >= 0 {
		if addr := host[:i]; addr != "" && addr != "127.0.0.1" {
			return "", fmt.Errorf("forward %q: the host side must be 127.0.0.1 (traffic stays on this machine)", f)
		}
		host = host[i+1:]
	}
	gaddr, gport, ok := strings.Cut(guest, ":")
	if !ok {
		gaddr, gport = "", guest
	}
	for _, p := range []string{host, gport} {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("forward %q: bad port %q", f, p)
		}
	}
	if gaddr != "" && net.ParseIP(gaddr) == nil {
		return "", fmt.Errorf("forward %q: bad guest address %q", f, gaddr)
	}
	return proto + ":127.0.0.1:" + host + "-" + gaddr + ":" + gport, nil
}

// Args are the QEMU arguments for n.
func (n Net) Args() ([]string, error) {
	if !n.Enabled() {
		return nil, nil
	}
	links := 0
	for _, v := range []bool{n.User || len(n.Forwards) > 0, n.Listen != 0, n.Connect != 0, n.Tap != ""} {
		if v {
			links++
		}
	}
	if links > 1 {
		return nil, fmt.Errorf("network: one back end per guest (user networking, -net listen, -net connect or a tap device)")
	}
	var netdev string
	switch {
	case n.Tap != "":
		if !validIfName(n.Tap) {
			return nil, fmt.Errorf("network: bad tap device name %q", n.Tap)
		}
		netdev = "tap,id=net0,ifname=" + n.Tap + ",script=no,downscript=no,vnet_hdr=on"
	case n.Listen != 0 || n.Connect != 0:
		port, server := n.Listen, "on"
		if n.Connect != 0 {
			port, server = n.Connect, "off"
		}
		if port < 1 || port > 65535 {
			return nil, fmt.Errorf("network: bad port %d", port)
		}
		// QEMU 7.2's stream back end cannot reconnect: start the
		// listening guest first.
		netdev = fmt.Sprintf("stream,id=net0,server=%s,addr.type=inet,addr.host=127.0.0.1,addr.port=%d", server, port)
	default:
		netdev = "user,id=net0,restrict=on"
		for _, f := range n.Forwards {
			fw, err := ParseForward(f)
			if err != nil {
				return nil, err
			}
			netdev += ",hostfwd=" + fw
		}
	}
	dev := "virtio-net-pci,netdev=net0"
	if n.Connect != 0 {
		// The two ends of a link need addresses of their own: QEMU
		// gives every card 52:54:00:12:34:56, and IPv6 derives the
		// link-local address from it (the two would collide).
		dev += ",mac=" + ConnectMAC
	}
	switch n.Virtio {
	case "legacy":
		dev += ",disable-modern=on"
	case "modern":
		dev += ",disable-legacy=on"
	case "", "transitional":
	default:
		return nil, fmt.Errorf("network: virtio interface %q: want legacy, modern or transitional", n.Virtio)
	}
	return []string{"-netdev", netdev, "-device", dev}, nil
}

// validIfName reports whether name can be a Linux interface name (at most
// 15 bytes) that QEMU's option syntax takes as it is: letters, digits,
// '-', '_' and '.'.
func validIfName(name string) bool {
	if name == "" || len(name) > 15 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
