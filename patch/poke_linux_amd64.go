package patch

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/velocityos/velocity/kernel"
)

// onVelocity tells, once, whether the program runs on the Velocity kernel
// (the same binary runs on a Linux host).
var onVelocity = sync.OnceValue(kernel.OnVelocity)

// encode returns the bytes that make site s jump to target.
func encode(s *site, target uintptr) ([Len]byte, error) {
	if onVelocity() {
		// The kernel refuses (EBUSY) while any thread is stopped inside
		// the range, so instruction boundaries in it are no hazard.
		return jmpRel32(s.entry, target)
	}
	return hostEncode(s, target)
}

// busyTimeout bounds the retries of a kernel patch refused because a
// thread was stopped inside the patch range: such a thread runs on within
// a time slice.
const busyTimeout = 10 * time.Second

// poke rewrites the five bytes at s.entry with b. emulate is where a thread
// that meets the site in the middle of the rewrite continues.
func poke(s *site, b [Len]byte, emulate uintptr) error {
	if !onVelocity() {
		return hostPoke(s.entry, b)
	}
	deadline := time.Now().Add(busyTimeout)
	for {
		err := kernel.PokeText(s.entry, b, emulate)
		if !errors.Is(err, kernel.ErrPatchBusy) {
			if err != nil {
				return fmt.Errorf("patch: %s: %w", s.name, err)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("patch: %s: a thread stayed stopped inside the patch range for %v: %w", s.name, busyTimeout, err)
		}
		runtime.Gosched() // let the thread that is in the range move on
	}
}
