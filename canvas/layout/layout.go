// Package layout places the nodes of a graph in a rectangle with the
// Fruchterman–Reingold force model: every pair of nodes repels, every edge
// pulls its ends together, and each step moves a node along its net force
// by at most the current temperature.
//
// Exact repulsion costs O(n²) per step, which is fine for the few dozen
// nodes of a module table but not for thousands; above BarnesHutAbove
// nodes the repulsion is approximated with a Barnes–Hut quadtree (O(n log n)):
// a cell far enough away (size/distance < Theta) acts as one body at its
// centre of mass.
//
// The layout is meant for a live view whose graph changes between steps:
// Sync keeps the position of every node that is still there (by ID), and
// places new nodes next to a neighbour that already has a place, so the
// picture does not jump. Everything random comes from one seeded source,
// so a seed gives the same picture on every machine.
package layout

import (
	"math"
	"math/rand/v2"
)

// Vec is a point or a displacement.
type Vec struct{ X, Y float64 }

// BarnesHutAbove is the node count above which repulsion uses the quadtree.
const BarnesHutAbove = 300

// Gravity is the pull towards the centre per pixel of distance. With
// k² = C²·area/n the total repulsion on a node is about C²·area/d whatever
// n is, so this keeps graphs of any size within about 0.4·sqrt(area) of
// the centre, clear of the walls, and disconnected parts close by.
const Gravity = 2

// Theta is the Barnes–Hut opening criterion (cell size / distance).
const Theta = 0.8

// Layout holds the positions of one graph. It is not safe for concurrent
// use; the canvas steps it from one goroutine.
type Layout struct {
	W, H float64 // the rectangle [0,W]×[0,H]
	// MinDist is the smallest distance Step leaves between two nodes'
	// centres when there is room for it (0: no separation pass). The
	// renderer sets it to the node diameter plus a margin, so two nodes
	// never draw over each other.
	MinDist float64
	// MinTemp keeps a live layout moving a little so that new nodes
	// settle; Temp starts at W/10 and cools by 5% a step down to MinTemp.
	MinTemp float64
	Temp    float64

	rng    *rand.Rand
	ids    []string
	index  map[string]int
	pos    []Vec
	disp   []Vec
	pinned []bool
	edges  [][2]int
	forced bool // ForceExact / ForceBarnesHut for tests and benchmarks
	bh     bool
	tree   quadtree
}

// New returns an empty layout of a w×h rectangle whose random choices come
// from seed.
func New(w, h float64, seed uint64) *Layout {
	if !(w > 0) || !(h > 0) || math.IsInf(w, 0) || math.IsInf(h, 0) {
		w, h = 1, 1
	}
	return &Layout{W: w, H: h, Temp: w / 10, MinTemp: 0.5,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), index: map[string]int{}}
}

// Len is the number of nodes.
func (l *Layout) Len() int { return len(l.ids) }

// Pos returns node i's position.
func (l *Layout) Pos(i int) Vec { return l.pos[i] }

// Positions returns a copy of every node's position, in Sync's order.
func (l *Layout) Positions() []Vec { return append([]Vec(nil), l.pos...) }

// Index returns the index of the node with this ID.
func (l *Layout) Index(id string) (int, bool) {
	i, ok := l.index[id]
	return i, ok
}

// Sync sets the graph: ids are the nodes (duplicates keep their first
// occurrence's place), edges index into ids. Nodes seen before keep their
// position; a new node starts near the first neighbour that has one, else
// at a random point. Edges with an end out of range are ignored. It
// re-warms the layout a little when nodes were added so they can settle.
func (l *Layout) Sync(ids []string, edges [][2]int) {
	oldPos, oldPin := map[string]Vec{}, map[string]bool{}
	for i, id := range l.ids {
		oldPos[id], oldPin[id] = l.pos[i], l.pinned[i]
	}
	n := len(ids)
	l.ids = append(l.ids[:0], ids...)
	clear(l.index)
	l.pos = resize(l.pos, n)
	l.disp = resize(l.disp, n)
	l.pinned = resizeBool(l.pinned, n)
	placed := make([]bool, n)
	added := 0
	for i, id := range ids {
		if _, dup := l.index[id]; !dup {
			l.index[id] = i
		}
		if p, ok := oldPos[id]; ok {
			l.pos[i], l.pinned[i], placed[i] = p, oldPin[id], true
		} else {
			l.pinned[i] = false
			added++
		}
	}
	l.edges = l.edges[:0]
	for _, e := range edges {
		if e[0] >= 0 && e[0] < n && e[1] >= 0 && e[1] < n && e[0] != e[1] {
			l.edges = append(l.edges, e)
		}
	}
	// New nodes next to a placed neighbour (a few passes reach chains).
	for pass := 0; pass < 3 && added > 0; pass++ {
		for _, e := range l.edges {
			for k := 0; k < 2; k++ {
				a, b := e[k], e[1-k]
				if !placed[a] && placed[b] {
					ang := l.rng.Float64() * 2 * math.Pi
					r := 10 + l.rng.Float64()*10
					l.pos[a] = l.clamp(Vec{l.pos[b].X + r*math.Cos(ang), l.pos[b].Y + r*math.Sin(ang)})
					placed[a] = true
					added--
				}
			}
		}
	}
	for i := range l.pos {
		if !placed[i] {
			l.pos[i] = Vec{l.rng.Float64() * l.W, l.rng.Float64() * l.H}
		}
	}
	if newcomers(oldPos, ids) {
		l.Temp = max(l.Temp, l.W/40) // a little warmth for the newcomers
	}
}

// newcomers reports whether Sync placed any node that was not there before

func newcomers(old map[string]Vec, ids []string) bool {
	if len(old) == 0 {
		return false
	}
	for _, id := range ids {
		if _, ok := old[id]; !ok {
			return true
		}
	}
	return false
}

func resize(v []Vec, n int) []Vec {
	if cap(v) >= n {
		return v[:n]
	}
	return append(v[:cap(v)], make([]Vec, n-cap(v))...)
}

func resizeBool(v []bool, n int) []bool {
	if cap(v) >= n {
		return v[:n]
	}
	return append(v[:cap(v)], make([]bool, n-cap(v))...)
}

// Pin fixes node i at p (a node being dragged); Step leaves it there.
func (l *Layout) Pin(i int, p Vec) {
	if i < 0 || i >= len(l.pos) {
		return
	}
	l.pos[i], l.pinned[i] = l.clamp(p), true
}

// Unpin lets node i move again.
func (l *Layout) Unpin(i int) {
	if i >= 0 && i < len(l.pinned) {
		l.pinned[i] = false
	}
}

// ForceExact makes Step use exact O(n²) repulsion whatever the size, and
// ForceBarnesHut the quadtree; tests and benchmarks compare the two.
func (l *Layout) ForceExact()     { l.forced, l.bh = true, false }
func (l *Layout) ForceBarnesHut() { l.forced, l.bh = true, true }

// UsesBarnesHut reports whether the next Step approximates repulsion.
func (l *Layout) UsesBarnesHut() bool {
	if l.forced {
		return l.bh
	}
	return len(l.pos) > BarnesHutAbove
}

// k is the ideal edge length of Fruchterman–Reingold: C·sqrt(area/n).
func (l *Layout) k() float64 {
	n := max(len(l.pos), 1)
	return 0.6 * math.Sqrt(l.W*l.H/float64(n)) // 0.6: keep clear of the walls

}

// Step runs one iteration and cools the temperature.
func (l *Layout) Step() {
	n := len(l.pos)
	if n == 0 {
		return
	}
	k := l.k()
	k2 := k * k
	for i := range l.disp {
		l.disp[i] = Vec{}
	}
	if l.UsesBarnesHut() {
		l.tree.build(l.pos)
		for i := range l.pos {
			l.disp[i] = l.tree.force(l.pos[i], k2, Theta)
		}
	} else {
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				d := sub(l.pos[i], l.pos[j])
				dist2 := d.X*d.X + d.Y*d.Y
				if dist2 < 1e-9 {
					d, dist2 = l.jitter(), 0.01 // coincident: push apart in a random direction
				}
				f := k2 / dist2 // (k²/dist) along the unit vector d/dist
				l.disp[i].X += d.X * f
				l.disp[i].Y += d.Y * f
				l.disp[j].X -= d.X * f
				l.disp[j].Y -= d.Y * f
			}
		}
	}
	for _, e := range l.edges {
		a, b := e[0], e[1]
		d := sub(l.pos[a], l.pos[b])
		dist := math.Hypot(d.X, d.Y)
		f := dist / k // (dist²/k) along d/dist
		l.disp[a].X -= d.X * f
		l.disp[a].Y -= d.Y * f
		l.disp[b].X += d.X * f
		l.disp[b].Y += d.Y * f
	}
	// A weak pull to the centre (gravity) keeps disconnected parts from
	// drifting to the walls.
	c := Vec{l.W / 2, l.H / 2}
	for i := range l.pos {
		d := sub(c, l.pos[i])
		l.disp[i].X += d.X * Gravity
		l.disp[i].Y += d.Y * Gravity
	}
	t := l.Temp
	for i := range l.pos {
		if l.pinned[i] {
			continue
		}
		d := l.disp[i]
		m := math.Hypot(d.X, d.Y)
		if m == 0 || math.IsNaN(m) || math.IsInf(m, 0) {
			continue
		}
		s := math.Min(m, t) / m
		l.pos[i] = l.clamp(Vec{l.pos[i].X + d.X*s, l.pos[i].Y + d.Y*s})
	}
	if l.MinDist > 0 && n <= BarnesHutAbove {
		l.separate()
	}
	l.Temp = math.Max(l.Temp*0.95, l.MinTemp)
}

// separate pushes apart pairs closer than MinDist (a few relaxation
// rounds), if the rectangle has room for that many discs at all.
func (l *Layout) separate() {
	n := len(l.pos)
	if float64(n)*l.MinDist*l.MinDist*1.5 > l.W*l.H {
		return
	}
	md2 := l.MinDist * l.MinDist
	for round := 0; round < 50; round++ {
		moved := false
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				d := sub(l.pos[i], l.pos[j])
				dist2 := d.X*d.X + d.Y*d.Y
				if dist2 >= md2 {
					continue
				}
				moved = true
				if dist2 < 1e-9 {
					d, dist2 = l.jitter(), 1
				}
				dist := math.Sqrt(dist2)
				push := (l.MinDist + 0.5 - dist) / 2 / dist // a little beyond, so rounding cannot undo it
				pi, pj := !l.pinned[i], !l.pinned[j]
				if pi && pj {
					l.pos[i] = l.clamp(Vec{l.pos[i].X + d.X*push, l.pos[i].Y + d.Y*push})
					l.pos[j] = l.clamp(Vec{l.pos[j].X - d.X*push, l.pos[j].Y - d.Y*push})
				} else if pi {
					l.pos[i] = l.clamp(Vec{l.pos[i].X + 2*d.X*push, l.pos[i].Y + 2*d.Y*push})
				} else if pj {
					l.pos[j] = l.clamp(Vec{l.pos[j].X - 2*d.X*push, l.pos[j].Y - 2*d.Y*push})
				}
			}
		}
		if !moved {
			return
		}
	}
}

// Overlaps counts pairs of nodes closer than MinDist.
func (l *Layout) Overlaps() int {
	c := 0
	for i := range l.pos {
		for j := i + 1; j < len(l.pos); j++ {
			d := sub(l.pos[i], l.pos[j])
			if d.X*d.X+d.Y*d.Y < l.MinDist*l.MinDist {
				c++
			}
		}
	}
	return c
}

func (l *Layout) jitter() Vec {
	a := l.rng.Float64() * 2 * math.Pi
	return Vec{0.1 * math.Cos(a), 0.1 * math.Sin(a)}
}

func (l *Layout) clamp(p Vec) Vec {
	// A margin of MinDist/2 keeps discs inside the rectangle.
	m := math.Min(l.MinDist/2, math.Min(l.W, l.H)/2)
	return Vec{math.Min(math.Max(p.X, m), l.W-m), math.Min(math.Max(p.Y, m), l.H-m)}
}

func sub(a, b Vec) Vec { return Vec{a.X - b.X, a.Y - b.Y} }
