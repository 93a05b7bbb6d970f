// Package earlysock opens a socket while it initialises, from a
// package-level variable, as some programs' dependencies do (a metrics
// exporter that listens, a client that dials). Its import path sorts
// before the network stack's packages, which is what once made such a
// socket fail with EAFNOSUPPORT inside Velocity: Go initialises, among
// the packages whose imports are done, the one whose path sorts first.
// tests/net's TestSocketDuringDependencyInit checks the listener.
package earlysock

import "net"

// Listener is a TCP listener on loopback that package initialisation
// opened, and Err what net.Listen returned.
var Listener, Err = net.Listen("tcp", "127.0.0.1:0")
