package compositor

import (
	"bytes"
	"image"
	"strings"
	"testing"
	"time"

	"github.com/velocityos/velocity/canvas/blobs"
	"github.com/velocityos/velocity/canvas/fb"
	"github.com/velocityos/velocity/canvas/model"
	"github.com/velocityos/velocity/canvas/render"
)

func gather() model.Inputs {
	return model.Inputs{Modules: []model.Module{
		{CID: "modA", Name: "a", Funcs: []model.Func{{CID: "fa1", Name: "One"}, {CID: "fa2", Name: "Two", Calls: []string{"fa1"}}}},
		{CID: "modB", Name: "b", Imports: []string{"modA"}, Funcs: []model.Func{{CID: "fb1", Name: "Three", Calls: []string{"fa2"}}}},
	}}
}

// packets encodes a move as PS/2 packets (at most ±255 each, y up).
func packets(dx, dy int, buttons byte) []byte {
	var out []byte
	for {
		sx, sy := max(min(dx, 255), -255), max(min(dy, 255), -255)
		h := 0x08 | buttons
		if sx < 0 {
			h |= 0x10
		}
		if -sy < 0 {
			h |= 0x20
		}
		out = append(out, h, byte(sx), byte(-sy))
		dx, dy = dx-sx, dy-sy
		if dx == 0 && dy == 0 {
			return out
		}
	}
}

func settled(t *testing.T, log *bytes.Buffer) *Compositor {
	c := New(Options{Width: 800, Height: 600, Seed: 1, Log: log}, gather)
	c.Refresh(0)
	for range 200 {
		c.Step()
	}
	return c
}

func feed(c *Compositor, bs []byte) {
	for _, b := range bs {
		c.MouseByte(b)
	}
}

func TestClickOpensDetails(t *testing.T) {
	var log bytes.Buffer
	c := settled(t, &log)
	sc := c.Scene()
	target := sc.Snap.Find("fb1")
	g := render.Layout(800, 600)
	p := sc.Pos[target]
	x, y := g.Graph.Min.X+int(p.X+0.5), g.Graph.Min.Y+int(p.Y+0.5)
	feed(c, packets(x-400, y-300, 0))
	feed(c, packets(0, 0, 1)) // left down
	feed(c, packets(0, 0, 0)) // left up
	if sc.Selected != target || sc.Panel != render.PanelDetails {
		t.Fatalf("selected %d panel %v, want %d and details; log:\n%s", sc.Selected, sc.Panel, target, log.String())
	}
	if !strings.Contains(log.String(), "CANVAS select node=fb1 kind=function label=Three") {
		t.Errorf("log: %s", log.String())
	}
	img := image.NewRGBA(image.Rect(0, 0, 800, 600))
	c.Draw(img, time.Second)
	if blobs.Count(img, g.Panel, blobs.Is(render.DetailsBG)) == 0 {
		t.Error("details panel not drawn")
	}
	// The selection survives a refresh.
	c.Refresh(time.Second)
	if sc.Selected != sc.Snap.Find("fb1") {
		t.Error("selection lost on refresh")
	}
	// A click on empty space clears it.
	feed(c, packets(g.Graph.Min.X+2-x, g.Graph.Min.Y+2-y, 0))
	feed(c, packets(0, 0, 1))
	feed(c, packets(0, 0, 0))
	if sc.Selected != -1 {
		t.Errorf("click on empty space left node %d selected", sc.Selected)
	}
}

func TestDrag(t *testing.T) {
	var log bytes.Buffer
	c := settled(t, &log)
	sc := c.Scene()
	i := sc.Snap.Find("modA")
	g := render.Layout(800, 600)
	p := sc.Pos[i]
	x, y := g.Graph.Min.X+int(p.X+0.5), g.Graph.Min.Y+int(p.Y+0.5)
	feed(c, packets(x-400, y-300, 0))
	feed(c, packets(0, 0, 1))
	to := image.Pt(g.Graph.Min.X+100, g.Graph.Min.Y+80)
	feed(c, packets(to.X-x, to.Y-y, 1))
	feed(c, packets(0, 0, 0))
	for range 20 {
		c.Step()
	}
	got := sc.Pos[i]
	if int(got.X) != 100 || int(got.Y) != 80 {
		t.Errorf("dragged node at %v, want (100,80)", got)
	}
	if sc.Selected != -1 || !strings.Contains(log.String(), "CANVAS drag node=modA") {
		t.Errorf("a drag selected node %d; log %s", sc.Selected, log.String())
	}
}

func TestKeys(t *testing.T) {
	var log bytes.Buffer
	c := settled(t, &log)
	sc := c.Scene()
	c.KeyByte(0x0f) // Tab
	c.KeyByte(0x8f)
	if sc.Panel != render.PanelLog {
		t.Errorf("Tab: panel %v", sc.Panel)
	}
	c.KeyByte(0x02) // 1
	if sc.Panel != render.PanelSystem {
		t.Errorf("1: panel %v", sc.Panel)
	}
	if c.QuitRequested() {
		t.Fatal("quit before Esc")
	}
	c.KeyByte(0x01)
	if !c.QuitRequested() {
		t.Error("Esc did not ask to quit")
	}
}

// fakeInput delivers bytes on the first poll, one of them a torn packet.
type fakeInput struct{ polls int }

func (f *fakeInput) Poll(mouse, key func(byte)) int {
	f.polls++
	if f.polls == 2 {
		mouse(0x08) // a packet's first byte alone: Run resyncs
	}
	if f.polls == 3 {
		for _, b := range packets(5, 0, 0) {
			mouse(b)
		}
	}
	return 0
}

func TestRun(t *testing.T) {
	d, err := fb.New(make([]byte, 320*240*4), 320, 240, 320*4)
	if err != nil {
		t.Fatal(err)
	}
	frames := 0
	stop := make(chan struct{})
	c := New(Options{Width: 320, Height: 240, Frame: time.Millisecond, AfterFrame: func(*render.Scene) {
		if frames++; frames == 20 {
			close(stop)
		}
	}}, gather)
	in := &fakeInput{}
	c.Run(d, in, stop)
	st := c.FrameStats()
	if st.Frames < 20 || st.FrameP50 <= 0 || st.FrameP99 < st.FrameP50 || d.Frames < 20 {
		t.Errorf("stats %+v, %d presents", st, d.Frames)
	}
	if c.Scene().Cursor.X != 165 {
		t.Errorf("pointer at %v after a torn packet and a 5-pixel move", c.Scene().Cursor)
	}
}

func TestQuantile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	if Quantile(ds, 0.5) != 3 || Quantile(ds, 0.99) != 5 || Quantile(nil, 0.5) != 0 || Quantile(ds, 0) != 1 {
		t.Error("quantiles wrong")
	}
}
