package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/velocityos/velocity/llm/modelfile"
	"github.com/velocityos/velocity/llm/tokenizer"
)

// velocity llm gen writes a model that llm info reads and llm run runs;
// -logits writes vocab floats for every prompt token.
func TestLLMCommands(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.gguf")
	if rc := cmdLLM([]string{"gen", "-o", model, "-type", "Q4_0"}); rc != 0 {
		t.Fatalf("gen: %d", rc)
	}
	if rc := cmdLLM([]string{"info", model}); rc != 0 {
		t.Fatalf("info: %d", rc)
	}
	logits := filepath.Join(dir, "logits")
	if rc := cmdLLM([]string{"run", "-model", model, "-prompt", "the cat", "-n", "5", "-threads", "2", "-logits", logits}); rc != 0 {
		t.Fatalf("run: %d", rc)
	}
	mf, err := modelfile.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	tk, _ := tokenizer.FromGGUF(mf.File)
	st, _ := os.Stat(logits)
	if want := int64(4 * tk.Len() * len(tk.Encode("the cat"))); st == nil || st.Size() != want {
		t.Errorf("logits file: %v, want %d bytes", st, want)
	}
	bad := filepath.Join(dir, "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00"), 0o644)
	for _, args := range [][]string{{"info", bad}, {"run", "-model", bad, "-prompt", "x"}, {"gen", "-o", model, "-type", "Q2_K"}} {
		if rc := cmdLLM(args); rc != exitFailure {
			t.Errorf("%v: exit %d, want %d", args, rc, exitFailure)
		}
	}
	if rc := cmdLLM([]string{"nope"}); rc != exitUsage {
		t.Errorf("unknown subcommand: %d", rc)
	}
}
