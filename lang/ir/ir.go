// Package ir is the resolved, typed tree that the checker produces from
// source. Names are gone: locals are numbered slots in order of declaration
// (parameters first), constants are folded, and calls point at functions.
// The interpreter runs this tree and the merkle package hashes it, so it is
// the canonical form of a function. Fields marked "metadata" never reach a CID.
package ir

import (
	"fmt"

	"github.com/ipfs/go-cid"
)

// Kind is a type constructor.
type Kind uint8

const (
	Void Kind = iota
	Int64
	Uint64
	Float64
	Bool
	Byte
	Array
	Slice
)

var kindNames = [...]string{"void", "int64", "uint64", "float64", "bool", "byte", "array", "slice"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Type is a language type. Elem is set for Array and Slice; Len for Array.
type Type struct {
	Kind Kind
	Len  int64
	Elem *Type
}

var (
	TVoid    = &Type{Kind: Void}
	TInt64   = &Type{Kind: Int64}
	TUint64  = &Type{Kind: Uint64}
	TFloat64 = &Type{Kind: Float64}
	TBool    = &Type{Kind: Bool}
	TByte    = &Type{Kind: Byte}
)

// Scalar returns the shared type for a scalar kind.
func Scalar(k Kind) *Type {
	switch k {
	case Int64:
		return TInt64
	case Uint64:
		return TUint64
	case Float64:
		return TFloat64
	case Bool:
		return TBool
	case Byte:
		return TByte
	}
	return TVoid
}

func (t *Type) String() string {
	switch t.Kind {
	case Array:
		return fmt.Sprintf("[%d]%s", t.Len, t.Elem)
	case Slice:
		return "[]" + t.Elem.String()
	}
	return t.Kind.String()
}

// IsScalar reports whether t is a number or bool.
func (t *Type) IsScalar() bool { return t.Kind >= Int64 && t.Kind <= Byte }

// IsInteger reports whether t is int64, uint64 or byte.
func (t *Type) IsInteger() bool { return t.Kind == Int64 || t.Kind == Uint64 || t.Kind == Byte }

// IsNumeric reports whether t is an integer or float64.
func (t *Type) IsNumeric() bool { return t.IsInteger() || t.Kind == Float64 }

// Identical reports type identity.
func Identical(a, b *Type) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Kind != b.Kind || a.Len != b.Len {
		return false
	}
	if a.Elem == nil || b.Elem == nil {
		return a.Elem == b.Elem
	}
	return Identical(a.Elem, b.Elem)
}

// Op is an operator in the IR.
type Op uint8

const (
	OpAdd Op = iota + 1
	OpSub
	OpMul
	OpDiv
	OpRem
	OpAnd
	OpOr
	OpXor
	OpShl
	OpShr
	OpAndNot
	OpEq
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
	OpLAnd // short-circuit
	OpLOr  // short-circuit
	OpNeg  // unary
	OpNot  // unary !
	OpCpl  // unary ^
	opMax
)

var opNames = [...]string{"", "+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "&^",
	"==", "!=", "<", "<=", ">", ">=", "&&", "||", "neg", "!", "cpl"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", o)
}

// Valid reports whether o is a defined operator.
func (o Op) Valid() bool { return o >= OpAdd && o < opMax }

// Module is a checked module.
type Module struct {
	Name    string // metadata
	Imports []*Import
	Funcs   []*Func // in declaration order
}

// Import is a resolved import.
type Import struct {
	Name string  // metadata
	CID  cid.Cid // the imported module's CID
}

// Func is a function.
type Func struct {
	Name       string   // metadata
	ParamNames []string // metadata
	LocalNames []string // metadata, one per slot
	Params     []*Type
	Result     *Type   // TVoid if none
	Locals     []*Type // all slots, parameters first
	Body       []Stmt
	Exported   bool    // metadata: the name starts with an upper-case letter
	CID        cid.Cid // set by merkle (or on decode); undefined before
}

// Stmt is an IR statement.
type Stmt interface{ isStmt() }

// Expr is an IR expression.
type Expr interface{ Type() *Type }

type (
	// Assign stores X into Dst (a *Local or an *Index). With Op != 0 it is
	// the compound assignment Dst = Dst Op X, with Dst's location evaluated once.
	Assign struct {
		Dst Expr
		Op  Op
		X   Expr
	}
	// Eval evaluates X (a call) for its effects.
	Eval struct{ X Expr }
	// If runs Then or Else.
	If struct {
		Cond       Expr
		Then, Else []Stmt
	}
	// Loop runs Body while Cond (nil: forever); continue runs Post.
	Loop struct {
		Cond Expr
		Body []Stmt
		Post []Stmt
	}
	// Break leaves the innermost loop.
	Break struct{}
	// Continue jumps to the innermost loop's Post.
	Continue struct{}
	// Return returns X (nil for no value).
	Return struct{ X Expr }
)

func (*Assign) isStmt()   {}
func (*Eval) isStmt()     {}
func (*If) isStmt()       {}
func (*Loop) isStmt()     {}
func (*Break) isStmt()    {}
func (*Continue) isStmt() {}
func (*Return) isStmt()   {}

type (
	// Const is a scalar constant; Bits holds the value (float64 as IEEE bits,
	// bool as 0/1, int64 as two's complement).
	Const struct {
		T    *Type
		Bits uint64
	}
	// Zero is the zero value of an aggregate type (array or slice).
	Zero struct{ T *Type }
	// Local reads slot Slot.
	Local struct {
		Slot int
		T    *Type
	}
	// Unary applies Op to X.
	Unary struct {
		Op Op
		X  Expr
		T  *Type
	}
	// Binary applies Op to X and Y. T is the result type.
	Binary struct {
		Op   Op
		X, Y Expr
		T    *Type
	}
	// Convert converts X to T.
	Convert struct {
		X Expr
		T *Type
	}
	// Call calls Target with Args.
	Call struct {
		Target *Func
		Args   []Expr
		T      *Type
	}
	// Index is X[I] with a bounds check.
	Index struct {
		X, I Expr
		T    *Type
	}
	// SliceOf is X[Lo:Hi] (nil Lo = 0, nil Hi = len).
	SliceOf struct {
		X, Lo, Hi Expr
		T         *Type
	}
	// Len is len(X).
	Len struct{ X Expr }
	// Make is make(T, N).
	Make struct {
		T *Type
		N Expr
	}
	// Composite builds an array or slice from elements.
	Composite struct {
		T     *Type
		Elems []Expr
	}
)

func (e *Const) Type() *Type     { return e.T }
func (e *Zero) Type() *Type      { return e.T }
func (e *Local) Type() *Type     { return e.T }
func (e *Unary) Type() *Type     { return e.T }
func (e *Binary) Type() *Type    { return e.T }
func (e *Convert) Type() *Type   { return e.T }
func (e *Call) Type() *Type      { return e.T }
func (e *Index) Type() *Type     { return e.T }
func (e *SliceOf) Type() *Type   { return e.T }
func (e *Len) Type() *Type       { return TInt64 }
func (e *Make) Type() *Type      { return e.T }
func (e *Composite) Type() *Type { return e.T }

// Lookup returns the function named name, or nil.
func (m *Module) Lookup(name string) *Func {
	for _, f := range m.Funcs {
		if f.Name == name {
			return f
		}
	}
	return nil
}
