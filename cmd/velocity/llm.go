package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/velocityos/velocity/llm/bench"
	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/modelfile"
	"github.com/velocityos/velocity/llm/modelgen"
	"github.com/velocityos/velocity/llm/onboard"
	"github.com/velocityos/velocity/llm/quant"
	"github.com/velocityos/velocity/llm/qwen2"
	"github.com/velocityos/velocity/llm/sample"
	"github.com/velocityos/velocity/llm/tokenizer"
)

const llmUsage = `Usage:
  velocity llm info M.gguf
  velocity llm run -model M.gguf -prompt P [-chat] [-n N] [-temp T] [-top-k K] [-top-p P] [-seed S] [-threads N] [-ctx N] [-logits FILE]
  velocity llm gen -o M.gguf [-shape tiny|qwen2.5-0.5b] [-type Q8_0|Q4_K_M|F32|...] [-seed S]
  velocity llm bench [-threads 1,2] [-prompt N] [-gen N] [-mix Q8_0,Q4_K_M] [-dir DIR] [-repeat N] [-prefetch=false]
`

// cmdLLM runs the on-board LLM engine (llm/...) on the host.
func cmdLLM(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, llmUsage)
		return exitUsage
	}
	switch args[0] {
	case "info":
		return llmInfo(args[1:])
	case "run":
		return llmRun(args[1:])
	case "gen":
		return llmGen(args[1:])
	case "bench":
		return llmBench(args[1:])
	}
	fmt.Fprintf(os.Stderr, "velocity llm: unknown subcommand %q\n%s", args[0], llmUsage)
	return exitUsage
}

func llmInfo(args []string) int {
	if len(args) != 1 {
		fmt.Fprint(os.Stderr, llmUsage)
		return exitUsage
	}
	mf, err := modelfile.Open(args[0])
	if err != nil {
		return fail("llm info", err)
	}
	defer mf.Close()
	fmt.Printf("GGUF v%d, %d metadata entries, %d tensors, alignment %d, data at %d\n", mf.Version, len(mf.KV), len(mf.Tensors), mf.Alignment, mf.DataOffset)
	for _, kv := range mf.KV {
		v := kv.Value
		if v.Type == gguf.TypeArray {
			fmt.Printf("  %-45s [%d × %s]\n", kv.Key, v.Len(), v.Elem)
		} else {
			fmt.Printf("  %-45s %v\n", kv.Key, v.V)
		}
	}
	byType := map[quant.Type]int{}
	var bytes uint64
	for _, t := range mf.Tensors {
		byType[t.Type]++
		bytes += t.Size
	}
	var types []string
	for t, n := range byType {
		types = append(types, fmt.Sprintf("%s ×%d", t, n))
	}
	sort.Strings(types)
	fmt.Printf("tensors: %s; %.1f MB of weights\n", strings.Join(types, ", "), float64(bytes)/1e6)
	m, err := qwen2.Load(mf.File)
	if err != nil {
		fmt.Printf("not runnable by this engine: %v\n", err)
		return 0
	}
	fmt.Printf("qwen2: %d layers, hidden %d, %d heads (%d KV), head size %d, FFN %d, vocab %d, context %d, rope base %g, rms eps %g, tied output %v\n",
		len(m.Layers), m.Hidden, m.Heads, m.KVHeads, m.HeadDim, m.FFN, m.Vocab, m.Context, m.RopeBase, m.Eps, m.Tied)
	return 0
}

func llmRun(args []string) int {
	fs := flag.NewFlagSet("llm run", flag.ContinueOnError)
	model := fs.String("model", "", "GGUF model file")
	prompt := fs.String("prompt", "", "prompt text (special tokens such as <|im_start|> are recognised)")
	n := fs.Int("n", 64, "tokens to generate")
	temp := fs.Float64("temp", 0, "temperature (0: greedy)")
	topK := fs.Int("top-k", 0, "keep the K most likely tokens (0: all)")
	topP := fs.Float64("top-p", 0, "keep the most likely tokens up to this probability (0: all)")
	seed := fs.Uint64("seed", 1, "sampling seed")
	threads := fs.Int("threads", runtime.NumCPU(), "threads")
	ctx := fs.Int("ctx", qwen2.DefaultContext, "context (KV cache) length")
	chat := fs.Bool("chat", false, "wrap the prompt in Qwen's chat template (a system and a user turn, then the assistant's)")
	logits := fs.String("logits", "", "write the logits at every prompt position to FILE (float32, little-endian, vocab per position)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *model == "" || *prompt == "" {
		fmt.Fprint(os.Stderr, llmUsage)
		return exitUsage
	}
	mf, err := modelfile.Open(*model)
	if err != nil {
		return fail("llm run", err)
	}
	defer mf.Close()
	m, err := qwen2.Load(mf.File)
	if err != nil {
		return fail("llm run", err)
	}
	tk, err := tokenizer.FromGGUF(mf.File)
	if err != nil {
		return fail("llm run", err)
	}
	text := *prompt
	if *chat {
		text = onboard.ChatTemplate("You are a helpful assistant.", text)
	}
	ids := tk.Encode(text)
	if len(ids) == 0 {
		return fail("llm run", fmt.Errorf("the prompt encodes to no tokens"))
	}
	st := m.NewState(*ctx, *threads)
	if *threads > 1 {
		if st.Pool, err = qwen2.NewPool(*threads, nil); err != nil {
			return fail("llm run", err)
		}
		defer st.Pool.Close()
	}
	if *logits != "" {
		all, err := st.Eval(ids, true)
		if err != nil {
			return fail("llm run", err)
		}
		var b []byte
		for _, row := range all {
			for _, v := range row {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
			}
		}
		if err := os.WriteFile(*logits, b, 0o644); err != nil {
			return fail("llm run", err)
		}
		st.Rewind(0)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	smp := sample.New(sample.Params{Temperature: *temp, TopK: *topK, TopP: *topP, Seed: *seed})
	_, err = st.Generate(ids, *n, smp, tk.IsEOG, func(t int) bool {
		b, _ := tk.DecodeBytes([]int{t})
		out.Write(b)
		out.Flush()
		return true
	})
	out.WriteString("\n")
	if err != nil {
		return fail("llm run", err)
	}
	return 0
}

func llmGen(args []string) int {
	fs := flag.NewFlagSet("llm gen", flag.ContinueOnError)
	o := fs.String("o", "", "output GGUF file")
	shape := fs.String("shape", "tiny", "tiny (2 layers, hidden 256) or qwen2.5-0.5b (the real shape)")
	typ := fs.String("type", "Q8_0", "weight type, or Q4_K_M for llama.cpp's mix")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *o == "" {
		fmt.Fprint(os.Stderr, llmUsage)
		return exitUsage
	}
	var s modelgen.Spec
	switch *shape {
	case "tiny":
		s = modelgen.Spec{Layers: 2, Hidden: 256, Heads: 4, KVHeads: 2, FFN: 512}
	case "qwen2.5-0.5b":
		s = modelgen.Qwen25_05B()
	default:
		return fail("llm gen", fmt.Errorf("unknown shape %q", *shape))
	}
	s.Seed = *seed
	if *typ == "Q4_K_M" {
		s.Type, s.Layer = quant.Q8_0, modelgen.Q4KM(s.Hidden, s.FFN)
	} else {
		t, err := quant.ParseType(*typ)
		if err != nil || !t.Supported() {
			return fail("llm gen", fmt.Errorf("type %q is not one of %v or Q4_K_M", *typ, quant.Supported))
		}
		s.Type = t
	}
	f, err := os.Create(*o)
	if err != nil {
		return fail("llm gen", err)
	}
	if err := modelgen.Write(f, s); err != nil {
		f.Close()
		return fail("llm gen", err)
	}
	if err := f.Close(); err != nil {
		return fail("llm gen", err)
	}
	return 0
}

func llmBench(args []string) int {
	fs := flag.NewFlagSet("llm bench", flag.ContinueOnError)
	dir := fs.String("dir", "build/llmbench", "where the generated models are kept")
	threads := fs.String("threads", "1,2", "thread counts")
	prompt := fs.Int("prompt", 64, "prefill tokens")
	gen := fs.Int("gen", 32, "decoded tokens")
	mix := fs.String("mix", strings.Join(bench.Mixes, ","), "quantizations")
	pf := fs.Bool("prefetch", true, "also measure the KV prefetch of a typing session")
	repeat := fs.Int("repeat", 3, "runs per measurement (the best is kept)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	c := bench.Config{Dir: *dir, Prompt: *prompt, Gen: *gen, Mixes: strings.Split(*mix, ","), Prefetch: *pf, Repeat: *repeat}
	for _, s := range strings.Split(*threads, ",") {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			return fail("llm bench", fmt.Errorf("bad thread count %q", s))
		}
		c.Threads = append(c.Threads, n)
	}
	if err := bench.Run(os.Stdout, c); err != nil {
		return fail("llm bench", err)
	}
	return 0
}
