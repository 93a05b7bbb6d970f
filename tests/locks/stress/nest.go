package main

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"
)

// checkNest makes Velocity's crash call, kind 5, n times from every CPU at
// once. Each call raises a software interrupt from kernel code whose
// handler waits with interrupts on until a timer tick lands inside it,
// as a kernel page fault spinning for a lock may. Every vector enters on
// the CPU's IST1 stack, so that tick would start over the handler's frame
// if the handler were still on IST1; the call returns 0 only if the
// registers the handler saved came back unchanged (EAGAIN: no tick came
// within 50 ms, EIO: a register changed). A kernel that gets this wrong
// usually does not return at all: the handler returns through the
// tick's frame.
func checkNest(n int) bool {
	procs := runtime.GOMAXPROCS(0)
	var mu sync.Mutex
	counts := map[syscall.Errno]int{}
	var wg sync.WaitGroup
	for p := 0; p < procs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for i := 0; i < n; i++ {
				_, _, errno := syscall.RawSyscall(0x5601, 5, 0, 0)
				mu.Lock()
				counts[errno]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	ok := counts[0] == n*procs
	fmt.Printf("STRESS nest calls=%d nested=%d no_tick=%d changed=%d other=%d\n", n*procs, counts[0],
		counts[syscall.EAGAIN], counts[syscall.EIO], n*procs-counts[0]-counts[syscall.EAGAIN]-counts[syscall.EIO])
	if !ok {
		fmt.Println("STRESS nest FAIL: not every trap took a tick and came back whole")
	}
	return ok
}
