package heal

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/telemetry"
)

// replies is a test double for a language model: it returns the given
// replies in turn, so that each of the gate's stages can be reached with
// the LLMAdvisor in the loop (a real model is exercised in tests/heal).
type replies struct {
	out   []string
	asked []string
}

func (r *replies) Chat(system, user string, maxTokens int) (string, error) {
	r.asked = append(r.asked, user)
	if len(r.out) == 0 {
		return "", errors.New("no more replies")
	}
	s := r.out[0]
	r.out = r.out[1:]
	return s, nil
}

const llmSlow = `module slow
func Work(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		var junk int64
		for j := int64(0); j < 20; j++ { junk = junk*31 + j }
		s += i * 8
	}
	return s
}`

// Every kind of bad reply is rejected at its own stage with its reason,
// and a good one is swapped in; callers never see a wrong result.
func TestLLMAdvisorThroughGate(t *testing.T) {
	skipNoJIT(t)
	m, st := load(t, llmSlow)
	slot, err := NewSlot("Work", m.Lookup("Work"))
	if err != nil {
		t.Fatal(err)
	}
	model := &replies{out: []string{
		"Use a faster algorithm, such as a closed form.",
		"```go\nmodule c\nfunc Work(n int64) int64 {\n\treturn n +\n}\n```",
		"Here:\n```\nfunc Work(n int64) int64 { return n + true }\n```\n",
		"```go\nfunc Work(n int64) int64 { return n * 8 }\n```",
		"```go\nmodule c\nfunc Work(n int64) int64 {\n\tvar s int64\n\tfor i := int64(0); i < n; i++ {\n\t\tvar junk int64\n\t\tfor j := int64(0); j < 80; j++ { junk = junk*31 + j }\n\t\ts += i * 8\n\t}\n\treturn s\n}\n```",
		"The sum of 8i for i < n is 4n(n-1):\n```go\nfunc Work(n int64) int64 {\n\tif n <= 0 {\n\t\treturn 0\n\t}\n\treturn 4 * n * (n - 1)\n}\n```\nDone.",
	}}
	var log bytes.Buffer
	adv := &LLMAdvisor{Model: model, Log: &log}
	h := &Healer{
		Gate:     Gate{Blocks: st, Random: 30, Fuel: 1e7, MinSpeedup: 1.1},
		Advisors: []Advisor{adv},
		Rule:     &telemetry.Rule{MeanAbove: 1, MinCalls: 10, Windows: 1},
		Log:      &log,
	}
	h.Add(slot)
	c := NewCaller()
	defer c.Close()
	orig := slot.Current()
	stages := []string{"no code", "parse", "type check", "equivalence", "A/B timing"}
	reasons := []string{"no code block in the reply", "candidate.vel:4:1", "mismatched types", "current returns", "below 1.10"}
	for round := 0; round < 6; round++ {
		for i := 0; i < 32; i++ {
			n := 90 + int64(i%4)
			r, err := c.Call(slot, []interp.Value{uint64(n)})
			if err != nil || int64(r.(uint64)) != want(n) {
				t.Fatalf("Work(%d) = %v, %v", n, r, err)
			}
		}
		h.Tick()
		if round < len(stages) {
			if len(h.Rejected) != round+1 {
				t.Fatalf("round %d: %d rejections\n%s", round, len(h.Rejected), log.String())
			}
			r := h.Rejected[round]
			if r.From != "llm" || r.Stage != stages[round] || !strings.Contains(r.Reason, reasons[round]) {
				t.Errorf("round %d: rejected at %q: %q; want %q containing %q", round, r.Stage, r.Reason, stages[round], reasons[round])
			}
			if slot.Current() != orig {
				t.Fatalf("round %d: swapped", round)
			}
		}
	}
	if slot.Current() == orig {
		t.Fatalf("the correct reply was not swapped in\n%s", log.String())
	}
	if len(model.asked) != 6 {
		t.Errorf("asked %d times, want 6", len(model.asked))
	}
	p := model.asked[0]
	for _, want := range []string{"func Work(n int64) int64 {", "junk = junk * 31 + j", "calls so far", "cycles per call",
		"Most frequent recent arguments: Work(9", "Keep its name and signature", "```go\nmodule slow"} {
		if !strings.Contains(p, want) {
			t.Errorf("prompt lacks %q:\n%s", want, p)
		}
	}
	t.Logf("prompt:\n%s\nlog:\n%s", p, log.String())
	if !strings.Contains(log.String(), "[Self-Evolution] rejected candidate from llm at no code: no code block in the reply") {
		t.Errorf("log lacks the no-code rejection:\n%s", log.String())
	}
}

// A model that fails gives no candidate and does not stop healing.
func TestLLMAdvisorModelError(t *testing.T) {
	m, _ := load(t, llmSlow)
	var log bytes.Buffer
	adv := &LLMAdvisor{Model: &replies{}, Log: &log}
	if c := adv.Propose(m.Lookup("Work"), telemetry.Alert{}); len(c) != 0 {
		t.Fatalf("candidates %v from a failing model", c)
	}
	if !strings.Contains(log.String(), "the model failed on Work") {
		t.Errorf("log: %q", log.String())
	}
}

func TestCodeBlock(t *testing.T) {
	for _, c := range []struct {
		in, code string
		closed   bool
	}{
		{"no fence", "", false},
		{"```go\nx\n```", "x\n", true},
		{"a\n```\ny\nz\n``` b ```go\nw\n```", "y\nz\n", true},
		{"```go\ncut off", "cut off", false},
		{"```", "", false},
	} {
		code, closed := CodeBlock(c.in)
		if code != c.code || closed != c.closed {
			t.Errorf("CodeBlock(%q) = %q, %v; want %q, %v", c.in, code, closed, c.code, c.closed)
		}
	}
}

func FuzzCodeBlock(f *testing.F) {
	f.Add("```go\nmodule m\n```")
	f.Add("text ``` more")
	f.Fuzz(func(t *testing.T, s string) {
		code, _ := CodeBlock(s)
		if !strings.Contains(s, code) {
			t.Fatalf("code %q is not part of the reply", code)
		}
	})
}
