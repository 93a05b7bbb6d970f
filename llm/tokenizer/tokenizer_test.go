package tokenizer_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/modelgen"
	"github.com/velocityos/velocity/llm/quant"
	"github.com/velocityos/velocity/llm/tokenizer"
)

func tiny(t testing.TB) *tokenizer.Tokenizer {
	v := modelgen.Tiny()
	types := make([]int64, len(v.Types))
	for i, x := range v.Types {
		types[i] = int64(x)
	}
	tk, err := tokenizer.New(v.Tokens, types, v.Merges, v.EOS)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestEncodeTiny(t *testing.T) {
	tk := tiny(t)
	ids := tk.Encode("the cat")
	var parts []string
	for _, id := range ids {
		parts = append(parts, tk.Token(id))
	}
	// "the" is one token, " cat" splits as " c" + "at" (both merges).
	if got := strings.Join(parts, "|"); got != "the|Ġc|at" {
		t.Errorf("pieces %q", got)
	}
	fim, _ := tk.Special("<|fim_prefix|>")
	mid, _ := tk.Special("<|fim_middle|>")
	ids = tk.Encode("<|fim_prefix|>x<|fim_middle|>")
	if len(ids) != 3 || ids[0] != fim || ids[2] != mid {
		t.Errorf("FIM tokens: %v", ids)
	}
	if plain := tk.EncodePlain("<|fim_prefix|>"); slices.Contains(plain, fim) {
		t.Error("EncodePlain recognised a special token")
	}
	eot, _ := tk.Special("<|endoftext|>")
	imEnd, _ := tk.Special("<|im_end|>")
	imStart, _ := tk.Special("<|im_start|>")
	if !tk.IsEOG(eot) || !tk.IsEOG(imEnd) || tk.IsEOG(imStart) || tk.IsEOG(ids[1]) {
		t.Error("end-of-generation set wrong")
	}
	// Digits split one by one.
	if n := len(tk.Encode("2026")); n != 4 {
		t.Errorf("2026 is %d tokens", n)
	}
	if _, err := tk.Decode([]int{-1}); err == nil {
		t.Error("bad id decoded")
	}
}

func TestBadVocab(t *testing.T) {
	v := modelgen.Tiny()
	if _, err := tokenizer.New(v.Tokens, nil, nil, 0); err != nil {
		t.Logf("New with no merges: %v", err)
	}
	if _, err := tokenizer.New(v.Tokens[1:], nil, v.Merges, 0); !errors.Is(err, tokenizer.ErrVocab) {
		t.Errorf("vocabulary without byte 0: %v", err)
	}
	// Through GGUF: a vocabulary without merges is refused.
	var w gguf.Writer
	w.Set("tokenizer.ggml.model", gguf.Of("gpt2"))
	w.Set("tokenizer.ggml.pre", gguf.Of("qwen2"))
	w.Set("tokenizer.ggml.tokens", gguf.Of(v.Tokens))
	var b bytes.Buffer
	w.WriteTo(&b)
	f, err := gguf.Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokenizer.FromGGUF(f); !errors.Is(err, tokenizer.ErrVocab) || !strings.Contains(err.Error(), "merges") {
		t.Errorf("no merges: %v", err)
	}
	w.Set("tokenizer.ggml.pre", gguf.Of("llama3"))
	b.Reset()
	w.WriteTo(&b)
	f, _ = gguf.Parse(b.Bytes())
	if _, err := tokenizer.FromGGUF(f); !errors.Is(err, tokenizer.ErrVocab) {
		t.Errorf("llama3 pre-tokenizer: %v", err)
	}
}

func TestFromModelFile(t *testing.T) {
	var b bytes.Buffer
	if err := modelgen.Write(&b, modelgen.Spec{Layers: 1, Hidden: 32, Heads: 2, KVHeads: 1, FFN: 32, Type: quant.F32}); err != nil {
		t.Fatal(err)
	}
	f, _ := gguf.Parse(b.Bytes())
	tk, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := tk.Decode(tk.Encode("func main() {\n\treturn 42\n}")); s != "func main() {\n\treturn 42\n}" {
		t.Errorf("round trip %q", s)
	}
}

func FuzzRoundTrip(f *testing.F) {
	tk := tiny(f)
	for _, s := range []string{"", "hello world", "  \n\n\t x", "ünïcödé 日本語 🙂", "2026-12-03", "<|im_start|>user\nhi<|im_end|>",
		"don't STOP'LL", "\xff\xfe broken", "a\r\n\r\nb", "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tk.Encode(s)
		got, err := tk.Decode(ids)
		if err != nil {
			t.Fatal(err)
		}
		if got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
		if utf8.ValidString(s) {
			plain, _ := tk.Decode(tk.EncodePlain(s))
			if plain != s {
				t.Fatalf("plain round trip of %q = %q", s, plain)
			}
		}
	})
}
