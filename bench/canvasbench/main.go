// Command canvasbench is make bench's Synaptic Canvas section.
//
// On the host: layout step time (Fruchterman–Reingold, Barnes–Hut above
// 300 nodes) and frame time (step + draw + present into an 800x600 32-bit
// buffer) for graphs of 50, 500 and 5,000 nodes, p50 and p99 over -frames
// frames.
//
// Inside Velocity (QEMU, -smp 2, images/canvasbench on the Bochs display):
// the same sizes, then the seed's claim measured: frame time p99 while busy
// workers (the on-board LLM's stand-in until it lands) run pinned to the
// reserved core (reserve=1), against the same workers unpinned, in the
// same run. Under TCG on a shared host the absolute figures are noisy;
// the ratio is the result.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/velocityos/velocity/canvas/fb"
	"github.com/velocityos/velocity/canvas/layout"
	"github.com/velocityos/velocity/canvas/model"
	"github.com/velocityos/velocity/canvas/render"
	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
)

func main() {
	frames := flag.Int("frames", 60, "frames per measurement")
	accel := flag.String("accel", "auto", "accelerator for the QEMU runs: auto, tcg or kvm")
	guest := flag.Bool("guest", true, "also measure inside Velocity under QEMU")
	flag.Parse()
	fmt.Println("\n== Synaptic Canvas (canvas/): frame and layout-step time")
	fmt.Printf("-- host (%d frames each; frame = one layout step + draw + present, 800x600)\n", *frames)
	fmt.Printf("%7s %12s %12s %12s %12s\n", "nodes", "step p50", "step p99", "frame p50", "frame p99")
	for _, n := range []int{50, 500, 5000} {
		step, frame := host(n, *frames)
		fmt.Printf("%7d %12v %12v %12v %12v\n", n, q(step, 0.5), q(step, 0.99), q(frame, 0.5), q(frame, 0.99))
	}
	if !*guest {
		return
	}
	if err := inKernel(*frames, *accel); err != nil {
		fmt.Println("canvasbench:", err)
		os.Exit(1)
	}
}

func q(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(max(int(p*float64(len(s))+0.5)-1, 0), len(s)-1)
	return s[i].Round(time.Microsecond)
}

func synthetic(n int) *model.Snapshot {
	var in model.Inputs
	for i := 0; i < n/10; i++ {
		m := model.Module{CID: fmt.Sprint("mod", i)}
		if i > 0 {
			m.Imports = []string{fmt.Sprint("mod", i-1)}
		}
		for j := 0; j < 9; j++ {
			f := model.Func{CID: fmt.Sprintf("f%d.%d", i, j)}
			if j > 0 {
				f.Calls = []string{fmt.Sprintf("f%d.%d", i, j-1)}
			}
			m.Funcs = append(m.Funcs, f)
		}
		in.Modules = append(in.Modules, m)
	}
	var b model.Builder
	return b.Build(in)
}

func host(n, frames int) (steps, total []time.Duration) {
	s := synthetic(n)
	g := render.Layout(800, 600)
	l := layout.New(float64(g.Graph.Dx()), float64(g.Graph.Dy()), 1)
	l.MinDist = render.MinDist
	ids, es := s.LayoutGraph()
	l.Sync(ids, es)
	d, _ := fb.New(make([]byte, 800*600*4), 800, 600, 800*4)
	sc := &render.Scene{Snap: s, Selected: -1}
	for i := 0; i < frames+5; i++ {
		t0 := time.Now()
		l.Step()
		t1 := time.Now()
		sc.Pos = l.Positions()
		render.Draw(d.Back, sc)
		d.Present()
		if i >= 5 {
			steps = append(steps, t1.Sub(t0))
			total = append(total, time.Since(t0))
		}
	}
	return steps, total
}

var lineRE = regexp.MustCompile(`CANVASBENCH mode=(\S+) nodes=(\d+) frames=(\d+) frame_p50_us=(\d+) frame_p99_us=(\d+) step_p50_us=(\d+)`)
var workRE = regexp.MustCompile(`CANVASBENCH workers mode=(\S+) worker_mib_per_s=([\d.]+) gomaxprocs=(\d+)`)

func boot(stub, elf, cmdline, accel string) (string, error) {
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{Kernel: elf, Stub: stub, SMP: 2, Append: cmdline, Accel: accel,
		Stdout: &out, Timeout: 10 * time.Minute})
	if err != nil {
		return out.String(), err
	}
	if res.ExitCode != 0 {
		return out.String(), fmt.Errorf("guest exited %d:\n%s", res.ExitCode, out.String())
	}
	return out.String(), nil
}

func inKernel(frames int, accel string) error {
	stub, err := build.Stub()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "canvasbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	elf := filepath.Join(dir, "canvasbench.elf")
	if err := build.Build("./images/canvasbench", elf, nil); err != nil {
		return err
	}
	args := func(opts []string, argv ...string) string {
		s, _ := build.KernelCmdline(nil, opts, append(argv, "-frames", strconv.Itoa(frames)))
		return s
	}
	fmt.Printf("-- inside Velocity (QEMU -smp 2, accel %s, 50 ms frame budget, %d frames after 10 of warm-up;\n", accel, frames)
	fmt.Println("   frame = input poll + layout step(s) + draw + present to the Bochs display)")
	out, err := boot(stub, elf, args([]string{"quiet"}, "-mode", "sizes"), accel)
	if err != nil {
		return err
	}
	fmt.Printf("%7s %12s %12s %12s\n", "nodes", "step p50", "frame p50", "frame p99")
	for _, m := range lineRE.FindAllStringSubmatch(out, -1) {
		fmt.Printf("%7s %12s %12s %12s\n", m[2], us(m[6]), us(m[4]), us(m[5]))
	}
	fmt.Println("-- frame time with 2 busy workers (SHA-256 loops, the LLM's stand-in), 50 nodes")
	p99 := map[string]float64{}
	for _, mode := range []string{"pinned", "unpinned"} {
		opts := []string{"quiet"}
		if mode == "pinned" {
			opts = append(opts, "reserve=1")
		}
		out, err := boot(stub, elf, args(opts, "-mode", mode), accel)
		if err != nil {
			return err
		}
		m := lineRE.FindStringSubmatch(out)
		w := workRE.FindStringSubmatch(out)
		if m == nil || w == nil {
			return fmt.Errorf("%s: no result line:\n%s", mode, out)
		}
		v, _ := strconv.ParseFloat(m[5], 64)
		p99[mode] = v
		desc := map[string]string{"pinned": "workers pinned to reserved CPU 1", "unpinned": "workers unpinned, nothing reserved"}[mode]
		fmt.Printf("%-9s frame p50 %10s  p99 %10s  (%s; workers %s MiB/s, GOMAXPROCS %s)\n", mode, us(m[4]), us(m[5]), desc, w[2], w[3])
	}
	if p99["pinned"] > 0 {
		fmt.Printf("ratio     frame p99 unpinned/pinned %.2fx (>1: the reserved core keeps frames on time)\n", p99["unpinned"]/p99["pinned"])
	}
	return nil
}

func us(s string) string {
	v, _ := strconv.Atoi(s)
	return (time.Duration(v) * time.Microsecond).String()
}
