package qwen2

import (
	"github.com/velocityos/velocity/llm/sample"
)

// Generate evaluates prompt (appending to what the state holds) and then
// produces up to n tokens drawn by smp, calling emit with each; it stops
// early when stop reports an end-of-generation token (which is not emitted)
// or emit returns false. It returns the tokens produced.
func (s *State) Generate(prompt []int, n int, smp *sample.Sampler, stop func(int) bool, emit func(int) bool) ([]int, error) {
	logits, err := s.Eval(prompt, false)
	if err != nil {
		return nil, err
	}
	var out []int
	for len(out) < n {
		t := smp.Sample(logits[0])
		if stop != nil && stop(t) {
			break
		}
		out = append(out, t)
		if emit != nil && !emit(t) {
			break
		}
		if len(out) == n {
			break
		}
		if logits, err = s.Eval([]int{t}, false); err != nil {
			return out, err
		}
	}
	return out, nil
}
