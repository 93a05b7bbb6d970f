//go:build amd64

package telemetry

func rdtscp() (tsc uint64, aux uint32)
func rdtscFenced() uint64
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// hasRDTSCP is CPUID.80000001H:EDX[27].
var hasRDTSCP = func() bool {
	max, _, _, _ := cpuid(0x80000000, 0)
	if max < 0x80000001 {
		return false
	}
	_, _, _, d := cpuid(0x80000001, 0)
	return d&(1<<27) != 0
}()

// HasRDTSCP reports whether the CPU has RDTSCP. JIT instrumentation
// emits RDTSCP when it does and LFENCE;RDTSC otherwise.
func HasRDTSCP() bool { return hasRDTSCP }

// Now returns the time stamp counter. Start timestamps do not need the
// CPU number; RDTSCP is used because it does not run ahead of earlier
// instructions.
func Now() uint64 {
	if hasRDTSCP {
		t, _ := rdtscp()
		return t
	}
	return rdtscFenced()
}

// NowCPU returns the time stamp counter and the number of the CPU that
// read it (IA32_TSC_AUX, which Velocity and Linux set to the CPU number).
// Without RDTSCP it is LFENCE;RDTSC and getcpu(2).
func NowCPU() (uint64, uint32) {
	if hasRDTSCP {
		t, aux := rdtscp()
		return t, aux & 0xfff // Linux keeps the NUMA node in bits 12+
	}
	return rdtscFenced(), getcpu()
}

// nowShard is the hot-path variant: the TSC and a shard index, the CPU
// number from TSC_AUX when RDTSCP exists, else the Go P number.
func nowShard() (uint64, uint32) {
	if hasRDTSCP {
		t, aux := rdtscp()
		return t, aux & 0xfff
	}
	return rdtscFenced(), shardHint()
}
