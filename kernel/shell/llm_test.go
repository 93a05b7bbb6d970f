package shell

import (
	"bytes"
	"strings"
	"testing"

	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/modelgen"
	"github.com/velocityos/velocity/llm/onboard"
	"github.com/velocityos/velocity/llm/quant"
	"github.com/velocityos/velocity/llm/qwen2"
	"github.com/velocityos/velocity/llm/tokenizer"
)

func tinyEngine(t *testing.T) *onboard.Engine {
	t.Helper()
	var buf bytes.Buffer
	if err := modelgen.Write(&buf, modelgen.Spec{Layers: 1, Hidden: 64, Heads: 2, KVHeads: 1, FFN: 128, Type: quant.Q8_0, Seed: 9}); err != nil {
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
	e, err := onboard.Start(m, tk, onboard.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// The llm command, Tab completions with prefetch on and off, the stats,
// and the line editing around them.
func TestLLMCommand(t *testing.T) {
	sh := &Shell{Model: tinyEngine(t)}
	in := "llm -n 5 -raw def f(\n" +
		"llm -n 3 hello there\n" +
		"func ad\x7fdd(\t\x15" + // Tab, then Ctrl-U clears the line
		"llm prefetch off\n" +
		"func add(\t\x15" +
		"\t" + // Tab on an empty line
		"llm prefetch maybe\nllm -n 0 x\nllm\n" +
		"llm stats\nhelp llm\nexit 4\n"
	out, code := session(t, sh, in)
	t.Logf("%s", out)
	if code != 4 {
		t.Errorf("status %d", code)
	}
	for _, want := range []string{
		"llm: 5 prompt tokens, 5 generated; first token after",
		"generated; first token after", // the chat one
		"\nllm: completion \"",
		"ms, prefetch on)\n" + Prompt + "func add(",
		"llm: prefetch off",
		"ms, prefetch off)\n" + Prompt + "func add(",
		"llm: completion: prefetch: nothing to complete",
		"llm: prefetch takes on or off\nusage: llm",
		"llm: bad -n 0",
		"llm: no prompt",
		"llm: Tab to first token, prefetch on: 1 Tabs, p50",
		"llm: Tab to first token, prefetch off: 1 Tabs, p50",
		"llm: prompt tokens evaluated at Tab: ",
		"llm [-n N] [-raw] PROMPT...",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	st := sh.Model.Stats()
	if st.TabEvaluatedCold == 0 || st.Keystrokes == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestLLMWithoutModel(t *testing.T) {
	out, _ := session(t, &Shell{}, "llm hi\n")
	if !strings.Contains(out, "llm: no model loaded") {
		t.Errorf("output %q", out)
	}
}

func TestEditKill(t *testing.T) {
	if got := edit("junk\x15help\n"); got != "help" {
		t.Errorf("Ctrl-U: %q", got)
	}
}
