// Package bench measures the engine's decode and prefill speed against
// llama.cpp's on the same model file in the same run: Qwen2.5-0.5B's exact
// shape with random weights, as Q8_0 and as llama.cpp's Q4_K_M mix. Random
// weights cost exactly what trained ones do; only the text is noise.
package bench

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/velocityos/velocity/llm/modelfile"
	"github.com/velocityos/velocity/llm/modelgen"
	"github.com/velocityos/velocity/llm/oracle"
	"github.com/velocityos/velocity/llm/prefetch"
	"github.com/velocityos/velocity/llm/quant"
	"github.com/velocityos/velocity/llm/qwen2"
	"github.com/velocityos/velocity/llm/sample"
	"github.com/velocityos/velocity/llm/tokenizer"
)

// Config says what to measure.
type Config struct {
	Dir     string // where the generated models are cached
	Threads []int
	Prompt  int // prefill length
	Gen     int // decoded tokens
	Mixes   []string
	// Repeat runs each measurement this many times, alternating the two
	// engines, and keeps each one's best: on a shared machine the best of a
	// few runs is the least disturbed one.
	Repeat int
	// Prefetch also runs the typing session of Prefetch on the first mix.
	Prefetch bool
}

// Mixes are the quantizations benchmarked.
var Mixes = []string{"Q8_0", "Q4_K_M"}

// Model writes (once) and returns the path of the benchmark model in mix.
func Model(dir, mix string) (string, error) {
	path := filepath.Join(dir, "qwen2.5-0.5b-shape-random-"+mix+".gguf")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	s := modelgen.Qwen25_05B()
	s.Seed = 2026
	switch mix {
	case "Q8_0":
		s.Type = quant.Q8_0
	case "Q4_K_M":
		s.Type = quant.Q8_0
		s.Layer = modelgen.Q4KM(s.Hidden, s.FFN)
	default:
		return "", fmt.Errorf("bench: unknown mix %q", mix)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.%d", path, os.Getpid())
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	if err := modelgen.Write(f, s); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// Bandwidth measures memory copy bandwidth in bytes per second (bytes
// read plus bytes written), single-threaded, on buffers far larger than the
// caches.
func Bandwidth() float64 {
	const n = 256 << 20
	a, b := make([]byte, n), make([]byte, n)
	for i := range a {
		a[i] = byte(i)
	}
	copy(b, a)
	best := 0.0
	for range 3 {
		t := time.Now()
		copy(b, a)
		best = max(best, 2*n/time.Since(t).Seconds())
	}
	return best
}

// Ours measures the engine: prefill of np random tokens, then ng greedy
// decode steps, in tokens per second.
func Ours(path string, threads, np, ng int) (prefill, decode float64, err error) {
	mf, err := modelfile.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer mf.Close()
	m, err := qwen2.Load(mf.File)
	if err != nil {
		return 0, 0, err
	}
	r := rand.New(rand.NewPCG(1, 1))
	prompt := make([]int, np)
	for i := range prompt {
		prompt[i] = r.IntN(m.Vocab)
	}
	s := m.NewState(np+ng+1, threads)
	if threads > 1 {
		if s.Pool, err = qwen2.NewPool(threads, nil); err != nil {
			return 0, 0, err
		}
		defer s.Pool.Close()
	}
	t0 := time.Now()
	logits, err := s.Eval(prompt, false)
	if err != nil {
		return 0, 0, err
	}
	t1 := time.Now()
	tok := sample.Greedy(logits[0])
	for range ng {
		if logits, err = s.Eval([]int{tok}, false); err != nil {
			return 0, 0, err
		}
		tok = sample.Greedy(logits[0])
	}
	t2 := time.Now()
	return float64(np) / t1.Sub(t0).Seconds(), float64(ng) / t2.Sub(t1).Seconds(), nil
}

// Run measures and prints the table.
func Run(w io.Writer, c Config) error {
	if len(c.Mixes) == 0 {
		c.Mixes = Mixes
	}
	o, oerr := oracle.Build()
	if oerr != nil && !errors.Is(oerr, oracle.ErrUnavailable) {
		return oerr
	}
	if oerr != nil {
		fmt.Fprintf(w, "llmbench: %v: measuring this engine only\n", oerr)
	}
	bw := Bandwidth()
	fmt.Fprintf(w, "llmbench: memory copy bandwidth %.1f GB/s (one thread, read+write)\n", bw/1e9)
	fmt.Fprintf(w, "llmbench: AVX2 kernels: %v\n", quant.HasAVX2())
	for _, mix := range c.Mixes {
		t := time.Now()
		path, err := Model(c.Dir, mix)
		if err != nil {
			return err
		}
		mf, err := modelfile.Open(path)
		if err != nil {
			return err
		}
		var weights uint64
		for _, tn := range mf.Tensors {
			weights += tn.Size
		}
		m, err := qwen2.Load(mf.File)
		if err != nil {
			return err
		}
		// Each decoded token streams every weight matrix once (the output
		// head is the embedding, read in full; the embedding lookup reads
		// one row).
		perToken := weights
		mf.Close()
		fmt.Fprintf(w, "\n%s: Qwen2.5-0.5B shape (%d layers, hidden %d, %d/%d heads, FFN %d, vocab %d), random weights, %d MB (ready in %.1fs)\n",
			mix, len(m.Layers), m.Hidden, m.Heads, m.KVHeads, m.FFN, m.Vocab, weights>>20, time.Since(t).Seconds())
		fmt.Fprintf(w, "  memory limit: each decoded token streams %d MB of weights; at the copy bandwidth's %.1f GB/s each way that is %.1f tokens/s on one thread\n",
			perToken>>20, bw/2e9, bw/2/float64(perToken))
		fmt.Fprintf(w, "  %-8s %-10s %14s %14s   (best of %d)\n", "threads", "engine", "prefill tok/s", "decode tok/s", max(c.Repeat, 1))
		for _, th := range c.Threads {
			var p, d, lp, ld float64
			for range max(c.Repeat, 1) {
				p1, d1, err := Ours(path, th, c.Prompt, c.Gen)
				if err != nil {
					return err
				}
				p, d = max(p, p1), max(d, d1)
				if o == nil {
					continue
				}
				lp1, ld1, err := o.Bench(path, th, c.Prompt, c.Gen)
				if err != nil {
					return err
				}
				lp, ld = max(lp, lp1), max(ld, ld1)
			}
			fmt.Fprintf(w, "  %-8d %-10s %14.2f %14.2f\n", th, "velocity", p, d)
			if o == nil {
				continue
			}
			fmt.Fprintf(w, "  %-8d %-10s %14.2f %14.2f\n", th, "llama.cpp", lp, ld)
			fmt.Fprintf(w, "  %-8d %-10s %13.2fx %13.2fx   (velocity / llama.cpp; decode target on 1 thread: >= 1.0x)\n", th, "ratio", p/lp, d/ld)
		}
	}
	if c.Prefetch && len(c.Mixes) > 0 {
		path, err := Model(c.Dir, c.Mixes[0])
		if err != nil {
			return err
		}
		if err := Prefetch(w, path, 1); err != nil {
			return err
		}
	}
	return nil
}

// typing is the scripted session of the prefetch benchmark: Tab is
// pressed after each line.
const typing = `func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

// sum adds the numbers.
func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}
`

// Prefetch types the session into a prefetcher one character at a time
// and presses Tab at the end of each line: the time from Tab to the first
// completion token with the cache kept warm, and cold (the text evaluated
// from scratch, as without prefetch), and the tokens each way evaluates.
func Prefetch(w io.Writer, path string, threads int) error {
	mf, err := modelfile.Open(path)
	if err != nil {
		return err
	}
	defer mf.Close()
	m, err := qwen2.Load(mf.File)
	if err != nil {
		return err
	}
	tk, err := tokenizer.FromGGUF(mf.File)
	if err != nil {
		return err
	}
	p := prefetch.New(m.NewState(1024, threads), tk)
	cold := m.NewState(1024, threads)
	var warm, coldT []time.Duration
	coldTokens := 0
	typingTime := time.Duration(0)
	for i := range typing {
		text := typing[:i+1]
		t := time.Now()
		if err := p.Update(text); err != nil {
			return err
		}
		typingTime += time.Since(t)
		if typing[i] != '\n' {
			continue
		}
		_, first, err := p.Complete(text, 1, sample.New(sample.Params{}))
		if err != nil {
			return err
		}
		warm = append(warm, first)
		cold.Rewind(0)
		t = time.Now()
		ids := tk.Encode(text)
		lg, err := cold.Eval(ids, false)
		if err != nil {
			return err
		}
		sample.Greedy(lg[0])
		coldT = append(coldT, time.Since(t))
		coldTokens += len(ids)
	}
	slices.Sort(warm)
	slices.Sort(coldT)
	pct := func(d []time.Duration, q int) float64 { return float64(d[(len(d)-1)*q/100].Microseconds()) / 1000 }
	fmt.Fprintf(w, "\nprefetch: %d characters typed, Tab at the end of each of %d lines (%d tokens of text at the end)\n",
		len(typing), len(warm), len(tk.Encode(typing)))
	fmt.Fprintf(w, "  Tab → first token, cache kept warm while typing: p50 %.2f ms, p99 %.2f ms\n", pct(warm, 50), pct(warm, 99))
	fmt.Fprintf(w, "  Tab → first token, cold (no prefetch):            p50 %.2f ms, p99 %.2f ms\n", pct(coldT, 50), pct(coldT, 99))
	fmt.Fprintf(w, "  CPU cost of prefetching: %d tokens evaluated over %d keystrokes (%.1f s of compute, in the background); cold evaluates %d tokens at the Tabs\n",
		p.Evaluated, len(typing), typingTime.Seconds(), coldTokens)
	return nil
}
