//go:build velocity

// Velocity kernel: where getrandom's bytes come from (vkRandom64 in
// vk_syscall.go). RDSEED, the CPU's conditioned entropy source, where the
// CPU has it; RDRAND, a DRBG the CPU reseeds from that source, when RDSEED
// is missing or momentarily drained; and only on CPUs with neither, TSC
// jitter, which is not fit for keys. That last case is announced at boot
// on the console, even with quiet, since programs cannot tell otherwise.

package runtime

func vkRdseed() (v uint64, ok bool) // vk_random_amd64.s

// Where vkRandom64's words come from.
const (
	vkRandRdseed = 1
	vkRandRdrand = 2
	vkRandJitter = 3
)

// vkRandSource is the best source this CPU offers (set at boot).
var vkRandSource uint32

// vkRandomInit picks the source and warns loudly about a weak one.
func vkRandomInit() {
	switch {
	case vkHasRdseed:
		vkRandSource = vkRandRdseed
	case vkHasRdrand:
		vkRandSource = vkRandRdrand
	default:
		vkRandSource = vkRandJitter
		vkPrint("velocity: WARNING: this CPU has neither RDSEED nor RDRAND: getrandom, /dev/urandom and\n")
		vkPrint("velocity: WARNING: AT_RANDOM fall back to TSC jitter, which is WEAK: do not make keys here\n")
	}
}
