// Package qwen2 runs Qwen2-architecture language models (Qwen2, Qwen2.5,
// Qwen2.5-Coder) from GGUF files: the forward pass, with a KV cache, that
// turns tokens into next-token logits.
//
// It follows llama.cpp's computation closely enough that logits agree to
// within quantization rounding (see docs/llm.md): RMSNorm, rotary position
// embedding in NEOX layout with rope.freq_base, grouped-query attention, Q/K/V
// biases, a SwiGLU feed-forward, and the output head tied to the token
// embedding when the file has no output.weight. Keys and values are cached as
// f16, as llama.cpp does by default. Every shape comes from the metadata.
package qwen2

import (
	"fmt"
	"math"

	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/quant"
)

// Arch is the general.architecture this package runs.
const Arch = "qwen2"

// Config is the model's shape, read from the GGUF metadata.
type Config struct {
	Layers   int
	Hidden   int
	Heads    int
	KVHeads  int
	HeadDim  int
	FFN      int
	Vocab    int
	Context  int // the context length the model was trained for
	RopeBase float64
	Eps      float32
}

// Matrix is a weight matrix as stored: Rows rows of Cols values of Type.
type Matrix struct {
	Type       quant.Type
	Rows, Cols int
	Data       []byte
	rowBytes   int
}

// Row returns the encoded bytes of row r.
func (m *Matrix) Row(r int) []byte { return m.Data[r*m.rowBytes : (r+1)*m.rowBytes] }

// Layer holds one transformer block's weights.
type Layer struct {
	AttnNorm, FFNNorm []float32
	Bq, Bk, Bv        []float32
	Wq, Wk, Wv, Wo    Matrix
	Gate, Up, Down    Matrix
}

// Model is a loaded model. Its matrices alias the GGUF file's bytes.
type Model struct {
	Config
	Embed   Matrix
	OutNorm []float32
	Output  Matrix // the embedding matrix when the weights are tied
	Tied    bool
	Layers  []Layer
}

// Load checks that f is a Qwen2 model whose tensors have the shapes its
// metadata implies and of types this engine supports, and returns it.
func Load(f *gguf.File) (*Model, error) {
	arch, _ := getString(f, "general.architecture")
	if arch != Arch {
		return nil, fmt.Errorf("qwen2: general.architecture is %q, not %q", arch, Arch)
	}
	var c Config
	var err error
	u := func(key string, dst *int, required bool) {
		if err != nil {
			return
		}
		v, ok := f.Get(Arch + "." + key)
		if !ok {
			if required {
				err = fmt.Errorf("qwen2: missing metadata %s.%s", Arch, key)
			}
			return
		}
		n, ok := v.Uint()
		if !ok || n == 0 || n > 1<<31 {
			err = fmt.Errorf("qwen2: %s.%s = %v is not a positive integer", Arch, key, v.V)
			return
		}
		*dst = int(n)
	}
	u("block_count", &c.Layers, true)
	u("embedding_length", &c.Hidden, true)
	u("attention.head_count", &c.Heads, true)
	u("feed_forward_length", &c.FFN, true)
	u("context_length", &c.Context, true)
	c.KVHeads = c.Heads
	u("attention.head_count_kv", &c.KVHeads, false)
	if err != nil {
		return nil, err
	}
	c.HeadDim = c.Hidden / c.Heads
	u("attention.key_length", &c.HeadDim, false)
	if err != nil {
		return nil, err
	}
	c.RopeBase = 10000
	if v, ok := f.Get(Arch + ".rope.freq_base"); ok {
		if c.RopeBase, ok = v.Float(); !ok || !(c.RopeBase > 0) {
			return nil, fmt.Errorf("qwen2: bad rope.freq_base %v", v.V)
		}
	}
	eps, ok := f.Get(Arch + ".attention.layer_norm_rms_epsilon")
	if !ok {
		return nil, fmt.Errorf("qwen2: missing metadata %s.attention.layer_norm_rms_epsilon", Arch)
	}
	e, ok := eps.Float()
	if !ok || !(e > 0) {
		return nil, fmt.Errorf("qwen2: bad rms epsilon %v", eps.V)
	}
	c.Eps = float32(e)
	if c.Heads%c.KVHeads != 0 || c.HeadDim%2 != 0 {
		return nil, fmt.Errorf("qwen2: %d heads do not group over %d KV heads with head size %d", c.Heads, c.KVHeads, c.HeadDim)
	}
	m := &Model{Config: c}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok || len(emb.Dims) != 2 {
		return nil, fmt.Errorf("qwen2: missing 2-D token_embd.weight")
	}
	m.Vocab = int(emb.Dims[1])
	ld := loader{f: f}
	m.Embed = ld.matrix("token_embd.weight", c.Hidden, m.Vocab)
	m.OutNorm = ld.vector("output_norm.weight", c.Hidden)
	if _, ok := f.Tensor("output.weight"); ok {
		m.Output = ld.matrix("output.weight", c.Hidden, m.Vocab)
	} else {
		m.Output, m.Tied = m.Embed, true
	}
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		m.Layers = append(m.Layers, Layer{
			AttnNorm: ld.vector(p+"attn_norm.weight", c.Hidden),
			FFNNorm:  ld.vector(p+"ffn_norm.weight", c.Hidden),
			Bq:       ld.vector(p+"attn_q.bias", q),
			Bk:       ld.vector(p+"attn_k.bias", kv),
			Bv:       ld.vector(p+"attn_v.bias", kv),
			Wq:       ld.matrix(p+"attn_q.weight", c.Hidden, q),
			Wk:       ld.matrix(p+"attn_k.weight", c.Hidden, kv),
			Wv:       ld.matrix(p+"attn_v.weight", c.Hidden, kv),
			Wo:       ld.matrix(p+"attn_output.weight", q, c.Hidden),
			Gate:     ld.matrix(p+"ffn_gate.weight", c.Hidden, c.FFN),
			Up:       ld.matrix(p+"ffn_up.weight", c.Hidden, c.FFN),
			Down:     ld.matrix(p+"ffn_down.weight", c.FFN, c.Hidden),
		})
		if ld.err != nil { // stop at once: block_count comes from the file
			return nil, ld.err
		}
	}
	if ld.err != nil {
		return nil, ld.err
	}
	return m, nil
}

func getString(f *gguf.File, key string) (string, bool) {
	v, ok := f.Get(key)
	if !ok {
		return "", false
	}
	return v.String()
}

type loader struct {
	f   *gguf.File
	err error
}

func (l *loader) tensor(name string, dims ...int) *gguf.Tensor {
	if l.err != nil {
		return nil
	}
	t, ok := l.f.Tensor(name)
	if !ok {
		l.err = fmt.Errorf("qwen2: missing tensor %s", name)
		return nil
	}
	same := len(t.Dims) == len(dims)
	for i := 0; same && i < len(dims); i++ {
		same = t.Dims[i] == uint64(dims[i])
	}
	if !same {
		l.err = fmt.Errorf("qwen2: tensor %s has shape %v, the metadata implies %v", name, t.Dims, dims)
		return nil
	}
	if !t.Type.Supported() {
		l.err = fmt.Errorf("qwen2: tensor %s has type %s, which this engine does not support", name, t.Type)
		return nil
	}
	return t
}

func (l *loader) matrix(name string, cols, rows int) Matrix {
	t := l.tensor(name, cols, rows)
	if t == nil {
		return Matrix{}
	}
	rb, _ := t.Type.RowBytes(uint64(cols))
	return Matrix{Type: t.Type, Rows: rows, Cols: cols, Data: t.Data, rowBytes: int(rb)}
}

// vector loads a 1-D tensor (a norm weight or a bias) as float32 and
// rejects non-finite values: one NaN there would silently poison every
// output.
func (l *loader) vector(name string, n int) []float32 {
	t := l.tensor(name, n)
	if t == nil {
		return nil
	}
	v := make([]float32, n)
	if err := quant.Dequantize(t.Type, t.Data, v); err != nil {
		l.err = fmt.Errorf("qwen2: %s: %w", name, err)
		return nil
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			l.err = fmt.Errorf("qwen2: tensor %s holds a non-finite value (%v at %d)", name, x, i)
			return nil
		}
	}
	return v
}
