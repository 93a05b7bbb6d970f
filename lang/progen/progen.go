// Package progen generates random well-typed modules for differential
// testing (interpreter vs decoded blocks, JIT vs interpreter, optimizer).
// The same seed always gives the same program. A name prefix lets tests
// produce the same program with different local names.
package progen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Config controls program size.
type Config struct {
	Funcs    int    // functions per module
	Stmts    int    // statements per block
	Depth    int    // expression depth
	Names    string // prefix for locals and parameters
	Comments bool   // sprinkle comments and blank lines
	// Arrays gives every function a third parameter of type [8]int64
	// and a random result type: int64, [8]int64, [2][8]int64 or
	// [2][160]int64 (320 elements: its copies and zero values cost
	// fuel). Array results are indexed, measured, assigned to locals and
	// elements, passed on as arguments, put in literals, returned again
	// and discarded.
	Arrays bool
}

// Default is a moderate configuration.
var Default = Config{Funcs: 4, Stmts: 5, Depth: 3, Names: "v"}

type gen struct {
	r      *rand.Rand
	cfg    Config
	b      strings.Builder
	vars   []string
	fn     int
	nested int
	loopID int
	loops  int   // trailing entries of vars that are loop counters
	kinds  []int // result kind of each function (Arrays), see resultTypes
}

// resultTypes are the result types of Config.Arrays, by kind; the
// masks keep an index of each dimension in range.
var resultTypes = []struct {
	typ   string
	masks []int
}{
	{"int64", nil},
	{"[8]int64", []int{7}},
	{"[2][8]int64", []int{1, 7}},
	{"[2][160]int64", []int{1, 127}},
}

// Module returns the source of a random module with functions F0..Fn-1,
// each of type func(int64, int64) int64 (with Config.Arrays,
// func(int64, int64, [8]int64) and one of several result types). Fk only
// calls Fj with j < k, so every program terminates.
func Module(seed uint64, cfg Config) string {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), cfg: cfg}
	g.printf("module gen%d\n", seed)
	if cfg.Arrays {
		for k := 0; k < cfg.Funcs; k++ {
			kind := 0
			if r := g.r.IntN(20); r >= 8 {
				kind = 1 + (r-8)%3
			}
			g.kinds = append(g.kinds, kind)
		}
	}
	for k := 0; k < cfg.Funcs; k++ {
		g.fn = k
		g.function(k)
	}
	return g.b.String()
}

func (g *gen) printf(format string, args ...any) { fmt.Fprintf(&g.b, format, args...) }

func (g *gen) name(i int) string { return fmt.Sprintf("%s%d", g.cfg.Names, i) }

func (g *gen) function(k int) {
	a, b := g.name(0), g.name(1)
	g.vars = []string{a, b}
	if g.cfg.Comments {
		g.printf("\n// F%d is generated.\n", k)
	}
	arr, sl := g.name(2), g.name(3)
	if g.cfg.Arrays {
		// The array is a parameter (passed by value).
		g.printf("func F%d(%s int64, %s int64, %s [8]int64) %s {\n", k, a, b, arr, resultTypes[g.kinds[k]].typ)
		if g.kinds[k] >= 2 {
			g.printf("\tvar %s %s\n", g.res(), resultTypes[g.kinds[k]].typ)
		}
	} else {
		g.printf("func F%d(%s int64, %s int64) int64 {\n", k, a, b)
		g.printf("\tvar %s [8]int64\n", arr)
	}
	g.printf("\t%s := make([]int64, 8)\n", sl)
	g.vars = append(g.vars, arr, sl)
	n := 1 + g.r.IntN(3)
	for i := 0; i < n; i++ {
		v := g.name(len(g.vars))
		g.printf("\tvar %s int64 = %s\n", v, g.expr(g.cfg.Depth))
		g.vars = append(g.vars, v)
	}
	g.block(1, g.cfg.Stmts)
	g.printf("\treturn %s\n}\n", g.result())
}

// res is the name of the local holding a nested array result.
func (g *gen) res() string { return g.cfg.Names + "r" }

// result is the returned expression of the current function.
func (g *gen) result() string {
	kind := 0
	if g.cfg.Arrays {
		kind = g.kinds[g.fn]
	}
	switch kind {
	case 0:
		return g.expr(g.cfg.Depth)
	case 1:
		switch g.r.IntN(4) {
		case 0:
			return g.vars[2] // a copy
		case 1:
			return fmt.Sprintf("[8]int64{%s, %s, %s}", g.expr(1), g.expr(1), g.expr(1))
		}
		return g.arrayArg(2)
	}
	if j, ok := g.callee(kind); ok && g.r.IntN(3) == 0 {
		return g.call(j, 1) // forwarded: no copy
	}
	if kind == 2 && g.r.IntN(3) == 0 {
		return fmt.Sprintf("[2][8]int64{%s, %s}", g.arrayArg(1), g.arrayArg(1))
	}
	return g.res() // a copy
}

// callee picks a function before the current one with result kind, if any.
func (g *gen) callee(kind int) (int, bool) {
	var js []int
	for j := 0; j < g.fn; j++ {
		if g.kinds[j] == kind {
			js = append(js, j)
		}
	}
	if len(js) == 0 {
		return 0, false
	}
	return js[g.r.IntN(len(js))], true
}

// call is a call of Fj with random arguments (Config.Arrays).
func (g *gen) call(j, d int) string {
	return fmt.Sprintf("F%d(%s, %s, %s)", j, g.expr(d), g.expr(d), g.arrayArg(d))
}

// arrayArg is an [8]int64 expression: the array parameter, a literal, a
// call result or an element of a nested one.
func (g *gen) arrayArg(d int) string {
	if d > 0 {
		switch g.r.IntN(5) {
		case 0:
			return fmt.Sprintf("[8]int64{%s, %s}", g.expr(d-1), g.expr(d-1))
		case 1:
			if j, ok := g.callee(1); ok {
				return g.call(j, d-1)
			}
		case 2:
			if j, ok := g.callee(2); ok {
				return fmt.Sprintf("%s[%s]", g.call(j, d-1), g.arrIndex(1))
			}
		case 3:
			if g.kinds[g.fn] == 2 {
				return fmt.Sprintf("%s[%s]", g.res(), g.arrIndex(1))
			}
		}
	}
	return g.vars[2]
}

// arrIndex is an index masked into [0, mask], rarely out of range.
func (g *gen) arrIndex(mask int) string {
	if g.r.IntN(40) == 0 {
		return fmt.Sprintf("%s + int64(len(%s)) - 8", g.expr(0), g.vars[3])
	}
	return fmt.Sprintf("(%s) & %d", g.expr(1), mask)
}

// scalarCall is an int64 expression calling Fj: its result, or an
// element or the length of its array result.
func (g *gen) scalarCall(j int) string {
	c := g.call(j, 1)
	rt := resultTypes[g.kinds[j]]
	if len(rt.masks) == 0 {
		return c
	}
	if g.r.IntN(8) == 0 {
		return fmt.Sprintf("int64(len(%s))", c)
	}
	for _, mask := range rt.masks {
		c = fmt.Sprintf("%s[%s]", c, g.arrIndex(mask))
	}
	return c
}

// arrayStmt is a statement moving arrays around (Config.Arrays).
func (g *gen) arrayStmt(in string) {
	kind := g.kinds[g.fn]
	switch c := g.r.IntN(6); {
	case c == 0:
		g.printf("%s%s = %s\n", in, g.vars[2], g.arrayArg(2))
	case c == 1 && kind >= 2:
		j, ok := g.callee(kind)
		if ok && g.r.IntN(2) == 0 {
			g.printf("%s%s = %s\n", in, g.res(), g.call(j, 1))
			return
		}
		rt := resultTypes[kind]
		if kind == 2 && g.r.IntN(2) == 0 {
			g.printf("%s%s[%s] = %s\n", in, g.res(), g.arrIndex(1), g.arrayArg(2))
			return
		}
		g.printf("%s%s[%s][%s] = %s\n", in, g.res(), g.arrIndex(rt.masks[0]), g.arrIndex(rt.masks[1]), g.expr(g.cfg.Depth))
	case c == 2 && g.fn > 0:
		g.printf("%s%s\n", in, g.call(g.r.IntN(g.fn), 1)) // result discarded
	default:
		g.printf("%s%s[%s] = %s\n", in, g.vars[2], g.arrIndex(7), g.scalarOrCall())
	}
}

// scalarOrCall is an int64 expression, often a call (Config.Arrays).
func (g *gen) scalarOrCall() string {
	if g.fn > 0 && g.r.IntN(2) == 0 {
		return g.scalarCall(g.r.IntN(g.fn))
	}
	return g.expr(g.cfg.Depth)
}

func (g *gen) indent(d int) string { return strings.Repeat("\t", d) }

// scalar returns an int64 local (not the array or slice) to read.
func (g *gen) scalar() string { return g.pick(g.vars) }

// target returns an int64 local to assign (not a loop counter).
func (g *gen) target() string { return g.pick(g.vars[:len(g.vars)-g.loops]) }

func (g *gen) pick(vars []string) string {
	var s []string
	for i, v := range vars {
		if i != 2 && i != 3 {
			s = append(s, v)
		}
	}
	return s[g.r.IntN(len(s))]
}

func (g *gen) block(d, n int) {
	for i := 0; i < n; i++ {
		g.stmt(d)
		if g.cfg.Comments && i%2 == 1 { // no randomness: same program either way
			g.printf("%s/* note */\n\n", g.indent(d))
		}
	}
}

func (g *gen) stmt(d int) {
	in := g.indent(d)
	arr, sl := g.vars[2], g.vars[3]
	switch c := g.r.IntN(10); {
	case c < 3:
		ops := []string{"=", "+=", "-=", "*=", "^=", "|=", "&="}
		g.printf("%s%s %s %s\n", in, g.target(), ops[g.r.IntN(len(ops))], g.expr(g.cfg.Depth))
	case c < 4 && g.cfg.Arrays && g.r.IntN(2) == 0:
		g.arrayStmt(in)
	case c < 4:
		g.printf("%s%s[%s] = %s\n", in, arr, g.index(), g.expr(g.cfg.Depth))
	case c < 5:
		g.printf("%s%s[%s] += %s\n", in, sl, g.index(), g.expr(g.cfg.Depth))
	case c < 7 && g.nested < 2:
		g.nested++
		g.printf("%sif %s {\n", in, g.cond(2))
		g.block(d+1, 1+g.r.IntN(2))
		if g.r.IntN(2) == 0 {
			g.printf("%s} else {\n", in)
			g.block(d+1, 1+g.r.IntN(2))
		}
		g.printf("%s}\n", in)
		g.nested--
	case c < 9 && g.nested < 2:
		g.nested++
		i := fmt.Sprintf("%si%d", g.cfg.Names, g.loopID)
		g.loopID++
		g.printf("%sfor %s := 0; %s < %d; %s++ {\n", in, i, i, 1+g.r.IntN(4), i)
		g.vars = append(g.vars, i)
		g.loops++
		g.block(d+1, 1+g.r.IntN(3))
		if g.r.IntN(4) == 0 {
			g.printf("%s\tif %s { break }\n", in, g.cond(1))
		}
		g.vars = g.vars[:len(g.vars)-1]
		g.loops--
		g.printf("%s}\n", in)
		g.nested--
	default:
		g.printf("%s%s++\n", in, g.target())
	}
}

func (g *gen) index() string {
	if g.r.IntN(20) == 0 {
		// May be out of range: a run-time error both sides must agree on.
		// len() keeps it from being a constant (a compile-time error).
		return fmt.Sprintf("%s + int64(len(%s)) - 8", g.expr(1), g.vars[3])
	}
	return fmt.Sprintf("(%s) & 7", g.expr(1))
}

func (g *gen) cond(d int) string {
	ops := []string{"<", "<=", ">", ">=", "==", "!="}
	c := fmt.Sprintf("%s %s %s", g.expr(d), ops[g.r.IntN(len(ops))], g.expr(d))
	switch g.r.IntN(6) {
	case 0:
		return c + " && " + g.cond(0)
	case 1:
		return "!(" + c + ") || " + g.cond(0)
	}
	return c
}

func (g *gen) expr(d int) string {
	if d <= 0 || g.r.IntN(4) == 0 {
		switch g.r.IntN(6) {
		case 0, 1:
			return g.scalar()
		case 2:
			return fmt.Sprintf("int64(%d)", g.r.IntN(200)-100) // typed: constant folding wraps
		case 3:
			return fmt.Sprintf("%s[%s]", g.vars[2], fmt.Sprintf("(%s) & 7", g.scalar()))
		case 4:
			return fmt.Sprintf("%s[%s]", g.vars[3], fmt.Sprintf("(%s) & 7", g.scalar()))
		default:
			return fmt.Sprintf("int64(len(%s))", g.vars[3])
		}
	}
	x, y := g.expr(d-1), g.expr(d-1)
	switch c := g.r.IntN(12); {
	case c < 7:
		ops := []string{"+", "-", "*", "&", "|", "^", "&^"}
		return fmt.Sprintf("(%s %s %s)", x, ops[c], y)
	case c == 7:
		ops := []string{"/", "%"}
		// len() keeps the divisor from being a constant (a constant zero
		// divisor is a compile-time error); it can still be zero at run time.
		// Half the divisors are made odd, hence never zero (with Arrays,
		// seven in eight: its programs have more divisions per call, and
		// a run that traps early tests little of the rest).
		op := ops[g.r.IntN(2)]
		odd := g.r.IntN(2)
		if g.cfg.Arrays && odd == 0 {
			odd = min(g.r.IntN(4), 1)
		}
		return fmt.Sprintf("(%s %s ((%s + int64(len(%s)) - 8) | int64(%d)))", x, op, y, g.vars[3], odd)
	case c == 8:
		ops := []string{"<<", ">>"}
		return fmt.Sprintf("(%s %s (uint64(int64(%s)) & 63))", x, ops[g.r.IntN(2)], y)
	case c == 9:
		return fmt.Sprintf("int64(uint64(int64(%s)) >> 3)", x)
	case c == 10 && g.fn > 0 && g.cfg.Arrays:
		return g.scalarCall(g.r.IntN(g.fn))
	case c == 10 && g.fn > 0:
		return fmt.Sprintf("F%d(%s, %s)", g.r.IntN(g.fn), x, y)
	}
	return fmt.Sprintf("-(%s)", x)
}
