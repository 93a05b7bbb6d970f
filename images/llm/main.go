// Command llm runs the on-board LLM engine inside Velocity. It loads a GGUF
// model from the image's file system, pins itself to the highest CPU the
// kernel option reserve= set aside (system work keeps the others), and
// generates (greedily, or sampled with -temp and -seed), printing the tokens, the text, the speed and where
// the work ran. It exits 1 on any error or if a token was computed off the
// reserved CPU.
//
//	velocity run -smp 2 -fs /tmp/m.gguf -append 'reserve=1 -- -model /tmp/m.gguf -prompt "def f(" -n 16' ./images/llm
//
// Make a test model with velocity llm gen. tests/llm boots this and checks
// the tokens against the same engine on the host.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/quant"
	"github.com/velocityos/velocity/llm/qwen2"
	"github.com/velocityos/velocity/llm/sample"
	"github.com/velocityos/velocity/llm/tokenizer"
)

func main() {
	model := flag.String("model", "", "GGUF model in the image's file system")
	prompt := flag.String("prompt", "", "prompt")
	n := flag.Int("n", 16, "tokens to generate")
	ctx := flag.Int("ctx", 512, "context length")
	temp := flag.Float64("temp", 0, "temperature (0: greedy)")
	seed := flag.Uint64("seed", 1, "sampling seed")
	flag.Parse()
	if err := run(*model, *prompt, *n, *ctx, sample.Params{Temperature: *temp, Seed: *seed}); err != nil {
		fmt.Println("llm: error:", err)
		os.Exit(1)
	}
}

func run(path, prompt string, n, ctx int, sp sample.Params) error {
	if path == "" || prompt == "" {
		return fmt.Errorf("usage: llm -model M.gguf -prompt P [-n N]")
	}
	t0 := time.Now()
	// Read, not mapped: the image's file system is already in RAM.
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := gguf.Parse(data)
	if err != nil {
		return err
	}
	m, err := qwen2.Load(f)
	if err != nil {
		return err
	}
	tk, err := tokenizer.FromGGUF(f)
	if err != nil {
		return err
	}
	fmt.Printf("llm: model %s: %d layers, hidden %d, vocab %d, loaded in %v; AVX2 kernels %v\n",
		path, len(m.Layers), m.Hidden, m.Vocab, time.Since(t0).Round(time.Millisecond), quant.HasAVX2())

	cpu := -1
	if in, err := kernel.ReadInfo(); err == nil {
		for i := 0; i < in.CPUs; i++ {
			if in.Reserved&(1<<i) != 0 {
				cpu = i
			}
		}
	}
	if cpu >= 0 {
		unpin, err := kernel.Pin(cpu)
		if err != nil {
			return fmt.Errorf("pin to CPU %d: %v", cpu, err)
		}
		defer unpin()
		fmt.Printf("llm: pinned to reserved CPU %d\n", cpu)
	} else {
		fmt.Println("llm: no reserved CPU (kernel option reserve=): running unpinned")
	}
	// One thread: the engine's work runs inline on this pinned goroutine.
	st := m.NewState(ctx, 1)
	ids := tk.Encode(prompt)
	off := 0
	where := func() {
		if c, err := kernel.CurrentCPU(); err == nil && cpu >= 0 && c != cpu {
			off++
		}
	}
	t1 := time.Now()
	var t2 time.Time
	first := true
	out, err := st.Generate(ids, n, sample.New(sp), tk.IsEOG, func(int) bool {
		where()
		if first {
			t2, first = time.Now(), false
		}
		return true
	})
	if err != nil {
		return err
	}
	t3 := time.Now()
	strs := make([]string, len(out))
	for i, t := range out {
		strs[i] = fmt.Sprint(t)
	}
	text, _ := tk.Decode(out)
	fmt.Printf("llm: prompt tokens: %v\n", ids)
	fmt.Printf("llm: tokens: %s\n", strings.Join(strs, " "))
	fmt.Printf("llm: text: %q\n", text)
	if len(out) > 1 {
		fmt.Printf("llm: prefill %d tokens + first token in %v; decode %.1f tokens/s\n", len(ids), t2.Sub(t1).Round(time.Millisecond),
			float64(len(out)-1)/t3.Sub(t2).Seconds())
	}
	if off > 0 {
		return fmt.Errorf("%d tokens were computed off the reserved CPU %d", off, cpu)
	}
	if cpu >= 0 {
		fmt.Printf("llm: all %d tokens computed on CPU %d\n", len(out), cpu)
	}
	return nil
}
