package syntax

// File is a parsed source file: one module.
type File struct {
	Pos     Pos
	Name    string // module name (metadata: not part of any CID)
	Imports []*ImportDecl
	Consts  []*ConstDecl
	Funcs   []*FuncDecl
}

// ImportDecl is `import name "ref"`; ref is a CIDv1 or a hex digest prefix.
type ImportDecl struct {
	Pos  Pos
	Name string
	Ref  string
}

// ConstDecl is `const name [Type] = value`.
type ConstDecl struct {
	Pos   Pos
	Name  string
	Type  Expr // nil if untyped
	Value Expr
}

// Param is one function parameter.
type Param struct {
	Pos  Pos
	Name string
	Type Expr
}

// FuncDecl is a function declaration.
type FuncDecl struct {
	Pos    Pos
	Name   string
	Params []*Param
	Result Expr // nil if none
	Body   *Block
}

// Stmt is a statement node.
type Stmt interface{ stmtPos() Pos }

// Expr is an expression node (types appear as expressions too).
type Expr interface{ exprPos() Pos }

type (
	// Block is `{ stmts }`.
	Block struct {
		Pos   Pos
		Stmts []Stmt
		End   Pos
	}
	// VarStmt is `var name [Type] [= value]`.
	VarStmt struct {
		Pos   Pos
		Name  string
		Type  Expr
		Value Expr
	}
	// ConstStmt is a local const declaration.
	ConstStmt struct{ Decl *ConstDecl }
	// DefineStmt is `name := value`.
	DefineStmt struct {
		Pos   Pos
		Name  string
		Value Expr
	}
	// AssignStmt is `lhs = rhs` or `lhs op= rhs` (Op is the binary operator or Assign).
	AssignStmt struct {
		Pos Pos
		Op  Kind
		LHS Expr
		RHS Expr
	}
	// IncDecStmt is `x++` or `x--`.
	IncDecStmt struct {
		Pos Pos
		Inc bool
		X   Expr
	}
	// ExprStmt is an expression used as a statement (a call).
	ExprStmt struct{ X Expr }
	// IfStmt is `if cond { } [else ...]`; Else is nil, *IfStmt or *Block.
	IfStmt struct {
		Pos  Pos
		Cond Expr
		Then *Block
		Else Stmt
	}
	// ForStmt is `for [init]; [cond]; [post] { }` and its short forms.
	ForStmt struct {
		Pos  Pos
		Init Stmt // nil if absent
		Cond Expr // nil means forever
		Post Stmt // nil if absent
		Body *Block
	}
	// ReturnStmt is `return [x]`.
	ReturnStmt struct {
		Pos Pos
		X   Expr
	}
	// BranchStmt is `break` or `continue`.
	BranchStmt struct {
		Pos Pos
		Tok Kind
	}
)

func (s *Block) stmtPos() Pos      { return s.Pos }
func (s *VarStmt) stmtPos() Pos    { return s.Pos }
func (s *ConstStmt) stmtPos() Pos  { return s.Decl.Pos }
func (s *DefineStmt) stmtPos() Pos { return s.Pos }
func (s *AssignStmt) stmtPos() Pos { return s.Pos }
func (s *IncDecStmt) stmtPos() Pos { return s.Pos }
func (s *ExprStmt) stmtPos() Pos   { return s.X.exprPos() }
func (s *IfStmt) stmtPos() Pos     { return s.Pos }
func (s *ForStmt) stmtPos() Pos    { return s.Pos }
func (s *ReturnStmt) stmtPos() Pos { return s.Pos }
func (s *BranchStmt) stmtPos() Pos { return s.Pos }

type (
	// Name is an identifier.
	Name struct {
		Pos  Pos
		Name string
	}
	// BasicLit is an integer or float literal; Value is the source text.
	BasicLit struct {
		Pos   Pos
		Kind  Kind // Int or Float
		Value string
	}
	// Selector is `pkg.Name` (only imported functions).
	Selector struct {
		Pos  Pos
		X    *Name
		Name string
	}
	// Unary is `op x`.
	Unary struct {
		Pos Pos
		Op  Kind
		X   Expr
	}
	// Binary is `x op y`.
	Binary struct {
		Pos  Pos
		Op   Kind
		X, Y Expr
	}
	// Paren is `(x)`.
	Paren struct {
		Pos Pos
		X   Expr
	}
	// Call is `fun(args)`; also conversions and the builtins len and make.
	Call struct {
		Pos  Pos
		Fun  Expr
		Args []Expr
	}
	// Index is `x[i]`.
	Index struct {
		Pos   Pos
		X     Expr
		Index Expr
	}
	// SliceExpr is `x[lo:hi]`; Lo and Hi may be nil.
	SliceExpr struct {
		Pos    Pos
		X      Expr
		Lo, Hi Expr
	}
	// CompositeLit is `[N]T{...}` or `[]T{...}`.
	CompositeLit struct {
		Pos   Pos
		Type  Expr
		Elems []Expr
	}
	// ArrayType is `[Len]Elem`.
	ArrayType struct {
		Pos  Pos
		Len  Expr
		Elem Expr
	}
	// SliceType is `[]Elem`.
	SliceType struct {
		Pos  Pos
		Elem Expr
	}
)

func (e *Name) exprPos() Pos         { return e.Pos }
func (e *BasicLit) exprPos() Pos     { return e.Pos }
func (e *Selector) exprPos() Pos     { return e.Pos }
func (e *Unary) exprPos() Pos        { return e.Pos }
func (e *Binary) exprPos() Pos       { return e.Pos }
func (e *Paren) exprPos() Pos        { return e.Pos }
func (e *Call) exprPos() Pos         { return e.Pos }
func (e *Index) exprPos() Pos        { return e.Pos }
func (e *SliceExpr) exprPos() Pos    { return e.Pos }
func (e *CompositeLit) exprPos() Pos { return e.Pos }
func (e *ArrayType) exprPos() Pos    { return e.Pos }
func (e *SliceType) exprPos() Pos    { return e.Pos }

// StmtPos returns the position of a statement.
func StmtPos(s Stmt) Pos { return s.stmtPos() }

// ExprPos returns the position of an expression.
func ExprPos(e Expr) Pos { return e.exprPos() }
