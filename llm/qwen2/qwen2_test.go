package qwen2

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/modelgen"
	"github.com/velocityos/velocity/llm/quant"
)

var small = modelgen.Spec{Layers: 2, Hidden: 64, Heads: 4, KVHeads: 2, FFN: 96, Type: quant.Q8_0, Seed: 1}

func TestContextOverflow(t *testing.T) {
	_, m := writeModel(t, t.TempDir(), small)
	s := m.NewState(8, 1)
	if _, err := s.Eval([]int{1, 2, 3, 4, 5, 6}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Eval([]int{1, 2, 3}, false); !errors.Is(err, ErrContextFull) {
		t.Fatalf("overflow: %v", err)
	}
	if s.Pos() != 6 {
		t.Errorf("failed Eval moved the position to %d", s.Pos())
	}
	if _, err := s.Eval([]int{m.Vocab}, false); err == nil {
		t.Error("token outside the vocabulary accepted")
	}
	if m.NewState(0, 1).Context() != DefaultContext {
		t.Error("default context is not 4096")
	}
}

// Rewinding and re-evaluating gives the same logits as evaluating afresh,
// and splitting work over threads does not change them.
func TestRewindAndThreads(t *testing.T) {
	_, m := writeModel(t, t.TempDir(), small)
	prompt := []int{10, 20, 30, 40, 50}
	a := m.NewState(16, 1)
	want, _ := a.Eval(prompt, false)
	want = cloneRows(want)
	b := m.NewState(16, 3)
	b.Eval([]int{10, 20, 99, 98}, false)
	b.Rewind(2)
	got, err := b.Eval(prompt[2:], false)
	if err != nil {
		t.Fatal(err)
	}
	for j := range want[0] {
		if got[0][j] != want[0][j] {
			t.Fatalf("logit %d: %g after rewind on 3 threads, %g fresh on 1", j, got[0][j], want[0][j])
		}
	}
}

func TestNaNWeights(t *testing.T) {
	s := small
	s.NaN = true
	s.Type = quant.F32
	_, m := writeModel(t, t.TempDir(), s)
	if _, err := m.NewState(8, 1).Eval([]int{1}, false); !errors.Is(err, ErrNonFinite) {
		t.Fatalf("NaN weights: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	var buf bytes.Buffer
	modelgen.Write(&buf, small)
	good := buf.Bytes()
	parse := func(b []byte) *gguf.File {
		f, err := gguf.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	// Re-encode the file with one metadata entry changed or one tensor dropped.
	edit := func(key string, v *gguf.Value, dropTensor string) []byte {
		f := parse(good)
		var w gguf.Writer
		for _, kv := range f.KV {
			if kv.Key == key {
				if v == nil {
					continue
				}
				kv.Value = *v
			}
			w.Set(kv.Key, kv.Value)
		}
		for _, tn := range f.Tensors {
			if tn.Name != dropTensor {
				w.AddTensor(tn.Name, tn.Type, tn.Dims, tn.Data)
			}
		}
		var b bytes.Buffer
		w.WriteTo(&b)
		return b.Bytes()
	}
	v := func(x any) *gguf.Value { g := gguf.Of(x); return &g }
	cases := map[string]struct {
		data []byte
		want string
	}{
		"arch":        {edit("general.architecture", v("llama"), ""), "not \"qwen2\""},
		"no layers":   {edit("qwen2.block_count", nil, ""), "missing metadata qwen2.block_count"},
		"more layers": {edit("qwen2.block_count", v(uint32(3)), ""), "missing tensor blk.2"},
		"huge count":  {edit("qwen2.block_count", v(uint32(1<<31)), ""), "missing tensor blk.2"},
		"shape":       {edit("qwen2.embedding_length", v(uint32(128)), ""), "shape"},
		"heads":       {edit("qwen2.attention.head_count_kv", v(uint32(3)), ""), "do not group"},
		"tensor":      {edit("", nil, "blk.1.ffn_up.weight"), "missing tensor blk.1.ffn_up.weight"},
		"eps":         {edit("qwen2.attention.layer_norm_rms_epsilon", v("x"), ""), "epsilon"},
	}
	for name, c := range cases {
		_, err := Load(parse(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
	if _, err := Load(parse(good)); err != nil {
		t.Fatal(err)
	}
}

// A pool's workers run the work (each after its start function) and give
// the same logits as goroutines started per product; a failing start
// function is reported.
func TestPool(t *testing.T) {
	_, m := writeModel(t, t.TempDir(), small)
	prompt := []int{1, 2, 3, 4, 5, 6, 7}
	want, _ := m.NewState(16, 1).Eval(prompt, true)
	want = cloneRows(want)
	var mu sync.Mutex
	started := map[int]bool{}
	p, err := NewPool(3, func(w int) error {
		mu.Lock()
		started[w] = true
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !started[1] || !started[2] || started[0] || p.Workers() != 3 {
		t.Errorf("start ran for %v", started)
	}
	s := m.NewState(16, 3)
	s.Pool = p
	got, err := s.Eval(prompt, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("position %d differs with the pool", i)
		}
	}
	if _, err := NewPool(2, func(int) error { return errors.New("no CPU") }); err == nil || !strings.Contains(err.Error(), "no CPU") {
		t.Errorf("failing start: %v", err)
	}
}
