package heal

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/irprint"
	"github.com/velocityos/velocity/telemetry"
)

// LLM is a language model as LLMAdvisor uses it: Chat puts a system and
// a user message in the model's chat template, generates the assistant's
// reply (at most maxTokens tokens) and returns its text. The on-board
// engine (llm/onboard.Engine) is one.
type LLM interface {
	Chat(system, user string, maxTokens int) (string, error)
}

// LLMAdvisor asks a language model for a faster version of a slow
// function. The prompt holds the function's source, printed from the IR
// that runs (lang/irprint), its telemetry (calls, mean cycles, the most
// frequent recorded inputs) and an instruction. The first code block of
// the reply is the candidate module; it is untrusted like every other
// candidate and goes through the same gate, which logs each rejection
// with its stage: no code, parse, type check, machine code (the
// validator), equivalence (the differential test), A/B timing.
type LLMAdvisor struct {
	Model LLM
	// MaxTokens bounds the reply (default 512).
	MaxTokens int
	// Log, if set, receives one line per question: the function, the
	// prompt's size, the reply's size and the time the model took.
	Log io.Writer
	// HotInputs is how many of the most frequent recorded argument
	// tuples the prompt shows (default 5).
	HotInputs int

	// LastPrompt and LastReply are the last exchange (system message,
	// user message, reply), for tests and the console.
	LastPrompt [2]string
	LastReply  string
}

// LLMSystem is the system message: what the model is asked to be and the
// language it must write.
const LLMSystem = `You optimize functions written in the Velocity module language: Go syntax, one module per file ("module NAME" first), functions only, no globals, no strings, maps, pointers, structs or goroutines. Types: int64, uint64, byte, float64, bool, arrays [N]T and slices []T. Integer arithmetic wraps; integer division by zero is a run-time error. Builtins: len, make. Reply with the complete module in one code block.`

func (*LLMAdvisor) Name() string { return "llm" }

func (a *LLMAdvisor) Propose(f *ir.Func, alert telemetry.Alert) []Candidate {
	return a.ProposeProfiled(f, alert, nil)
}

// ProposeProfiled asks the model once and returns one candidate: the
// reply's code, or none (Source empty, which the gate rejects as "no
// code" with the start of the reply in its reason). A function that has
// no source form, or a model that fails, gives no candidate; the reason
// goes to Log.
func (a *LLMAdvisor) ProposeProfiled(f *ir.Func, alert telemetry.Alert, recorded [][]interp.Value) []Candidate {
	if a.Model == nil {
		return nil
	}
	user, err := a.Prompt(f, alert, recorded)
	if err != nil {
		a.logf("llm: cannot show %s to the model: %v", f.Name, err)
		return nil
	}
	n := a.MaxTokens
	if n <= 0 {
		n = 512
	}
	start := time.Now()
	reply, err := a.Model.Chat(LLMSystem, user, n)
	a.LastPrompt, a.LastReply = [2]string{LLMSystem, user}, reply
	if err != nil {
		a.logf("llm: the model failed on %s after %v: %v", f.Name, time.Since(start).Round(time.Millisecond), err)
		return nil
	}
	a.logf("llm: asked about %s (%s): prompt %d bytes, reply %d bytes in %v",
		f.Name, f.CID, len(LLMSystem)+len(user), len(reply), time.Since(start).Round(time.Millisecond))
	code, _ := CodeBlock(reply)
	if code != "" && !strings.HasPrefix(strings.TrimSpace(code), "module") {
		// Models often answer with the function alone.
		code = "module candidate\n\n" + code
	}
	return []Candidate{{From: "llm", Passes: []string{"llm"}, Source: code, FuncName: f.Name, Reply: reply}}
}

func (a *LLMAdvisor) logf(format string, args ...any) {
	if a.Log != nil {
		fmt.Fprintf(a.Log, "[Self-Evolution] "+format+"\n", args...)
	}
}

// Prompt returns the user message for f: its source, its telemetry and
// the instruction.
func (a *LLMAdvisor) Prompt(f *ir.Func, alert telemetry.Alert, recorded [][]interp.Value) (string, error) {
	src, err := irprint.Module("slow", f)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "This function is slow:\n\n```go\n%s```\n\n", src)
	fmt.Fprintf(&b, "Telemetry: %d calls so far, %d cycles per call on average in the last window (p99 at most %d).\n",
		alert.Total.Calls, alert.Mean, alert.P99)
	if hot := hotInputs(f, recorded, cmp.Or(a.HotInputs, 5)); hot != "" {
		fmt.Fprintf(&b, "Most frequent recent arguments: %s.\n", hot)
	}
	fmt.Fprintf(&b, "\nWrite a faster %s that returns the same result as this one for every argument, not only these. Keep its name and signature. Reply with the whole module in one ```go code block.\n", f.Name)
	return b.String(), nil
}

// hotInputs lists the n most frequent argument tuples with their counts.
func hotInputs(f *ir.Func, recorded [][]interp.Value, n int) string {
	count := map[string]int{}
	var order []string
	for _, in := range recorded {
		if len(in) != len(f.Params) {
			continue
		}
		s := show(in, f)
		if count[s] == 0 {
			order = append(order, s)
		}
		count[s]++
	}
	slices.SortStableFunc(order, func(x, y string) int { return count[y] - count[x] })
	var parts []string
	for _, s := range order[:min(n, len(order))] {
		parts = append(parts, fmt.Sprintf("%s%s ×%d", f.Name, s, count[s]))
	}
	return strings.Join(parts, ", ")
}

// CodeBlock returns the contents of the first fenced code block of a
// reply (``` with an optional language tag), and whether it was closed; an
// unclosed block (a reply cut at its token limit) runs to the end.
func CodeBlock(reply string) (code string, closed bool) {
	i := strings.Index(reply, "```")
	if i < 0 {
		return "", false
	}
	rest := reply[i+3:]
	nl := strings.IndexByte(rest, '\n')
	if nl < 0 {
		return "", false // a fence and a tag, nothing else
	}
	rest = rest[nl+1:]
	if j := strings.Index(rest, "```"); j >= 0 {
		return rest[:j], true
	}
	return rest, false
}

// noCode is the gate's reason for a candidate without code.
func noCode(reply string) string {
	if reply == "" {
		return "the advisor gave no code"
	}
	const show = 80
	head := reply
	if len(head) > show {
		head = head[:show] + "…"
	}
	return fmt.Sprintf("no code block in the reply (%d bytes: %q)", len(reply), head)
}
