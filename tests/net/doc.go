// Package net holds tests of the network as Go programs see it: the
// unmodified net and net/http packages over loopback, and the socket
// system calls' answers to bad arguments. They pass on Linux, and
// tests/netboot runs the same test binary inside the unikernel, where
// every socket call goes through the kernel to the netstack server.
package net
