// Package console is what the console shell needs from the on-board
// model: the Model interface (llm/onboard.Engine implements it) and its
// figures. It is kept apart from the engine, and imports nothing of it,
// so that programs that have the shell but no model (images/demo,
// images/shell) do not link the engine and its tables.
package console

import (
	"slices"
	"time"
)

// Model is the on-board model as the shell uses it.
type Model interface {
	// Generate runs prompt (in the chat template if chat) for up to n
	// tokens, passing each token's bytes to emit.
	Generate(prompt string, n int, chat bool, emit func([]byte)) (promptTokens, tokens int, err error)
	// Typed is called with the line as typed after every key; it must
	// not block.
	Typed(line string)
	// Complete continues line by up to n tokens and reports the time
	// from the call to the first token.
	Complete(line string, n int) (string, time.Duration, error)
	SetPrefetch(on bool)
	Prefetch() bool
	Stats() Stats
}

// Stats are the console figures: Tab-to-first-token latencies with and
// without prefetch, and what following the typing cost.
type Stats struct {
	Keystrokes    int             // typed lines received (not counting empty ones)
	Updates       int             // of which evaluated (the rest were replaced by newer ones)
	Evaluated     int             // tokens evaluated for the console (background and at Tab)
	Busy          time.Duration   // time spent evaluating typed lines in the background
	Warm, Cold    []time.Duration // Tab to first token, with prefetch on / off
	UpdateErrors  int
	LastUpdateErr string
	// TabEvaluatedWarm and TabEvaluatedCold count the line's tokens
	// evaluated at Tab (not the generated ones): what prefetch saves.
	TabEvaluatedWarm, TabEvaluatedCold int
}

// Percentile returns the p-th percentile (0..100, nearest rank) of d, or
// 0 for none.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	k := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(k, 0), len(s)-1)]
}
