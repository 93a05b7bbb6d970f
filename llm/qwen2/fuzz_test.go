package qwen2

import (
	"bytes"
	"testing"

	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/modelgen"
	"github.com/velocityos/velocity/llm/quant"
)

// FuzzLoad: whatever a GGUF file says, Load and a first Eval return an
// error or work; they never panic or allocate from a size in the file.
func FuzzLoad(f *testing.F) {
	for _, typ := range []quant.Type{quant.Q8_0, quant.F16} {
		var b bytes.Buffer
		modelgen.Write(&b, modelgen.Spec{Layers: 1, Hidden: 32, Heads: 2, KVHeads: 1, FFN: 32, Type: typ, Seed: 1,
			Vocab: &modelgen.Vocab{Tokens: []string{"a", "b", "c", "d"}, Types: []int32{1, 1, 1, 1}, Merges: []string{"a b"}}})
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := gguf.Parse(data)
		if err != nil {
			return
		}
		m, err := Load(g)
		if err != nil {
			return
		}
		s := m.NewState(4, 2)
		s.Eval([]int{0, m.Vocab - 1}, true)
	})
}
