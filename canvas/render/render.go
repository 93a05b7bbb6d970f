// Package render draws the Synaptic Canvas into an *image.RGBA: the module
// graph (nodes coloured by telemetry heat, import, call and derived-from
// edges, the flash of a swap and the mark of a rollback) and the side
// panels (per-CPU busy time with the reserved core marked, memory, the
// last [Self-Evolution] lines, peers and model status, a node's details).
//
// It draws with image/draw and the bitmap font of
// golang.org/x/image/font/basicfont; nothing is anti-aliased, so every
// pixel of a node has exactly its heat colour and tests (on the host, and
// on QEMU screendumps) can find nodes by colour: the heat colours are used
// for nodes and nothing else.
package render

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/velocityos/velocity/canvas/layout"
	"github.com/velocityos/velocity/canvas/model"
)

// HeatColors are the node colours, coldest first. Heat (cycles per second)
// picks one by decade: below 10^4 is the first, each decade after that the
// next, 10^10 and above the last.
var HeatColors = [8]color.RGBA{
	{0x3a, 0x5f, 0xcd, 0xff}, // idle: blue
	{0x2e, 0x8b, 0xc0, 0xff},
	{0x1f, 0xa8, 0x8c, 0xff},
	{0x5c, 0xb8, 0x3c, 0xff},
	{0xc8, 0xc0, 0x28, 0xff},
	{0xe8, 0x90, 0x1c, 0xff},
	{0xe8, 0x58, 0x18, 0xff},
	{0xd8, 0x20, 0x20, 0xff}, // hottest: red
}

// Colours of everything else; none equals a heat colour.
var (
	Background    = color.RGBA{0x10, 0x12, 0x18, 0xff}
	PanelBG       = color.RGBA{0x1c, 0x20, 0x2a, 0xff}
	DetailsBG     = color.RGBA{0x30, 0x24, 0x50, 0xff} // the details panel: tests look for it
	TextColor     = color.RGBA{0xe0, 0xe0, 0xe0, 0xff}
	DimText       = color.RGBA{0x90, 0x90, 0xa0, 0xff}
	ImportColor   = color.RGBA{0x70, 0x78, 0x88, 0xff}
	CallColor     = color.RGBA{0x50, 0x90, 0xa0, 0xff}
	MemberColor   = color.RGBA{0x38, 0x3c, 0x48, 0xff}
	DerivedColor  = color.RGBA{0xff, 0x40, 0xff, 0xff} // derived-from edge: magenta
	FlashColor    = color.RGBA{0xff, 0xff, 0x60, 0xff} // ring around a node just swapped in
	RollbackColor = color.RGBA{0xff, 0x30, 0x80, 0xff} // ring around a rolled-back version
	SelectColor   = color.RGBA{0xff, 0xff, 0xff, 0xff}
	BarColor      = color.RGBA{0x40, 0xb0, 0x60, 0xff}
	ReservedColor = color.RGBA{0xa0, 0x60, 0xe0, 0xff} // the reserved (LLM) core's bar
	BarBG         = color.RGBA{0x30, 0x34, 0x40, 0xff}
)

// HeatIndex returns the index into HeatColors for a heat.
func HeatIndex(heat float64) int {
	if !(heat >= 1e4) { // also NaN
		return 0
	}
	i := int(math.Floor(math.Log10(heat))) - 3
	return min(max(i, 1), len(HeatColors)-1)
}

// Node radii in pixels; module nodes are larger, so a screenshot tells
// modules from functions by blob size.
const (
	ModuleRadius = 9
	FuncRadius   = 5
	// MinDist is the distance the layout keeps between node centres:
	// two module discs, their rings and a gap.
	MinDist = 2*ModuleRadius + 2*RingWidth + 6
	// RingWidth is the flash / rollback / selection ring, drawn outside
	// the disc (one pixel apart, so the disc keeps its size).
	RingWidth = 2
	// FlashFor is how long a swapped-in node flashes.
	FlashFor = 6 * time.Second
	// LabelLimit: graphs with more nodes are drawn without labels.
	LabelLimit = 80
)

// Flashing reports whether node n is drawn with the swap's flash ring at
// scene time now: for FlashFor after its swap, and not before it (a swap
// stamped after the scene's clock was read shows from the next frame).
// The demo's "swap shown" marker asks the same question, so a test's
// screendump after the marker finds the ring.
func Flashing(n *model.Node, now time.Duration) bool {
	return n.SwappedAt > 0 && now >= n.SwappedAt && now-n.SwappedAt < FlashFor
}

// Panel selects what the side panel shows.
type Panel int

const (
	PanelSystem  Panel = iota // CPUs, memory, peers, model, the last log lines
	PanelLog                  // the [Self-Evolution] lines, full height
	PanelDetails              // the selected node
	NumPanels
)

func (p Panel) String() string {
	return [...]string{"system", "self-evolution", "details"}[p]
}

// Scene is one frame: a snapshot, where its nodes are, and the UI state.
type Scene struct {
	Snap     *model.Snapshot
	Pos      []layout.Vec // graph-area coordinates, one per Snap.Nodes (missing: not drawn)
	Selected int          // node index, -1 for none
	Panel    Panel
	Cursor   image.Point // screen coordinates
	ShowCur  bool        // draw the pointer (after the mouse first moved)
	Now      time.Duration
	Status   string // a line at the bottom (frame time, input hints)
}

// Geom is where things go on a w×h screen.
type Geom struct {
	Screen, Title, Graph, Panel image.Rectangle
}

// TitleHeight is the height of the title bar.
const TitleHeight = 16

// Layout computes the geometry of a w×h screen. The panel takes a third
// of the width, at most 320 pixels; tiny screens get what fits.
func Layout(w, h int) Geom {
	w, h = max(w, 0), max(h, 0)
	pw := min(w/3, 320)
	th := min(TitleHeight, h)
	return Geom{
		Screen: image.Rect(0, 0, w, h),
		Title:  image.Rect(0, 0, w, th),
		Graph:  image.Rect(0, th, w-pw, h),
		Panel:  image.Rect(w-pw, th, w, h),
	}
}

var face = basicfont.Face7x13

// CharW and LineH are the font's cell.
const (
	CharW = 7
	LineH = 13
)

// Draw renders sc into dst, whatever dst's size (even empty).
func Draw(dst *image.RGBA, sc *Scene) {
	b := dst.Bounds()
	g := Layout(b.Dx(), b.Dy())
	g = offset(g, b.Min)
	draw.Draw(dst, b, image.NewUniform(Background), image.Point{}, draw.Src)
	if sc == nil || sc.Snap == nil {
		return
	}
	s := sc.Snap
	drawGraph(sub(dst, g.Graph), g.Graph, sc)
	fill(dst, g.Title, PanelBG)
	text(sub(dst, g.Title), g.Title.Min.X+4, g.Title.Min.Y+11, TextColor,
		fmt.Sprintf("Velocity - Synaptic Canvas   t=%.1fs   %d modules, %d functions   swaps %d, rollbacks %d   [Tab] panel: %s",
			s.At.Seconds(), s.Count(model.KindModule), s.Count(model.KindFunc)+s.Count(model.KindGo), s.Swaps, s.Rolled, sc.Panel))
	drawPanel(sub(dst, g.Panel), g.Panel, sc)
	if sc.ShowCur {
		drawCursor(dst, sc.Cursor)
	}
}

func offset(g Geom, p image.Point) Geom {
	return Geom{g.Screen.Add(p), g.Title.Add(p), g.Graph.Add(p), g.Panel.Add(p)}
}

// sub is dst clipped to r (drawing outside r is dropped).
func sub(dst *image.RGBA, r image.Rectangle) *image.RGBA {
	return dst.SubImage(r).(*image.RGBA)
}

func fill(dst *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(dst, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func text(dst *image.RGBA, x, y int, c color.RGBA, s string) {
	if dst.Bounds().Empty() {
		return
	}
	d := font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(ASCII(s))
}

// ASCII spells s with the characters the bitmap font has: the log's µ
// becomes u, an ellipsis three dots, anything else outside printable
// ASCII a question mark.
func ASCII(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r == 'µ':
			b.WriteByte('u')
		case r == '…':
			b.WriteString("...")
		case r == '×':
			b.WriteByte('x')
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// set writes one pixel if it is inside dst.
func set(dst *image.RGBA, x, y int, c color.RGBA) {
	if !(image.Point{x, y}.In(dst.Rect)) {
		return
	}
	i := dst.PixOffset(x, y)
	dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = c.R, c.G, c.B, c.A
}

// disc fills a circle of radius r (pixels whose centre is within r+0.5).
func disc(dst *image.RGBA, cx, cy, r int, c color.RGBA) {
	rr := (2*r + 1) * (2*r + 1) // (r+0.5)² scaled by 4
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			if 4*(dx*dx+dy*dy) <= rr {
				set(dst, cx+dx, cy+dy, c)
			}
		}
	}
}

// ring draws the annulus r0 < dist <= r1.
func ring(dst *image.RGBA, cx, cy, r0, r1 int, c color.RGBA) {
	in, out := (2*r0+1)*(2*r0+1), (2*r1+1)*(2*r1+1)
	for dy := -r1; dy <= r1; dy++ {
		for dx := -r1; dx <= r1; dx++ {
			d := 4 * (dx*dx + dy*dy)
			if d > in && d <= out {
				set(dst, cx+dx, cy+dy, c)
			}
		}
	}
}

// line draws a Bresenham line, clipped by set.
func line(dst *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, width int) {
	// Lines far outside are skipped rather than walked.
	r := dst.Rect.Inset(-4)
	if (x0 < r.Min.X && x1 < r.Min.X) || (x0 >= r.Max.X && x1 >= r.Max.X) || (y0 < r.Min.Y && y1 < r.Min.Y) || (y0 >= r.Max.Y && y1 >= r.Max.Y) {
		return
	}
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for n := 0; n <= dx-dy; n++ { // a Bresenham walk takes at most dx+|dy| steps
		for w := 0; w < width; w++ {
			if dx >= -dy {
				set(dst, x0, y0+w, c)
			} else {
				set(dst, x0+w, y0, c)
			}
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// NodeRadius is the radius a node is drawn with.
func NodeRadius(n *model.Node) int {
	if n.Kind == model.KindModule {
		return ModuleRadius
	}
	return FuncRadius
}

// screenPos returns node i's pixel position, and whether it has one.
func screenPos(area image.Rectangle, sc *Scene, i int) (int, int, bool) {
	if i >= len(sc.Pos) {
		return 0, 0, false
	}
	p := sc.Pos[i]
	if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.IsInf(p.X, 0) || math.IsInf(p.Y, 0) {
		return 0, 0, false
	}
	return area.Min.X + int(math.Round(p.X)), area.Min.Y + int(math.Round(p.Y)), true
}

func drawGraph(dst *image.RGBA, area image.Rectangle, sc *Scene) {
	s := sc.Snap
	// Edges first, nodes on top: a node's disc is never cut by an edge.
	for pass := 0; pass < 2; pass++ {
		for _, e := range s.Edges {
			if (e.Kind == model.EdgeDerivedFrom) != (pass == 1) {
				continue
			}
			x0, y0, ok0 := screenPos(area, sc, e.From)
			x1, y1, ok1 := screenPos(area, sc, e.To)
			if !ok0 || !ok1 || e.From >= len(s.Nodes) || e.To >= len(s.Nodes) {
				continue
			}
			switch e.Kind {
			case model.EdgeImport:
				line(dst, x0, y0, x1, y1, ImportColor, 1)
			case model.EdgeCall:
				line(dst, x0, y0, x1, y1, CallColor, 1)
			case model.EdgeMember:
				line(dst, x0, y0, x1, y1, MemberColor, 1)
			case model.EdgeDerivedFrom:
				line(dst, x0, y0, x1, y1, DerivedColor, 2)
			}
		}
	}
	if len(s.Nodes) <= LabelLimit {
		drawLabels(dst, area, sc)
	}
	for i := range s.Nodes {
		x, y, ok := screenPos(area, sc, i)
		if !ok {
			continue
		}
		n := &s.Nodes[i]
		r := NodeRadius(n)
		disc(dst, x, y, r, HeatColors[HeatIndex(n.Heat)])
		switch {
		case i == sc.Selected:
			ring(dst, x, y, r+1, r+1+RingWidth, SelectColor)
		case n.RolledBack:
			ring(dst, x, y, r+1, r+1+RingWidth, RollbackColor)
		case Flashing(n, sc.Now):
			ring(dst, x, y, r+1, r+1+RingWidth, FlashColor)
		}
	}
	if len(s.Nodes) == 0 {
		text(dst, area.Min.X+8, area.Min.Y+20, DimText, "no modules loaded")
	}
	if sc.Status != "" {
		text(dst, area.Min.X+4, area.Max.Y-4, DimText, sc.Status)
	}
}

// drawLabels writes each node's label to the right of its disc, else to
// the left, wherever it covers neither another label nor another node;
// a label with no free place is left out rather than drawn over others.
func drawLabels(dst *image.RGBA, area image.Rectangle, sc *Scene) {
	s := sc.Snap
	var taken []image.Rectangle
	discs := make([]image.Rectangle, len(s.Nodes))
	for i := range s.Nodes {
		if x, y, ok := screenPos(area, sc, i); ok {
			r := NodeRadius(&s.Nodes[i]) + 1 + RingWidth
			discs[i] = image.Rect(x-r, y-r, x+r+1, y+r+1)
		}
	}
	free := func(r image.Rectangle, self int) bool {
		for _, t := range taken {
			if r.Overlaps(t) {
				return false
			}
		}
		for j, d := range discs {
			if j != self && r.Overlaps(d) {
				return false
			}
		}
		return true
	}
	for i := range s.Nodes {
		x, y, ok := screenPos(area, sc, i)
		if !ok {
			continue
		}
		n := &s.Nodes[i]
		label := ASCII(n.Label)
		w, gap := len(label)*CharW, NodeRadius(n)+RingWidth+3
		for _, lx := range []int{x + gap, x - gap - w} {
			r := image.Rect(lx, y-9, lx+w, y+4)
			if free(r, i) {
				text(dst, lx, y+4, DimText, label)
				taken = append(taken, r)
				break
			}
		}
	}
}

// HitTest returns the node under screen point p on a w×h screen, or -1.
func HitTest(w, h int, sc *Scene, p image.Point) int {
	g := Layout(w, h)
	if sc == nil || sc.Snap == nil || !p.In(g.Graph) {
		return -1
	}
	best, bestD := -1, math.MaxInt
	for i := range sc.Snap.Nodes {
		x, y, ok := screenPos(g.Graph, sc, i)
		if !ok {
			continue
		}
		r := NodeRadius(&sc.Snap.Nodes[i]) + 2
		d := (x-p.X)*(x-p.X) + (y-p.Y)*(y-p.Y)
		if d <= r*r && d < bestD {
			best, bestD = i, d
		}
	}
	return best
}

// ToGraph converts a screen point to graph-area coordinates.
func ToGraph(w, h int, p image.Point) layout.Vec {
	g := Layout(w, h)
	return layout.Vec{X: float64(p.X - g.Graph.Min.X), Y: float64(p.Y - g.Graph.Min.Y)}
}

func drawPanel(dst *image.RGBA, area image.Rectangle, sc *Scene) {
	if area.Empty() {
		return
	}
	fill(dst, area, PanelBG)
	s := sc.Snap
	x, y := area.Min.X+6, area.Min.Y+LineH+2
	cols := max((area.Dx()-12)/CharW, 1)
	put := func(c color.RGBA, str string) {
		for _, l := range wrap(str, cols) {
			text(dst, x, y, c, l)
			y += LineH
		}
	}
	switch sc.Panel {
	case PanelDetails:
		fill(dst, image.Rect(area.Min.X, area.Min.Y, area.Max.X, area.Min.Y+LineH+6), DetailsBG)
		put(TextColor, "Node details")
		y += 4
		if sc.Selected < 0 || sc.Selected >= len(s.Nodes) {
			put(DimText, "click a node to see its CID, calls, mean cycles and versions")
			return
		}
		for _, l := range s.Nodes[sc.Selected].Details() {
			put(TextColor, l)
		}
	case PanelLog:
		put(TextColor, "[Self-Evolution]")
		if len(s.Log) == 0 {
			put(DimText, "no healing yet")
		}
		for _, l := range s.Log {
			put(DimText, strings.TrimPrefix(l, "[Self-Evolution] "))
			y += 3
		}
	default:
		put(TextColor, "CPUs (busy over the last window)")
		if len(s.CPUs) == 0 {
			put(DimText, "kernel statistics not available")
		}
		for i, c := range s.CPUs {
			label := fmt.Sprintf("cpu%d", i)
			bar := BarColor
			if c.Reserved {
				label += " R"
				bar = ReservedColor
			}
			text(dst, x, y, TextColor, label)
			bx := x + 8*CharW
			bw := max(area.Max.X-bx-6*CharW-6, 0)
			fill(dst, image.Rect(bx, y-9, bx+bw, y+1), BarBG)
			fill(dst, image.Rect(bx, y-9, bx+int(float64(bw)*c.Load), y+1), bar)
			text(dst, bx+bw+4, y, TextColor, fmt.Sprintf("%3.0f%%", 100*c.Load))
			y += LineH + 2
		}
		if reserved(s) {
			put(DimText, "R = reserved core (pinned work: the LLM's core)")
		}
		y += 4
		put(TextColor, "Memory")
		if s.MemTotal > 0 {
			used := s.MemTotal - min(s.MemFree, s.MemTotal)
			put(DimText, fmt.Sprintf("RAM %s used of %s", mib(used), mib(s.MemTotal)))
			bw := area.Dx() - 12
			fill(dst, image.Rect(x, y-9, x+bw, y+1), BarBG)
			fill(dst, image.Rect(x, y-9, x+int(float64(bw)*float64(used)/float64(s.MemTotal)), y+1), BarColor)
			y += LineH
		}
		put(DimText, "Go heap "+mib(s.HeapAlloc))
		y += 4
		put(TextColor, "Network peers: "+s.Peers)
		put(TextColor, "On-board model: "+s.Model)
		y += 4
		put(TextColor, "Last [Self-Evolution] lines")
		log := s.Log
		if len(log) > 4 {
			log = log[len(log)-4:]
		}
		if len(log) == 0 {
			put(DimText, "none yet")
		}
		for _, l := range log {
			put(DimText, strings.TrimPrefix(l, "[Self-Evolution] "))
		}
	}
}

func reserved(s *model.Snapshot) bool {
	for _, c := range s.CPUs {
		if c.Reserved {
			return true
		}
	}
	return false
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// wrap splits s into lines of at most n characters (runes).
func wrap(s string, n int) []string {
	r := []rune(s)
	var out []string
	for len(r) > n {
		cut := n
		for i := n; i > n/2; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		out = append(out, string(r[:cut]))
		r = r[cut:]
		for len(r) > 0 && r[0] == ' ' {
			r = r[1:]
		}
	}
	return append(out, string(r))
}

// drawCursor draws an arrow pointer with its tip at p.
func drawCursor(dst *image.RGBA, p image.Point) {
	for i := 0; i < 12; i++ {
		for j := 0; j <= i/2+1 && j < 7; j++ {
			c := SelectColor
			if j == 0 || j == i/2+1 || i == 11 {
				c = Background
			}
			set(dst, p.X+j, p.Y+i, c)
		}
	}
}

// ModuleBlobMin separates module discs from function discs by area: a
// function disc has fewer pixels, a module disc more.
const ModuleBlobMin = (ModuleRadius*ModuleRadius + FuncRadius*FuncRadius) * 3 / 2
