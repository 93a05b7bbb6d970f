// Command demo is the program `make run` boots: a tour of Velocity.
//
//  1. The boot banner (time to main, CPUs, RAM).
//  2. The Synaptic Canvas on the display (canvas/*): the framebuffer the
//     boot loader set, else QEMU's Bochs display; with none it says so in
//     one line and the tour carries on on serial.
//  3. The module pack of the image loaded into the module table, where
//     modules that import the same module share its code.
//  4. A deliberately slow module (heal.DemoSource) put under load: its node
//     heats up on the canvas, the telemetry rule fires (the seed's: mean
//     above 1.5 M cycles over 10 calls), the healer's candidate is
//     validated and swapped in (the node flashes, a derived-from edge joins
//     the versions), and the speedup is measured on real traffic.
//  5. Live kernel statistics for -seconds seconds (per-CPU busy time, with
//     a background task pinned to the last CPU as the seed puts the LLM
//     there).
//  6. What is not there yet: network peers and the on-board model.
//
// It ends by itself with status 0 (1 if healing failed or a result was
// wrong). -hold keeps the canvas live a while longer, -interactive keeps
// it running with the console shell on serial until the shell exits; Esc
// or Q on the PS/2 keyboard ends the hold. It runs on a Linux host too,
// without the canvas and the kernel's statistics.
//
// Usage: demo [-seconds N] [-hold D] [-interactive] [-canvas=false] [-tour=false] [-size WxH] [-pack PATH]
//
// Lines starting with CANVAS mark moments tests take screenshots at.
package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/canvas/compositor"
	"github.com/velocityos/velocity/canvas/fb"
	"github.com/velocityos/velocity/canvas/model"
	"github.com/velocityos/velocity/canvas/render"
	"github.com/velocityos/velocity/drivers/ps2"
	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/kernel/shell"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/lang/modtable"
	"github.com/velocityos/velocity/registry"
	"github.com/velocityos/velocity/telemetry"
)

var (
	seconds     = flag.Int("seconds", 5, "how long to show the live kernel statistics")
	hold        = flag.Duration("hold", 0, "keep the canvas live this long after the tour (Esc or Q ends it)")
	interactive = flag.Bool("interactive", false, "after the tour, keep running with the console shell on serial")
	useCanvas   = flag.Bool("canvas", true, "draw the Synaptic Canvas when there is a display")
	tourFlag    = flag.Bool("tour", true, "the modules, canvas and healing part of the tour (false: banner and kernel statistics only, a few seconds)")
	size        = flag.String("size", "800x600", "canvas mode for the Bochs display (WxH)")
	packFlag    = flag.String("pack", "", "module pack (default: $VELOCITY_MODPACK, else modules.pack in the image)")
)

// hashProbe times the hashing workers: a Go function of the kernel with a
// telemetry probe, which the canvas shows as a node.
var hashProbe = telemetry.NewProbe("demo.hash")

func main() {
	sincePowerOn := kernel.SincePowerOn() // first thing: boot time to main
	flag.Parse()
	w, h, err := parseSize(*size)
	if err != nil {
		fmt.Println("demo:", err)
		os.Exit(2)
	}

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

	t := &tour{log: &model.LogRing{N: 8}}
	code := 0
	if *tourFlag {
		t.loadModules()
		if *useCanvas {
			t.startCanvas(w, h)
		}
		if err := t.heal(); err != nil {
			fmt.Println("demo: healing:", err)
			code = 1
		}
	}
	t.liveStats(*seconds)
	fmt.Println("demo: network peers: " + model.NotAvailable + " in this tour (a Biosphere node runs in the kernel as images/biosphere, but the tour does not start one; docs/biosphere.md)")
	fmt.Println("demo: on-board model: " + model.NotAvailable + " (no LLM in the image yet)")
	if *interactive {
		fmt.Println("demo: interactive: the console shell runs on serial (exit leaves); the canvas stays live")
		sh := &shell.Shell{In: os.Stdin, Out: os.Stdout, Modules: t.tab, ModulesFrom: t.packPath}
		if c := sh.Run(); c != 0 {
			code = c
		}
	} else if *hold > 0 {
		t.holdCanvas(*hold)
	}
	t.stopCanvas()
	fmt.Printf("demo: %d goroutines hashed %.0f MiB with SHA-256 in %.1f s (%.1f MiB/s); done\n",
		t.workers, t.hashedMiB, t.hashSecs, t.hashedMiB/max(t.hashSecs, 1e-9))
	os.Exit(code)
}

func parseSize(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "x")
	w, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || w < 64 || h < 64 || w > 4096 || h > 4096 {
		return 0, 0, fmt.Errorf("bad -size %q (want WxH, 64..4096 each)", s)
	}
	return w, h, nil
}

// tour is the demo's state, shared with the canvas's gather function.
type tour struct {
	tab      *modtable.Table
	src      modtable.Source
	packPath string
	names    map[string]string // module CID → name
	log      *model.LogRing

	mu       sync.Mutex
	slot     *heal.Slot
	versions []*heal.Version
	events   []model.Event

	comp     *compositor.Compositor
	stopComp chan struct{}
	compDone chan struct{}
	start    time.Time
	settled  chan struct{} // the layout came to rest with the graph on screen
	heated   chan struct{} // the slow function's node changed colour on screen
	swapSeen chan struct{} // a frame showed the swap's flash and derived-from edge
	marks    struct{ settled, heated, swapped bool }

	workers   int
	hashedMiB float64
	hashSecs  float64
}

// loadModules loads the image's module pack and the slow module into one
// module table.
func (t *tour) loadModules() {
	st := registry.NewMemStore()
	t.names = map[string]string{}
	var roots []cid.Cid
	path, err := shell.FindPack(*packFlag)
	if err == nil {
		var data []byte
		if data, err = os.ReadFile(path); err == nil {
			var pack *registry.Pack
			if pack, err = registry.OpenPack(data); err == nil {
				err = copyPack(st, pack)
				roots = pack.Roots
			}
		}
	}
	if err != nil {
		fmt.Printf("demo: no module pack (%v); the table holds only the slow module\n", err)
	} else {
		t.packPath = path
	}
	slowCID, _, err := registry.AddSource(st, "slow.vel", []byte(heal.DemoSource))
	if err != nil {
		fmt.Println("demo: slow module:", err)
		os.Exit(1)
	}
	t.names[slowCID.String()] = "slow"
	l := merkle.NewLoader(st)
	t.src = merkle.NewLoader(st) // the canvas's own: a loader is not safe for concurrent use
	if !jit.Supported() {
		fmt.Println("demo: the JIT needs linux/amd64 or Velocity; no modules")
		return
	}
	t.tab = modtable.New(l)
	for _, c := range roots {
		if _, err := t.tab.Load(c); err != nil {
			fmt.Println("demo: load:", err)
			os.Exit(1)
		}
	}
	if _, err := t.tab.Load(slowCID); err != nil {
		fmt.Println("demo: load slow module:", err)
		os.Exit(1)
	}
	s := t.tab.Stats()
	if t.packPath != "" {
		fmt.Printf("demo: module pack %s: %d modules loaded and compiled once each, %d code pages mapped, %d references, %d pages saved by sharing\n",
			t.packPath, len(roots), s.Pages, s.Refs, s.SavedPages)
	}
	fmt.Printf("demo: module table: %d modules (slow module %s)\n", s.Modules, slowCID)
	t.tab.Print(os.Stdout)
}

func copyPack(st registry.Store, pack *registry.Pack) error {
	all, err := pack.List()
	if err != nil {
		return err
	}
	for _, c := range all {
		b, err := pack.Get(c)
		if err != nil {
			return err
		}
		if err := st.Put(c, b); err != nil {
			return err
		}
	}
	return nil
}

// gather is what the canvas draws: called from the compositor's goroutine.
func (t *tour) gather() model.Inputs {
	var in model.Inputs
	if t.tab != nil {
		mods, err := model.FromTable(t.tab, t.src, t.names)
		if err == nil {
			in.Modules = mods
		}
	}
	t.mu.Lock()
	for _, v := range t.versions {
		in.Samples = append(in.Samples, telemetry.Sample{Name: "Work", ID: v.CID, Stats: v.Stats()})
	}
	in.Events = append(in.Events, t.events...)
	in.Log = t.log.Lines()
	t.mu.Unlock()
	// Every Go function with a telemetry probe in this program (the
	// hashing workers' demo.hash, and any package's probes) is a node.
	for _, smp := range telemetry.Default.Snapshot() {
		if smp.ID == "" {
			in.Samples = append(in.Samples, smp)
			in.GoProbe = append(in.GoProbe, smp.Name)
		}
	}
	if info, err := kernel.ReadInfo(); err == nil {
		m := model.Machine{Available: true, Reserved: info.Reserved, MemTotal: info.MemTotal, MemFree: info.MemFree}
		for _, c := range info.PerCPU {
			m.CPUBusy = append(m.CPUBusy, c.Busy)
		}
		in.Machine = m
	}
	in.Machine.HeapAlloc = heapBytes()
	return in
}

// heapBytes reads the heap size without stopping the world
// (runtime.ReadMemStats would, on every refresh).
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		return s[0].Value.Uint64()
	}
	return 0
}

// logWriter is the healer's log: serial, and the canvas's log panel.
type logWriter struct{ t *tour }

func (l logWriter) Write(p []byte) (int, error) {
	os.Stdout.Write(p)
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	return l.t.log.Write(p)
}

func (t *tour) startCanvas(w, h int) {
	d, err := fb.Open(w, h)
	if err != nil {
		fmt.Printf("demo: no framebuffer (%v); the canvas is off, the tour goes on on serial\n", err)
		return
	}
	fmt.Printf("demo: Synaptic Canvas on %s, %dx%d, pitch %d bytes, 32 bpp\n", d.Source, d.Width, d.Height, d.Pitch)
	var in compositor.Input
	if c, err := ps2.Init(); err != nil {
		fmt.Println("demo: no PS/2 input:", err)
	} else {
		in = c
		fmt.Printf("demo: PS/2 keyboard on, mouse %v (click a node for its details, drag it, Tab switches panels)\n", map[bool]string{true: "on", false: "not found"}[c.Mouse])
	}
	t.start = time.Now()
	t.settled, t.heated, t.swapSeen = make(chan struct{}), make(chan struct{}), make(chan struct{})
	t.stopComp, t.compDone = make(chan struct{}), make(chan struct{})
	t.comp = compositor.New(compositor.Options{Width: d.Width, Height: d.Height, Seed: 1, Log: os.Stdout,
		AfterFrame: t.afterFrame}, t.gather)
	go func() {
		defer close(t.compDone)
		t.comp.Run(d, in, t.stopComp)
	}()
}

// afterFrame prints the markers tests take screenshots at, each once,
// after the frame that shows it was presented.
func (t *tour) afterFrame(sc *render.Scene) {
	s := sc.Snap
	if s == nil {
		return
	}
	if !t.marks.settled && len(s.Nodes) > 0 && t.comp.Layout().Temp < 0.05 {
		t.marks.settled = true
		tabMods := 0
		if t.tab != nil {
			tabMods = t.tab.Stats().Modules
		}
		fmt.Printf("CANVAS settled nodes=%d modules=%d functions=%d edges=%d table_modules=%d\n",
			len(s.Nodes), s.Count(model.KindModule), s.Count(model.KindFunc)+s.Count(model.KindGo), len(s.Edges), tabMods)
		close(t.settled)
	}
	t.mu.Lock()
	var work string
	if t.slot != nil {
		work = t.versions[0].CID
	}
	t.mu.Unlock()
	if i := s.Find(work); !t.marks.heated && i >= 0 && render.HeatIndex(s.Nodes[i].Heat) > 0 {
		t.marks.heated = true
		fmt.Printf("CANVAS heat node=%s heat=%.3g color=%d\n", work, s.Nodes[i].Heat, render.HeatIndex(s.Nodes[i].Heat))
		close(t.heated)
	}
	if !t.marks.swapped && s.Swaps > 0 {
		for i := range s.Nodes {
			n := &s.Nodes[i]
			if render.Flashing(n, sc.Now) {
				t.marks.swapped = true
				fmt.Printf("CANVAS swap shown node=%s versions=%d\n", n.ID, len(n.Versions))
				close(t.swapSeen)
				break
			}
		}
	}
}

// wait waits for a canvas moment (if the canvas runs) at most d.
func (t *tour) wait(ch chan struct{}, d time.Duration, what string) {
	if t.comp == nil {
		return
	}
	select {
	case <-ch:
	case <-t.compDone:
	case <-time.After(d):
		fmt.Printf("demo: the canvas did not show %s within %v\n", what, d)
	}
}

func (t *tour) now() time.Duration { return time.Since(t.start) }

// heal runs the self-healing scenario on the slow module.
func (t *tour) heal() error {
	if !jit.Supported() {
		return nil
	}
	t.wait(t.settled, 30*time.Second, "the module graph at rest")
	if t.comp != nil {
		time.Sleep(time.Second) // a still picture of the idle graph
	}
	st := registry.NewMemStore()
	_, m, err := registry.AddSource(st, "slow.vel", []byte(heal.DemoSource))
	if err != nil {
		return err
	}
	slot, err := heal.NewSlot("Work", m.Lookup("Work"))
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.slot, t.versions = slot, []*heal.Version{slot.Current()}
	t.mu.Unlock()
	fmt.Printf("demo: putting load on the slow module's Work %s (rule: %v)\n", slot.Current().CID, telemetry.DefaultRule)

	var calls, wrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	want := func(n int64) int64 { return 8 * n * (n - 1) / 2 }
	for g := 0; g < max(2, runtime.NumCPU()); g++ {
		wg.Go(func() {
			c := heal.NewCaller()
			defer c.Close()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				n := int64(3000 + (k*7+g)%64)
				r, err := c.Call(slot, []interp.Value{uint64(n)})
				calls.Add(1)
				if err != nil || int64(r.(uint64)) != want(n) {
					wrong.Add(1)
				}
			}
		})
	}
	// Let the canvas show the heat before the healer acts on it.
	t.wait(t.heated, 20*time.Second, "the slow function heating up")
	if t.comp != nil {
		time.Sleep(2 * time.Second)
	}
	h := &heal.Healer{Gate: heal.Gate{Blocks: st, Random: 100, Fuel: 1e7, MinSpeedup: 1.1}, Log: logWriter{t}}
	h.Add(slot)
	start := time.Now()
	var proven *heal.Event
	for proven == nil && time.Since(start) < 90*time.Second {
		time.Sleep(50 * time.Millisecond)
		h.Tick()
		t.mu.Lock()
		for i := len(t.events); i < len(h.Events); i++ {
			e := h.Events[i]
			t.events = append(t.events, model.Event{Kind: e.Kind, Slot: e.Slot, From: e.From, To: e.To, At: t.now()})
			if e.Kind == "proven" {
				proven = &h.Events[i]
			}
		}
		if cur := slot.Current(); cur != t.versions[len(t.versions)-1] {
			t.versions = append(t.versions, cur)
		}
		t.mu.Unlock()
	}
	if proven != nil {
		t.wait(t.swapSeen, 10*time.Second, "the swap")
	}
	close(stop)
	wg.Wait()
	fmt.Printf("demo: %d calls of Work, %d wrong results\n", calls.Load(), wrong.Load())
	if proven == nil {
		return errors.New("no healed version proven within 90 s")
	}
	fmt.Printf("demo: Work healed: %.0f cycles per call before, %.0f after on the same inputs (%.1fx faster)\n",
		proven.BeforeMean, proven.AfterMean, proven.Speedup)
	if wrong.Load() != 0 {
		return fmt.Errorf("%d wrong results", wrong.Load())
	}
	return nil
}

// liveStats runs the hashing workload (and a task pinned to the last CPU)
// and prints the kernel's statistics once a second.
func (t *tour) liveStats(seconds int) {
	var stop atomic.Bool
	var hashed atomic.Int64
	var wg sync.WaitGroup
	t.workers = 2 * runtime.NumCPU()
	for range t.workers {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for !stop.Load() {
				s := hashProbe.Start()
				sum := sha256.Sum256(buf)
				hashProbe.End(s)
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
	for i := 1; i <= seconds; i++ {
		time.Sleep(time.Second)
		summary(i, t.comp)
	}
	stop.Store(true)
	wg.Wait()
	t.hashedMiB = float64(hashed.Load()) / (1 << 20)
	t.hashSecs = time.Since(start).Seconds()
}

// holdCanvas keeps the canvas live for d, or until Esc or Q.
func (t *tour) holdCanvas(d time.Duration) {
	if t.comp == nil {
		return
	}
	fmt.Printf("CANVAS hold %v (Esc or Q ends it)\n", d)
	select {
	case <-time.After(d):
	case <-t.compDone:
	}
}

func (t *tour) stopCanvas() {
	if t.comp == nil {
		return
	}
	select {
	case <-t.compDone:
	default:
		close(t.stopComp)
		<-t.compDone
	}
	st := t.comp.FrameStats()
	fmt.Printf("demo: canvas drew %d frames, frame time p50 %.1f ms, p99 %.1f ms, layout step p50 %.2f ms\n",
		st.Frames, ms(st.FrameP50), ms(st.FrameP99), ms(st.StepP50))
}

// summary prints one line of live statistics.
func summary(second int, comp *compositor.Compositor) {
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
