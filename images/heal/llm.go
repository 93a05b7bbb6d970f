package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/llm/modelfile"
	"github.com/velocityos/velocity/llm/onboard"
	"github.com/velocityos/velocity/llm/qwen2"
	"github.com/velocityos/velocity/llm/tokenizer"
	"github.com/velocityos/velocity/registry"
)

// The llm mode (-mode llm -model M.gguf): the healer's only advisor is
// heal.LLMAdvisor over the on-board engine, pinned to the highest CPU
// that reserve= set aside. Callers load Work until the rule fires; the
// advisor shows the model Work's source and telemetry and hands the
// reply's code block, if any, to the gate. It stops after -llm-asks
// questions. Lines for tests:
//
//	HEAL llm model <path>: <n> layers, hidden <n>, vocab <n>; engine on CPU <cpu>|unpinned
//	HEAL llm asked <k>: reply <n> bytes in <ms> ms: <quoted start of the reply>
//	HEAL llm rejected <k> at <stage>: <reason>
//	HEAL llm summary calls=<n> wrong=<n> asked=<n> rejected=<n> swaps=<n> quarantined=<bool>
//
// With a random test model the replies are noise, and the gate rejects
// them; with a real model a candidate may pass and be swapped in (then
// the trial watches it as usual).
var (
	llmModel  = flag.String("model", "", "llm: GGUF model in the image's file system (or on a disk)")
	llmAsks   = flag.Int("llm-asks", 1, "llm: questions to the model before stopping")
	llmTokens = flag.Int("llm-tokens", 48, "llm: tokens per reply at most")
)

// llmChat counts the questions and records each reply's timing.
type llmChat struct {
	eng   *onboard.Engine
	asked atomic.Int64
}

func (c *llmChat) Chat(system, user string, n int) (string, error) {
	start := time.Now()
	reply, err := c.eng.Chat(system, user, n)
	k := c.asked.Add(1)
	if err == nil {
		head := reply
		if len(head) > 60 {
			head = head[:60]
		}
		fmt.Printf("HEAL llm asked %d: reply %d bytes in %d ms: %q\n", k, len(reply), time.Since(start).Milliseconds(), head)
	}
	return reply, err
}

func llmMode() bool {
	if *llmModel == "" {
		return fail("-mode llm needs -model")
	}
	mf, err := modelfile.Open(*llmModel) // the image's file system, or a disk (/dev/vda)
	if err != nil {
		return fail("%v", err)
	}
	f := mf.File
	m, err := qwen2.Load(f)
	if err != nil {
		return fail("%v", err)
	}
	tk, err := tokenizer.FromGGUF(f)
	if err != nil {
		return fail("%v", err)
	}
	cpu := -1
	if in, err := kernel.ReadInfo(); err == nil {
		for i := in.CPUs - 1; i >= 0 && cpu < 0; i-- {
			if in.Reserved&(1<<i) != 0 {
				cpu = i
			}
		}
	}
	cfg := onboard.Config{Ctx: 4096}
	where := "unpinned"
	if cpu >= 0 {
		// The engine's goroutine holds a P while it computes; GOMAXPROCS
		// counts only the system CPUs.
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
		cfg.Pin = func() error {
			if _, err := kernel.Pin(cpu); err != nil {
				return err
			}
			if c, err := kernel.CurrentCPU(); err != nil || c != cpu {
				return fmt.Errorf("pinned to CPU %d but running on %d (%v)", cpu, c, err)
			}
			return nil
		}
		where = fmt.Sprintf("CPU %d", cpu)
	}
	eng, err := onboard.Start(m, tk, cfg)
	if err != nil {
		return fail("%v", err)
	}
	defer eng.Close()
	fmt.Printf("HEAL llm model %s: %d layers, hidden %d, vocab %d; engine on %s\n", *llmModel, len(m.Layers), m.Hidden, m.Vocab, where)

	st := registry.NewMemStore()
	mod, err := compile("slow.vel", heal.DemoSource, st)
	if err != nil {
		return fail("%v", err)
	}
	work := mod.Lookup("Work")
	slot, err := heal.NewSlot("Work", work)
	if err != nil {
		return fail("%v", err)
	}
	slot.RingN = *ring
	orig := slot.Current()
	n := *baseN
	want, err := interp.New(1<<40).Call(work, []interp.Value{uint64(n)})
	if err != nil {
		return fail("interpreter: %v", err)
	}
	chat := &llmChat{eng: eng}
	h := &heal.Healer{
		Gate:     heal.Gate{Blocks: st, Random: *random, Fuel: 2000 * n, MinSpeedup: 1.1},
		Log:      os.Stdout,
		Advisors: []heal.Advisor{&heal.LLMAdvisor{Model: chat, MaxTokens: *llmTokens, Log: os.Stdout}},
	}
	h.Add(slot)

	workers := *goroutines
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	var calls, wrong atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := heal.NewCaller()
			defer c.Close()
			for !stop.Load() {
				r, err := c.Call(slot, []interp.Value{uint64(n)})
				calls.Add(1)
				if err != nil || r != want {
					wrong.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	reported := 0
	for time.Since(start) < *timeout && chat.asked.Load() < int64(*llmAsks) {
		time.Sleep(*tick)
		h.Tick()
		for ; reported < len(h.Rejected); reported++ {
			r := h.Rejected[reported]
			fmt.Printf("HEAL llm rejected %d at %s: %s\n", reported+1, r.Stage, r.Reason)
		}
	}
	stop.Store(true)
	wg.Wait()
	for ; reported < len(h.Rejected); reported++ {
		r := h.Rejected[reported]
		fmt.Printf("HEAL llm rejected %d at %s: %s\n", reported+1, r.Stage, r.Reason)
	}
	q := h.Quarantined(slot)
	fmt.Printf("HEAL llm summary calls=%d wrong=%d asked=%d rejected=%d swaps=%d quarantined=%v\n",
		calls.Load(), wrong.Load(), chat.asked.Load(), len(h.Rejected), slot.Swaps(), q != "")
	var errs []string
	switch {
	case wrong.Load() != 0:
		errs = append(errs, fmt.Sprintf("%d wrong results", wrong.Load()))
	case chat.asked.Load() == 0:
		errs = append(errs, fmt.Sprintf("the model was never asked within %v", *timeout))
	case q != "":
		errs = append(errs, "quarantined: "+q)
	case len(h.Rejected) == 0 && slot.Current() == orig:
		errs = append(errs, "the model's answers were neither rejected nor swapped in")
	}
	if len(errs) > 0 {
		return fail("%v", errors.New(strings.Join(errs, "; ")))
	}
	return true
}
