package prefetch

import (
	"bytes"
	"slices"
	"testing"

	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/modelgen"
	"github.com/velocityos/velocity/llm/quant"
	"github.com/velocityos/velocity/llm/qwen2"
	"github.com/velocityos/velocity/llm/sample"
	"github.com/velocityos/velocity/llm/tokenizer"
)

func load(t *testing.T) (*qwen2.Model, *tokenizer.Tokenizer) {
	var b bytes.Buffer
	if err := modelgen.Write(&b, modelgen.Spec{Layers: 2, Hidden: 64, Heads: 4, KVHeads: 2, FFN: 96, Type: quant.Q8_0, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	m, err := qwen2.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return m, tk
}

// Typing with edits and backspaces, then completing, gives exactly the
// completion of the final text from a cold cache, at a fraction of the
// evaluations of re-reading the text at every keystroke.
func TestTypingMatchesCold(t *testing.T) {
	m, tk := load(t)
	p := New(m.NewState(256, 1), tk)
	final := "func main() {\n\treturn the answer\n}"
	var typed string
	steps := 0
	cold := 0
	for i, r := range final {
		typed += string(r)
		if i == 12 { // a typo and its correction
			for _, s := range []string{typed + "x", typed + "xy", typed + "x", typed} {
				if err := p.Update(s); err != nil {
					t.Fatal(err)
				}
				cold += len(tk.Encode(s))
				steps++
			}
		}
		if err := p.Update(typed); err != nil {
			t.Fatal(err)
		}
		cold += len(tk.Encode(typed))
		steps++
	}
	got, _, err := p.Complete(final, 12, sample.New(sample.Params{}))
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.NewState(256, 1).Generate(tk.Encode(final), 12, sample.New(sample.Params{}), tk.IsEOG, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("completion after typing %v, cold %v", got, want)
	}
	t.Logf("%d keystrokes: %d tokens evaluated, against %d re-reading the text each time", steps, p.Evaluated, cold)
	if p.Evaluated >= cold/3 {
		t.Errorf("prefetch evaluated %d tokens, not much less than %d", p.Evaluated, cold)
	}
	// Completing again (the cache was rolled back) gives the same.
	again, _, _ := p.Complete(final, 12, sample.New(sample.Params{}))
	if !slices.Equal(again, want) {
		t.Errorf("second completion %v", again)
	}
	// Deleting everything empties the cache.
	if err := p.Update(""); err != nil || len(p.ids) != 0 {
		t.Errorf("empty text: %v, %d tokens cached", err, len(p.ids))
	}
	if _, _, err := p.Complete("", 1, sample.New(sample.Params{})); err == nil {
		t.Error("completing nothing gave no error")
	}
}
