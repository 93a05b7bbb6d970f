// Command pinning checks CPU placement on a machine booted with the kernel
// option reserve=CPU: unpinned work stays off the reserved CPU, and work
// pinned there with kernel.Pin runs there. It prints one line per check and
// exits 1 if any fails. tests/boot boots it with -smp 2 reserve=1, and
// with reserve=0 and the argument -none, where nothing may be reserved.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/velocityos/velocity/kernel"
)

func main() {
	in, err := kernel.ReadInfo()
	if err != nil {
		fmt.Println("pinning:", err)
		os.Exit(1)
	}
	failed := false
	check := func(ok bool, format string, args ...any) {
		status := "ok  "
		if !ok {
			status, failed = "FAIL", true
		}
		fmt.Printf("pinning: %s "+format+"\n", append([]any{status}, args...)...)
	}
	if len(os.Args) > 1 && os.Args[1] == "-none" {
		// Booted with reserve= naming only CPU 0, which is never
		// reserved: nothing may be reserved, and Go sees every CPU.
		check(in.Reserved == 0, "CPUs %d, reserved mask %#x", in.CPUs, in.Reserved)
		check(runtime.NumCPU() == in.CPUs, "runtime.NumCPU() = %d counts every CPU", runtime.NumCPU())
		if failed {
			os.Exit(1)
		}
		fmt.Println("pinning: all checks passed")
		return
	}
	reserved := -1
	for i := 0; i < in.CPUs; i++ {
		if in.Reserved&(1<<i) != 0 {
			reserved = i
		}
	}
	check(reserved > 0, "CPUs %d, reserved mask %#x", in.CPUs, in.Reserved)
	check(runtime.NumCPU() == in.CPUs-1, "runtime.NumCPU() = %d leaves the reserved CPU out", runtime.NumCPU())

	// Unpinned goroutines, busy for a while, must never be seen on it.
	seen := make([]int, in.CPUs)
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(300 * time.Millisecond)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if cpu, err := kernel.CurrentCPU(); err == nil {
					mu.Lock()
					seen[cpu]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	check(reserved < 0 || seen[reserved] == 0, "unpinned work per CPU: %v", seen)

	// Pinned work runs on the reserved CPU.
	unpin, err := kernel.Pin(reserved)
	check(err == nil, "pin to CPU %d: %v", reserved, err)
	if err == nil {
		on := map[int]int{}
		for i := 0; i < 1000; i++ {
			cpu, _ := kernel.CurrentCPU()
			on[cpu]++
			if i%100 == 0 {
				runtime.Gosched()
			}
		}
		check(on[reserved] == 1000, "pinned work per CPU: %v", on)
		check(unpin() == nil, "unpin")
	}
	if failed {
		os.Exit(1)
	}
	fmt.Println("pinning: all checks passed")
}
