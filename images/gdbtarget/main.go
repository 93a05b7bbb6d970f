// Command gdbtarget is the program the gdb stub tests (tests/gdb) debug:
// it calls a function to break on, prints a global that gdb changes
// while it is stopped, and writes another global to trigger a
// watchpoint. On its own it prints the original values and exits 0.
// With -loop it spins until a debugger sets Magic to 0. With -tick it
// sleeps a millisecond at a time and prints a line every 100 sleeps, 40
// lines in all, so that a test can see the kernel's timers still fire.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

// Magic is read and written by gdb (x/8xb, print, set var).
var Magic uint64 = 0x1122334455667788

// Watched is written once, after Checkpoint, for a watchpoint.
var Watched int64

// Ticks counts the other CPUs' loops: while gdb has the machine stopped
// it must not move (tests/gdb reads it twice, apart).
var Ticks atomic.Uint64

// Checkpoint is where the test breaks.
//
//go:noinline
func Checkpoint(n int) int {
	return n*2 + 1
}

func main() {
	fmt.Printf("gdbtarget: start on %d CPU\n", runtime.NumCPU())
	if len(os.Args) > 1 && os.Args[1] == "-loop" {
		// Runs until a debugger clears Magic (after stopping the kernel
		// with Ctrl-C), for at most a minute.
		fmt.Println("gdbtarget: looping")
		for end := time.Now().Add(time.Minute); atomic.LoadUint64(&Magic) != 0; {
			if time.Now().After(end) {
				fmt.Println("gdbtarget: nobody cleared Magic")
				os.Exit(1)
			}
			time.Sleep(time.Millisecond)
		}
		fmt.Println("gdbtarget: released")
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "-tick" {
		for i := 1; i <= 4000; i++ {
			time.Sleep(time.Millisecond)
			if i%100 == 0 {
				fmt.Printf("gdbtarget: tick %d\n", i/100)
			}
		}
		os.Exit(0)
	}
	// Keep the other CPUs busy so "info threads" finds Go code there too.
	stop := make(chan struct{})
	for i := 1; i < runtime.NumCPU(); i++ {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
					Ticks.Add(1)
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	for runtime.NumCPU() > 1 && Ticks.Load() == 0 {
		runtime.Gosched() // the other CPUs' loops have started
	}
	r := Checkpoint(20)
	Watched = int64(r) + 100
	close(stop)
	fmt.Printf("gdbtarget: checkpoint=%d magic=%#x watched=%d\n", r, Magic, Watched)
	os.Exit(0)
}
