package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/kernel/shell"
	"github.com/velocityos/velocity/llm/modelfile"
	"github.com/velocityos/velocity/llm/onboard"
	"github.com/velocityos/velocity/llm/qwen2"
	"github.com/velocityos/velocity/llm/tokenizer"
)

// runShell is -shell: the console shell with the model loaded, its
// engine pinned to the highest reserved CPU. The llm command runs
// prompts; as a line is typed the engine evaluates it in the background,
// and Tab shows a completion. With -type FILE the keys come from FILE,
// one every keyDelay (a scripted typing session at a human pace), instead
// of the console. It returns the shell's exit status.
func runShell(path, script string, keyDelay time.Duration, ctx int) (int, error) {
	mf, err := modelfile.Open(path)
	if err != nil {
		return 1, err
	}
	f := mf.File
	if mf.From != "" {
		fmt.Printf("llm: %s from %s\n", path, mf.From)
	}
	m, err := qwen2.Load(f)
	if err != nil {
		return 1, err
	}
	tk, err := tokenizer.FromGGUF(f)
	if err != nil {
		return 1, err
	}
	cfg := onboard.Config{Ctx: ctx}
	where := "unpinned (no reserve= CPU)"
	if cpus := reservedCPUs(); len(cpus) > 0 {
		cpu := cpus[len(cpus)-1]
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1) // the engine's goroutine holds a P while it computes
		cfg.Pin = func() error {
			if _, err := kernel.Pin(cpu); err != nil {
				return err
			}
			if c, err := kernel.CurrentCPU(); err != nil || c != cpu {
				return fmt.Errorf("pinned to CPU %d but running on %d (%v)", cpu, c, err)
			}
			return nil
		}
		where = fmt.Sprintf("pinned to CPU %d", cpu)
	}
	eng, err := onboard.Start(m, tk, cfg)
	if err != nil {
		return 1, err
	}
	defer eng.Close()
	var in io.Reader = os.Stdin
	if script != "" {
		keys, err := os.ReadFile(script)
		if err != nil {
			return 1, err
		}
		in = &paced{keys: keys, delay: keyDelay}
	}
	fmt.Printf("llm: shell with model %s (%d layers, hidden %d, vocab %d), engine %s; type help\n", path, len(m.Layers), m.Hidden, m.Vocab, where)
	sh := &shell.Shell{In: in, Out: os.Stdout, Model: eng}
	return sh.Run(), nil
}

// reservedCPUs lists the CPUs reserve= set aside (none off Velocity).
func reservedCPUs() []int {
	var cpus []int
	if in, err := kernel.ReadInfo(); err == nil {
		for i := 0; i < in.CPUs; i++ {
			if in.Reserved&(1<<i) != 0 {
				cpus = append(cpus, i)
			}
		}
	}
	return cpus
}

// paced delivers keys one at a time, each after delay, as a typist would.
type paced struct {
	keys  []byte
	delay time.Duration
}

func (p *paced) Read(b []byte) (int, error) {
	if len(p.keys) == 0 {
		return 0, io.EOF
	}
	if len(b) == 0 {
		return 0, nil
	}
	time.Sleep(p.delay)
	b[0] = p.keys[0]
	p.keys = p.keys[1:]
	return 1, nil
}
