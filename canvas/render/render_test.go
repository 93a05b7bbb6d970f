package render

import (
	"fmt"
	"image"
	"image/color"
	"sync"
	"testing"
	"time"

	"github.com/velocityos/velocity/canvas/blobs"
	"github.com/velocityos/velocity/canvas/layout"
	"github.com/velocityos/velocity/canvas/model"
	"github.com/velocityos/velocity/telemetry"
)

var isNode = blobs.Is(HeatColors[:]...)

// graph makes a snapshot of nm modules with nf functions each, module i
// importing module i-1, function j calling function j+1.
func graph(b *model.Builder, nm, nf int, now time.Duration, samples []telemetry.Sample, events []model.Event) *model.Snapshot {
	var mods []model.Module
	for i := 0; i < nm; i++ {
		m := model.Module{CID: fmt.Sprint("mod", i), Name: fmt.Sprint("m", i)}
		if i > 0 {
			m.Imports = []string{fmt.Sprint("mod", i-1)}
		}
		for j := 0; j < nf; j++ {
			f := model.Func{CID: fmt.Sprintf("f%d.%d", i, j), Name: fmt.Sprintf("F%d", j)}
			if j+1 < nf {
				f.Calls = []string{fmt.Sprintf("f%d.%d", i, j+1)}
			}
			m.Funcs = append(m.Funcs, f)
		}
		mods = append(mods, m)
	}
	return b.Build(model.Inputs{Now: now, Modules: mods, Samples: samples, Events: events})
}

// scene lays the snapshot out for a w×h screen.
func scene(t testing.TB, s *model.Snapshot, w, h int) *Scene {
	g := Layout(w, h)
	l := layout.New(float64(g.Graph.Dx()), float64(g.Graph.Dy()), 1)
	l.MinDist = MinDist
	ids, es := s.LayoutGraph()
	l.Sync(ids, es)
	for range 300 {
		l.Step()
	}
	if o := l.Overlaps(); o != 0 && t != nil {
		t.Fatalf("layout left %d overlapping pairs", o)
	}
	return &Scene{Snap: s, Pos: l.Positions(), Selected: -1, Now: s.At}
}

func render(sc *Scene, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	Draw(img, sc)
	return img
}

func TestNodeBlobsEqualNodes(t *testing.T) {
	var b model.Builder
	s := graph(&b, 4, 4, 0, nil, nil)
	sc := scene(t, s, 800, 600)
	img := render(sc, 800, 600)
	g := Layout(800, 600)
	bs := blobs.Find(img, g.Graph, isNode)
	if len(bs) != len(s.Nodes) {
		t.Fatalf("%d node-coloured blobs, %d nodes", len(bs), len(s.Nodes))
	}
	// Module discs are larger than function discs.
	big := 0
	for _, bl := range bs {
		if bl.Area > ModuleBlobMin {
			big++
		}
	}
	if big != s.Count(model.KindModule) {
		t.Errorf("%d large blobs, %d modules", big, s.Count(model.KindModule))
	}
	// Nothing but nodes uses heat colours: none outside the graph.
	if n := blobs.Count(img, g.Panel, isNode) + blobs.Count(img, g.Title, isNode); n != 0 {
		t.Errorf("%d heat-coloured pixels outside the graph", n)
	}
}

func colourAt(img *image.RGBA, g Geom, sc *Scene, i int) color.RGBA {
	x, y, _ := screenPos(g.Graph, sc, i)
	return img.RGBAAt(x, y)
}

func TestHeatChangesColour(t *testing.T) {
	var b model.Builder
	smp := func(c uint64) []telemetry.Sample {
		return []telemetry.Sample{{ID: "f0.1", Stats: telemetry.Stats{Calls: 1, Cycles: c}}}
	}
	s0 := graph(&b, 2, 3, 0, smp(0), nil)
	s1 := graph(&b, 2, 3, time.Second, smp(0), nil) // idle window
	sc := scene(t, s1, 640, 480)
	g := Layout(640, 480)
	i := s1.Find("f0.1")
	before := colourAt(render(sc, 640, 480), g, sc, i)
	s2 := graph(&b, 2, 3, 2*time.Second, smp(3_000_000_000), nil) // 3e9 cycles in a second
	sc.Snap = s2
	after := colourAt(render(sc, 640, 480), g, sc, i)
	if before != HeatColors[0] || after != HeatColors[HeatIndex(3e9)] || before == after {
		t.Errorf("colour %v before load, %v after (want %v then %v)", before, after, HeatColors[0], HeatColors[HeatIndex(3e9)])
	}
	_ = s0
	for _, c := range []struct {
		heat float64
		i    int
	}{{0, 0}, {-1, 0}, {9999, 0}, {1e4, 1}, {5e6, 3}, {1e10, 7}, {1e30, 7}} {
		if HeatIndex(c.heat) != c.i {
			t.Errorf("HeatIndex(%g) = %d, want %d", c.heat, HeatIndex(c.heat), c.i)
		}
	}
}

func TestSwapFlashAndDerivedEdge(t *testing.T) {
	var b model.Builder
	s := graph(&b, 2, 3, time.Second, nil, nil)
	sc := scene(t, s, 800, 600)
	img := render(sc, 800, 600)
	g := Layout(800, 600)
	if blobs.Count(img, g.Graph, blobs.Is(FlashColor)) != 0 || blobs.Count(img, g.Graph, blobs.Is(DerivedColor)) != 0 {
		t.Fatal("flash or derived-from edge before any swap")
	}
	ev := []model.Event{{Kind: "swap", Slot: "F1", From: "f1.1", To: "f1.1'", At: 2 * time.Second}}
	s2 := graph(&b, 2, 3, 2*time.Second, nil, ev)
	sc = scene(t, s2, 800, 600)
	img = render(sc, 800, 600)
	if n := blobs.Count(img, g.Graph, blobs.Is(FlashColor)); n == 0 {
		t.Error("no flash after the swap")
	}
	// The flash rings the new version.
	x, y, _ := screenPos(g.Graph, sc, s2.Find("f1.1'"))
	if img.RGBAAt(x+FuncRadius+2, y) != FlashColor {
		t.Errorf("pixel beside the new version is %v, not the flash", img.RGBAAt(x+FuncRadius+2, y))
	}
	if n := blobs.Count(img, g.Graph, blobs.Is(DerivedColor)); n < 5 {
		t.Errorf("derived-from edge: %d pixels", n)
	}
	if len(blobs.Find(img, g.Graph, isNode)) != len(s2.Nodes) {
		t.Errorf("node blobs after swap != %d nodes", len(s2.Nodes))
	}
	// The flash ends.
	sc.Now = 2*time.Second + FlashFor
	if n := blobs.Count(render(sc, 800, 600), g.Graph, blobs.Is(FlashColor)); n != 0 {
		t.Errorf("still flashing after FlashFor: %d pixels", n)
	}
	// A rollback rings the abandoned version.
	ev = append(ev, model.Event{Kind: "rollback", Slot: "F1", From: "f1.1", To: "f1.1'", At: 3 * time.Second})
	sc.Snap = graph(&b, 2, 3, 3*time.Second, nil, ev)
	if n := blobs.Count(render(sc, 800, 600), g.Graph, blobs.Is(RollbackColor)); n == 0 {
		t.Error("rollback not shown")
	}
}

func TestDetailsPanel(t *testing.T) {
	var b model.Builder
	s := graph(&b, 2, 2, 0, nil, nil)
	sc := scene(t, s, 800, 600)
	g := Layout(800, 600)
	if blobs.Count(render(sc, 800, 600), g.Panel, blobs.Is(DetailsBG)) != 0 {
		t.Fatal("details panel shown with nothing selected")
	}
	x, y, _ := screenPos(g.Graph, sc, 3)
	hit := HitTest(800, 600, sc, image.Pt(x+1, y))
	if hit != 3 {
		t.Fatalf("HitTest at node 3's centre gave %d", hit)
	}
	if HitTest(800, 600, sc, image.Pt(g.Panel.Min.X+5, 300)) != -1 {
		t.Error("a click on the panel hit a node")
	}
	sc.Selected, sc.Panel = hit, PanelDetails
	img := render(sc, 800, 600)
	if blobs.Count(img, g.Panel, blobs.Is(DetailsBG)) == 0 {
		t.Error("no details panel after selecting a node")
	}
	if blobs.Count(img, g.Graph, blobs.Is(SelectColor)) == 0 {
		t.Error("selected node not ringed")
	}
	p := ToGraph(800, 600, image.Pt(x, y))
	if p != sc.Pos[3] && (p.X-sc.Pos[3].X)*(p.X-sc.Pos[3].X) > 1 {
		t.Errorf("ToGraph(%d,%d) = %v, node at %v", x, y, p, sc.Pos[3])
	}
}

// Odd sizes and pitches: images whose stride is not 4×width (sub-images of
// a larger one), tiny and empty screens, a nil scene.
func TestOddSizes(t *testing.T) {
	var b model.Builder
	s := graph(&b, 3, 3, 0, nil, nil)
	s.CPUs = []model.CPU{{Load: 0.5}, {Load: 1, Reserved: true}}
	s.MemTotal, s.MemFree = 1<<30, 1<<29
	s.Log = []string{"[Self-Evolution] Latency warning on bafyreievtriujiyw24we7goe4wergiuk4ikwedzr2ys7gjigygmweremy4 avg=2555907 calls=50"}
	for _, wh := range [][2]int{{0, 0}, {1, 1}, {7, 3}, {33, 17}, {333, 211}, {641, 479}, {1025, 769}} {
		w, h := wh[0], wh[1]
		sc := scene(nil, s, max(w, 1), max(h, 1))
		for p := range NumPanels {
			sc.Panel = p
			big := image.NewRGBA(image.Rect(0, 0, w+13, h+5))
			dst := big.SubImage(image.Rect(5, 3, 5+w, 3+h)).(*image.RGBA)
			Draw(dst, sc)
			// Nothing outside the sub-image is touched.
			if blobs.Count(big, image.Rect(0, 0, w+13, 3), func(c color.RGBA) bool { return c != color.RGBA{} }) != 0 {
				t.Fatalf("%dx%d: drew outside the destination", w, h)
			}
		}
		Draw(image.NewRGBA(image.Rect(0, 0, w, h)), nil)
		Draw(image.NewRGBA(image.Rect(0, 0, w, h)), &Scene{})
	}
	// Positions shorter than the node list, NaNs: skipped.
	sc := &Scene{Snap: s, Pos: []layout.Vec{{X: 10, Y: 10}, {X: nan(), Y: 1}}, Selected: 99, Panel: PanelDetails}
	Draw(image.NewRGBA(image.Rect(0, 0, 300, 200)), sc)
}

func nan() float64 { var z float64; return z / z }

func TestZeroAndTenThousand(t *testing.T) {
	var b model.Builder
	s := graph(&b, 0, 0, 0, nil, nil)
	img := render(&Scene{Snap: s, Selected: -1}, 640, 480)
	if blobs.Count(img, img.Bounds(), isNode) != 0 {
		t.Error("node pixels with no nodes")
	}
	s = graph(&b, 1000, 9, 0, nil, nil) // 10,000 nodes
	if len(s.Nodes) != 10000 {
		t.Fatalf("%d nodes", len(s.Nodes))
	}
	g := Layout(1024, 768)
	l := layout.New(float64(g.Graph.Dx()), float64(g.Graph.Dy()), 1)
	ids, es := s.LayoutGraph()
	l.Sync(ids, es)
	l.Step()
	start := time.Now()
	img = render(&Scene{Snap: s, Pos: l.Positions(), Selected: 5}, 1024, 768)
	t.Logf("10,000 nodes drawn in %v", time.Since(start))
	if blobs.Count(img, g.Graph, isNode) == 0 {
		t.Error("no nodes drawn")
	}
}

// A module graph that changes while frames are drawn: the drawer only
// ever sees snapshots (run with -race).
func TestChangesWhileDrawn(t *testing.T) {
	var mu sync.Mutex
	var b model.Builder
	cur := graph(&b, 3, 3, 0, nil, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			var nb model.Builder
			s := graph(&nb, 1+k%5, 1+k%4, 0, nil, nil)
			mu.Lock()
			cur = s
			mu.Unlock()
		}
	})
	img := image.NewRGBA(image.Rect(0, 0, 400, 300))
	l := layout.New(260, 284, 1)
	for range 200 {
		mu.Lock()
		s := cur
		mu.Unlock()
		ids, es := s.LayoutGraph()
		l.Sync(ids, es)
		l.Step()
		Draw(img, &Scene{Snap: s, Pos: l.Positions(), Selected: 2})
	}
	close(stop)
	wg.Wait()
}

func TestWrap(t *testing.T) {
	got := wrap("aaa bbb ccc", 5)
	if len(got) != 3 || got[0] != "aaa" || got[2] != "ccc" {
		t.Errorf("%q", got)
	}
	if got := wrap("abcdefghij", 3); len(got) != 4 {
		t.Errorf("%q", got)
	}
}

func BenchmarkDraw(b *testing.B) {
	for _, n := range []int{50, 500, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var mb model.Builder
			s := graph(&mb, n/10, 9, 0, nil, nil)
			g := Layout(1024, 768)
			l := layout.New(float64(g.Graph.Dx()), float64(g.Graph.Dy()), 1)
			ids, es := s.LayoutGraph()
			l.Sync(ids, es)
			l.Step()
			sc := &Scene{Snap: s, Pos: l.Positions(), Selected: -1}
			img := image.NewRGBA(image.Rect(0, 0, 1024, 768))
			for b.Loop() {
				Draw(img, sc)
			}
		})
	}
}

func TestLineEndpoints(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 40, 40))
	for _, l := range [][4]int{{0, 0, 10, 3}, {30, 30, 2, 35}, {5, 5, 5, 5}, {1, 39, 39, 1}, {-100, 5, 100, 20}} {
		line(img, l[0], l[1], l[2], l[3], SelectColor, 1)
		for _, p := range [][2]int{{l[0], l[1]}, {l[2], l[3]}} {
			if image.Pt(p[0], p[1]).In(img.Rect) && img.RGBAAt(p[0], p[1]) != SelectColor {
				t.Errorf("line %v: endpoint %v not drawn", l, p)
			}
		}
	}
}

func TestASCII(t *testing.T) {
	if got := ASCII("swapped in 1.2 µs …abc × é\t"); got != "swapped in 1.2 us ...abc x ??" {
		t.Errorf("%q", got)
	}
}

// TestFlashing: the swap's ring shows from the swap for FlashFor, never
// before the swap (a swap stamped after the scene's clock), and not for a
// node never swapped.
func TestFlashing(t *testing.T) {
	n := &model.Node{SwappedAt: 10 * time.Second}
	for _, c := range []struct {
		now  time.Duration
		want bool
	}{
		{9 * time.Second, false},
		{10 * time.Second, true},
		{10*time.Second + FlashFor - 1, true},
		{10*time.Second + FlashFor, false},
	} {
		if got := Flashing(n, c.now); got != c.want {
			t.Errorf("swapped at 10s, now %v: %v, want %v", c.now, got, c.want)
		}
	}
	if Flashing(&model.Node{}, time.Second) {
		t.Error("a node never swapped flashes")
	}
}
