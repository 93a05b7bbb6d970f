package layout

import (
	"fmt"
	"math"
	"testing"
)

func ids(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint("n", i)
	}
	return s
}

// ring returns the edges of a cycle plus a few chords.
func ring(n int) [][2]int {
	var e [][2]int
	for i := 0; i < n && n > 1; i++ {
		e = append(e, [2]int{i, (i + 1) % n})
		if i%7 == 0 {
			e = append(e, [2]int{i, (i * 13) % n})
		}
	}
	return e
}

func checkSane(t *testing.T, l *Layout) {
	t.Helper()
	for i := 0; i < l.Len(); i++ {
		p := l.Pos(i)
		if math.IsNaN(p.X) || math.IsNaN(p.Y) || p.X < 0 || p.Y < 0 || p.X > l.W || p.Y > l.H {
			t.Fatalf("node %d at %v, outside [0,%v]x[0,%v]", i, p, l.W, l.H)
		}
	}
}

func TestEmptyAndSingle(t *testing.T) {
	l := New(800, 600, 1)
	l.Step() // nothing to do, must not panic
	l.Sync(nil, [][2]int{{0, 1}})
	l.Step()
	if l.Len() != 0 {
		t.Fatal("nodes appeared")
	}
	l.Sync([]string{"a"}, [][2]int{{0, 0}, {0, 5}, {-1, 0}})
	for range 50 {
		l.Step()
	}
	checkSane(t, l)
	// Gravity brings a lone node towards the centre.
	p := l.Pos(0)
	if math.Hypot(p.X-400, p.Y-300) > 50 {
		t.Errorf("a single node stayed at %v, far from the centre", p)
	}
}

func TestBadRectangle(t *testing.T) {
	for _, wh := range [][2]float64{{0, 0}, {-5, 10}, {math.NaN(), 3}, {math.Inf(1), 1}} {
		l := New(wh[0], wh[1], 1)
		l.Sync(ids(5), ring(5))
		l.Step()
		checkSane(t, l)
	}
}

func TestDeterministic(t *testing.T) {
	run := func() []Vec {
		l := New(800, 600, 42)
		l.Sync(ids(60), ring(60))
		for range 100 {
			l.Step()
		}
		return l.Positions()
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("node %d: %v then %v with the same seed", i, a[i], b[i])
		}
	}
	l := New(800, 600, 43)
	l.Sync(ids(60), ring(60))
	for range 100 {
		l.Step()
	}
	if l.Pos(0) == a[0] && l.Pos(1) == a[1] {
		t.Error("another seed gave the same layout")
	}
}

// Edges pull: connected pairs end up closer than the average pair.
func TestEdgesAttract(t *testing.T) {
	l := New(800, 600, 7)
	n := 40
	l.Sync(ids(n), ring(n))
	for range 300 {
		l.Step()
	}
	checkSane(t, l)
	var edge, all float64
	for _, e := range l.edges {
		edge += dist(l.Pos(e[0]), l.Pos(e[1]))
	}
	edge /= float64(len(l.edges))
	c := 0
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			all += dist(l.Pos(i), l.Pos(j))
			c++
		}
	}
	all /= float64(c)
	if edge >= all/2 {
		t.Errorf("mean edge length %.1f, mean distance %.1f: edges do not pull", edge, all)
	}
}

func dist(a, b Vec) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) }

func TestSeparation(t *testing.T) {
	l := New(640, 480, 3)
	l.MinDist = 26
	l.Sync(ids(50), ring(50))
	for range 200 {
		l.Step()
	}
	if o := l.Overlaps(); o != 0 {
		t.Errorf("%d pairs closer than %v", o, l.MinDist)
	}
	// Even from a pile of coincident nodes.
	for i := range l.pos {
		l.pos[i] = Vec{100, 100}
	}
	for range 200 {
		l.Step()
	}
	checkSane(t, l)
	if o := l.Overlaps(); o != 0 {
		t.Errorf("from one point: %d pairs closer than %v", o, l.MinDist)
	}
}

// The graph changes between steps: kept nodes keep their places, new
// nodes start next to a neighbour.
func TestSyncKeepsPlaces(t *testing.T) {
	l := New(800, 600, 5)
	l.Sync([]string{"a", "b", "c"}, [][2]int{{0, 1}, {1, 2}})
	for range 100 {
		l.Step()
	}
	pa, pc := l.Pos(0), l.Pos(2)
	// b goes away, d arrives attached to c, order changes.
	l.Sync([]string{"c", "d", "a"}, [][2]int{{0, 1}})
	if i, _ := l.Index("a"); l.Pos(i) != pa {
		t.Errorf("a moved from %v to %v on Sync", pa, l.Pos(i))
	}
	if i, _ := l.Index("c"); l.Pos(i) != pc {
		t.Errorf("c moved on Sync")
	}
	d, _ := l.Index("d")
	if dist(l.Pos(d), pc) > 30 {
		t.Errorf("new node d at %v, not next to its neighbour c at %v", l.Pos(d), pc)
	}
	l.Step()
	checkSane(t, l)
}

func TestPin(t *testing.T) {
	l := New(800, 600, 5)
	l.Sync(ids(10), ring(10))
	l.Pin(3, Vec{700, 500})
	for range 50 {
		l.Step()
	}
	if l.Pos(3) != (Vec{700, 500}) {
		t.Errorf("pinned node moved to %v", l.Pos(3))
	}
	l.Unpin(3)
	l.Step()
	if l.Pos(3) == (Vec{700, 500}) {
		t.Error("unpinned node did not move")
	}
	l.Pin(99, Vec{}) // out of range: ignored
}

// Barnes–Hut approximates the exact repulsion closely.
func TestBarnesHutMatchesExact(t *testing.T) {
	l := New(1000, 1000, 9)
	l.Sync(ids(500), nil)
	k2 := l.k() * l.k()
	exact := make([]Vec, l.Len())
	for i := range l.pos {
		for j := range l.pos {
			if i != j {
				d := sub(l.pos[i], l.pos[j])
				d2 := d.X*d.X + d.Y*d.Y
				exact[i].X += d.X * k2 / d2
				exact[i].Y += d.Y * k2 / d2
			}
		}
	}
	l.tree.build(l.pos)
	var errSum, mag float64
	for i, p := range l.pos {
		a := l.tree.force(p, k2, Theta)
		errSum += math.Hypot(a.X-exact[i].X, a.Y-exact[i].Y)
		mag += math.Hypot(exact[i].X, exact[i].Y)
	}
	if rel := errSum / mag; rel > 0.1 {
		t.Errorf("Barnes–Hut force error %.3f of the exact force", rel)
	} else {
		t.Logf("Barnes–Hut relative force error %.4f", rel)
	}
}

func TestTenThousand(t *testing.T) {
	l := New(1024, 768, 11)
	l.MinDist = 12 // no room for 10,000 such discs: the pass is skipped
	n := 10000
	l.Sync(ids(n), ring(n))
	if !l.UsesBarnesHut() {
		t.Fatal("10,000 nodes without Barnes–Hut")
	}
	for range 5 {
		l.Step()
	}
	checkSane(t, l)
	// Coincident nodes must not break the tree (depth limit).
	for i := range l.pos {
		l.pos[i] = Vec{5, 5}
	}
	l.Step()
	checkSane(t, l)
}

func BenchmarkStep(b *testing.B) {
	for _, n := range []int{50, 500, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			l := New(1024, 768, 1)
			l.Sync(ids(n), ring(n))
			for b.Loop() {
				l.Step()
			}
		})
	}
}

// Sync with the same graph does not re-warm a settled layout; a new node does.
func TestSyncWarmth(t *testing.T) {
	l := New(800, 600, 5)
	l.MinTemp = 0
	l.Sync(ids(10), ring(10))
	for range 300 {
		l.Step()
	}
	cold := l.Temp
	l.Sync(ids(10), ring(10))
	if l.Temp != cold {
		t.Errorf("same graph re-warmed the layout: %v -> %v", cold, l.Temp)
	}
	l.Sync(ids(11), ring(11))
	if l.Temp <= cold {
		t.Error("a new node did not re-warm the layout")
	}
}
