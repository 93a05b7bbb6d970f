package ir

// Callees lists the functions that stmts call, in the order the calls
// appear (a function called twice is listed twice). The JIT uses it to
// find what a function needs compiled, and merkle to order the call graph.
func Callees(stmts []Stmt) []*Func {
	var out []*Func
	var expr func(e Expr)
	expr = func(e Expr) {
		switch e := e.(type) {
		case *Unary:
			expr(e.X)
		case *Binary:
			expr(e.X)
			expr(e.Y)
		case *Convert:
			expr(e.X)
		case *Call:
			out = append(out, e.Target)
			for _, a := range e.Args {
				expr(a)
			}
		case *Index:
			expr(e.X)
			expr(e.I)
		case *SliceOf:
			expr(e.X)
			if e.Lo != nil {
				expr(e.Lo)
			}
			if e.Hi != nil {
				expr(e.Hi)
			}
		case *Len:
			expr(e.X)
		case *Make:
			expr(e.N)
		case *Composite:
			for _, x := range e.Elems {
				expr(x)
			}
		}
	}
	var stmt func(ss []Stmt)
	stmt = func(ss []Stmt) {
		for _, s := range ss {
			switch s := s.(type) {
			case *Assign:
				expr(s.Dst)
				expr(s.X)
			case *Eval:
				expr(s.X)
			case *If:
				expr(s.Cond)
				stmt(s.Then)
				stmt(s.Else)
			case *Loop:
				if s.Cond != nil {
					expr(s.Cond)
				}
				stmt(s.Body)
				stmt(s.Post)
			case *Return:
				if s.X != nil {
					expr(s.X)
				}
			}
		}
	}
	stmt(stmts)
	return out
}
