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
	"fmt"
	"os"
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
}
