// Package prefetch keeps a model's KV cache in step with text being typed,
// so that a completion asked for at any moment starts from a warm cache:
// only the tokens the last keystroke changed are evaluated, and a
// backspace (or any edit that changes earlier tokens) rolls the cache back
// to the longest common token prefix instead of starting over.
//
// BPE makes the last token of a growing prefix unstable ("de" then "def"),
// so each update re-tokenizes the whole text and compares token ids; the
// cost of a keystroke is the tokens after the first changed one, usually
// one or two.
package prefetch

import (
	"errors"
	"time"

	"github.com/velocityos/velocity/llm/qwen2"
	"github.com/velocityos/velocity/llm/sample"
	"github.com/velocityos/velocity/llm/tokenizer"
)

// Prefetcher follows one text buffer. It is not safe for concurrent use;
// the console would call Update from its background goroutine on the
// reserved CPU and Complete when Tab is pressed.
type Prefetcher struct {
	st     *qwen2.State
	tk     *tokenizer.Tokenizer
	ids    []int     // the tokens in the cache
	logits []float32 // after the last of them
	// Evaluated counts the tokens evaluated so far (the CPU cost).
	Evaluated int
}

// New returns a prefetcher over st (which it rewinds and fills).
func New(st *qwen2.State, tk *tokenizer.Tokenizer) *Prefetcher {
	st.Rewind(0)
	return &Prefetcher{st: st, tk: tk}
}

// Reset empties the cache, as if nothing had been typed.
func (p *Prefetcher) Reset() {
	p.st.Rewind(0)
	p.ids, p.logits = p.ids[:0], nil
}

// Update brings the cache in step with text: it rewinds to the longest
// common token prefix and evaluates the rest.
func (p *Prefetcher) Update(text string) error {
	ids := p.tk.Encode(text)
	common := 0
	for common < len(ids) && common < len(p.ids) && ids[common] == p.ids[common] {
		common++
	}
	if common == len(ids) && common == len(p.ids) {
		return nil
	}
	// At least the last token is re-evaluated, so that its logits (the
	// next-token distribution) are at hand.
	if common == len(ids) {
		common--
	}
	if common < 0 {
		p.st.Rewind(0)
		p.ids, p.logits = p.ids[:0], nil
		return nil
	}
	p.st.Rewind(common)
	p.ids = p.ids[:common]
	lg, err := p.st.Eval(ids[common:], false)
	if err != nil {
		// The cache now holds an unknown suffix: start over next time.
		p.st.Rewind(0)
		p.ids, p.logits = p.ids[:0], nil
		return err
	}
	p.Evaluated += len(ids) - common
	p.ids = append(p.ids, ids[common:]...)
	p.logits = append(p.logits[:0], lg[0]...)
	return nil
}

// Complete brings the cache up to date with text (usually nothing to do
// when Update followed the typing) and generates up to n tokens with smp,
// stopping at an end-of-generation token. It returns the tokens and the
// time to the first one. The cache is rolled back to text afterwards, so
// typing can go on.
func (p *Prefetcher) Complete(text string, n int, smp *sample.Sampler) ([]int, time.Duration, error) {
	start := time.Now()
	if err := p.Update(text); err != nil {
		return nil, 0, err
	}
	if p.logits == nil {
		return nil, 0, errors.New("prefetch: nothing to complete")
	}
	base := len(p.ids)
	var out []int
	var first time.Duration
	lg := p.logits
	for len(out) < n {
		t := smp.Sample(lg)
		if len(out) == 0 {
			first = time.Since(start)
		}
		if p.tk.IsEOG(t) {
			break
		}
		out = append(out, t)
		if len(out) == n {
			break
		}
		l, err := p.st.Eval([]int{t}, false)
		if err != nil {
			p.st.Rewind(base)
			return out, first, err
		}
		p.Evaluated++
		lg = l[0]
	}
	p.st.Rewind(base)
	return out, first, nil
}
