package layout

import "math"

// quadtree is the Barnes–Hut tree, rebuilt every step into flat slices
// (reused between steps, so a step allocates nothing once warm).
type quadtree struct {
	cells []cell
}

type cell struct {
	cx, cy, half float64 // square: centre and half the side
	mass         float64 // bodies below
	mx, my       float64 // centre of mass (sum of positions until finished)
	child        [4]int32
	body         int32 // the single body of a leaf, -1 if none or internal
	bx, by       float64
}

// maxDepth stops splitting: coincident bodies share one leaf.
const maxDepth = 48

func (t *quadtree) build(pos []Vec) {
	t.cells = t.cells[:0]
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range pos {
		minX, maxX = math.Min(minX, p.X), math.Max(maxX, p.X)
		minY, maxY = math.Min(minY, p.Y), math.Max(maxY, p.Y)
	}
	half := math.Max(maxX-minX, maxY-minY)/2 + 1
	t.cells = append(t.cells, newCell((minX+maxX)/2, (minY+maxY)/2, half))
	for i, p := range pos {
		t.insert(int32(i), p)
	}
	t.finish(0)
}

func newCell(cx, cy, half float64) cell {
	return cell{cx: cx, cy: cy, half: half, body: -1, child: [4]int32{-1, -1, -1, -1}}
}

func (c *cell) quadrant(p Vec) int {
	q := 0
	if p.X >= c.cx {
		q |= 1
	}
	if p.Y >= c.cy {
		q |= 2
	}
	return q
}

func (t *quadtree) childOf(ci int32, q int) int32 {
	c := &t.cells[ci]
	if c.child[q] >= 0 {
		return c.child[q]
	}
	h := c.half / 2
	x, y := c.cx-h, c.cy-h
	if q&1 != 0 {
		x = c.cx + h
	}
	if q&2 != 0 {
		y = c.cy + h
	}
	t.cells = append(t.cells, newCell(x, y, h)) // may move t.cells: re-take c
	n := int32(len(t.cells) - 1)
	t.cells[ci].child[q] = n
	return n
}

func (t *quadtree) insert(b int32, p Vec) {
	ci := int32(0)
	for depth := 0; ; depth++ {
		c := &t.cells[ci]
		c.mass++
		c.mx += p.X
		c.my += p.Y
		internal := c.child != [4]int32{-1, -1, -1, -1}
		switch {
		case !internal && c.body < 0 && c.mass == 1:
			c.body, c.bx, c.by = b, p.X, p.Y // empty leaf: take it
			return
		case depth >= maxDepth:
			c.body = -1 // a pile of coincident bodies: acts by its mass
			return
		case !internal && c.body >= 0:
			// Push the resident body down, then carry on with b.
			ob, op := c.body, Vec{c.bx, c.by}
			c.body = -1
			q := c.quadrant(op)
			oc := t.childOf(ci, q)
			o := &t.cells[oc]
			o.mass, o.mx, o.my, o.body, o.bx, o.by = 1, op.X, op.Y, ob, op.X, op.Y
		}
		c = &t.cells[ci]
		ci = t.childOf(ci, c.quadrant(p))
	}
}

// finish turns position sums into centres of mass.
func (t *quadtree) finish(ci int32) {
	for i := range t.cells {
		c := &t.cells[i]
		if c.mass > 0 {
			c.mx /= c.mass
			c.my /= c.mass
		}
	}
}

// force is the repulsion on a body at p: k²·m/dist along the direction
// away from each cell treated as one body.
func (t *quadtree) force(p Vec, k2, theta float64) Vec {
	var f Vec
	var stack [4 * maxDepth * 2]int32
	sp := 0
	stack[sp] = 0
	sp++
	for sp > 0 {
		sp--
		c := &t.cells[stack[sp]]
		if c.mass == 0 {
			continue
		}
		dx, dy := p.X-c.mx, p.Y-c.my
		dist2 := dx*dx + dy*dy
		leaf := c.child == [4]int32{-1, -1, -1, -1}
		if leaf || (2*c.half)*(2*c.half) < theta*theta*dist2 {
			if dist2 < 1e-9 {
				continue // the body itself (or bodies on top of it)
			}
			s := k2 * c.mass / dist2
			f.X += dx * s
			f.Y += dy * s
			continue
		}
		for _, ch := range c.child {
			if ch >= 0 && sp < len(stack) {
				stack[sp] = ch
				sp++
			}
		}
	}
	return f
}
