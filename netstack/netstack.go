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
	"os"

	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// srv is the node's server, nil off Velocity.
var srv *Server

func init() {
	if !onVelocity() {
		return
	}
	st, err := newStack()
	if err != nil {
		// Without attach the kernel answers socket calls itself, with
		// EAFNOSUPPORT, rather than queueing them for nobody.
		fmt.Fprintf(os.Stderr, "velocity: net: %v; sockets fail with EAFNOSUPPORT\n", err)
		return
	}
	srv = newServer(st, velocityKernel{})
	attach()
	go srv.serve()
	go startNIC(st)
}

// startNIC looks for a network card and, when there is one, puts it on
// the stack as NIC 2 with the address from VELOCITY_IP (CIDR, default
// 10.0.2.15/24) and the default route via VELOCITY_GW (default 10.0.2.2):
// QEMU user networking's addresses. There is no DHCP client yet.
func startNIC(st *stack.Stack) {
	nic, err := probeVirtioNet()
	if err != nil {
		fmt.Fprintf(os.Stderr, "velocity: net: %v; loopback only\n", err)
		return
	}
	if nic == nil {
		fmt.Fprintf(os.Stderr, "velocity: net: no network card; loopback only\n")
		return
	}
	cfg, err := parseNetConfig(os.Getenv("VELOCITY_IP"), os.Getenv("VELOCITY_GW"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "velocity: net: %v; the card stays down\n", err)
		return
	}
	if err := addNIC(st, nicID, nic.linkEndpoint(), cfg); err != nil {
		fmt.Fprintf(os.Stderr, "velocity: net: %v\n", err)
		return
	}
	link := "up"
	if !nic.linkUp {
		link = "down"
	}
	fmt.Fprintf(os.Stderr, "velocity: net: virtio-net %s irq %d link %s, %s via %s (static; no DHCP client yet)\n",
		nic.mac, nic.irq, link, cfg.addr, cfg.gw)
	nic.run(context.Background())
}
