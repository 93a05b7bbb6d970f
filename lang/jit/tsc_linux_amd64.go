package jit

// Implemented in tsc_amd64.s; used only by BenchmarkTimestampFloor.
func rdtscpLoop(n int)
func lfenceRdtscLoop(n int)
func rdtscLoop(n int)
