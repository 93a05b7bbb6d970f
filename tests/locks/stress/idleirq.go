package main

import (
	"fmt"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// checkIdleIRQ makes Velocity's crash call, kind 6, n times. Each call
// takes two device interrupts in kernel code, on two MSI vectors this
// program reserved, after a 50 ms quiet spell that lets the runtime's
// threads fall asleep (any of them leaving the kernel would do the work).
// It does the first one's work (so devices look busy to the idle loop, as
// under network load), and then sleeps 500 ms in the kernel without doing
// the second one's, so only the idle CPU can do it: count the interrupt
// and wake the thread blocked reading the eventfd bound to that vector.
// The idle CPU must do so at once, not at the next interrupt; at -smp 1
// that next interrupt is the call's own wake-up, 500 ms later
// (runtime/vk_idlepoll.go). Each wake is timed from the call's start, so
// about 50 ms is the floor; a kernel that halts past the work takes
// about 550.
func checkIdleIRQ(n int) bool {
	var msi, busy [4]uint64 // address, data, handle, cpu
	for _, m := range []*[4]uint64{&msi, &busy} {
		if _, _, e := syscall.Syscall(0x5636, uintptr(unsafe.Pointer(m)), 0, 0); e != 0 {
			fmt.Println("STRESS idleirq FAIL: reserving an MSI vector:", e)
			return false
		}
	}
	efd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, 0, 0)
	if e != 0 {
		fmt.Println("STRESS idleirq FAIL: eventfd2:", e)
		return false
	}
	if _, _, e := syscall.Syscall(0x5638, uintptr(msi[2]), efd, 0); e != 0 {
		fmt.Println("STRESS idleirq FAIL: binding the eventfd:", e)
		return false
	}
	woke := make(chan time.Time, 4) // when each read returned
	go func() {
		runtime.LockOSThread()
		var b [8]byte
		for {
			if _, err := syscall.Read(int(efd), b[:]); err != nil {
				fmt.Println("STRESS idleirq FAIL: reading the eventfd:", err)
				close(woke)
				return
			}
			woke <- time.Now()
		}
	}()
	time.Sleep(50 * time.Millisecond) // the reader is asleep in read
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ok := true
	var worst time.Duration
	slow := 0
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, _, e := syscall.Syscall(0x5601, 6, uintptr(msi[2]), uintptr(busy[2])); e != 0 {
			fmt.Println("STRESS idleirq FAIL: crash call kind 6:", e)
			return false
		}
		at, alive := <-woke
		if !alive {
			return false
		}
		d := at.Sub(start)
		worst = max(worst, d)
		if d > 250*time.Millisecond {
			slow++
			ok = false
		}
	}
	fmt.Printf("STRESS idleirq calls=%d slow=%d worst=%v\n", n, slow, worst.Round(time.Millisecond))
	if !ok {
		fmt.Println("STRESS idleirq FAIL: the idle CPU left a device interrupt's work undone until a later interrupt")
	}
	return ok
}
