// Package progen generates random well-typed modules for differential
// testing (interpreter vs decoded blocks today; JIT vs interpreter later).
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
	loops  int // trailing entries of vars that are loop counters
}

// Module returns the source of a random module with functions F0..Fn-1,
// each of type func(int64, int64) int64. Fk only calls Fj with j < k, so
// every program terminates.
func Module(seed uint64, cfg Config) string {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), cfg: cfg}
	g.printf("module gen%d\n", seed)
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
	g.printf("func F%d(%s int64, %s int64) int64 {\n", k, a, b)
	arr, sl := g.name(2), g.name(3)
	g.printf("\tvar %s [8]int64\n", arr)
	g.printf("\t%s := make([]int64, 8)\n", sl)
	g.vars = append(g.vars, arr, sl)
	n := 1 + g.r.IntN(3)
	for i := 0; i < n; i++ {
		v := g.name(len(g.vars))
		g.printf("\tvar %s int64 = %s\n", v, g.expr(g.cfg.Depth))
		g.vars = append(g.vars, v)
	}
	g.block(1, g.cfg.Stmts)
	g.printf("\treturn %s\n}\n", g.expr(g.cfg.Depth))
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
		// Half the divisors are made odd, hence never zero.
		return fmt.Sprintf("(%s %s ((%s + int64(len(%s)) - 8) | int64(%d)))", x, ops[g.r.IntN(2)], y, g.vars[3], g.r.IntN(2))
	case c == 8:
		ops := []string{"<<", ">>"}
		return fmt.Sprintf("(%s %s (uint64(int64(%s)) & 63))", x, ops[g.r.IntN(2)], y)
	case c == 9:
		return fmt.Sprintf("int64(uint64(int64(%s)) >> 3)", x)
	case c == 10 && g.fn > 0:
		return fmt.Sprintf("F%d(%s, %s)", g.r.IntN(g.fn), x, y)
	}
	return fmt.Sprintf("-(%s)", x)
}
