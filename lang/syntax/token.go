// Package syntax implements the lexer, the abstract syntax tree and the parser
// of the Velocity module language. See docs/lang.md for the language.
package syntax

import "fmt"

// Pos is a source position. Line and Col are 1-based; Col counts bytes.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	f := p.File
	if f == "" {
		f = "<input>"
	}
	return fmt.Sprintf("%s:%d:%d", f, p.Line, p.Col)
}

// Error is a positioned diagnostic.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Kind is the kind of a token.
type Kind int

const (
	EOF Kind = iota
	Ident
	Int
	Float
	String
	Semi // ';' or an automatically inserted newline semicolon

	// operators and punctuation
	Add    // +
	Sub    // -
	Mul    // *
	Quo    // /
	Rem    // %
	And    // &
	Or     // |
	Xor    // ^
	Shl    // <<
	Shr    // >>
	AndNot // &^

	AddAssign    // +=
	SubAssign    // -=
	MulAssign    // *=
	QuoAssign    // /=
	RemAssign    // %=
	AndAssign    // &=
	OrAssign     // |=
	XorAssign    // ^=
	ShlAssign    // <<=
	ShrAssign    // >>=
	AndNotAssign // &^=

	LAnd   // &&
	LOr    // ||
	Inc    // ++
	Dec    // --
	Eql    // ==
	Lss    // <
	Gtr    // >
	Assign // =
	Not    // !
	Neq    // !=
	Leq    // <=
	Geq    // >=
	Define // :=
	LParen // (
	LBrack // [
	LBrace // {
	Comma  // ,
	Period // .
	RParen // )
	RBrack // ]
	RBrace // }
	Colon  // :

	// keywords
	keywordBeg
	Module
	Import
	Func
	Var
	Const
	If
	Else
	For
	Return
	Break
	Continue
	keywordEnd
)

var kindNames = [...]string{
	EOF: "end of file", Ident: "identifier", Int: "integer literal", Float: "float literal",
	String: "string literal", Semi: "';' or newline",
	Add: "'+'", Sub: "'-'", Mul: "'*'", Quo: "'/'", Rem: "'%'", And: "'&'", Or: "'|'", Xor: "'^'",
	Shl: "'<<'", Shr: "'>>'", AndNot: "'&^'",
	AddAssign: "'+='", SubAssign: "'-='", MulAssign: "'*='", QuoAssign: "'/='", RemAssign: "'%='",
	AndAssign: "'&='", OrAssign: "'|='", XorAssign: "'^='", ShlAssign: "'<<='", ShrAssign: "'>>='",
	AndNotAssign: "'&^='",
	LAnd:         "'&&'", LOr: "'||'", Inc: "'++'", Dec: "'--'", Eql: "'=='", Lss: "'<'", Gtr: "'>'",
	Assign: "'='", Not: "'!'", Neq: "'!='", Leq: "'<='", Geq: "'>='", Define: "':='",
	LParen: "'('", LBrack: "'['", LBrace: "'{'", Comma: "','", Period: "'.'", RParen: "')'",
	RBrack: "']'", RBrace: "'}'", Colon: "':'",
	Module: "'module'", Import: "'import'", Func: "'func'", Var: "'var'", Const: "'const'",
	If: "'if'", Else: "'else'", For: "'for'", Return: "'return'", Break: "'break'", Continue: "'continue'",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("token(%d)", int(k))
}

var keywords = map[string]Kind{
	"module": Module, "import": Import, "func": Func, "var": Var, "const": Const,
	"if": If, "else": Else, "for": For, "return": Return, "break": Break, "continue": Continue,
}

// Token is a lexed token.
type Token struct {
	Kind Kind
	Pos  Pos
	Text string // identifier, literal text (string literals unquoted)
}

func (t Token) describe() string {
	switch t.Kind {
	case Ident:
		return fmt.Sprintf("identifier %q", t.Text)
	case Int, Float:
		return fmt.Sprintf("literal %s", t.Text)
	case String:
		return fmt.Sprintf("string %q", t.Text)
	case Semi:
		if t.Text == "\n" {
			return "newline"
		}
		return "';'"
	}
	return t.Kind.String()
}
