// Package canvas_test boots the tour (images/demo) headless under QEMU
// (TCG, -display none) with the example module pack, and checks the
// Synaptic Canvas on the guest's screen through the QEMU monitor:
// screendumps at the moments the demo announces on serial (CANVAS lines),
// pixel assertions on them, and a scripted mouse click and key press.
//
// From the pixels it asserts: the node-coloured blobs are exactly the
// snapshot's nodes, and the large (module) ones the module table's
// modules; the slow function's node changes colour once load is put on
// it; the swap's flash and derived-from edge appear; a click on a node
// opens the details panel and rings the node. Tab on the keyboard switches
// the panel, Q ends the demo, which must exit 0.
//
// With $CANVAS_SCREENSHOT set, the screenshot taken after the swap is
// written there (docs/canvas.png comes from this test); $CANVAS_SHOTS names
// a directory to keep every screendump in.
package canvas_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velocityos/velocity/canvas/blobs"
	"github.com/velocityos/velocity/canvas/render"
	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
)

var outDir string

func TestMain(m *testing.M) { testenv.Main(m, "velocity-canvas-test-", &outDir) }

const (
	width, height = 800, 600
	bootTimeout   = 4 * time.Minute
)

var (
	stubOnce   = sync.OnceValues(build.Stub)
	kernelOnce = sync.OnceValues(func() (string, error) {
		elf := filepath.Join(outDir, "demo.elf")
		if err := build.Build("../../images/demo", elf, nil); err != nil {
			return "", err
		}
		pack := filepath.Join(outDir, "pack", "modules.pack")
		if _, err := testenv.ExamplePack("../../examples/modules", pack); err != nil {
			return "", err
		}
		withFS := filepath.Join(outDir, "demo+fs.elf")
		return withFS, build.AttachFS(elf, withFS, []string{pack})
	})
)

// monitor is a connection to QEMU's human monitor.
type monitor struct {
	c net.Conn
	r *bufio.Reader
}

func dialMonitor(t *testing.T, path string) *monitor {
	t.Helper()
	var c net.Conn
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err = net.Dial("unix", path); err == nil {
			m := &monitor{c: c, r: bufio.NewReader(c)}
			if _, err := m.prompt(); err != nil {
				t.Fatalf("monitor banner: %v", err)
			}
			return m
		}
	}
	t.Fatalf("QEMU monitor at %s: %v", path, err)
	return nil
}

// prompt reads up to the next "(qemu) " prompt.
func (m *monitor) prompt() (string, error) {
	m.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	var out []byte
	for !bytes.HasSuffix(out, []byte("(qemu) ")) {
		b, err := m.r.ReadByte()
		if err != nil {
			return string(out), err
		}
		out = append(out, b)
	}
	return string(out), nil
}

func (m *monitor) cmd(t *testing.T, line string) string {
	t.Helper()
	if _, err := fmt.Fprintf(m.c, "%s\n", line); err != nil {
		t.Fatalf("monitor %q: %v", line, err)
	}
	out, err := m.prompt()
	if err != nil {
		t.Fatalf("monitor %q: %v (%q)", line, err, out)
	}
	return out
}

// shot takes a screendump and decodes it.
func (m *monitor) shot(t *testing.T, name string) image.Image {
	t.Helper()
	path := filepath.Join(outDir, name+".png")
	m.cmd(t, "screendump "+path+" -f png")
	var err error
	for range 50 {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			var img image.Image
			img, err = png.Decode(f)
			f.Close()
			if err == nil {
				if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
					t.Fatalf("%s: screen is %v, want %dx%d", name, b, width, height)
				}
				return img
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("screendump %s: %v", name, err)
	return nil
}

// lines streams the guest's serial output line by line.
type lines struct {
	mu   sync.Mutex
	all  strings.Builder
	part []byte
	ch   chan string
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case l.ch <- strings.TrimRight(string(l.part[:i]), "\r"):
		default: // nobody is listening any more: keep the log only
		}
		l.part = l.part[i+1:]
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// await returns the submatches of the first line matching re.
func await(t *testing.T, ch <-chan string, done <-chan struct{}, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	timeout := time.After(3 * time.Minute)
	for {
		select {
		case l := <-ch:
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-done:
			t.Fatalf("the guest ended before a line matching %q", re)
		case <-timeout:
			t.Fatalf("no line matching %q within 3 minutes", re)
		}
	}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var isNode = blobs.Is(render.HeatColors[:]...)

func nodeBlobs(img image.Image) []blobs.Blob {
	return blobs.Find(img, render.Layout(width, height).Graph, isNode)
}

func TestCanvas(t *testing.T) {
	testenv.Need(t, "qemu")
	kernel, stub := testenv.Get(t, kernelOnce), testenv.Get(t, stubOnce)
	cmdline, err := build.KernelCmdline(nil, nil, []string{"-seconds", "1", "-hold", "2m", "-size", fmt.Sprintf("%dx%d", width, height)})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(outDir, "monitor.sock")
	out := &lines{ch: make(chan string, 4096)}
	done := make(chan struct{})
	var res qemu.Result
	var runErr error
	go func() {
		defer close(done)
		res, runErr = qemu.Run(context.Background(), qemu.Config{Kernel: kernel, Stub: stub, SMP: 2, Append: cmdline,
			Accel: "tcg", Stdout: out, Timeout: bootTimeout, Monitor: sock})
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serial output:\n%s", out.String())
		}
		// $CANVAS_SHOTS: keep every screendump there.
		if dir := os.Getenv("CANVAS_SHOTS"); dir != "" {
			shots, _ := filepath.Glob(filepath.Join(outDir, "*.png"))
			for _, p := range shots {
				if err := copyFile(p, filepath.Join(dir, filepath.Base(p))); err != nil {
					t.Error(err)
				}
			}
		}
	})
	mon := dialMonitor(t, sock)
	defer mon.c.Close()
	g := render.Layout(width, height)

	// 1. The graph at rest: one blob per node, module blobs = table modules.
	m := await(t, out.ch, done, `^CANVAS settled nodes=(\d+) modules=(\d+) functions=(\d+) edges=\d+ table_modules=(\d+)`)
	nodes, modules, tableModules := atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[4])
	idle := mon.shot(t, "1-settled")
	bs := nodeBlobs(idle)
	big := 0
	for _, b := range bs {
		if b.Area > render.ModuleBlobMin {
			big++
		}
	}
	t.Logf("settled: %d nodes (%d modules), %d blobs (%d large)", nodes, modules, len(bs), big)
	if len(bs) != nodes {
		t.Errorf("%d node-coloured blobs on screen, the snapshot has %d nodes", len(bs), nodes)
	}
	if big != tableModules || modules != tableModules {
		t.Errorf("%d module-sized blobs, %d module nodes, %d modules in the table", big, modules, tableModules)
	}
	if blobs.Count(idle, g.Panel, isNode) != 0 {
		t.Error("heat colours in the side panel")
	}

	// 2. Load on the slow function: a node that was idle changes colour.
	m = await(t, out.ch, done, `^CANVAS heat node=(\S+) heat=\S+ color=(\d+)`)
	hot := mon.shot(t, "2-heat")
	// The layout may still creep by a pixel or two between the shots:
	// match blobs by nearby centres.
	changed := 0
	for _, b := range nodeBlobs(hot) {
		if b.Color == render.HeatColors[0] {
			continue
		}
		for _, old := range bs {
			d := b.Centre().Sub(old.Centre())
			if d.X*d.X+d.Y*d.Y <= 16 && old.Color == render.HeatColors[0] {
				changed++
				break
			}
		}
	}
	if changed == 0 {
		t.Error("no node changed colour after load was put on the slow function")
	}

	// 3. The swap: flash and derived-from edge, and one node more.
	await(t, out.ch, done, `^CANVAS swap shown node=(\S+) versions=2`)
	swap := mon.shot(t, "3-swap")
	if n := blobs.Count(swap, g.Graph, blobs.Is(render.FlashColor)); n == 0 {
		t.Error("no flash after the swap")
	}
	if n := blobs.Count(swap, g.Graph, blobs.Is(render.DerivedColor)); n < 5 {
		t.Errorf("derived-from edge: %d pixels", n)
	}
	if n := len(nodeBlobs(swap)); n != nodes+1 {
		t.Errorf("%d node blobs after the swap, want %d", n, nodes+1)
	}
	if p := os.Getenv("CANVAS_SCREENSHOT"); p != "" {
		if err := copyFile(filepath.Join(outDir, "3-swap.png"), p); err != nil {
			t.Error(err)
		}
	}

	// 4. A scripted click on a module node opens its details.
	await(t, out.ch, done, `^CANVAS hold`)
	before := mon.shot(t, "4-before-click")
	var target blobs.Blob
	for _, b := range nodeBlobs(before) {
		if b.Area > target.Area {
			target = b
		}
	}
	if target.Area == 0 {
		t.Fatal("no node to click")
	}
	c := target.Centre()
	mon.cmd(t, fmt.Sprintf("mouse_move %d %d", c.X-width/2, c.Y-height/2))
	time.Sleep(500 * time.Millisecond)
	mon.cmd(t, "mouse_button 1")
	time.Sleep(300 * time.Millisecond)
	mon.cmd(t, "mouse_button 0")
	m = await(t, out.ch, done, `^CANVAS select node=(\S+) kind=(\S+) .* x=(\d+) y=(\d+)`)
	if m[2] != "module" {
		t.Errorf("clicked the largest blob, selected a %s", m[2])
	}
	time.Sleep(500 * time.Millisecond) // the next frame
	details := mon.shot(t, "5-details")
	if n := blobs.Count(details, g.Panel, blobs.Is(render.DetailsBG)); n == 0 {
		t.Error("no details panel after the click")
	}
	if n := blobs.Count(details, g.Graph, blobs.Is(render.SelectColor)); n == 0 {
		t.Error("the clicked node is not ringed")
	}

	// 5. Tab switches the panel; Q ends the hold; the demo exits 0.
	mon.cmd(t, "sendkey tab")
	await(t, out.ch, done, `^CANVAS panel system$`) // details → system
	mon.cmd(t, "sendkey q")
	<-done
	if runErr != nil {
		t.Fatalf("boot: %v", runErr)
	}
	if res.ExitCode != 0 {
		t.Errorf("demo exited %d", res.ExitCode)
	}
	serial := out.String()
	for _, want := range []string{"CANVAS quit requested", "network peers: not available yet", "on-board model: not available yet", "; done"} {
		if !strings.Contains(serial, want) {
			t.Errorf("serial output lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`canvas drew (\d+) frames, frame time p50 ([\d.]+) ms, p99 ([\d.]+) ms`).FindStringSubmatch(serial); m != nil {
		t.Logf("frames %s, p50 %s ms, p99 %s ms (TCG, 2 vCPUs)", m[1], m[2], m[3])
	} else {
		t.Error("no frame statistics")
	}
	t.Logf("guest ran %v", res.Elapsed.Round(time.Millisecond))
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

var benchOnce = sync.OnceValues(func() (string, error) {
	elf := filepath.Join(outDir, "canvasbench.elf")
	return elf, build.Build("../../images/canvasbench", elf, nil)
})

// TestGRUBFramebuffer boots GRUB ISOs under BIOS: with velocity image -gfx,
// GRUB sets the mode and the canvas draws on the framebuffer of the
// multiboot2 tag; without, the image stays in text mode (no boot
// framebuffer) and the canvas finds the Bochs display instead.
func TestGRUBFramebuffer(t *testing.T) {
	testenv.Need(t, "qemu", "grub")
	elf, stub := testenv.Get(t, benchOnce), testenv.Get(t, stubOnce)
	for _, c := range []struct {
		gfx, source string
		w, h        int
	}{
		{"640x480", "boot loader framebuffer", 640, 480},
		{"", "Bochs display", 800, 600},
	} {
		t.Run("gfx="+c.gfx, func(t *testing.T) {
			iso := filepath.Join(outDir, "fb"+c.gfx+".iso")
			if err := build.MakeISO(build.ISOConfig{Kernel: elf, Stub: stub, Append: "quiet -- -mode info", Out: iso, Gfx: c.gfx}); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			res, err := qemu.Run(context.Background(), qemu.Config{Kernel: iso, Accel: "tcg", Stdout: &out, Timeout: 3 * time.Minute})
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("boot: %v, exit %d\n%s", err, res.ExitCode, out.String())
			}
			m := regexp.MustCompile(`CANVASBENCH display source="([^"]*)" width=(\d+) height=(\d+) pitch=(\d+)`).FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("no display line:\n%s", out.String())
			}
			t.Logf("%s: %sx%s pitch %s", m[1], m[2], m[3], m[4])
			if textMode := strings.Contains(out.String(), "set no graphics mode"); textMode != (c.gfx == "") {
				t.Errorf("gfx %q: boot loader left text mode: %v; serial:\n%s", c.gfx, textMode, out.String())
			}
			if !strings.HasPrefix(m[1], c.source) || atoi(t, m[2]) != c.w || atoi(t, m[3]) != c.h || atoi(t, m[4]) < 4*c.w {
				t.Errorf("display %q %sx%s pitch %s, want %s %dx%d; serial:\n%s", m[1], m[2], m[3], m[4], c.source, c.w, c.h, out.String())
			}
		})
	}
}

// TestNoDisplay boots the tour on a machine without a display (-vga none):
// one line says so, the tour goes on on serial, and the demo exits 0.
func TestNoDisplay(t *testing.T) {
	testenv.Need(t, "qemu")
	kernel, stub := testenv.Get(t, kernelOnce), testenv.Get(t, stubOnce)
	cmdline, err := build.KernelCmdline(nil, nil, []string{"-seconds", "0"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{Kernel: kernel, Stub: stub, Append: cmdline, Accel: "tcg",
		Stdout: &out, Timeout: bootTimeout, Extra: []string{"-vga", "none"}})
	serial := out.String()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("boot: %v, exit %d\n%s", err, res.ExitCode, serial)
	}
	if n := strings.Count(serial, "demo: no framebuffer ("); n != 1 || strings.Contains(serial, "CANVAS") {
		t.Errorf("want one no-framebuffer line and no canvas:\n%s", serial)
	}
	for _, want := range []string{"[Self-Evolution] candidate", "demo: Work healed:", "; done"} {
		if !strings.Contains(serial, want) {
			t.Errorf("serial output lacks %q:\n%s", want, serial)
		}
	}
}

// TestBochsDisplay: QEMU's bochs-display (PCI, no VGA ports) is driven
// through the DISPI registers in its MMIO BAR2, with page flipping.
func TestBochsDisplay(t *testing.T) {
	testenv.Need(t, "qemu")
	elf, stub := testenv.Get(t, benchOnce), testenv.Get(t, stubOnce)
	cmdline, err := build.KernelCmdline(nil, []string{"quiet"}, []string{"-mode", "info"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		extra []string
		regs  string
	}{
		{"bochs-display", []string{"-vga", "none", "-device", "bochs-display"}, "mmio"},
		{"std-vga", nil, "ports"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := qemu.Run(context.Background(), qemu.Config{Kernel: elf, Stub: stub, Append: cmdline, Accel: "tcg",
				Stdout: &out, Timeout: 3 * time.Minute, Extra: c.extra})
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("boot: %v, exit %d\n%s", err, res.ExitCode, out.String())
			}
			m := regexp.MustCompile(`CANVASBENCH display source="Bochs display \S+ \(registers by (\w+)\)[^"]*" width=(\d+) height=(\d+) pitch=(\d+) pages=(\d)`).FindStringSubmatch(out.String())
			if m == nil || m[1] != c.regs || m[2] != "800" || m[3] != "600" || m[5] != "2" {
				t.Errorf("want the Bochs display by %s, 800x600, 2 pages:\n%s", c.regs, out.String())
			}
		})
	}
}
