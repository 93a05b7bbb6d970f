// Command llm runs the on-board LLM engine inside Velocity. It loads a GGUF
// model from the image's file system, pins itself to the highest CPU the
// kernel option reserve= set aside (system work keeps the others), and
// generates (greedily, or sampled with -temp and -seed), printing the tokens, the text, the speed and where
// the work ran. It exits 1 on any error or if a token was computed off the
// reserved CPU.
//
//	velocity run -smp 2 -fs /tmp/m.gguf -append 'reserve=1 -- -model /tmp/m.gguf -prompt "def f(" -n 16' ./images/llm
//
// With -shell it runs the console shell instead, with the model behind
// its llm command and Tab completion (shell.go).
//
// Make a test model with velocity llm gen. tests/llm boots this and checks
// the tokens against the same engine on the host.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/llm/modelfile"
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
	threads := flag.Int("threads", 1, "engine threads, each pinned to one reserved CPU")
	ticks := flag.Int("wakeups", 0, "after generating, measure this many 1 ms timer wake-ups on the system CPUs while the model generates, pinned and then unpinned")
	sh := flag.Bool("shell", false, "run the console shell with the model (llm command, Tab completion with typing-time prefetch) instead of generating")
	script := flag.String("type", "", "with -shell: read the keys from this file instead of the console, one every -keydelay")
	keyDelay := flag.Duration("keydelay", 100*time.Millisecond, "with -type: the pause before each key")
	flag.Parse()
	if *sh {
		code, err := runShell(*model, *script, *keyDelay, *ctx)
		if err != nil {
			fmt.Println("llm: error:", err)
		}
		os.Exit(code)
	}
	if err := run(*model, *prompt, *n, *ctx, sample.Params{Temperature: *temp, Seed: *seed}, *threads, *ticks); err != nil {
		fmt.Println("llm: error:", err)
		os.Exit(1)
	}
}

func run(path, prompt string, n, ctx int, sp sample.Params, threads, ticks int) (err error) {
	if path == "" || prompt == "" {
		return fmt.Errorf("usage: llm -model M.gguf -prompt P [-n N]")
	}
	t0 := time.Now()
	// The image's file system (read, not mapped: it is already in RAM) or
	// a virtio disk (/dev/vda).
	mf, err := modelfile.Open(path)
	if err != nil {
		return err
	}
	f := mf.File
	if mf.From != "" {
		fmt.Printf("llm: %s from %s\n", path, mf.From)
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

	ids := tk.Encode(prompt)
	var reserved []int
	if in, err := kernel.ReadInfo(); err == nil {
		for i := 0; i < in.CPUs; i++ {
			if in.Reserved&(1<<i) != 0 {
				reserved = append(reserved, i)
			}
		}
	}
	if threads < 1 || (len(reserved) > 0 && threads > len(reserved)) {
		return fmt.Errorf("%d engine threads for reserved CPUs %v", threads, reserved)
	}
	cpu := -1
	var pool *qwen2.Pool
	if len(reserved) > 0 {
		// The highest reserved CPUs, one per engine thread; worker 0 is
		// this goroutine.
		cpus := reserved[len(reserved)-threads:]
		cpu = cpus[0]
		// GOMAXPROCS counts only the system CPUs; each pinned engine thread
		// holds a P while it computes, so give them Ps of their own rather
		// than take the system's.
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + threads)
		unpin, perr := kernel.Pin(cpu)
		if perr != nil {
			return fmt.Errorf("pin to CPU %d: %v", cpu, perr)
		}
		defer func() { // err is run's result: measure only after a good run
			if pool != nil {
				pool.Close()
			}
			unpin()
			if err == nil && ticks > 0 {
				err = wakeups(m, ids, cpu, ctx, ticks)
			}
		}()
		if threads > 1 {
			var perr error
			pool, perr = qwen2.NewPool(threads, func(w int) error {
				if _, err := kernel.Pin(cpus[w]); err != nil { // pinned for the worker's life
					return err
				}
				if c, err := kernel.CurrentCPU(); err != nil || c != cpus[w] {
					return fmt.Errorf("pinned to CPU %d but running on %d (%v)", cpus[w], c, err)
				}
				return nil
			})
			if perr != nil {
				return perr
			}
		}
		fmt.Printf("llm: %d engine thread(s) pinned to reserved CPUs %v\n", threads, cpus)
	} else {
		fmt.Println("llm: no reserved CPU (kernel option reserve=): running unpinned")
	}
	// Worker 0 is this pinned goroutine; the others are the pool's.
	st := m.NewState(ctx, threads)
	st.Pool = pool
	off := 0
	where := func() {
		if c, err := kernel.CurrentCPU(); err == nil && cpu >= 0 && c != cpu {
			off++
		}
	}
	t1 := time.Now()
	var t2 time.Time
	first := true
	out, gerr := st.Generate(ids, n, sample.New(sp), tk.IsEOG, func(int) bool {
		where()
		if first {
			t2, first = time.Now(), false
		}
		return true
	})
	if gerr != nil {
		return gerr
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

// wakeups measures how late a goroutine on the system CPUs wakes up for
// each of ticks 1 ms deadlines: with the engine idle (the baseline), while
// it generates without pause pinned to the reserved CPU, and while it
// generates unpinned (sharing the system CPUs). It prints p50, p99 and max.
func wakeups(m *qwen2.Model, prompt []int, cpu, ctx, ticks int) error {
	for _, mode := range []string{"idle", "pinned", "unpinned"} {
		pinned := mode == "pinned"
		var stop atomic.Bool
		done := make(chan error, 1)
		go func() {
			if mode == "idle" {
				done <- nil
				return
			}
			if pinned {
				unpin, err := kernel.Pin(cpu)
				if err != nil {
					done <- err
					return
				}
				defer unpin()
			}
			st := m.NewState(ctx, 1) // reused: no allocation while measuring
			for !stop.Load() {
				st.Rewind(0)
				if _, err := st.Generate(prompt, 8, sample.New(sample.Params{}), nil, func(int) bool { return !stop.Load() }); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		time.Sleep(20 * time.Millisecond) // let generation start
		late := make([]time.Duration, 0, ticks)
		missed := 0
		next := time.Now()
		for len(late) < ticks {
			next = next.Add(time.Millisecond)
			time.Sleep(time.Until(next))
			l := time.Since(next)
			late = append(late, l)
			if l > time.Millisecond { // skip the slots already missed
				k := l / time.Millisecond
				missed += int(k)
				next = next.Add(k * time.Millisecond)
			}
		}
		stop.Store(true)
		if err := <-done; err != nil {
			return err
		}
		slices.Sort(late)
		if pinned {
			mode = fmt.Sprintf("pinned to CPU %d", cpu)
		}
		fmt.Printf("llm: wakeups, engine %s: n=%d p50=%dus p99=%dus max=%dus missed=%d\n", mode, len(late),
			late[len(late)/2].Microseconds(), late[len(late)*99/100].Microseconds(), late[len(late)-1].Microseconds(), missed)
	}
	return nil
}
