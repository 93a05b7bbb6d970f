package main

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// holdKernelLock makes Velocity's crash call kind 7: the calling thread
// takes the kernel lock, keeps it for d (0: gives it back at once), and
// sets *held, when held is not nil, once it has it. The checks that need
// one CPU holding the lock while another acts (haltwake, dyingclose)
// share it.
func holdKernelLock(d time.Duration, held *uint32) error {
	if _, _, e := syscall.Syscall(0x5601, 7, uintptr(d), uintptr(unsafe.Pointer(held))); e != 0 {
		return fmt.Errorf("crash call kind 7 (%v): %v", d, e)
	}
	return nil
}

// waitHeld spins until a holdKernelLock on another CPU has set *held, for
// at most a second, so that what follows finds the lock held.
func waitHeld(held *uint32) {
	for deadline := time.Now().Add(time.Second); atomic.LoadUint32(held) == 0 && time.Now().Before(deadline); {
	}
}
