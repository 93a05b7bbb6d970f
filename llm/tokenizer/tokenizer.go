// Package tokenizer turns text into token ids and back for GPT-2-style
// byte-level BPE vocabularies stored in GGUF files (tokenizer.ggml.model =
// gpt2), with the pre-tokenizer split Qwen2 uses.
//
// Encoding has three steps: special tokens (control and user-defined
// entries, such as <|im_start|> and the FIM tokens) are cut out of the text
// first; the rest is split by the qwen2 pre-tokenizer regular expression,
// which needs a lookahead Go's regexp lacks, so dlclark/regexp2 runs it;
// each piece is mapped byte by byte to its printable form and merged by BPE
// rank. Every byte has a token, so any byte string round-trips through
// Decode(Encode(s)).
package tokenizer

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/dlclark/regexp2"

	"github.com/velocityos/velocity/llm/gguf"
)

// Qwen2Pattern is the qwen2 pre-tokenizer: English contractions, letters
// with at most one leading non-letter, single digits, punctuation runs with
// their trailing newlines, newline runs, and whitespace runs that leave the
// last space to the next word.
const Qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// Token types in tokenizer.ggml.token_type.
const (
	TypeNormal      = 1
	TypeUnknown     = 2
	TypeControl     = 3
	TypeUserDefined = 4
	TypeUnused      = 5
	TypeByte        = 6
)

// eogNames are tokens that end a generation when the vocabulary has them,
// besides tokenizer.ggml.eos_token_id (as llama.cpp decides).
var eogNames = []string{"<|endoftext|>", "<|im_end|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"}

// Tokenizer encodes and decodes; it is safe for concurrent use.
type Tokenizer struct {
	tokens   []string
	raw      [][]byte // each token's bytes as decoded text
	ids      map[string]int
	ranks    map[[2]int]int // merge rank of a pair of token ids
	merged   map[[2]int]int // the token a pair merges into
	byteTok  [256]int
	specials []string // matched in text, longest first
	special  map[string]int
	eog      map[int]bool
	re       *regexp2.Regexp

	mu    sync.Mutex
	cache map[string][]int
}

// ErrVocab wraps errors about an unusable vocabulary.
var ErrVocab = errors.New("tokenizer: bad vocabulary")

// FromGGUF builds the tokenizer stored in a GGUF file.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	str := func(k string) string {
		v, _ := f.Get(k)
		s, _ := v.String()
		return s
	}
	if m := str("tokenizer.ggml.model"); m != "gpt2" {
		return nil, fmt.Errorf("%w: tokenizer.ggml.model is %q; only gpt2 (byte-level BPE) is supported", ErrVocab, m)
	}
	if p := str("tokenizer.ggml.pre"); p != "qwen2" {
		return nil, fmt.Errorf("%w: tokenizer.ggml.pre is %q; only the qwen2 pre-tokenizer is supported", ErrVocab, p)
	}
	tv, _ := f.Get("tokenizer.ggml.tokens")
	tokens, ok := tv.Strings()
	if !ok || len(tokens) == 0 {
		return nil, fmt.Errorf("%w: no tokenizer.ggml.tokens", ErrVocab)
	}
	mv, _ := f.Get("tokenizer.ggml.merges")
	merges, ok := mv.Strings()
	if !ok || len(merges) == 0 {
		return nil, fmt.Errorf("%w: no tokenizer.ggml.merges: a BPE vocabulary needs its merges", ErrVocab)
	}
	var types []int64
	if v, ok := f.Get("tokenizer.ggml.token_type"); ok {
		if types, ok = v.Ints(); !ok || len(types) != len(tokens) {
			return nil, fmt.Errorf("%w: tokenizer.ggml.token_type is not %d integers", ErrVocab, len(tokens))
		}
	}
	eos := -1
	if v, ok := f.Get("tokenizer.ggml.eos_token_id"); ok {
		if u, ok := v.Uint(); ok && u < uint64(len(tokens)) {
			eos = int(u)
		}
	}
	return New(tokens, types, merges, eos)
}

// New builds a tokenizer from a vocabulary in GGUF's form: tokens in
// byte-level form, their types (nil: all normal), merges as "a b", and the
// end-of-sequence id (-1 for none).
func New(tokens []string, types []int64, merges []string, eos int) (*Tokenizer, error) {
	t := &Tokenizer{tokens: tokens, ids: make(map[string]int, len(tokens)), ranks: map[[2]int]int{},
		merged: map[[2]int]int{}, special: map[string]int{}, eog: map[int]bool{}, cache: map[string][]int{}}
	t.raw = make([][]byte, len(tokens))
	for i, s := range tokens {
		if _, dup := t.ids[s]; !dup {
			t.ids[s] = i
		}
		typ := int64(TypeNormal)
		if types != nil {
			typ = types[i]
		}
		if typ == TypeControl || typ == TypeUserDefined {
			if s != "" {
				t.special[s] = i
				t.specials = append(t.specials, s)
			}
			t.raw[i] = []byte(s)
			continue
		}
		if b, ok := unbyte(s); ok {
			t.raw[i] = b
		} else {
			t.raw[i] = []byte(s)
		}
	}
	sort.Slice(t.specials, func(a, b int) bool { return len(t.specials[a]) > len(t.specials[b]) })
	for b := 0; b < 256; b++ {
		id, ok := t.ids[ByteString([]byte{byte(b)})]
		if !ok {
			return nil, fmt.Errorf("%w: no token for byte %#02x, so some text could not be encoded", ErrVocab, b)
		}
		t.byteTok[b] = id
	}
	for r, m := range merges {
		a, b, ok := strings.Cut(m, " ")
		if !ok {
			return nil, fmt.Errorf("%w: merge %d %q is not two tokens", ErrVocab, r, m)
		}
		ia, oka := t.ids[a]
		ib, okb := t.ids[b]
		im, okm := t.ids[a+b]
		if !oka || !okb || !okm {
			continue // llama.cpp ignores merges it cannot use, too
		}
		k := [2]int{ia, ib}
		if _, dup := t.ranks[k]; !dup {
			t.ranks[k] = r
			t.merged[k] = im
		}
	}
	if eos >= 0 {
		t.eog[eos] = true
	}
	for _, n := range eogNames {
		if id, ok := t.special[n]; ok {
			t.eog[id] = true
		}
	}
	var err error
	if t.re, err = regexp2.Compile(Qwen2Pattern, regexp2.None); err != nil {
		return nil, err
	}
	return t, nil
}

// Len is the vocabulary size.
func (t *Tokenizer) Len() int { return len(t.tokens) }

// Token returns token id's text as stored (byte-level form).
func (t *Tokenizer) Token(id int) string { return t.tokens[id] }

// Special returns the id of a special token such as "<|fim_prefix|>".
func (t *Tokenizer) Special(s string) (int, bool) { id, ok := t.special[s]; return id, ok }

// IsEOG reports whether id ends a generation.
func (t *Tokenizer) IsEOG(id int) bool { return t.eog[id] }

// Encode tokenizes text, recognising special tokens written in it.
func (t *Tokenizer) Encode(text string) []int {
	var out []int
	for text != "" {
		at, sp := t.nextSpecial(text)
		out = t.encodePlain(out, text[:at])
		if sp == "" {
			break
		}
		out = append(out, t.special[sp])
		text = text[at+len(sp):]
	}
	return out
}

// EncodePlain tokenizes text as ordinary text (special tokens written in
// it are split like any other characters).
func (t *Tokenizer) EncodePlain(text string) []int { return t.encodePlain(nil, text) }

// nextSpecial finds the earliest special token in s (the longest at that
// position); at is len(s) if there is none.
func (t *Tokenizer) nextSpecial(s string) (at int, sp string) {
	at = len(s)
	if len(t.specials) == 0 {
		return at, ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '<' && !t.startsSpecial(s[i]) {
			continue
		}
		for _, c := range t.specials {
			if strings.HasPrefix(s[i:], c) {
				return i, c
			}
		}
	}
	return at, ""
}

func (t *Tokenizer) startsSpecial(b byte) bool {
	for _, c := range t.specials {
		if c[0] == b {
			return true
		}
	}
	return false
}

func (t *Tokenizer) encodePlain(out []int, text string) []int {
	if text == "" {
		return out
	}
	// regexp2 works on runes; invalid UTF-8 would be replaced by U+FFFD and
	// lose bytes, so split at invalid bytes and give them their byte tokens.
	rs := []rune(text)
	offs := make([]int, 0, len(rs)+1)
	for i := range text {
		offs = append(offs, i)
	}
	offs = append(offs, len(text))
	m, _ := t.re.FindRunesMatch(rs)
	pos := 0
	for m != nil {
		if m.Index > pos { // not reachable with this pattern (\s+ and the catch-alls cover everything), kept for safety
			out = t.bpe(out, text[offs[pos]:offs[m.Index]])
		}
		out = t.bpe(out, text[offs[m.Index]:offs[m.Index+m.Length]])
		pos = m.Index + m.Length
		m, _ = t.re.FindNextMatch(m)
	}
	if pos < len(rs) {
		out = t.bpe(out, text[offs[pos]:])
	}
	return out
}

// bpe appends the tokens of one pre-tokenized piece.
func (t *Tokenizer) bpe(out []int, piece string) []int {
	t.mu.Lock()
	c, ok := t.cache[piece]
	t.mu.Unlock()
	if ok {
		return append(out, c...)
	}
	syms := make([]int, len(piece))
	for i := 0; i < len(piece); i++ {
		syms[i] = t.byteTok[piece[i]]
	}
	// Merge the adjacent pair of lowest rank until none is left. Pieces are
	// words, so the quadratic loop is short.
	for len(syms) > 1 {
		best, at := -1, -1
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := t.ranks[[2]int{syms[i], syms[i+1]}]; ok && (best < 0 || r < best) {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		syms[at] = t.merged[[2]int{syms[at], syms[at+1]}]
		syms = append(syms[:at+1], syms[at+2:]...)
	}
	t.mu.Lock()
	if len(t.cache) > 1<<16 {
		clear(t.cache)
	}
	t.cache[piece] = syms
	t.mu.Unlock()
	return append(out, syms...)
}

// DecodeBytes returns the bytes of the tokens' text. Special tokens are
// rendered as their text.
func (t *Tokenizer) DecodeBytes(ids []int) ([]byte, error) {
	var b []byte
	for _, id := range ids {
		if id < 0 || id >= len(t.tokens) {
			return nil, fmt.Errorf("tokenizer: token %d outside the vocabulary (%d)", id, len(t.tokens))
		}
		b = append(b, t.raw[id]...)
	}
	return b, nil
}

// Decode returns the tokens' text (bytes that are not valid UTF-8, such as
// half of a character split over two tokens, are kept as they are).
func (t *Tokenizer) Decode(ids []int) (string, error) {
	b, err := t.DecodeBytes(ids)
	return string(b), err
}
