package shell

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/velocityos/velocity/llm/console"
)

// completionTokens is how many tokens Tab asks for.
const completionTokens = 8

// runKeys is Run with a model: the input is read key by key, so the
// model can follow the line as it is typed (Model.Typed after every key,
// evaluated in the background on the engine's CPU) and Tab can ask for a
// completion, which is shown on a line of its own before the prompt and
// the line are printed again. The line itself is left as typed: the
// suggestion is the model's, possibly noise, and is not run.
func (sh *Shell) runKeys(r *bufio.Reader) int {
	var raw []byte
	fmt.Fprint(sh.Out, Prompt)
	for {
		b, err := r.ReadByte()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				fmt.Fprintln(sh.Out, "\nshell: reading input:", err)
				return 1
			}
			if len(raw) > 0 {
				if done, code := sh.Exec(string(raw)); done {
					return code
				}
			}
			fmt.Fprintln(sh.Out)
			return 0
		}
		switch b {
		case '\n':
			line := string(raw)
			raw = raw[:0]
			sh.Model.Typed("")
			if done, code := sh.Exec(line); done {
				return code
			}
			fmt.Fprint(sh.Out, Prompt)
		case '\t':
			line := edit(string(raw))
			text, first, err := sh.Model.Complete(line, completionTokens)
			mode := "prefetch on"
			if !sh.Model.Prefetch() {
				mode = "prefetch off"
			}
			if err != nil {
				fmt.Fprintf(sh.Out, "\nllm: completion: %v\n", err)
			} else {
				fmt.Fprintf(sh.Out, "\nllm: completion %q (first token after %.2f ms, %s)\n", text, float64(first.Microseconds())/1000, mode)
			}
			fmt.Fprint(sh.Out, Prompt+line)
		case 0x15: // Ctrl-U: the line is gone; show a fresh prompt
			raw = raw[:0]
			sh.Model.Typed("")
			fmt.Fprint(sh.Out, "\n"+Prompt)
		default:
			raw = append(raw, b)
			sh.Model.Typed(edit(string(raw)))
		}
	}
}

func (sh *Shell) llm(args []string) error {
	if sh.Model == nil {
		return errors.New("no model loaded (images/shell -model M.gguf)")
	}
	if len(args) > 0 {
		switch args[0] {
		case "prefetch":
			if len(args) != 2 || (args[1] != "on" && args[1] != "off") {
				return usageError{"prefetch takes on or off"}
			}
			sh.Model.SetPrefetch(args[1] == "on")
			fmt.Fprintf(sh.Out, "llm: prefetch %s\n", args[1])
			return nil
		case "stats":
			if len(args) != 1 {
				return usageError{"stats takes no arguments"}
			}
			sh.llmStats()
			return nil
		}
	}
	fs := flag.NewFlagSet("llm", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := fs.Int("n", 64, "tokens to generate")
	raw := fs.Bool("raw", false, "no chat template")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *n < 1 || *n > 4096 {
		return usageError{fmt.Sprintf("bad -n %d (want 1-4096)", *n)}
	}
	prompt := strings.Join(fs.Args(), " ")
	if prompt == "" {
		return usageError{"no prompt"}
	}
	start := time.Now()
	var first time.Duration
	pt, gen, err := sh.Model.Generate(prompt, *n, !*raw, func(b []byte) {
		if first == 0 {
			first = time.Since(start)
		}
		sh.Out.Write(b)
	})
	fmt.Fprintln(sh.Out)
	if err != nil {
		return err
	}
	total := time.Since(start)
	rate := 0.0
	if gen > 1 && total > first {
		rate = float64(gen-1) / (total - first).Seconds()
	}
	fmt.Fprintf(sh.Out, "llm: %d prompt tokens, %d generated; first token after %.0f ms, then %.1f tokens/s\n",
		pt, gen, float64(first.Microseconds())/1000, rate)
	return nil
}

// llmStats prints the console figures of the on-board model.
func (sh *Shell) llmStats() {
	st := sh.Model.Stats()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Fprintf(sh.Out, "llm: keystrokes %d, evaluated in the background %d of them (%d tokens with Tab's, %.0f ms busy, %d errors)\n",
		st.Keystrokes, st.Updates, st.Evaluated, ms(st.Busy), st.UpdateErrors)
	for _, c := range []struct {
		name string
		d    []time.Duration
	}{{"prefetch on", st.Warm}, {"prefetch off", st.Cold}} {
		fmt.Fprintf(sh.Out, "llm: Tab to first token, %s: %d Tabs, p50 %.2f ms, p99 %.2f ms\n",
			c.name, len(c.d), ms(console.Percentile(c.d, 50)), ms(console.Percentile(c.d, 99)))
	}
	fmt.Fprintf(sh.Out, "llm: prompt tokens evaluated at Tab: %d with prefetch on, %d off\n", st.TabEvaluatedWarm, st.TabEvaluatedCold)
}
