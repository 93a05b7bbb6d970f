//go:build !amd64

package telemetry

import "time"

var epoch = time.Now()

// HasRDTSCP is false off amd64; timestamps are nanoseconds.
func HasRDTSCP() bool { return false }

// Now returns nanoseconds since start (there is no TSC on this platform).
func Now() uint64 { return uint64(time.Since(epoch)) }

// NowCPU returns Now and CPU 0.
func NowCPU() (uint64, uint32) { return Now(), 0 }

func nowShard() (uint64, uint32) { return Now(), shardHint() }
