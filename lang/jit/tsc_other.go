//go:build !(linux && amd64)

package jit

// Never called: BenchmarkTimestampFloor skips where Supported is false.
func rdtscpLoop(n int)      { panic("jit: no timestamp loop on this platform") }
func lfenceRdtscLoop(n int) { panic("jit: no timestamp loop on this platform") }
func rdtscLoop(n int)       { panic("jit: no timestamp loop on this platform") }
