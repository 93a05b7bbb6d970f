package syntax

import "fmt"

// maxDepth bounds expression/statement nesting so hostile input cannot
// exhaust the stack.
const maxDepth = 256

type parser struct {
	lex   *lexer
	tok   Token
	depth int
}

type bailout struct{ err *Error }

// Parse parses one module source file. The error, if any, is a *Error
// carrying file:line:col and what was expected.
func Parse(filename string, src []byte) (f *File, err error) {
	p := &parser{lex: newLexer(filename, string(src))}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bailout)
			if !ok {
				panic(r)
			}
			f, err = nil, b.err
		}
	}()
	p.next()
	f = p.file()
	return f, nil
}

func (p *parser) next() {
	p.tok = p.lex.next()
	if p.lex.err != nil {
		panic(bailout{p.lex.err})
	}
}

func (p *parser) failf(pos Pos, format string, args ...any) {
	panic(bailout{&Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}})
}

func (p *parser) expected(what string) {
	p.failf(p.tok.Pos, "expected %s, found %s", what, p.tok.describe())
}

func (p *parser) expect(k Kind) Token {
	t := p.tok
	if t.Kind != k {
		p.expected(k.String())
	}
	p.next()
	return t
}

func (p *parser) ident() Token { return p.expect(Ident) }

// semi accepts a statement terminator; before ')' or '}' it may be omitted.
func (p *parser) semi(context string) {
	switch p.tok.Kind {
	case Semi:
		p.next()
	case RParen, RBrace, EOF:
	default:
		p.expected("';' or newline after " + context)
	}
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.failf(p.tok.Pos, "nesting too deep (limit %d)", maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) file() *File {
	f := &File{Pos: p.tok.Pos}
	if p.tok.Kind != Module {
		p.expected("module header 'module NAME'")
	}
	p.next()
	f.Name = p.ident().Text
	p.semi("module header")
	for p.tok.Kind == Import {
		pos := p.tok.Pos
		p.next()
		name := p.ident().Text
		if p.tok.Kind != String {
			p.expected("import reference string (a CID or hex digest prefix)")
		}
		ref := p.tok.Text
		p.next()
		f.Imports = append(f.Imports, &ImportDecl{Pos: pos, Name: name, Ref: ref})
		p.semi("import")
	}
	for p.tok.Kind != EOF {
		switch p.tok.Kind {
		case Func:
			f.Funcs = append(f.Funcs, p.funcDecl())
			p.semi("function declaration")
		case Const:
			f.Consts = append(f.Consts, p.constDecl())
			p.semi("const declaration")
		case Import:
			p.failf(p.tok.Pos, "imports must come before declarations: expected 'func' or 'const'")
		case Semi:
			p.next()
		default:
			p.expected("'func' or 'const' declaration")
		}
	}
	return f
}

func (p *parser) constDecl() *ConstDecl {
	pos := p.expect(Const).Pos
	d := &ConstDecl{Pos: pos, Name: p.ident().Text}
	if p.tok.Kind != Assign {
		d.Type = p.typ()
	}
	p.expect(Assign)
	d.Value = p.expr()
	return d
}

func (p *parser) funcDecl() *FuncDecl {
	pos := p.expect(Func).Pos
	fd := &FuncDecl{Pos: pos, Name: p.ident().Text}
	p.expect(LParen)
	// Parameters: a, b int64, c bool
	var pending []Token
	for p.tok.Kind != RParen {
		t := p.ident()
		pending = append(pending, t)
		if p.tok.Kind == Comma {
			p.next()
			continue
		}
		typ := p.typ()
		for _, n := range pending {
			fd.Params = append(fd.Params, &Param{Pos: n.Pos, Name: n.Text, Type: typ})
		}
		pending = nil
		if p.tok.Kind == Comma {
			p.next()
			continue
		}
		if p.tok.Kind != RParen {
			p.expected("',' or ')' in parameter list")
		}
	}
	if len(pending) > 0 {
		p.failf(p.tok.Pos, "expected type for parameter %q, found %s", pending[len(pending)-1].Text, p.tok.describe())
	}
	p.expect(RParen)
	if p.tok.Kind != LBrace {
		fd.Result = p.typ()
	}
	fd.Body = p.block()
	return fd
}

func (p *parser) typ() Expr {
	switch p.tok.Kind {
	case Ident:
		t := p.tok
		p.next()
		return &Name{Pos: t.Pos, Name: t.Text}
	case LParen:
		pos := p.tok.Pos
		p.next()
		t := p.elemType()
		p.expect(RParen)
		return &Paren{Pos: pos, X: t}
	case LBrack:
		pos := p.tok.Pos
		p.next()
		if p.tok.Kind == RBrack {
			p.next()
			return &SliceType{Pos: pos, Elem: p.elemType()}
		}
		n := p.expr()
		p.expect(RBrack)
		return &ArrayType{Pos: pos, Len: n, Elem: p.elemType()}
	}
	p.expected("type")
	return nil
}

func (p *parser) elemType() Expr {
	p.enter()
	defer p.leave()
	return p.typ()
}

func (p *parser) block() *Block {
	p.enter()
	defer p.leave()
	b := &Block{Pos: p.expect(LBrace).Pos}
	for p.tok.Kind != RBrace {
		if p.tok.Kind == EOF {
			p.expected("'}'")
		}
		if p.tok.Kind == Semi {
			p.next()
			continue
		}
		b.Stmts = append(b.Stmts, p.stmt())
		p.semi("statement")
	}
	b.End = p.tok.Pos
	p.next()
	return b
}

func (p *parser) stmt() Stmt {
	switch p.tok.Kind {
	case Var:
		pos := p.tok.Pos
		p.next()
		s := &VarStmt{Pos: pos, Name: p.ident().Text}
		if p.tok.Kind != Assign {
			s.Type = p.typ()
		}
		if p.tok.Kind == Assign {
			p.next()
			s.Value = p.expr()
		}
		return s
	case Const:
		return &ConstStmt{Decl: p.constDecl()}
	case If:
		return p.ifStmt()
	case For:
		return p.forStmt()
	case Return:
		pos := p.tok.Pos
		p.next()
		s := &ReturnStmt{Pos: pos}
		if p.tok.Kind != Semi && p.tok.Kind != RBrace {
			s.X = p.expr()
		}
		return s
	case Break, Continue:
		t := p.tok
		p.next()
		return &BranchStmt{Pos: t.Pos, Tok: t.Kind}
	case LBrace:
		return p.block()
	case Func, Import, Module:
		p.expected("statement")
	}
	return p.simpleStmt()
}

func (p *parser) simpleStmt() Stmt {
	pos := p.tok.Pos
	if p.tok.Kind == Ident {
		// Look for `name :=`.
		t := p.tok
		x := p.expr()
		if n, ok := x.(*Name); ok && p.tok.Kind == Define {
			p.next()
			return &DefineStmt{Pos: t.Pos, Name: n.Name, Value: p.expr()}
		}
		return p.simpleRest(pos, x)
	}
	return p.simpleRest(pos, p.expr())
}

var assignOps = map[Kind]Kind{
	Assign: Assign, AddAssign: Add, SubAssign: Sub, MulAssign: Mul, QuoAssign: Quo, RemAssign: Rem,
	AndAssign: And, OrAssign: Or, XorAssign: Xor, ShlAssign: Shl, ShrAssign: Shr, AndNotAssign: AndNot,
}

func (p *parser) simpleRest(pos Pos, x Expr) Stmt {
	if op, ok := assignOps[p.tok.Kind]; ok {
		p.next()
		return &AssignStmt{Pos: pos, Op: op, LHS: x, RHS: p.expr()}
	}
	switch p.tok.Kind {
	case Inc, Dec:
		inc := p.tok.Kind == Inc
		p.next()
		return &IncDecStmt{Pos: pos, Inc: inc, X: x}
	case Define:
		p.failf(p.tok.Pos, "expected identifier on left side of ':='")
	}
	return &ExprStmt{X: x}
}

func (p *parser) ifStmt() Stmt {
	p.enter()
	defer p.leave()
	pos := p.expect(If).Pos
	s := &IfStmt{Pos: pos, Cond: p.expr()}
	if p.tok.Kind != LBrace {
		p.expected("'{' after if condition")
	}
	s.Then = p.block()
	if p.tok.Kind == Else {
		p.next()
		switch p.tok.Kind {
		case If:
			s.Else = p.ifStmt()
		case LBrace:
			s.Else = p.block()
		default:
			p.expected("'if' or '{' after else")
		}
	}
	return s
}

func (p *parser) forStmt() Stmt {
	pos := p.expect(For).Pos
	s := &ForStmt{Pos: pos}
	if p.tok.Kind == LBrace {
		s.Body = p.block()
		return s
	}
	var first Stmt
	if p.tok.Kind != Semi {
		first = p.simpleStmt()
	}
	if p.tok.Kind == LBrace {
		es, ok := first.(*ExprStmt)
		if !ok {
			p.failf(pos, "expected for loop condition, found a statement")
		}
		s.Cond = es.X
		s.Body = p.block()
		return s
	}
	s.Init = first
	if p.tok.Kind != Semi {
		p.expected("'{' or ';' in for clause")
	}
	p.next()
	if p.tok.Kind != Semi {
		s.Cond = p.expr()
	}
	if p.tok.Kind != Semi {
		p.expected("';' after for condition")
	}
	p.next()
	if p.tok.Kind != LBrace {
		s.Post = p.simpleStmt()
		if _, ok := s.Post.(*DefineStmt); ok {
			p.failf(syntaxPos(s.Post), "cannot declare in for post statement")
		}
	}
	if p.tok.Kind != LBrace {
		p.expected("'{' to start for body")
	}
	s.Body = p.block()
	return s
}

func syntaxPos(s Stmt) Pos { return s.stmtPos() }

// Binary operator precedence, as in Go.
func precedence(k Kind) int {
	switch k {
	case LOr:
		return 1
	case LAnd:
		return 2
	case Eql, Neq, Lss, Leq, Gtr, Geq:
		return 3
	case Add, Sub, Or, Xor:
		return 4
	case Mul, Quo, Rem, Shl, Shr, And, AndNot:
		return 5
	}
	return 0
}

func (p *parser) expr() Expr { return p.binary(1) }

func (p *parser) binary(prec int) Expr {
	p.enter()
	defer p.leave()
	x := p.unary()
	for {
		op := p.tok.Kind
		q := precedence(op)
		if q < prec {
			return x
		}
		pos := p.tok.Pos
		p.next()
		y := p.binary(q + 1)
		x = &Binary{Pos: pos, Op: op, X: x, Y: y}
	}
}

func (p *parser) unary() Expr {
	switch p.tok.Kind {
	case Add, Sub, Not, Xor:
		p.enter()
		defer p.leave()
		t := p.tok
		p.next()
		return &Unary{Pos: t.Pos, Op: t.Kind, X: p.unary()}
	}
	return p.primary()
}

func (p *parser) operand() Expr {
	t := p.tok
	switch t.Kind {
	case Ident:
		p.next()
		if p.tok.Kind == Period {
			p.next()
			sel := p.ident()
			return &Selector{Pos: t.Pos, X: &Name{Pos: t.Pos, Name: t.Text}, Name: sel.Text}
		}
		return &Name{Pos: t.Pos, Name: t.Text}
	case Int, Float:
		p.next()
		return &BasicLit{Pos: t.Pos, Kind: t.Kind, Value: t.Text}
	case LParen:
		p.next()
		x := p.expr()
		p.expect(RParen)
		return &Paren{Pos: t.Pos, X: x}
	case LBrack:
		typ := p.typ()
		if p.tok.Kind == LBrace {
			return p.composite(typ)
		}
		return typ // e.g. the type argument of make
	}
	p.expected("expression")
	return nil
}

func (p *parser) composite(typ Expr) Expr {
	lit := &CompositeLit{Pos: ExprPos(typ), Type: typ}
	p.expect(LBrace)
	for p.tok.Kind != RBrace {
		if p.tok.Kind == Semi && p.tok.Text == "\n" {
			p.next()
			continue
		}
		lit.Elems = append(lit.Elems, p.expr())
		if p.tok.Kind == Comma {
			p.next()
			continue
		}
		if p.tok.Kind == Semi && p.tok.Text == "\n" {
			p.failf(p.tok.Pos, "expected ',' before newline in composite literal")
		}
		if p.tok.Kind != RBrace {
			p.expected("',' or '}' in composite literal")
		}
	}
	p.next()
	return lit
}

func (p *parser) primary() Expr {
	x := p.operand()
	for {
		switch p.tok.Kind {
		case LParen:
			pos := p.tok.Pos
			p.next()
			c := &Call{Pos: pos, Fun: x}
			for p.tok.Kind != RParen {
				c.Args = append(c.Args, p.expr())
				if p.tok.Kind == Comma {
					p.next()
					continue
				}
				if p.tok.Kind != RParen {
					p.expected("',' or ')' in argument list")
				}
			}
			p.next()
			x = c
		case LBrack:
			pos := p.tok.Pos
			p.next()
			var lo Expr
			if p.tok.Kind != Colon {
				lo = p.expr()
			}
			if p.tok.Kind == Colon {
				p.next()
				var hi Expr
				if p.tok.Kind != RBrack {
					hi = p.expr()
				}
				p.expect(RBrack)
				x = &SliceExpr{Pos: pos, X: x, Lo: lo, Hi: hi}
				continue
			}
			p.expect(RBrack)
			x = &Index{Pos: pos, X: x, Index: lo}
		default:
			return x
		}
	}
}
