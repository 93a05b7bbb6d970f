// Package semantics holds tests of Go's own semantics (goroutines,
// channels, timers, the garbage collector, panics, faults). They pass on
// Linux, and `velocity test ./tests/semantics` runs the very same test
// binary inside the unikernel, which is what they are for: each one
// exercises a kernel mechanism the runtime depends on.
package semantics
