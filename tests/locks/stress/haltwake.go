package main

import (
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"time"
	"unsafe"

	"github.com/velocityos/velocity/kernel"
)

// checkHaltWake makes a waiter halt for the kernel lock and checks that
// the release wakes it at once, n times. In each round a holder thread
// on CPU 0 keeps the lock for 5 ms (Velocity's crash call, kind 7); a
// waiter on CPU 1 asks for it 1 ms in (the same call, 0 ns). The waiter
// spins for about 20 us and halts (vkSpinSleep); the holder's release
// sends it an IPI. Its call must return right after the holder's: the
// median lateness across rounds stays under 1 ms. A release that sent no
// IPI left the waiter halted until some other interrupt reached its CPU
// (a timer, milliseconds later). The kernel's halt count for the lock
// must also have grown by at least n, or the rounds never halted at all.
func checkHaltWake(n int) bool {
	if runtime.NumCPU() < 2 {
		fmt.Println("STRESS haltwake FAIL: needs two CPUs")
		return false
	}
	before, err := kernel.Locks()
	if err != nil {
		fmt.Println("STRESS haltwake FAIL: kernel.Locks:", err)
		return false
	}
	type done struct {
		at  time.Time
		err error
	}
	call := func(cpu int, hold time.Duration, start <-chan struct{}, out chan<- done) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		mask := uint64(1) << cpu
		if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, 8, uintptr(unsafe.Pointer(&mask))); e != 0 {
			out <- done{err: fmt.Errorf("sched_setaffinity to CPU %d: %v", cpu, e)}
			return
		}
		for range start {
			if _, _, e := syscall.Syscall(0x5601, 7, uintptr(hold), 0); e != 0 {
				out <- done{err: fmt.Errorf("crash call kind 7 (%v): %v", hold, e)}
				return
			}
			out <- done{at: time.Now()}
		}
	}
	holdStart, waitStart := make(chan struct{}), make(chan struct{})
	holdDone, waitDone := make(chan done, 1), make(chan done, 1)
	go call(0, 5*time.Millisecond, holdStart, holdDone)
	go call(1, 0, waitStart, waitDone)
	defer close(holdStart)
	defer close(waitStart)
	var late []time.Duration
	for i := 0; i < n; i++ {
		holdStart <- struct{}{}
		time.Sleep(time.Millisecond)
		waitStart <- struct{}{}
		h, w := <-holdDone, <-waitDone
		if h.err != nil || w.err != nil {
			fmt.Println("STRESS haltwake FAIL:", h.err, w.err)
			return false
		}
		late = append(late, w.at.Sub(h.at))
	}
	after, err := kernel.Locks()
	if err != nil {
		fmt.Println("STRESS haltwake FAIL: kernel.Locks:", err)
		return false
	}
	var halts uint64
	for _, l := range kernel.LocksDelta(before, after) {
		if l.Name == "kernel (BKL)" {
			halts = l.Halts
		}
	}
	slices.Sort(late)
	median := late[len(late)/2]
	fmt.Printf("STRESS haltwake rounds=%d halts=%d median_late=%v worst_late=%v\n",
		n, halts, median.Round(time.Microsecond), late[len(late)-1].Round(time.Microsecond))
	ok := true
	if halts < uint64(n) {
		fmt.Println("STRESS haltwake FAIL: the waiter did not halt in every round")
		ok = false
	}
	if median > time.Millisecond {
		fmt.Println("STRESS haltwake FAIL: a halted waiter was not woken by the release")
		ok = false
	}
	return ok
}
