package modelgen

import (
	"bytes"
	"testing"

	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/quant"
)

// The Q4_K_M mix on Qwen2.5-0.5B's shape has the tensor counts of the real
// file: f32 ×121, q5_0 ×132, q8_0 ×13, q4_K ×12, q6_K ×12.
func TestQ4KMCounts(t *testing.T) {
	s := Spec{Layers: 24, Hidden: 256 + 640, Heads: 14, KVHeads: 2, FFN: 4864, Type: quant.Q8_0, Seed: 1}
	s.Layer = Q4KM(s.Hidden, s.FFN)
	counts := map[quant.Type]int{}
	for l := 0; l < s.Layers; l++ {
		for _, role := range []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"} {
			typ, _ := s.Layer(l, s.Layers, role)
			counts[typ]++
		}
	}
	counts[quant.Q8_0]++ // token_embd
	want := map[quant.Type]int{quant.Q5_0: 132, quant.Q8_0: 13, quant.Q4_K: 12, quant.Q6_K: 12}
	for typ, n := range want {
		if counts[typ] != n {
			t.Errorf("%s: %d tensors, want %d", typ, counts[typ], n)
		}
	}
	// And a small model written with the mix parses, with the types asked for.
	small := Spec{Layers: 8, Hidden: 64, Heads: 2, KVHeads: 1, FFN: 256, Type: quant.Q8_0, Layer: Q4KM(64, 256)}
	var b bytes.Buffer
	if err := Write(&b, small); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := f.Tensor("blk.0.ffn_down.weight"); d.Type != quant.Q6_K {
		t.Errorf("blk.0.ffn_down is %s", d.Type)
	}
	if d, _ := f.Tensor("blk.1.ffn_down.weight"); d.Type != quant.Q4_K {
		t.Errorf("blk.1.ffn_down is %s", d.Type)
	}
	if d, _ := f.Tensor("blk.1.attn_q.weight"); d.Type != quant.Q5_0 {
		t.Errorf("blk.1.attn_q is %s", d.Type)
	}
}
