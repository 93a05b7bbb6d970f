// Package netstack is Velocity's network: gVisor's TCP/IP stack behind the
// Linux socket system calls. The kernel (runtime/vk_net.go) forwards every
// socket call to the server here, so the unmodified net package, and
// everything built on it, works inside the unikernel.
//
// The build links this package into every binary that uses package net
// (internal/build, docs/net.md); programs never import it. Off Velocity
// (host tests) its init does nothing.
package netstack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// srv is the node's server, nil off Velocity.
var srv *Server

func init() {
	if !onVelocity() {
		return
	}
	events := newNDPEvents()
	st, err := newStackNDP(events)
	if err != nil {
		// Without attach the kernel answers socket calls itself, with
		// EAFNOSUPPORT, rather than queueing them for nobody.
		fmt.Fprintf(os.Stderr, "velocity: net: %v; sockets fail with EAFNOSUPPORT\n", err)
		return
	}
	srv = newServer(st, velocityKernel{})
	registerStackStats(st, srv)
	if bell := newDoorbell(); bell != nil {
		w, err := newEventfdWaiter(bell)
		if err == nil {
			if e := attach(int(bell.Fd())); e != 0 {
				err = e
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "velocity: net: the server's doorbell: %v; it blocks in the kernel instead\n", err)
			bell.Close()
		} else {
			srv.doorbell = w
		}
	}
	if srv.doorbell == nil {
		attach(-1)
	}
	go srv.serve()
	installDirect(srv)
	srv.mc.write = writeProcFile
	events.mu.Lock()
	events.addrsChanged = srv.writeGroups
	events.mu.Unlock()
	// The card is configured before main runs, as Linux's ip= does before
	// init starts: a program's first connection must not race DHCP. This
	// waits at most the DHCP timeout, and not at all without a card.
	startNIC(st)
	srv.writeGroups() // loopback's groups, and the card's
}

// startNIC looks for a network card and, when there is one, puts it on
// the stack as NIC 2, configured as the command line says (config.go):
// DHCP by default. Every outcome is one line on the console, and a card
// that cannot be configured leaves the node with loopback only.
func startNIC(st *stack.Stack) {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		fmt.Fprintf(os.Stderr, "velocity: net: %v; the card stays down\n", err)
		return
	}
	opts, err := parseNetOptions(string(cmdline))
	if err != nil {
		fmt.Fprintf(os.Stderr, "velocity: net: %v; the card stays down\n", err)
		return
	}
	nic, err := probeVirtioNet()
	if err != nil {
		fmt.Fprintf(os.Stderr, "velocity: net: %v; loopback only\n", err)
		return
	}
	if nic == nil {
		fmt.Fprintf(os.Stderr, "velocity: net: no network card; loopback only\n")
		return
	}
	if opts.mode == ipOff {
		fmt.Fprintf(os.Stderr, "velocity: net: virtio-net %s stays down (ip=off); loopback only\n", nic.mac)
		return
	}
	if len(opts.dns) > 0 {
		// Before the card can hear a router advertisement: dns= is all
		// the file ever names.
		nodeNameServers.setStatic(opts.dns)
	}
	card := nic.linkEndpoint()
	if err := st.CreateNICWithOptions(nicID, card, stack.NICOptions{Name: nicName, Disabled: true, QDisc: newQDisc(card)}); err != nil {
		fmt.Fprintf(os.Stderr, "velocity: net: network card: %v\n", err)
		return
	}
	if err := startIPv6(st, nicID); err != nil {
		fmt.Fprintf(os.Stderr, "velocity: net: network card: %v\n", err)
		return
	}
	nic.inline, _ = st.TransportProtocolInstance(tcp.ProtocolNumber).(tcpInline)
	go nic.run(context.Background())
	link := "up"
	if !nic.linkUp {
		link = "down"
	}
	// The probe line said how it interrupts.
	desc := fmt.Sprintf("virtio-net %s link %s, %s", nic.mac, link, header.LinkLocalAddr(nic.mac))
	var dhcpDNS []netip.Addr
	switch opts.mode {
	case ipStatic:
		if err := configureNIC(st, nicID, opts.addr, opts.gw); err != nil {
			fmt.Fprintf(os.Stderr, "velocity: net: %s: %v\n", desc, err)
			return
		}
		via := "no gateway"
		if opts.gw.IsValid() {
			via = "via " + opts.gw.String()
		}
		fmt.Fprintf(os.Stderr, "velocity: net: %s, %s %s (static, ip=)\n", desc, opts.addr, via)
	case ipDHCP:
		mac := net.HardwareAddr(nic.mac)
		start := time.Now()
		l, err := dhcpAcquire(context.Background(), st, nicID, mac)
		if err != nil {
			fmt.Fprintf(os.Stderr, "velocity: net: %s: %v; the card stays unconfigured (for a static address boot with ip=A.B.C.D/N gw=A.B.C.D)\n", desc, err)
			return
		}
		if err := configureNIC(st, nicID, l.addr, l.router); err != nil {
			fmt.Fprintf(os.Stderr, "velocity: net: %s: %v\n", desc, err)
			return
		}
		fmt.Fprintf(os.Stderr, "velocity: net: %s, %s (DHCP from %s in %d ms, lease %s)\n",
			desc, l, l.server, time.Since(start).Milliseconds(), l.time)
		dhcpDNS = l.dns
		go keepLease(st, nicID, mac, l)
	}
	if len(opts.dns) == 0 {
		nodeNameServers.setDHCP(dhcpDNS)
	}
}

// nodeNameServers writes the kernel's /etc/resolv.conf (resolv.go).
var nodeNameServers = newNameServers(setResolvConf, consoleLine)

// consoleLine writes a line the stack reports to the console.
func consoleLine(format string, args ...any) { fmt.Fprintf(os.Stderr, format, args...) }

// keepLease renews the lease at its renewal time. When the server stops
// answering the address is kept until the lease runs out, then dropped,
// with a line on the console either way.
func keepLease(st *stack.Stack, nic tcpip.NICID, mac net.HardwareAddr, l *lease) {
	expiry := time.Now().Add(l.time)
	wait := l.renewal
	for {
		time.Sleep(wait)
		nl, err := dhcpRenew(context.Background(), st, nic, mac, l)
		if err == nil && nl.addr == l.addr {
			l, expiry, wait = nl, time.Now().Add(nl.time), nl.renewal
			nodeNameServers.setDHCP(l.dns) // the server may name others now
			continue
		}
		if err == nil {
			err = fmt.Errorf("the server moved the card to %s", nl.addr)
		}
		left := time.Until(expiry)
		if left > time.Minute && err != nil && nl == nil {
			fmt.Fprintf(os.Stderr, "velocity: net: DHCP renewal of %s: %v; retrying, %s of the lease left\n", l.addr, err, left.Round(time.Second))
			wait = left / 2
			continue
		}
		st.RemoveAddress(nic, tcpip.AddrFrom4(l.addr.Addr().As4()))
		nodeNameServers.setDHCP(nil)
		fmt.Fprintf(os.Stderr, "velocity: net: DHCP lease of %s ended: %v; the card is unconfigured\n", l.addr, err)
		return
	}
}

// setResolvConf replaces the kernel's /etc/resolv.conf (vkSysNetResolv).
func setResolvConf(text string) error {
	err := writeProcFile(fileResolv, text)
	if err == syscall.EPERM {
		return fmt.Errorf("the image carries its own; left as it is")
	}
	return err
}
