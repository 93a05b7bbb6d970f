// Command profburn is the program TestProfiler boots: it keeps every CPU
// busy in burn, a function that does nothing else, profiles the machine
// with the kernel's sampling profiler and prints the pprof file on serial
// (base64 between PPROF BEGIN and PPROF END lines) with the profiler's
// counters, so the test on the host can parse it.
//
// Usage: profburn [-hz N] [-seconds S]
package main

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/kernel"
)

var sink atomic.Uint64

// burn spins on integer arithmetic until stop is set; noinline so the
// profile names it.
//
//go:noinline
func burn(stop *atomic.Bool) {
	x := uint64(1)
	for !stop.Load() {
		for i := 0; i < 1000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink.Add(x)
}

func main() {
	hz := flag.Int("hz", 1000, "sampling rate per CPU")
	secs := flag.Float64("seconds", 1, "how long to profile")
	flag.Parse()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for cpu := range runtime.NumCPU() {
		wg.Go(func() {
			unpin, err := kernel.Pin(cpu)
			if err != nil {
				fmt.Println("profburn: pin:", err)
				return
			}
			defer unpin()
			burn(&stop)
		})
	}
	p, err := kernel.ProfileCPU(time.Duration(*secs*float64(time.Second)), *hz)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		fmt.Println("profburn:", err)
		os.Exit(1)
	}
	st := p.Stats
	idle := uint64(0)
	for _, c := range st.PerCPU {
		idle += c.Idle
	}
	fmt.Printf("PROFSTATS samples=%d read=%d lost=%d idle=%d hz=%d duration_ms=%d sample_ns=%d cpus=%v\n",
		st.Samples(), len(p.Samples), st.Lost(), idle, p.Hz, p.Duration.Milliseconds(), st.SampleCost().Nanoseconds(), p.CPUs())
	p.WriteTop(os.Stdout, 8)
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		fmt.Println("profburn:", err)
		os.Exit(1)
	}
	fmt.Println("PPROF BEGIN")
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	for len(enc) > 76 {
		fmt.Println(enc[:76])
		enc = enc[76:]
	}
	fmt.Println(enc)
	fmt.Println("PPROF END")
}
