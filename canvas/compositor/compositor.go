// Package compositor runs the Synaptic Canvas: on every frame tick it
// polls input, moves the layout one step, draws the scene off-screen and
// presents it; every RefreshEvery it takes a new snapshot of the system
// (package model). Input is a small state machine: a click on a node
// selects it and opens its details, a drag moves it (and pins it where it
// is dropped), Tab and 1-3 switch the side panel, Esc or Q asks the
// program to quit.
//
// Everything but Run is independent of the hardware, so the UI is tested
// on the host with synthetic mouse bytes.
package compositor

import (
	"fmt"
	"image"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/velocityos/velocity/canvas/input"
	"github.com/velocityos/velocity/canvas/layout"
	"github.com/velocityos/velocity/canvas/model"
	"github.com/velocityos/velocity/canvas/render"
)

// Options configure a compositor.
type Options struct {
	Width, Height int
	Frame         time.Duration // frame budget (default 100 ms: 10 frames a second)
	RefreshEvery  time.Duration // snapshot interval (default 250 ms)
	Seed          uint64        // layout seed
	Log           io.Writer     // "CANVAS ..." lines for clicks, panels (nil: none)
	// AfterFrame, if set, runs after each presented frame with the
	// scene just shown (the demo prints markers tests wait for).
	AfterFrame func(sc *render.Scene)
}

// Gather returns the inputs of the next snapshot.
type Gather func() model.Inputs

// Compositor is the canvas's state. Its methods are called from one
// goroutine (Run's); FrameStats may be called from any.
type Compositor struct {
	opt    Options
	gather Gather
	b      model.Builder
	lay    *layout.Layout
	sc     render.Scene
	selID  string
	ptr    input.Pointer
	mouse  input.MouseDecoder
	keys   input.KeyDecoder
	press  press
	quit   bool
	start  time.Time
	last   time.Duration // last refresh

	mu     sync.Mutex
	frames []time.Duration // ring of recent frame times
	steps  []time.Duration
	nframe int
}

type press struct {
	node     int // node under the pointer when the left button went down, -1 none
	at       image.Point
	down     bool
	dragging bool
}

// New returns a compositor for a w×h screen.
func New(opt Options, gather Gather) *Compositor {
	if opt.Frame <= 0 {
		opt.Frame = 100 * time.Millisecond
	}
	if opt.RefreshEvery <= 0 {
		opt.RefreshEvery = 250 * time.Millisecond
	}
	g := render.Layout(opt.Width, opt.Height)
	l := layout.New(float64(g.Graph.Dx()), float64(g.Graph.Dy()), opt.Seed)
	l.MinDist = render.MinDist
	l.MinTemp = 0 // settle completely: a still picture between changes
	c := &Compositor{opt: opt, gather: gather, lay: l, start: time.Now()}
	c.sc.Selected = -1
	c.ptr = input.Pointer{X: opt.Width / 2, Y: opt.Height / 2, W: opt.Width, H: opt.Height}
	c.sc.Cursor = image.Pt(c.ptr.X, c.ptr.Y)
	c.press.node = -1
	return c
}

func (c *Compositor) logf(format string, args ...any) {
	if c.opt.Log != nil {
		fmt.Fprintf(c.opt.Log, "CANVAS "+format+"\n", args...)
	}
}

// Scene returns the current scene (for tests and markers).
func (c *Compositor) Scene() *render.Scene { return &c.sc }

// Layout returns the layout (for tests).
func (c *Compositor) Layout() *layout.Layout { return c.lay }

// Refresh takes a new snapshot and gives the layout its graph.
func (c *Compositor) Refresh(now time.Duration) {
	in := c.gather()
	in.Now = now
	s := c.b.Build(in)
	ids, es := s.LayoutGraph()
	c.lay.Sync(ids, es)
	c.sc.Snap = s
	c.sc.Selected = -1
	if c.selID != "" {
		c.sc.Selected = s.Find(c.selID)
	}
	c.sc.Pos = c.lay.Positions()
	c.last = now
}

// Step advances the layout by one step, timed.
func (c *Compositor) Step() time.Duration {
	t := time.Now()
	c.lay.Step()
	d := time.Since(t)
	c.sc.Pos = c.lay.Positions()
	return d
}

// Draw renders the scene into dst.
func (c *Compositor) Draw(dst *image.RGBA, now time.Duration) {
	c.sc.Now = now
	render.Draw(dst, &c.sc)
}

// MouseByte feeds one byte from the mouse.
func (c *Compositor) MouseByte(b byte) {
	if ev, ok := c.mouse.Feed(b); ok {
		c.MouseEvent(ev)
	}
}

// KeyByte feeds one scan code byte from the keyboard.
func (c *Compositor) KeyByte(b byte) {
	if k := c.keys.Feed(b); k != input.KeyNone {
		c.Key(k)
	}
}

// MouseEvent applies one decoded mouse packet.
func (c *Compositor) MouseEvent(ev input.MouseEvent) {
	down, up := c.ptr.Apply(ev)
	p := image.Pt(c.ptr.X, c.ptr.Y)
	if ev.DX != 0 || ev.DY != 0 {
		c.sc.ShowCur = true
	}
	c.sc.Cursor = p
	w, h := c.opt.Width, c.opt.Height
	if down&input.Left != 0 {
		c.press = press{node: render.HitTest(w, h, &c.sc, p), at: p, down: true}
	}
	if c.press.down && c.press.node >= 0 {
		d := p.Sub(c.press.at)
		if !c.press.dragging && d.X*d.X+d.Y*d.Y > 9 {
			c.press.dragging = true
		}
		if c.press.dragging {
			c.lay.Pin(c.press.node, render.ToGraph(w, h, p))
			c.sc.Pos = c.lay.Positions()
		}
	}
	if up&input.Left != 0 && c.press.down {
		if c.press.dragging {
			c.logf("drag node=%s x=%d y=%d", c.nodeID(c.press.node), p.X, p.Y)
		} else {
			c.click(p)
		}
		c.press = press{node: -1}
	}
}

func (c *Compositor) nodeID(i int) string {
	if c.sc.Snap == nil || i < 0 || i >= len(c.sc.Snap.Nodes) {
		return "none"
	}
	return c.sc.Snap.Nodes[i].ID
}

func (c *Compositor) click(p image.Point) {
	i := render.HitTest(c.opt.Width, c.opt.Height, &c.sc, p)
	c.sc.Selected = i
	c.selID = ""
	if i >= 0 {
		c.selID = c.sc.Snap.Nodes[i].ID
		c.sc.Panel = render.PanelDetails
		n := &c.sc.Snap.Nodes[i]
		c.logf("select node=%s kind=%s label=%s calls=%d mean=%.0f versions=%d x=%d y=%d",
			n.ID, n.Kind, n.Label, n.Calls, n.MeanCycles, len(n.Versions), p.X, p.Y)
		return
	}
	c.logf("click x=%d y=%d node=none", p.X, p.Y)
}

// Key applies one key press.
func (c *Compositor) Key(k input.Key) {
	switch k {
	case input.KeyTab:
		c.sc.Panel = (c.sc.Panel + 1) % render.NumPanels
	case input.Key1:
		c.sc.Panel = render.PanelSystem
	case input.Key2:
		c.sc.Panel = render.PanelLog
	case input.Key3:
		c.sc.Panel = render.PanelDetails
	case input.KeyEsc, input.KeyQ:
		c.quit = true
		c.logf("quit requested")
		return
	default:
		return
	}
	c.logf("panel %s", c.sc.Panel)
}

// QuitRequested reports whether Esc or Q was pressed.
func (c *Compositor) QuitRequested() bool { return c.quit }

// Display is where frames go: canvas/fb.FB, or a test's image.
type Display interface {
	BackBuffer() *image.RGBA
	Present()
}

// Input is a source of PS/2 bytes (drivers/ps2.Controller); nil for none.
type Input interface {
	Poll(mouse, key func(byte)) int
}

// Run draws frames on d at the frame budget until stop is closed or a quit
// key is pressed. A frame that overruns its budget starts the next one at
// once (frames are dropped, never queued).
func (c *Compositor) Run(d Display, in Input, stop <-chan struct{}) {
	tick := time.NewTicker(c.opt.Frame)
	defer tick.Stop()
	c.Refresh(time.Since(c.start))
	for !c.quit {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		t0 := time.Now()
		now := t0.Sub(c.start)
		if in != nil {
			in.Poll(c.MouseByte, c.KeyByte)
			if c.mouse.Pending() {
				// A packet's bytes arrive together; one split across
				// polls a frame apart lost a byte: start over.
				c.mouse.Resync()
			}
		}
		if now-c.last >= c.opt.RefreshEvery {
			c.Refresh(now)
		}
		// While the layout is hot (a new graph), take extra steps within
		// a fifth of the frame budget, so it settles in a second or two
		// rather than one step per frame; a settled layout costs one.
		step := c.Step()
		for n, spent := 1, step; n < maxSteps && c.lay.Temp > hot && spent < c.opt.Frame/5; n++ {
			spent += c.Step()
		}
		c.Draw(d.BackBuffer(), now)
		d.Present()
		c.record(time.Since(t0), step)
		if c.opt.AfterFrame != nil {
			c.opt.AfterFrame(&c.sc)
		}
	}
}

const ring = 1024

// maxSteps bounds the layout steps of one frame; hot is the temperature
// (pixels per step) above which a frame takes more than one.
const (
	maxSteps = 40
	hot      = 0.05
)

func (c *Compositor) record(frame, step time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.frames) < ring {
		c.frames = append(c.frames, frame)
		c.steps = append(c.steps, step)
	} else {
		c.frames[c.nframe%ring] = frame
		c.steps[c.nframe%ring] = step
	}
	c.nframe++
}

// Stats are frame and layout-step times over the recent frames.
type Stats struct {
	Frames             int
	FrameP50, FrameP99 time.Duration
	StepP50            time.Duration
}

// FrameStats summarises the last (up to 1024) frames.
func (c *Compositor) FrameStats() Stats {
	c.mu.Lock()
	f, s := slices.Clone(c.frames), slices.Clone(c.steps)
	n := c.nframe
	c.mu.Unlock()
	return Stats{Frames: n, FrameP50: Quantile(f, 0.5), FrameP99: Quantile(f, 0.99), StepP50: Quantile(s, 0.5)}
}

// ResetStats forgets the recorded frame times.
func (c *Compositor) ResetStats() {
	c.mu.Lock()
	c.frames, c.steps, c.nframe = c.frames[:0], c.steps[:0], 0
	c.mu.Unlock()
}

// Quantile returns the q-quantile of ds (nearest rank); 0 for none.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
