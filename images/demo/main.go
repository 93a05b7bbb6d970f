// Command demo is the program `make run` boots: a boot banner, a few
// seconds of live kernel and runtime statistics while a parallel workload
// runs, and a clean exit. It runs on a Linux host too, with the runtime's
// statistics only.
//
// Usage: demo [-seconds N]
package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/kernel"
)

func main() {
	sincePowerOn := kernel.SincePowerOn() // first thing: boot time to main
	seconds := flag.Int("seconds", 5, "how long to show the live summary")
	flag.Parse()

	info, err := kernel.ReadInfo()
	switch {
	case errors.Is(err, kernel.ErrNotVelocity):
		fmt.Println("demo: not running on Velocity (a Linux host?): kernel statistics are not available")
	case err != nil:
		fmt.Println("demo: kernel.ReadInfo:", err)
		os.Exit(1)
	default:
		fmt.Printf("demo: %d CPU, %d MiB RAM (%d MiB free), image %.1f MiB, main reached %.1f ms after power-on (%.1f ms after BOOT_ND.BIN started)\n",
			info.CPUs, info.MemTotal>>20, info.MemFree>>20, float64(info.ImageBytes)/(1<<20),
			ms(sincePowerOn), ms(sincePowerOn-info.StubEntry))
	}

	// The workload: every CPU hashes and allocates until told to stop.
	var stop atomic.Bool
	var hashed atomic.Int64
	var wg sync.WaitGroup
	workers := 2 * runtime.NumCPU()
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for !stop.Load() {
				sum := sha256.Sum256(buf)
				buf = append(make([]byte, 0, len(buf)), buf...) // garbage for the GC
				buf[0] = sum[0]
				hashed.Add(int64(len(buf)))
			}
		})
	}

	// Background work pinned to the last CPU, as the seed layout puts
	// inference there; the summary shows where each kind of work ran.
	if n := runtime.NumCPU(); n > 1 && kernel.OnVelocity() {
		wg.Go(func() {
			unpin, err := kernel.Pin(n - 1)
			if err != nil {
				fmt.Println("demo: pin:", err)
				return
			}
			defer unpin()
			cpu, _ := kernel.CurrentCPU()
			fmt.Printf("demo: background task pinned to CPU %d\n", cpu)
			buf := make([]byte, 4096)
			for !stop.Load() {
				sha256.Sum256(buf)
			}
		})
	}

	start := time.Now()
	for i := 1; i <= *seconds; i++ {
		time.Sleep(time.Second)
		summary(i)
	}
	stop.Store(true)
	wg.Wait()
	mb := float64(hashed.Load()) / (1 << 20)
	fmt.Printf("demo: %d goroutines hashed %.0f MiB with SHA-256 in %.1f s (%.1f MiB/s); done\n",
		workers, mb, time.Since(start).Seconds(), mb/time.Since(start).Seconds())
}

// summary prints one line of live statistics.
func summary(second int) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	line := fmt.Sprintf("demo: t=%ds goroutines %d, heap %.1f MiB, GCs %d", second,
		runtime.NumGoroutine(), float64(m.HeapAlloc)/(1<<20), m.NumGC)
	if info, err := kernel.ReadInfo(); err == nil {
		line += fmt.Sprintf(", page faults %d, syscalls %d, context switches %d, resident %.1f MiB",
			info.PageFaults, info.Syscalls, info.Switches, float64(info.Resident)/(1<<20))
		cpu, _ := kernel.CurrentCPU()
		line += fmt.Sprintf("\ndemo:   main on CPU %d; busy per CPU:", cpu)
		for i, c := range info.PerCPU {
			line += fmt.Sprintf(" cpu%d %.1fs", i, c.Busy.Seconds())
		}
	}
	fmt.Println(line)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
