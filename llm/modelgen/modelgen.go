// Package modelgen writes Qwen2-architecture GGUF files with random weights,
// in any shape and quantization: the models the engine is tested and
// benchmarked on (against llama.cpp on the same file). The weights are noise,
// so the models' outputs are noise too; what is compared is that two engines
// compute the same noise.
package modelgen

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/quant"
	"github.com/velocityos/velocity/llm/tokenizer"
)

// Spec is a model to generate.
type Spec struct {
	Layers, Hidden, Heads, KVHeads, FFN int
	Context                             int     // metadata context_length
	RopeBase                            float64 // default 1e6
	Eps                                 float32 // default 1e-6
	Seed                                uint64
	// Type is the type of every 2-D weight; Types overrides it per tensor
	// role ("token_embd", "attn_q", "attn_k", "attn_v", "attn_output",
	// "ffn_gate", "ffn_up", "ffn_down", "output").
	Type  quant.Type
	Types map[string]quant.Type
	// Layer, if set, picks the type of a layer's weight (after Types):
	// Q4KM does what llama.cpp's Q4_K_M does to a Qwen2.5-0.5B.
	Layer func(layer, layers int, role string) (quant.Type, bool)
	// Untied adds a separate output.weight (Qwen2.5 small models tie it to
	// the embedding).
	Untied bool
	// Vocab is the vocabulary; nil means Tiny().
	Vocab *Vocab
	// NaN puts a NaN into one weight of the first layer's ffn_up.
	NaN bool
}

// Vocab is a GPT-2 byte-level BPE vocabulary as GGUF stores it.
type Vocab struct {
	Tokens []string
	Types  []int32 // 1 normal, 3 control, 4 user-defined
	Merges []string
	EOS    int
	Pad    int
}

// Specials are Qwen2.5's special tokens, in order (Tiny appends them).
var Specials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>",
	"<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"}

// Tiny is a small vocabulary in Qwen's style: the 256 byte tokens, merges
// building a few hundred common English and code pieces, then Specials.
func Tiny() *Vocab {
	v := &Vocab{}
	have := map[string]bool{}
	add := func(s string, typ int32) {
		have[s] = true
		v.Tokens = append(v.Tokens, s)
		v.Types = append(v.Types, typ)
	}
	for b := 0; b < 256; b++ {
		add(tokenizer.ByteString([]byte{byte(b)}), 1)
	}
	words := []string{"the", " the", "ing", " and", "in", "er", "on", "re", " func", " return", "ion", " a", " t",
		" to", "en", "at", "ed", " of", "is", " in", "  ", "    ", "\n\n", " {", "()", " if", "or", "es", " is",
		"an", "al", " s", " c", " w", "it", " b", " f", "ar", " p", " (", " m", " =", "ou", "le", "ic", " d", " h"}
	for _, w := range words {
		// Merge left to right: each prefix-plus-byte pair becomes a token.
		cur := tokenizer.ByteString([]byte{w[0]})
		for i := 1; i < len(w); i++ {
			nb := tokenizer.ByteString([]byte{w[i]})
			next := cur + nb
			if !have[next] {
				v.Merges = append(v.Merges, cur+" "+nb)
				add(next, 1)
			}
			cur = next
		}
	}
	v.EOS = len(v.Tokens)
	v.Pad = v.EOS
	for _, s := range Specials {
		add(s, 3)
	}
	return v
}

// Write generates the model and writes it as GGUF.
func Write(w io.Writer, s Spec) error {
	if s.RopeBase == 0 {
		s.RopeBase = 1e6
	}
	if s.Eps == 0 {
		s.Eps = 1e-6
	}
	if s.Context == 0 {
		s.Context = 4096
	}
	if s.Vocab == nil {
		s.Vocab = Tiny()
	}
	if s.Heads == 0 || s.KVHeads == 0 || s.Heads%s.KVHeads != 0 || s.Hidden%s.Heads != 0 {
		return fmt.Errorf("modelgen: bad head counts %d/%d for hidden %d", s.Heads, s.KVHeads, s.Hidden)
	}
	v := s.Vocab
	nv := len(v.Tokens)
	var g gguf.Writer
	g.Set("general.architecture", gguf.Of("qwen2"))
	g.Set("general.name", gguf.Of("velocity-random-qwen2"))
	g.Set("general.alignment", gguf.Of(uint32(32)))
	g.Set("qwen2.block_count", gguf.Of(uint32(s.Layers)))
	g.Set("qwen2.context_length", gguf.Of(uint32(s.Context)))
	g.Set("qwen2.embedding_length", gguf.Of(uint32(s.Hidden)))
	g.Set("qwen2.feed_forward_length", gguf.Of(uint32(s.FFN)))
	g.Set("qwen2.attention.head_count", gguf.Of(uint32(s.Heads)))
	g.Set("qwen2.attention.head_count_kv", gguf.Of(uint32(s.KVHeads)))
	g.Set("qwen2.rope.freq_base", gguf.Of(float32(s.RopeBase)))
	g.Set("qwen2.attention.layer_norm_rms_epsilon", gguf.Of(s.Eps))
	g.Set("tokenizer.ggml.model", gguf.Of("gpt2"))
	g.Set("tokenizer.ggml.pre", gguf.Of("qwen2"))
	g.Set("tokenizer.ggml.tokens", gguf.Of(v.Tokens))
	g.Set("tokenizer.ggml.token_type", gguf.Of(v.Types))
	g.Set("tokenizer.ggml.merges", gguf.Of(v.Merges))
	g.Set("tokenizer.ggml.eos_token_id", gguf.Of(uint32(v.EOS)))
	g.Set("tokenizer.ggml.padding_token_id", gguf.Of(uint32(v.Pad)))
	g.Set("tokenizer.ggml.bos_token_id", gguf.Of(uint32(v.EOS)))
	g.Set("tokenizer.ggml.add_bos_token", gguf.Of(false))

	r := rand.New(rand.NewPCG(s.Seed, 0x9e3779b97f4a7c15))
	typeOf := func(layer int, role string) quant.Type {
		if s.Layer != nil && layer >= 0 {
			if t, ok := s.Layer(layer, s.Layers, role); ok {
				return t
			}
		}
		if t, ok := s.Types[role]; ok {
			return t
		}
		return s.Type
	}
	var err error
	// mat adds a rows×cols weight with entries of standard deviation std,
	// made and quantized a row at a time so that a large model never
	// exists as float32 in memory.
	mat := func(layer int, name, role string, cols, rows int, std float64) {
		if err != nil {
			return
		}
		t := typeOf(layer, role)
		rb, e := t.RowBytes(uint64(cols))
		if e != nil {
			err = fmt.Errorf("modelgen: %s: %w", name, e)
			return
		}
		b := make([]byte, 0, int(rb)*rows)
		x := make([]float32, cols)
		for row := 0; row < rows; row++ {
			for i := range x {
				x[i] = float32(r.NormFloat64() * std)
			}
			if s.NaN && name == "blk.0.ffn_up.weight" && row == 0 {
				x[0] = float32(math.NaN())
			}
			q, e := quant.Quantize(t, x)
			if e != nil {
				err = fmt.Errorf("modelgen: %s: %w", name, e)
				return
			}
			b = append(b, q...)
		}
		err = g.AddTensor(name, t, []uint64{uint64(cols), uint64(rows)}, b)
	}
	vec := func(name string, n int, mean, std float64) {
		if err != nil {
			return
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(mean + r.NormFloat64()*std)
		}
		b, _ := quant.Quantize(quant.F32, x)
		err = g.AddTensor(name, quant.F32, []uint64{uint64(n)}, b)
	}
	hd := s.Hidden / s.Heads
	q, kv := s.Heads*hd, s.KVHeads*hd
	mat(-1, "token_embd.weight", "token_embd", s.Hidden, nv, 1)
	// A final norm weight of mean 0 keeps the tied head from simply
	// repeating the last token: with mean 1, the token's own embedding
	// (norm² ≈ hidden) would outscore every other logit (≈ √hidden).
	vec("output_norm.weight", s.Hidden, 0, 1)
	if s.Untied {
		mat(-1, "output.weight", "output", s.Hidden, nv, 1/math.Sqrt(float64(s.Hidden)))
	}
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		vec(p+"attn_norm.weight", s.Hidden, 1, 0.1)
		vec(p+"ffn_norm.weight", s.Hidden, 1, 0.1)
		vec(p+"attn_q.bias", q, 0, 0.1)
		vec(p+"attn_k.bias", kv, 0, 0.1)
		vec(p+"attn_v.bias", kv, 0, 0.1)
		in := 1 / math.Sqrt(float64(s.Hidden))
		mat(l, p+"attn_q.weight", "attn_q", s.Hidden, q, 2*in)
		mat(l, p+"attn_k.weight", "attn_k", s.Hidden, kv, 2*in)
		mat(l, p+"attn_v.weight", "attn_v", s.Hidden, kv, in)
		mat(l, p+"attn_output.weight", "attn_output", q, s.Hidden, 1/math.Sqrt(float64(q)))
		mat(l, p+"ffn_gate.weight", "ffn_gate", s.Hidden, s.FFN, in)
		mat(l, p+"ffn_up.weight", "ffn_up", s.Hidden, s.FFN, in)
		mat(l, p+"ffn_down.weight", "ffn_down", s.FFN, s.Hidden, 1/math.Sqrt(float64(s.FFN)))
	}
	if err != nil {
		return err
	}
	_, err = g.WriteTo(w)
	return err
}

// Q4KM picks types as llama.cpp's Q4_K_M quantization does for Qwen2.5:
// attn_v and ffn_down get Q6_K in the first and last eighth of the layers
// and every third layer between, Q4_K elsewhere; every other matrix Q4_K.
// K-quants need rows that are a multiple of 256, so where a row is not (896
// in Qwen2.5-0.5B) Q4_K falls back to Q5_0 and Q6_K to Q8_0, as llama.cpp
// does. Use it with Type Q8_0 for the embedding.
func Q4KM(hidden, ffn int) func(layer, layers int, role string) (quant.Type, bool) {
	return func(l, n int, role string) (quant.Type, bool) {
		cols := hidden
		if role == "ffn_down" {
			cols = ffn
		}
		t := quant.Q4_K
		if (role == "attn_v" || role == "ffn_down") && (l < n/8 || l >= 7*n/8 || (l-n/8)%3 == 2) {
			t = quant.Q6_K
		}
		if cols%quant.QKK != 0 {
			t = map[quant.Type]quant.Type{quant.Q4_K: quant.Q5_0, quant.Q6_K: quant.Q8_0}[t]
		}
		return t, true
	}
}

// Qwen25_05B is Qwen2.5(-Coder)-0.5B's exact shape, with a vocabulary of
// the same size (byte tokens, Specials and filler) so that the embedding
// and output head cost what they cost in the real model.
func Qwen25_05B() Spec {
	v := Tiny()
	for len(v.Tokens) < 151936 {
		v.Tokens = append(v.Tokens, fmt.Sprintf("[PAD%d]", len(v.Tokens)))
		v.Types = append(v.Types, 5)
	}
	return Spec{Layers: 24, Hidden: 896, Heads: 14, KVHeads: 2, FFN: 4864, Context: 32768, RopeBase: 1e6, Eps: 1e-6, Vocab: v}
}
