package telemetry

import _ "unsafe" // go:linkname

// Without RDTSCP there is no cheap CPU number (getcpu(2) is a system
// call: about 2.4 µs on a KVM guest without a vDSO fast path), so the
// shard is the goroutine's P (the Go scheduler's processor), read while
// pinned to it. One P runs on one thread at a time, so shards stay
// uncontended exactly as per-CPU shards do.

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

func shardHint() uint32 {
	p := procPin()
	procUnpin()
	return uint32(p)
}
