// Package kernelrules checks, on the syntax tree, the rules the kernel's
// trap-context code must keep (runtime/HACKING.md): no heap allocation, no
// defer, no maps, no closures, no goroutines. Kernel code runs beneath the
// Go runtime with no P and on memory that is not Go heap, so any of these
// either faults, deadlocks or corrupts the collector's view.
//
// Which code is trap context: everything reachable from the entries the
// assembly calls (every CALL runtime·name(SB) from a .s file of the
// kernel) through the syntactic call graph of the kernel's own files.
// References count as calls, so a function stored in the system call table
// is reached through the table's initializer. Calls into the stock
// runtime are not followed: that code is the Go team's. A method call
// x.m() reaches every kernel method named m (over-approximation). Every
// entry must also carry //go:nowritebarrierrec, so the compiler checks
// write barriers, which a syntax tree cannot see.
//
// What is rejected, without type information:
//   - calls to make, new and append;
//   - composite literals whose address is taken (&T{...}), and slice and
//     map literals ([]T{...}, map[K]V{...}); array and struct literals by
//     value live on the stack and are allowed;
//   - map types anywhere in the function;
//   - func literals (closures), defer and go statements;
//   - string concatenation with + or += where an operand is a string
//     literal or a conversion string(...) (the operand types of other
//     additions are unknown to a syntax tree);
//   - conversions to interface{} or any written out: any(x), interface{}(x).
//
// Implicit conversions to interfaces (passing a value to an
// interface-typed parameter) are not seen; the kernel has no interfaces
// of its own, and escape analysis reports the rest in a build with
// -gcflags=runtime=-m.
package kernelrules

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"sort"
	"strings"
)

// Violation is one broken rule, at a position in a file.
type Violation struct {
	Pos  token.Position
	Func string // the function it is in
	Rule string
	Path []string // how the function is reached from an entry
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s: %s (reached by %s)", v.Pos, v.Func, v.Rule, strings.Join(v.Path, " → "))
}

// Source is one file of the kernel: Go or assembly.
type Source struct {
	Name string
	Data []byte
}

var asmCall = regexp.MustCompile(`(?m)^\s*CALL\s+runtime·(\w+)\(SB\)`)

// Entries lists the Go functions the assembly files call, sorted.
func Entries(srcs []Source) []string {
	seen := map[string]bool{}
	for _, s := range srcs {
		if !strings.HasSuffix(s.Name, ".s") {
			continue
		}
		for _, m := range asmCall.FindAllSubmatch(s.Data, -1) {
			seen[string(m[1])] = true
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// kernel is the parsed Go side of the sources.
type kernel struct {
	fset    *token.FileSet
	funcs   map[string]*ast.FuncDecl   // top-level functions by name
	methods map[string][]*ast.FuncDecl // methods by method name
	vars    map[string][]ast.Expr      // package-level var initializers by name
}

func parse(srcs []Source) (*kernel, error) {
	k := &kernel{
		fset:    token.NewFileSet(),
		funcs:   map[string]*ast.FuncDecl{},
		methods: map[string][]*ast.FuncDecl{},
		vars:    map[string][]ast.Expr{},
	}
	for _, s := range srcs {
		if !strings.HasSuffix(s.Name, ".go") {
			continue
		}
		f, err := parser.ParseFile(k.fset, s.Name, s.Data, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv != nil {
					k.methods[d.Name.Name] = append(k.methods[d.Name.Name], d)
				} else {
					k.funcs[d.Name.Name] = d
				}
			case *ast.GenDecl:
				if d.Tok != token.VAR {
					continue
				}
				for _, sp := range d.Specs {
					vs := sp.(*ast.ValueSpec)
					for _, n := range vs.Names {
						k.vars[n.Name] = append(k.vars[n.Name], vs.Values...)
					}
				}
			}
		}
	}
	return k, nil
}

// Check parses srcs and reports every violation in code reachable from
// the entries the assembly calls, and every entry that is not marked
// //go:nowritebarrierrec.
func Check(srcs []Source) ([]Violation, error) {
	k, err := parse(srcs)
	if err != nil {
		return nil, err
	}
	var out []Violation
	for _, e := range Entries(srcs) {
		if fn, ok := k.funcs[e]; ok && !hasDirective(fn, "//go:nowritebarrierrec") {
			out = append(out, Violation{Pos: k.fset.Position(fn.Pos()), Func: e,
				Rule: "entry from assembly without //go:nowritebarrierrec", Path: []string{"asm"}})
		}
	}
	k.walk(Entries(srcs), func(fn *ast.FuncDecl, path []string) {
		for _, v := range violations(fn) {
			out = append(out, Violation{Pos: k.fset.Position(v.pos), Func: funcName(fn), Rule: v.rule, Path: path})
		}
	})
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Offset < b.Offset
	})
	return out, nil
}

// Reachable lists the kernel functions reachable from the entries the
// assembly calls: the code held to trap-context rules.
func Reachable(srcs []Source) ([]string, error) {
	k, err := parse(srcs)
	if err != nil {
		return nil, err
	}
	var out []string
	k.walk(Entries(srcs), func(fn *ast.FuncDecl, _ []string) { out = append(out, funcName(fn)) })
	sort.Strings(out)
	return out, nil
}

// walk calls visit for every kernel function reachable from entries,
// breadth-first, so the path it is given is a shortest one.
func (k *kernel) walk(entries []string, visit func(fn *ast.FuncDecl, path []string)) {
	type item struct {
		fn   *ast.FuncDecl
		path []string
	}
	visited := map[*ast.FuncDecl]bool{}
	visitedVar := map[string]bool{}
	var queue []item
	for _, e := range entries {
		if fn, ok := k.funcs[e]; ok && !visited[fn] {
			visited[fn] = true
			queue = append(queue, item{fn, []string{e}})
		}
	}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		visit(it.fn, it.path)
		if it.fn.Body == nil {
			continue // implemented in assembly
		}
		// Follow every identifier that names a kernel function or a
		// package-level variable with an initializer (tables of handlers).
		var refs []*ast.FuncDecl
		var addRefs func(n ast.Node)
		addRefs = func(n ast.Node) {
			ast.Inspect(n, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.Ident:
					if fn, ok := k.funcs[n.Name]; ok {
						refs = append(refs, fn)
					} else if vals, ok := k.vars[n.Name]; ok && !visitedVar[n.Name] {
						visitedVar[n.Name] = true
						for _, v := range vals {
							addRefs(v)
						}
					}
				case *ast.SelectorExpr:
					// x.m: every kernel method named m, whether called or
					// taken as a value (over-approximation).
					refs = append(refs, k.methods[n.Sel.Name]...)
				}
				return true
			})
		}
		addRefs(it.fn.Body)
		for _, r := range refs {
			if !visited[r] {
				visited[r] = true
				p := append(append([]string(nil), it.path...), funcName(r))
				queue = append(queue, item{r, p})
			}
		}
	}
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv != nil && len(fn.Recv.List) > 0 {
		t := fn.Recv.List[0].Type
		if s, ok := t.(*ast.StarExpr); ok {
			t = s.X
		}
		if id, ok := t.(*ast.Ident); ok {
			return id.Name + "." + fn.Name.Name
		}
	}
	return fn.Name.Name
}

func hasDirective(fn *ast.FuncDecl, d string) bool {
	if fn.Doc == nil {
		return false
	}
	for _, c := range fn.Doc.List {
		if strings.TrimSpace(c.Text) == d {
			return true
		}
	}
	return false
}

type found struct {
	pos  token.Pos
	rule string
}

// violations lists what fn's body does that trap context must not.
func violations(fn *ast.FuncDecl) []found {
	var out []found
	if fn.Body == nil {
		return nil // implemented in assembly
	}
	add := func(n ast.Node, rule string) { out = append(out, found{n.Pos(), rule}) }
	localHelpers := stackClosures(fn.Body)
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.DeferStmt:
			add(n, "defer")
		case *ast.GoStmt:
			add(n, "go statement")
		case *ast.FuncLit:
			if !localHelpers[n] {
				add(n, "closure (func literal) that is not a local helper")
			}
		case *ast.MapType:
			add(n, "map type")
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok {
				switch id.Name {
				case "make", "new", "append":
					add(n, "allocation: "+id.Name)
				case "any":
					add(n, "conversion to interface: any(...)")
				}
			}
			fun := n.Fun
			if p, ok := fun.(*ast.ParenExpr); ok {
				fun = p.X
			}
			if _, ok := fun.(*ast.InterfaceType); ok {
				add(n, "conversion to interface")
			}
		case *ast.UnaryExpr:
			if n.Op == token.AND {
				if _, ok := n.X.(*ast.CompositeLit); ok {
					add(n, "allocation: &T{...} may escape to the heap")
				}
			}
		case *ast.CompositeLit:
			switch t := n.Type.(type) {
			case *ast.ArrayType:
				if t.Len == nil {
					add(n, "allocation: slice literal")
				}
			}
		case *ast.BinaryExpr:
			if n.Op == token.ADD && (isStringy(n.X) || isStringy(n.Y)) {
				add(n, "allocation: string concatenation")
			}
		case *ast.AssignStmt:
			if n.Tok == token.ADD_ASSIGN && len(n.Rhs) == 1 && isStringy(n.Rhs[0]) {
				add(n, "allocation: string concatenation")
			}
		}
		return true
	})
	return out
}

// stackClosures finds the func literals of body that are local helpers:
// bound by name := func..., and that name is only ever called, never
// passed, stored or returned. Such a closure cannot escape, so the
// compiler keeps it and what it captures on the stack.
func stackClosures(body *ast.BlockStmt) map[*ast.FuncLit]bool {
	bound := map[string]*ast.FuncLit{}
	ast.Inspect(body, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok && as.Tok == token.DEFINE && len(as.Lhs) == 1 && len(as.Rhs) == 1 {
			if lit, ok := as.Rhs[0].(*ast.FuncLit); ok {
				if id, ok := as.Lhs[0].(*ast.Ident); ok {
					if _, dup := bound[id.Name]; dup {
						bound[id.Name] = nil // two helpers of one name: judge neither
					} else {
						bound[id.Name] = lit
					}
				}
			}
		}
		return true
	})
	// Every use of a bound name other than its definition and calls.
	called := map[*ast.Ident]bool{}
	defined := map[*ast.Ident]bool{}
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok {
				called[id] = true
			}
		case *ast.AssignStmt:
			if n.Tok == token.DEFINE && len(n.Lhs) == 1 {
				if id, ok := n.Lhs[0].(*ast.Ident); ok {
					defined[id] = true
				}
			}
		}
		return true
	})
	var uses func(n ast.Node) bool
	uses = func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			ast.Inspect(sel.X, uses) // x.name: name is a field, not the helper
			return false
		}
		if id, ok := n.(*ast.Ident); ok {
			if _, isBound := bound[id.Name]; isBound && !called[id] && !defined[id] {
				bound[id.Name] = nil // used as a value
			}
		}
		return true
	}
	ast.Inspect(body, uses)
	out := map[*ast.FuncLit]bool{}
	for _, lit := range bound {
		if lit != nil {
			out[lit] = true
		}
	}
	return out
}

// isStringy reports whether e is visibly a string: a string literal, a
// string(...) conversion, or a concatenation of those.
func isStringy(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return e.Kind == token.STRING
	case *ast.ParenExpr:
		return isStringy(e.X)
	case *ast.CallExpr:
		id, ok := e.Fun.(*ast.Ident)
		return ok && id.Name == "string"
	case *ast.BinaryExpr:
		return e.Op == token.ADD && (isStringy(e.X) || isStringy(e.Y))
	}
	return false
}
