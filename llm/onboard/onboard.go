// Package onboard runs the on-board model as a service of the kernel: one
// goroutine owns the model's state and, on Velocity, is pinned to a CPU
// that reserve= set aside, so that everything the model computes runs
// there. Its users are the healer's advisor (Chat: heal.LLMAdvisor), the
// shell's llm command (Generate) and the console, whose typed line it
// follows in the background (Typed) so that Tab gets a completion from a
// warm KV cache (Complete).
//
// Requests are served one at a time, in order; the typed line is
// evaluated only when no request waits, and only its latest value (a
// keystroke that arrives while the previous one is being evaluated
// replaces it).
package onboard

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/velocityos/velocity/llm/console"
	"github.com/velocityos/velocity/llm/prefetch"
	"github.com/velocityos/velocity/llm/qwen2"
	"github.com/velocityos/velocity/llm/sample"
	"github.com/velocityos/velocity/llm/tokenizer"
)

// Config configures Start.
type Config struct {
	// Ctx is the KV cache length of each of the two states (requests,
	// console); default 2048.
	Ctx int
	// Pin, if set, runs first on the engine's goroutine, which is locked
	// to its thread: on Velocity it is kernel.Pin of a reserved CPU. Its
	// error stops Start.
	Pin func() error
	// Sample is used by Chat and Generate (zero: greedy); Complete is
	// always greedy.
	Sample sample.Params
}

// ErrClosed is returned by requests after Close.
var ErrClosed = errors.New("onboard: engine closed")

// Engine is the running service.
type Engine struct {
	m   *qwen2.Model
	tk  *tokenizer.Tokenizer
	cfg Config

	reqs chan func()
	wake chan struct{} // a new typed line
	quit chan struct{}
	done chan struct{}

	mu       sync.Mutex
	typed    string
	hasTyped bool
	prefetch bool
	st       Stats
	closed   bool

	// owned by the engine goroutine
	run *qwen2.State
	pf  *prefetch.Prefetcher
}

// Stats are the console figures (llm/console, where the shell sees them).
type Stats = console.Stats

// Engine implements the shell's view of the model.
var _ console.Model = (*Engine)(nil)

// Start loads nothing: m and tk are the model; it starts the engine's
// goroutine and returns once Pin (if any) succeeded. Prefetch starts on.
func Start(m *qwen2.Model, tk *tokenizer.Tokenizer, cfg Config) (*Engine, error) {
	if cfg.Ctx <= 0 {
		cfg.Ctx = 2048
	}
	e := &Engine{m: m, tk: tk, cfg: cfg, reqs: make(chan func()), wake: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{}), prefetch: true}
	started := make(chan error, 1)
	go e.loop(started)
	if err := <-started; err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) loop(started chan<- error) {
	defer close(e.done)
	runtime.LockOSThread()
	if e.cfg.Pin != nil {
		if err := e.cfg.Pin(); err != nil {
			started <- fmt.Errorf("onboard: pinning the engine: %w", err)
			return
		}
	}
	e.run = e.m.NewState(e.cfg.Ctx, 1)
	e.pf = prefetch.New(e.m.NewState(e.cfg.Ctx, 1), e.tk)
	started <- nil
	for {
		// Requests first; the typed line only when none waits.
		select {
		case f := <-e.reqs:
			f()
			continue
		case <-e.quit:
			return
		default:
		}
		if text, ok := e.takeTyped(); ok {
			e.update(text)
			continue
		}
		select {
		case f := <-e.reqs:
			f()
		case <-e.wake:
		case <-e.quit:
			return
		}
	}
}

// do runs f on the engine's goroutine and waits for it.
func (e *Engine) do(f func()) error {
	done := make(chan struct{})
	select {
	case e.reqs <- func() { f(); close(done) }:
	case <-e.done:
		return ErrClosed
	}
	<-done
	return nil
}

// Close stops the engine's goroutine.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()
	close(e.quit)
	<-e.done
}

// ChatTemplate renders one system and one user message and opens the
// assistant's turn, in the ChatML template Qwen2 models are trained on
// (the template of their GGUF's tokenizer.chat_template, which this
// engine does not interpret).
func ChatTemplate(system, user string) string {
	return "<|im_start|>system\n" + system + "<|im_end|>\n<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n"
}

// Generate evaluates prompt from an empty cache (wrapped in the chat
// template with a default system message if chat is set) and generates
// up to n tokens, passing each token's bytes to emit as it is produced.
// It returns the numbers of prompt and generated tokens.
func (e *Engine) Generate(prompt string, n int, chat bool, emit func([]byte)) (promptTokens, tokens int, err error) {
	if chat {
		prompt = ChatTemplate("You are a helpful assistant.", prompt)
	}
	derr := e.do(func() {
		ids := e.tk.Encode(prompt)
		promptTokens = len(ids)
		if len(ids) == 0 {
			err = errors.New("onboard: empty prompt")
			return
		}
		e.run.Rewind(0)
		var out []int
		out, err = e.run.Generate(ids, n, sample.New(e.cfg.Sample), e.tk.IsEOG, func(t int) bool {
			if emit != nil {
				b, _ := e.tk.DecodeBytes([]int{t})
				emit(b)
			}
			return true
		})
		tokens = len(out)
	})
	if derr != nil {
		return 0, 0, derr
	}
	return promptTokens, tokens, err
}

// Chat returns the model's reply to a system and a user message, at most
// maxTokens tokens. It is heal.LLM, so heal.LLMAdvisor can use it.
func (e *Engine) Chat(system, user string, maxTokens int) (string, error) {
	var b []byte
	_, _, err := e.Generate(ChatTemplate(system, user), maxTokens, false, func(p []byte) { b = append(b, p...) })
	return string(b), err
}

// Typed tells the engine the console line as typed so far. It never
// blocks; with prefetch on, the engine evaluates the line's new tokens
// when it has nothing else to do.
func (e *Engine) Typed(line string) {
	e.mu.Lock()
	if line != "" {
		e.st.Keystrokes++
	}
	if !e.prefetch {
		e.mu.Unlock()
		return
	}
	e.typed, e.hasTyped = line, true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Engine) takeTyped() (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.typed, e.hasTyped
	e.hasTyped = false
	return t, ok
}

func (e *Engine) update(text string) {
	before := e.pf.Evaluated
	start := time.Now()
	var err error
	if text != "" {
		err = e.pf.Update(text)
	}
	busy := time.Since(start)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.Updates++
	e.st.Busy += busy
	e.st.Evaluated += e.pf.Evaluated - before
	if err != nil {
		e.st.UpdateErrors++
		e.st.LastUpdateErr = err.Error()
	}
}

// Sync waits until the engine has evaluated the last typed line (with
// prefetch on), as it would have by itself given time.
func (e *Engine) Sync() error {
	return e.do(func() {
		if text, ok := e.takeTyped(); ok {
			e.update(text)
		}
	})
}

// SetPrefetch turns following the typed line on or off. Off, Complete
// evaluates the line from an empty cache, as a console without prefetch
// would.
func (e *Engine) SetPrefetch(on bool) {
	e.mu.Lock()
	e.prefetch = on
	e.hasTyped = false
	e.mu.Unlock()
}

// Prefetch reports whether the typed line is followed.
func (e *Engine) Prefetch() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.prefetch
}

// Complete returns up to n tokens (greedy) continuing line, and the time
// from the call to the first token: with prefetch on, the cache usually
// holds the line already; off, it is evaluated from nothing. The time
// includes waiting for an evaluation of the typed line in progress.
func (e *Engine) Complete(line string, n int) (string, time.Duration, error) {
	start := time.Now()
	var out []int
	var first time.Duration
	var err error
	warm := e.Prefetch()
	evaluated, atTab := 0, 0
	derr := e.do(func() {
		if !warm {
			e.pf.Reset()
		}
		before := e.pf.Evaluated
		if err = e.pf.Update(line); err != nil {
			return
		}
		atTab = e.pf.Evaluated - before
		sampling := time.Since(start) // queueing and the line's missing tokens
		out, first, err = e.pf.Complete(line, n, sample.New(sample.Params{}))
		first += sampling
		evaluated = e.pf.Evaluated - before
	})
	if derr != nil {
		return "", 0, derr
	}
	e.mu.Lock()
	e.st.Evaluated += evaluated
	if err == nil {
		if warm {
			e.st.Warm = append(e.st.Warm, first)
			e.st.TabEvaluatedWarm += atTab
		} else {
			e.st.Cold = append(e.st.Cold, first)
			e.st.TabEvaluatedCold += atTab
		}
	}
	e.mu.Unlock()
	if err != nil {
		return "", 0, err
	}
	b, _ := e.tk.DecodeBytes(out)
	return string(b), first, nil
}

// Stats returns a copy of the console figures.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.st
	s.Warm, s.Cold = slices.Clone(s.Warm), slices.Clone(s.Cold)
	return s
}
