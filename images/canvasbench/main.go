// Command canvasbench measures the Synaptic Canvas inside Velocity, for
// make bench (bench/canvasbench boots it): the compositor drawing on the
// real display (the Bochs display under QEMU) at a fixed frame budget.
//
//	-mode sizes     frame time (layout step + draw + present) and layout
//	                step time for graphs of 50, 500 and 5,000 nodes;
//	-mode pinned    a 50-node graph while -workers busy goroutines (the
//	                LLM's stand-in: SHA-256 in a loop) run pinned to the
//	                last CPU, which the kernel command line reserves
//	                (reserve=N); GOMAXPROCS leaves them a P each;
//	-mode unpinned  the same workers with nothing pinned or reserved;
//	-mode info      one frame of a small graph, and which display it went
//	                to (tests/canvas checks the GRUB framebuffer path).
//
// One line per measurement:
//
//	CANVASBENCH mode=<m> nodes=<n> frames=<k> frame_p50_us=<t> frame_p99_us=<t> step_p50_us=<t> [worker_mib=<x>] cpu=<c>
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/canvas/compositor"
	"github.com/velocityos/velocity/canvas/fb"
	"github.com/velocityos/velocity/canvas/model"
	"github.com/velocityos/velocity/canvas/render"
	"github.com/velocityos/velocity/kernel"
)

func main() {
	mode := flag.String("mode", "sizes", "sizes, pinned, unpinned or info")
	frames := flag.Int("frames", 60, "frames to measure")
	budget := flag.Duration("budget", 50*time.Millisecond, "frame budget")
	workers := flag.Int("workers", 2, "busy goroutines (pinned and unpinned modes)")
	flag.Parse()
	d, err := fb.Open(800, 600)
	if err != nil {
		fmt.Println("canvasbench:", err)
		os.Exit(1)
	}
	switch *mode {
	case "info":
		bf, err := kernel.BootFramebuffer()
		fmt.Printf("CANVASBENCH boot framebuffer %+v (%v)\n", bf, err)
		measure("info", d, graph(20), 1, *budget, "")
		fmt.Printf("CANVASBENCH display source=%q width=%d height=%d pitch=%d pages=%d\n", d.Source, d.Width, d.Height, d.Pitch, d.Pages())
	case "sizes":
		for _, n := range []int{50, 500, 5000} {
			measure("sizes", d, graph(n), *frames, *budget, "")
		}
	case "pinned", "unpinned":
		var stop atomic.Bool
		var hashed atomic.Int64
		var wg sync.WaitGroup
		last := runtime.NumCPU() // with reserve=, NumCPU counts the unreserved CPUs only
		if *mode == "pinned" {
			info, err := kernel.ReadInfo()
			if err != nil || info.Reserved == 0 {
				fmt.Println("canvasbench: pinned mode needs a reserved CPU (kernel option reserve=)")
				os.Exit(2)
			}
			last = info.CPUs - 1
			// Each pinned worker holds a P while it runs: give the rest
			// of the program its own.
			runtime.GOMAXPROCS(runtime.NumCPU() + *workers)
		}
		for range *workers {
			wg.Go(func() {
				if *mode == "pinned" {
					unpin, err := kernel.Pin(last)
					if err != nil {
						fmt.Println("canvasbench: pin:", err)
						os.Exit(1)
					}
					defer unpin()
				}
				buf := make([]byte, 16<<10)
				for !stop.Load() {
					sha256.Sum256(buf)
					hashed.Add(int64(len(buf)))
				}
			})
		}
		time.Sleep(200 * time.Millisecond) // workers running
		start := time.Now()
		measure(*mode, d, graph(50), *frames, *budget, "")
		stop.Store(true)
		wg.Wait()
		fmt.Printf("CANVASBENCH workers mode=%s worker_mib_per_s=%.1f gomaxprocs=%d\n", *mode,
			float64(hashed.Load())/(1<<20)/time.Since(start).Seconds(), runtime.GOMAXPROCS(0))
	default:
		fmt.Println("canvasbench: unknown -mode", *mode)
		os.Exit(2)
	}
	os.Exit(0)
}

// graph is a synthetic module graph of about n nodes: modules of nine
// functions, each module importing the previous one, functions calling
// their neighbour.
func graph(n int) model.Inputs {
	var in model.Inputs
	for i := 0; i < n/10; i++ {
		m := model.Module{CID: fmt.Sprint("mod", i)}
		if i > 0 {
			m.Imports = []string{fmt.Sprint("mod", i-1)}
		}
		for j := 0; j < 9; j++ {
			f := model.Func{CID: fmt.Sprintf("f%d.%d", i, j), Name: fmt.Sprintf("F%d", j)}
			if j > 0 {
				f.Calls = []string{fmt.Sprintf("f%d.%d", i, j-1)}
			}
			m.Funcs = append(m.Funcs, f)
		}
		in.Modules = append(in.Modules, m)
	}
	return in
}

// measure runs the compositor for frames frames after a warm-up of 10.
func measure(mode string, d *fb.FB, in model.Inputs, frames int, budget time.Duration, extra string) {
	stop := make(chan struct{})
	n := 0
	var c *compositor.Compositor
	c = compositor.New(compositor.Options{Width: d.Width, Height: d.Height, Frame: budget, RefreshEvery: time.Hour, Seed: 1,
		AfterFrame: func(*render.Scene) {
			n++
			if n == 10 {
				c.ResetStats()
			}
			if n == 10+frames {
				close(stop)
			}
		}}, func() model.Inputs { return in })
	c.Run(d, nil, stop)
	st := c.FrameStats()
	cpu, _ := kernel.CurrentCPU()
	fmt.Printf("CANVASBENCH mode=%s nodes=%d frames=%d frame_p50_us=%d frame_p99_us=%d step_p50_us=%d%s cpu=%d\n",
		mode, len(c.Scene().Snap.Nodes), st.Frames, st.FrameP50.Microseconds(), st.FrameP99.Microseconds(), st.StepP50.Microseconds(), extra, cpu)
}
