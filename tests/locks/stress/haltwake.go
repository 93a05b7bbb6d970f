package main

import (
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/kernel"
)

// checkHaltWake makes a waiter halt for the kernel lock and checks that
// the release wakes it at once, over n rounds. In each round a holder
// thread on CPU 0 keeps the lock for 5 ms (Velocity's crash call, kind
// 7); a waiter on CPU 1 asks for it as soon as the call says it holds it
// (a word the kernel sets), with the same call for 0 ns. The
// waiter spins for about 20 us and halts (vkSpinSleep); the holder's
// release sends it an IPI, so its call returns right after the holder's.
// A round counts when the lock's halt count grew during it (under a
// loaded host the waiter may arrive after the release and not wait at
// all); at least a quarter of the rounds must, and their median lateness
// (the waiter's return minus the holder's) must stay under 1 ms. A
// release that sent no IPI left the waiter halted until some other
// interrupt reached its CPU: the call did not come back.
func checkHaltWake(n int) bool {
	if runtime.NumCPU() < 2 {
		fmt.Println("STRESS haltwake FAIL: needs two CPUs")
		return false
	}
	type done struct {
		at  time.Time
		err error
	}
	var held uint32 // set by the holder's call once it has the lock
	call := func(cpu int, hold time.Duration, start <-chan struct{}, out chan<- done) {
		unpin, err := kernel.Pin(cpu)
		if err != nil {
			out <- done{err: fmt.Errorf("pin to CPU %d: %v", cpu, err)}
			return
		}
		defer unpin()
		for range start {
			flag := &held
			if hold == 0 {
				flag = nil
				waitHeld(&held)
			}
			if err := holdKernelLock(hold, flag); err != nil {
				out <- done{err: err}
				return
			}
			out <- done{at: time.Now()}
		}
	}
	halts := func() (uint64, error) {
		ls, err := kernel.Locks()
		for _, l := range ls {
			if l.Name == "kernel (BKL)" {
				return l.Halts, err
			}
		}
		return 0, fmt.Errorf("kernel.Locks: no kernel lock (%v)", err)
	}
	holdStart, waitStart := make(chan struct{}), make(chan struct{})
	holdDone, waitDone := make(chan done, 1), make(chan done, 1)
	go call(0, 5*time.Millisecond, holdStart, holdDone)
	go call(1, 0, waitStart, waitDone)
	defer close(holdStart)
	defer close(waitStart)
	var late []time.Duration
	for i := 0; i < n; i++ {
		h0, err := halts()
		if err != nil {
			fmt.Println("STRESS haltwake FAIL:", err)
			return false
		}
		atomic.StoreUint32(&held, 0)
		holdStart <- struct{}{}
		waitStart <- struct{}{}
		h, w := <-holdDone, <-waitDone
		if h.err != nil || w.err != nil {
			fmt.Println("STRESS haltwake FAIL:", h.err, w.err)
			return false
		}
		h1, err := halts()
		if err != nil {
			fmt.Println("STRESS haltwake FAIL:", err)
			return false
		}
		if h1 > h0 {
			late = append(late, w.at.Sub(h.at))
		}
	}
	if len(late) < (n+3)/4 {
		fmt.Printf("STRESS haltwake FAIL: the waiter halted in %d of %d rounds\n", len(late), n)
		return false
	}
	slices.Sort(late)
	median := late[len(late)/2]
	fmt.Printf("STRESS haltwake rounds=%d halted=%d median_late=%v worst_late=%v\n",
		n, len(late), median.Round(time.Microsecond), late[len(late)-1].Round(time.Microsecond))
	if median > time.Millisecond {
		fmt.Println("STRESS haltwake FAIL: a halted waiter was not woken by the release")
		return false
	}
	return true
}
