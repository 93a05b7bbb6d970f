// Package irprint prints checked functions (lang/ir) back as module
// source. The healer shows a slow function to the on-board LLM this way:
// what runs is the IR (perhaps already rewritten by the optimizer, with
// no source of its own), and the model reads and writes source.
//
// The output parses and type-checks, and means what the IR means. For a
// function the checker produced, it checks back to the same CID: each
// local is declared (`var name T = x`) where the IR first assigns it,
// provided that keeps it in scope for every later use; otherwise every
// local is declared at the top of the function (IR from the optimizer,
// whose temporaries need not follow the source's scoping), which keeps
// the meaning but adds a zeroing assignment per local to the CID.
package irprint

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/syntax"
	"github.com/velocityos/velocity/lang/types"
)

// ErrUnprintable is wrapped by errors for IR that has no source form
// (a float constant that is NaN, infinite or negative zero; two called
// functions with the same name; a malformed tree).
var ErrUnprintable = errors.New("irprint: no source form")

// Module returns the source of a module named name holding f and every
// function f calls, directly or not (f first, then its callees in the
// order they are first called). Calls are printed by the callee's name,
// so the result is one self-contained module.
func Module(name string, f *ir.Func) (string, error) {
	funcs := []*ir.Func{f}
	seen := map[*ir.Func]bool{f: true}
	names := map[string]*ir.Func{f.Name: f}
	for i := 0; i < len(funcs); i++ {
		for _, g := range ir.Callees(funcs[i].Body) {
			if seen[g] {
				continue
			}
			if other := names[g.Name]; other != nil {
				return "", fmt.Errorf("%w: two called functions are named %q", ErrUnprintable, g.Name)
			}
			seen[g], names[g.Name] = true, g
			funcs = append(funcs, g)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n", name)
	for _, g := range funcs {
		src, err := Func(g)
		if err != nil {
			return "", err
		}
		b.WriteString("\n")
		b.WriteString(src)
	}
	return b.String(), nil
}

// Func returns the source of one function declaration. It does not check
// that the result compiles (Module's callers can: see Check).
func Func(f *ir.Func) (string, error) {
	if f.Name == "" || len(f.Locals) < len(f.Params) {
		return "", fmt.Errorf("%w: function without a name or with fewer locals than parameters", ErrUnprintable)
	}
	p := &printer{f: f, names: localNames(f), inline: map[int]bool{}, done: map[int]bool{}, forInit: map[int]bool{}}
	p.planDecls()
	p.printf("func %s(", f.Name)
	for i, t := range f.Params {
		if i > 0 {
			p.printf(", ")
		}
		p.printf("%s %s", p.names[i], t)
	}
	p.printf(")")
	if f.Result != nil && f.Result.Kind != ir.Void {
		p.printf(" %s", f.Result)
	}
	p.printf(" {\n")
	p.depth = 1
	for slot := len(f.Params); slot < len(f.Locals); slot++ {
		if !p.inline[slot] {
			p.line("var %s %s", p.names[slot], f.Locals[slot])
		}
	}
	p.stmts(f.Body)
	p.printf("}\n")
	if p.err != nil {
		return "", p.err
	}
	return p.b.String(), nil
}

// Check parses and type-checks src (as the gate does with a candidate)
// and returns function name from it.
func Check(src, name string) (*ir.Func, error) {
	file, err := syntax.Parse("printed.vel", []byte(src))
	if err != nil {
		return nil, err
	}
	m, err := types.Check(file, nil)
	if err != nil {
		return nil, err
	}
	f := m.Lookup(name)
	if f == nil {
		return nil, fmt.Errorf("no function %q", name)
	}
	return f, nil
}

var reserved = map[string]bool{
	"break": true, "const": true, "continue": true, "else": true, "for": true, "func": true, "if": true,
	"import": true, "module": true, "return": true, "var": true, "true": true, "false": true,
	"int64": true, "uint64": true, "float64": true, "bool": true, "byte": true, "len": true, "make": true,
}

// localNames gives every slot a distinct name: the source's where it is
// unique and usable, else the name with the slot number appended. Names
// being distinct lets a declaration move to an enclosing block.
func localNames(f *ir.Func) []string {
	used := map[string]bool{}
	out := make([]string, len(f.Locals))
	for slot := range f.Locals {
		n := ""
		if slot < len(f.ParamNames) && slot < len(f.Params) {
			n = f.ParamNames[slot]
		} else if slot < len(f.LocalNames) {
			n = f.LocalNames[slot]
		}
		if !ident(n) || reserved[n] || n == "_" {
			n = "v"
		}
		base := n
		for k := slot; used[n]; k++ {
			n = base + "_" + strconv.Itoa(k)
		}
		used[n] = true
		out[slot] = n
	}
	return out
}

func ident(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

type printer struct {
	f      *ir.Func
	names  []string
	inline map[int]bool // slots declared at their first assignment
	done   map[int]bool // of those, the ones already declared
	// forInit holds the inline slots used only by the loop right after
	// their declaration, which becomes the loop's init (for i := 0; ...).
	forInit map[int]bool
	b       strings.Builder
	depth   int
	err     error
}

func (p *printer) printf(format string, args ...any) { fmt.Fprintf(&p.b, format, args...) }

func (p *printer) line(format string, args ...any) {
	p.b.WriteString(strings.Repeat("\t", p.depth))
	p.printf(format, args...)
	p.b.WriteByte('\n')
}

func (p *printer) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: "+format, append([]any{ErrUnprintable}, args...)...)
	}
}

// planDecls decides which locals are declared where the IR first assigns
// them: the first mention of the slot, in order, must be a plain
// assignment statement to it, at or after the previous such declaration
// (slots are numbered in declaration order), and every other mention
// must lie after it inside the same statement list or blocks nested in it.
func (p *printer) planDecls() {
	type site struct {
		path []int // statement indices from the body down
		decl bool  // a plain assignment to the slot as a statement
	}
	mentions := map[int][]site{}
	var path []int
	inPost := 0 // a post statement cannot be a declaration
	var expr func(e ir.Expr)
	expr = func(e ir.Expr) {
		switch e := e.(type) {
		case *ir.Local:
			mentions[e.Slot] = append(mentions[e.Slot], site{path: slices.Clone(path)})
		case *ir.Unary:
			expr(e.X)
		case *ir.Binary:
			expr(e.X)
			expr(e.Y)
		case *ir.Convert:
			expr(e.X)
		case *ir.Call:
			for _, a := range e.Args {
				expr(a)
			}
		case *ir.Index:
			expr(e.X)
			expr(e.I)
		case *ir.SliceOf:
			expr(e.X)
			if e.Lo != nil {
				expr(e.Lo)
			}
			if e.Hi != nil {
				expr(e.Hi)
			}
		case *ir.Len:
			expr(e.X)
		case *ir.Make:
			expr(e.N)
		case *ir.Composite:
			for _, x := range e.Elems {
				expr(x)
			}
		}
	}
	var stmts func(ss []ir.Stmt)
	stmts = func(ss []ir.Stmt) {
		for i, s := range ss {
			path = append(path, i)
			switch s := s.(type) {
			case *ir.Assign:
				expr(s.X) // evaluated before the store
				if l, ok := s.Dst.(*ir.Local); ok && s.Op == 0 {
					mentions[l.Slot] = append(mentions[l.Slot], site{path: slices.Clone(path), decl: inPost == 0})
				} else {
					expr(s.Dst)
				}
			case *ir.Eval:
				expr(s.X)
			case *ir.If:
				expr(s.Cond)
				path = append(path, 0)
				stmts(s.Then)
				path[len(path)-1] = 1
				stmts(s.Else)
				path = path[:len(path)-1]
			case *ir.Loop:
				path = append(path, 0)
				if s.Cond != nil {
					expr(s.Cond)
				}
				stmts(s.Body)
				path[len(path)-1] = 1
				inPost++
				stmts(s.Post)
				inPost--
				path = path[:len(path)-1]
			case *ir.Return:
				if s.X != nil {
					expr(s.X)
				}
			}
			path = path[:len(path)-1]
		}
	}
	stmts(p.f.Body)
	var last []int
	for slot := len(p.f.Params); slot < len(p.f.Locals); slot++ {
		ms := mentions[slot]
		if len(ms) == 0 || !ms[0].decl || (last != nil && slices.Compare(ms[0].path, last) <= 0) {
			continue
		}
		d := ms[0].path
		block := d[:len(d)-1]
		ok := true
		for _, m := range ms[1:] {
			// Inside the declaring list, after the declaration (the
			// statement itself may mention it again: x = f(x) is not a
			// first mention).
			if len(m.path) < len(d) || !slices.Equal(m.path[:len(block)], block) || m.path[len(block)] < d[len(block)] {
				ok = false
				break
			}
		}
		if ok {
			p.inline[slot] = true
			last = d
			loopOnly := true
			for _, m := range ms[1:] {
				loopOnly = loopOnly && m.path[len(block)] == d[len(block)]+1
			}
			p.forInit[slot] = loopOnly && len(ms) > 1
		}
	}
}

func (p *printer) stmts(ss []ir.Stmt) {
	for i := 0; i < len(ss); i++ {
		if a, ok := ss[i].(*ir.Assign); ok && i+1 < len(ss) && a.Op == 0 {
			if l, ok := a.Dst.(*ir.Local); ok && p.forInit[l.Slot] && !p.done[l.Slot] {
				if loop, ok := ss[i+1].(*ir.Loop); ok {
					p.done[l.Slot] = true
					p.loop(loop, p.names[l.Slot]+" := "+p.expr(a.X))
					i++
					continue
				}
			}
		}
		p.stmt(ss[i])
	}
}

func (p *printer) stmt(s ir.Stmt) {
	switch s := s.(type) {
	case *ir.Assign:
		if l, ok := s.Dst.(*ir.Local); ok && s.Op == 0 && p.inline[l.Slot] && !p.done[l.Slot] {
			p.done[l.Slot] = true
			if c, zero := s.X.(*ir.Const); (zero && c.Bits == 0) || isZero(s.X) {
				p.line("var %s %s", p.names[l.Slot], p.f.Locals[l.Slot]) // the checker's zero value
				return
			}
			p.line("var %s %s = %s", p.names[l.Slot], p.f.Locals[l.Slot], p.expr(s.X))
			return
		}
		p.line("%s", p.assign(s))
	case *ir.Eval:
		p.line("%s", p.expr(s.X))
	case *ir.If:
		p.ifStmt(s, "")
	case *ir.Loop:
		p.loop(s, "")
	case *ir.Break:
		p.line("break")
	case *ir.Continue:
		p.line("continue")
	case *ir.Return:
		if s.X == nil {
			p.line("return")
		} else {
			p.line("return %s", p.expr(s.X))
		}
	default:
		p.fail("statement %T", s)
	}
}

func (p *printer) ifStmt(s *ir.If, prefix string) {
	p.line("%sif %s {", prefix, p.expr(s.Cond))
	p.block(s.Then)
	switch {
	case len(s.Else) == 0:
		p.line("}")
	case len(s.Else) == 1:
		if e, ok := s.Else[0].(*ir.If); ok {
			p.ifStmtElse(e)
			return
		}
		fallthrough
	default:
		p.line("} else {")
		p.block(s.Else)
		p.line("}")
	}
}

// ifStmtElse prints "} else if ...", continuing the chain.
func (p *printer) ifStmtElse(s *ir.If) {
	p.line("} else if %s {", p.expr(s.Cond))
	p.block(s.Then)
	switch {
	case len(s.Else) == 0:
		p.line("}")
	case len(s.Else) == 1:
		if e, ok := s.Else[0].(*ir.If); ok {
			p.ifStmtElse(e)
			return
		}
		fallthrough
	default:
		p.line("} else {")
		p.block(s.Else)
		p.line("}")
	}
}

func (p *printer) block(ss []ir.Stmt) {
	p.depth++
	p.stmts(ss)
	p.depth--
}

// assign prints an assignment: x = e, x op= e, or x++ and x-- for a
// constant 1 (the same IR).
func (p *printer) assign(s *ir.Assign) string {
	if s.Op == 0 {
		return p.expr(s.Dst) + " = " + p.expr(s.X)
	}
	if !s.Op.Valid() || s.Op >= ir.OpEq {
		p.fail("compound assignment with operator %v", s.Op)
	}
	if c, ok := s.X.(*ir.Const); ok && c.T.Kind != ir.Float64 && c.Bits == 1 && (s.Op == ir.OpAdd || s.Op == ir.OpSub) {
		if s.Op == ir.OpAdd {
			return p.expr(s.Dst) + "++"
		}
		return p.expr(s.Dst) + "--"
	}
	return p.expr(s.Dst) + " " + s.Op.String() + "= " + p.expr(s.X)
}

// loop prints a for statement, with init (a declaration) if not empty.
// A post statement that is one plain or compound assignment is the for's
// post; anything else runs at the end of the body and before each
// continue of this loop.
func (p *printer) loop(s *ir.Loop, init string) {
	cond := ""
	if s.Cond != nil {
		cond = p.expr(s.Cond)
	}
	if init != "" && (len(s.Post) != 1 || !p.simplePost(s.Post[0])) {
		// No for-clause form fits: declare before the loop instead.
		p.line("var %s", strings.Replace(init, " := ", " = ", 1))
		init = ""
	}
	if len(s.Post) == 0 {
		if cond == "" {
			p.line("for {")
		} else {
			p.line("for %s {", cond)
		}
		p.block(s.Body)
		p.line("}")
		return
	}
	if len(s.Post) == 1 && p.simplePost(s.Post[0]) {
		p.line("for %s; %s; %s {", init, cond, p.assign(s.Post[0].(*ir.Assign)))
		p.block(s.Body)
		p.line("}")
		return
	}
	if cond == "" {
		p.line("for {")
	} else {
		p.line("for %s {", cond)
	}
	p.block(withPost(s.Body, s.Post))
	p.line("}")
}

func isZero(e ir.Expr) bool {
	_, ok := e.(*ir.Zero)
	return ok
}

// simplePost reports whether s can be a for clause's post statement: an
// assignment that is not a local's declaration.
func (p *printer) simplePost(s ir.Stmt) bool {
	a, ok := s.(*ir.Assign)
	if !ok {
		return false
	}
	l, isLocal := a.Dst.(*ir.Local)
	return !isLocal || !p.inline[l.Slot] || p.done[l.Slot] || a.Op != 0
}

// withPost returns body with post appended and inserted before every
// continue that belongs to this loop (not to loops nested in it).
func withPost(body, post []ir.Stmt) []ir.Stmt {
	var rewrite func(ss []ir.Stmt) []ir.Stmt
	rewrite = func(ss []ir.Stmt) []ir.Stmt {
		var out []ir.Stmt
		for _, s := range ss {
			switch s := s.(type) {
			case *ir.Continue:
				out = append(append(out, post...), s)
			case *ir.If:
				out = append(out, &ir.If{Cond: s.Cond, Then: rewrite(s.Then), Else: rewrite(s.Else)})
			default:
				out = append(out, s)
			}
		}
		return out
	}
	return append(rewrite(body), post...)
}

func (p *printer) expr(e ir.Expr) string {
	switch e := e.(type) {
	case *ir.Const:
		return p.constant(e)
	case *ir.Zero:
		return e.T.String() + "{}"
	case *ir.Local:
		if e.Slot < 0 || e.Slot >= len(p.names) {
			p.fail("local slot %d of %d", e.Slot, len(p.names))
			return "?"
		}
		return p.names[e.Slot]
	case *ir.Unary:
		op := map[ir.Op]string{ir.OpNeg: "-", ir.OpNot: "!", ir.OpCpl: "^"}[e.Op]
		if op == "" {
			p.fail("unary operator %v", e.Op)
		}
		return op + p.operand(e.X)
	case *ir.Binary:
		if !e.Op.Valid() || e.Op >= ir.OpNeg {
			p.fail("binary operator %v", e.Op)
		}
		return p.side(e.X, e.Op, false) + " " + e.Op.String() + " " + p.side(e.Y, e.Op, true)
	case *ir.Convert:
		return e.T.String() + "(" + p.expr(e.X) + ")"
	case *ir.Call:
		args := make([]string, len(e.Args))
		for i, a := range e.Args {
			args[i] = p.expr(a)
		}
		if e.Target == nil {
			p.fail("call without a target")
			return "?"
		}
		return e.Target.Name + "(" + strings.Join(args, ", ") + ")"
	case *ir.Index:
		return p.operand(e.X) + "[" + p.expr(e.I) + "]"
	case *ir.SliceOf:
		lo, hi := "", ""
		if e.Lo != nil {
			lo = p.expr(e.Lo)
		}
		if e.Hi != nil {
			hi = p.expr(e.Hi)
		}
		return p.operand(e.X) + "[" + lo + ":" + hi + "]"
	case *ir.Len:
		return "len(" + p.expr(e.X) + ")"
	case *ir.Make:
		return "make(" + e.T.String() + ", " + p.expr(e.N) + ")"
	case *ir.Composite:
		elems := make([]string, len(e.Elems))
		for i, x := range e.Elems {
			elems[i] = p.expr(x)
		}
		return e.T.String() + "{" + strings.Join(elems, ", ") + "}"
	}
	p.fail("expression %T", e)
	return "?"
}

// prec is Go's precedence of a binary operator (5 binds tightest).
func prec(op ir.Op) int {
	switch op {
	case ir.OpMul, ir.OpDiv, ir.OpRem, ir.OpShl, ir.OpShr, ir.OpAnd, ir.OpAndNot:
		return 5
	case ir.OpAdd, ir.OpSub, ir.OpOr, ir.OpXor:
		return 4
	case ir.OpEq, ir.OpNe, ir.OpLt, ir.OpLe, ir.OpGt, ir.OpGe:
		return 3
	case ir.OpLAnd:
		return 2
	}
	return 1
}

// side prints an operand of a binary operator: in parentheses if it is
// a binary operation that binds less tightly (or, on the right, equally:
// the operators associate to the left).
func (p *printer) side(e ir.Expr, parent ir.Op, right bool) string {
	if b, ok := e.(*ir.Binary); ok {
		if pe, pp := prec(b.Op), prec(parent); pe > pp || (pe == pp && !right) {
			return p.expr(e)
		}
	}
	return p.operand(e)
}

// operand prints an operand of an operator or an index, in parentheses
// unless it is atomic (no precedence rules to get wrong).
func (p *printer) operand(e ir.Expr) string {
	s := p.expr(e)
	switch e := e.(type) {
	case *ir.Local, *ir.Call, *ir.Index, *ir.Len, *ir.Convert, *ir.Make, *ir.SliceOf:
		return s
	case *ir.Const:
		if e.T.Kind != ir.Int64 || int64(e.Bits) >= 0 {
			return s
		}
	}
	return "(" + s + ")"
}

// constant prints a typed constant: int64 as a decimal literal, other
// types through a conversion so that the literal takes exactly that type.
func (p *printer) constant(c *ir.Const) string {
	switch c.T.Kind {
	case ir.Int64:
		return strconv.FormatInt(int64(c.Bits), 10)
	case ir.Uint64:
		return "uint64(" + strconv.FormatUint(c.Bits, 10) + ")"
	case ir.Byte:
		return "byte(" + strconv.FormatUint(c.Bits&0xff, 10) + ")"
	case ir.Bool:
		if c.Bits&1 != 0 {
			return "true"
		}
		return "false"
	case ir.Float64:
		f := math.Float64frombits(c.Bits)
		if math.IsNaN(f) || math.IsInf(f, 0) || (f == 0 && math.Signbit(f)) {
			p.fail("float constant %v", f)
			return "?"
		}
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return "float64(" + s + ")"
	}
	p.fail("constant of type %v", c.T)
	return "?"
}
