package onboard

import (
	"bytes"
	"errors"
	"testing"

	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/modelgen"
	"github.com/velocityos/velocity/llm/quant"
	"github.com/velocityos/velocity/llm/qwen2"
	"github.com/velocityos/velocity/llm/sample"
	"github.com/velocityos/velocity/llm/tokenizer"
)

func tiny(t *testing.T) (*qwen2.Model, *tokenizer.Tokenizer) {
	t.Helper()
	var buf bytes.Buffer
	if err := modelgen.Write(&buf, modelgen.Spec{Layers: 2, Hidden: 64, Heads: 2, KVHeads: 1, FFN: 128, Type: quant.Q8_0, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
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

// direct is the greedy continuation of text by a fresh state.
func direct(t *testing.T, m *qwen2.Model, tk *tokenizer.Tokenizer, text string, n int) string {
	t.Helper()
	out, err := m.NewState(2048, 1).Generate(tk.Encode(text), n, sample.New(sample.Params{}), tk.IsEOG, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tk.DecodeBytes(out)
	return string(b)
}

// A completion after typing (the cache followed the keystrokes,
// including backspaces) equals one from an empty cache and the engine's
// direct output; with the cache warm, Tab evaluates almost nothing.
func TestCompleteWarmEqualsCold(t *testing.T) {
	m, tk := tiny(t)
	e, err := Start(m, tk, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	keys := "func add(a, b int) in\x7f\x7fint {"
	var line []byte
	for i := 0; i < len(keys); i++ {
		if keys[i] == 0x7f {
			line = line[:len(line)-1]
		} else {
			line = append(line, keys[i])
		}
		e.Typed(string(line))
		if i%3 == 0 {
			if err := e.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	text := string(line)
	warm, _, err := e.Complete(text, 8)
	if err != nil {
		t.Fatal(err)
	}
	e.SetPrefetch(false)
	e.Typed("ignored while off")
	cold, _, err := e.Complete(text, 8)
	if err != nil {
		t.Fatal(err)
	}
	want := direct(t, m, tk, text, 8)
	if warm != want || cold != want {
		t.Errorf("completion warm %q, cold %q, direct %q", warm, cold, want)
	}
	st := e.Stats()
	n := len(tk.Encode(text))
	if len(st.Warm) != 1 || len(st.Cold) != 1 || st.Keystrokes != len(keys)+1 {
		t.Errorf("stats %+v", st)
	}
	if st.TabEvaluatedCold != n || st.TabEvaluatedWarm > 1 {
		t.Errorf("tokens evaluated at Tab: warm %d, cold %d; want at most 1 and %d", st.TabEvaluatedWarm, st.TabEvaluatedCold, n)
	}
	if st.Updates == 0 || st.Busy <= 0 {
		t.Errorf("no background work: %+v", st)
	}
	t.Logf("%d keys, %d background updates, %d tokens, busy %v; Tab to first token warm %v, cold %v",
		st.Keystrokes, st.Updates, st.Evaluated, st.Busy, st.Warm[0], st.Cold[0])
}

// Chat is generation on the chat template; context overflow is an error.
func TestChatAndOverflow(t *testing.T) {
	m, tk := tiny(t)
	e, err := Start(m, tk, Config{Ctx: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got, err := e.Chat("sys", "hi", 6)
	if err != nil {
		t.Fatal(err)
	}
	if want := direct(t, m, tk, ChatTemplate("sys", "hi"), 6); got != want {
		t.Errorf("Chat = %q, want %q", got, want)
	}
	long := string(bytes.Repeat([]byte("x\x01"), 200))
	if _, err := e.Chat("sys", long, 4); !errors.Is(err, qwen2.ErrContextFull) {
		t.Errorf("a prompt beyond the context: %v", err)
	}
	if _, _, err := e.Complete("", 4); err == nil {
		t.Error("completing nothing gave no error")
	}
	e.Close()
	if _, err := e.Chat("a", "b", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestPinError(t *testing.T) {
	m, tk := tiny(t)
	if _, err := Start(m, tk, Config{Pin: func() error { return errors.New("no such CPU") }}); err == nil {
		t.Fatal("Start ignored the pin error")
	}
}
