package syntax

import (
	"fmt"
	"strings"
)

// lexer turns source bytes into tokens, inserting semicolons at line ends
// after the tokens that can end a statement, as Go does.
type lexer struct {
	file      string
	src       string
	off       int
	line, col int
	lastKind  Kind // kind of the last emitted non-semicolon token (for semicolon insertion)
	needSemi  bool
	err       *Error
}

func newLexer(file, src string) *lexer {
	return &lexer{file: file, src: src, line: 1, col: 1}
}

func (l *lexer) pos() Pos { return Pos{File: l.file, Line: l.line, Col: l.col} }

func (l *lexer) errorf(p Pos, format string, args ...any) {
	if l.err == nil {
		l.err = &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
	}
}

func (l *lexer) advance(n int) {
	for i := 0; i < n && l.off < len(l.src); i++ {
		if l.src[l.off] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.off++
	}
}

func (l *lexer) peekByte(k int) byte {
	if l.off+k < len(l.src) {
		return l.src[l.off+k]
	}
	return 0
}

// next returns the next token. After an error it returns EOF tokens.
func (l *lexer) next() Token {
	if l.err != nil {
		return Token{Kind: EOF, Pos: l.pos()}
	}
	// skip whitespace and comments; a newline (also inside a /* */ comment)
	// yields a semicolon when needSemi is set.
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == '\n':
			if l.needSemi {
				p := l.pos()
				l.needSemi = false
				l.advance(1)
				return Token{Kind: Semi, Pos: p, Text: "\n"}
			}
			l.advance(1)
		case c == ' ' || c == '\t' || c == '\r':
			l.advance(1)
		case c == '/' && l.peekByte(1) == '/':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance(1)
			}
		case c == '/' && l.peekByte(1) == '*':
			p := l.pos()
			end := strings.Index(l.src[l.off+2:], "*/")
			if end < 0 {
				l.errorf(p, "comment not terminated: expected '*/'")
				return Token{Kind: EOF, Pos: p}
			}
			body := l.src[l.off : l.off+2+end+2]
			l.advance(len(body))
			if strings.Contains(body, "\n") && l.needSemi {
				l.needSemi = false
				return Token{Kind: Semi, Pos: p, Text: "\n"}
			}
		default:
			goto token
		}
	}
	if l.needSemi {
		l.needSemi = false
		return Token{Kind: Semi, Pos: l.pos(), Text: "\n"}
	}
	return Token{Kind: EOF, Pos: l.pos()}
token:
	t := l.scan()
	switch t.Kind {
	case Ident, Int, Float, String, Return, Break, Continue, Inc, Dec, RParen, RBrack, RBrace:
		l.needSemi = true
	default:
		l.needSemi = false
	}
	return t
}

func isLetter(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isHex(c byte) bool    { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func (l *lexer) scan() Token {
	p := l.pos()
	c := l.src[l.off]
	switch {
	case isLetter(c):
		start := l.off
		for l.off < len(l.src) && (isLetter(l.src[l.off]) || isDigit(l.src[l.off])) {
			l.advance(1)
		}
		word := l.src[start:l.off]
		if k, ok := keywords[word]; ok {
			return Token{Kind: k, Pos: p, Text: word}
		}
		return Token{Kind: Ident, Pos: p, Text: word}
	case isDigit(c) || c == '.' && isDigit(l.peekByte(1)):
		return l.number(p)
	case c == '"':
		return l.str(p)
	}
	// operators: longest match first
	ops := []struct {
		s string
		k Kind
	}{
		{"&^=", AndNotAssign}, {"<<=", ShlAssign}, {">>=", ShrAssign},
		{"&^", AndNot}, {"<<", Shl}, {">>", Shr}, {"+=", AddAssign}, {"-=", SubAssign},
		{"*=", MulAssign}, {"/=", QuoAssign}, {"%=", RemAssign}, {"&=", AndAssign},
		{"|=", OrAssign}, {"^=", XorAssign}, {"&&", LAnd}, {"||", LOr}, {"++", Inc},
		{"--", Dec}, {"==", Eql}, {"!=", Neq}, {"<=", Leq}, {">=", Geq}, {":=", Define},
		{"+", Add}, {"-", Sub}, {"*", Mul}, {"/", Quo}, {"%", Rem}, {"&", And}, {"|", Or},
		{"^", Xor}, {"<", Lss}, {">", Gtr}, {"=", Assign}, {"!", Not}, {"(", LParen},
		{"[", LBrack}, {"{", LBrace}, {",", Comma}, {".", Period}, {")", RParen},
		{"]", RBrack}, {"}", RBrace}, {":", Colon}, {";", Semi},
	}
	for _, op := range ops {
		if strings.HasPrefix(l.src[l.off:], op.s) {
			l.advance(len(op.s))
			return Token{Kind: op.k, Pos: p, Text: op.s}
		}
	}
	if c < 0x20 || c >= 0x7f {
		l.errorf(p, "unexpected character 0x%02x: expected a token", c)
	} else {
		l.errorf(p, "unexpected character %q: expected a token", c)
	}
	l.advance(1)
	return Token{Kind: EOF, Pos: p}
}

func (l *lexer) number(p Pos) Token {
	start := l.off
	if l.src[l.off] == '0' && (l.peekByte(1) == 'x' || l.peekByte(1) == 'X') {
		l.advance(2)
		n := 0
		for l.off < len(l.src) && (isHex(l.src[l.off]) || l.src[l.off] == '_') {
			l.advance(1)
			n++
		}
		if n == 0 {
			l.errorf(p, "malformed hex literal: expected hex digits after 0x")
		}
		return l.numEnd(p, start, Int)
	}
	kind := Int
	for l.off < len(l.src) && (isDigit(l.src[l.off]) || l.src[l.off] == '_') {
		l.advance(1)
	}
	if l.off < len(l.src) && l.src[l.off] == '.' {
		kind = Float
		l.advance(1)
		for l.off < len(l.src) && isDigit(l.src[l.off]) {
			l.advance(1)
		}
	}
	if l.off < len(l.src) && (l.src[l.off] == 'e' || l.src[l.off] == 'E') {
		kind = Float
		l.advance(1)
		if l.off < len(l.src) && (l.src[l.off] == '+' || l.src[l.off] == '-') {
			l.advance(1)
		}
		n := 0
		for l.off < len(l.src) && isDigit(l.src[l.off]) {
			l.advance(1)
			n++
		}
		if n == 0 {
			l.errorf(p, "malformed float literal: expected exponent digits")
		}
	}
	return l.numEnd(p, start, kind)
}

func (l *lexer) numEnd(p Pos, start int, kind Kind) Token {
	if l.off < len(l.src) && (isLetter(l.src[l.off]) || isDigit(l.src[l.off])) {
		l.errorf(l.pos(), "unexpected %q after number: expected an operator or separator", l.src[l.off])
	}
	return Token{Kind: kind, Pos: p, Text: l.src[start:l.off]}
}

func (l *lexer) str(p Pos) Token {
	l.advance(1)
	var b strings.Builder
	for {
		if l.off >= len(l.src) || l.src[l.off] == '\n' {
			l.errorf(p, "string literal not terminated: expected '\"'")
			return Token{Kind: EOF, Pos: p}
		}
		c := l.src[l.off]
		if c == '"' {
			l.advance(1)
			return Token{Kind: String, Pos: p, Text: b.String()}
		}
		if c == '\\' {
			l.errorf(l.pos(), "escape sequences are not supported in import paths: expected a CID or hex prefix")
			return Token{Kind: EOF, Pos: p}
		}
		b.WriteByte(c)
		l.advance(1)
	}
}
