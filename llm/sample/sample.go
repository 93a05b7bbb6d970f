// Package sample picks the next token from a model's logits: greedily, or
// at random after temperature, top-k and top-p (nucleus) filtering, from a
// seeded generator so that a run can be repeated.
package sample

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Params choose the sampling. Temperature ≤ 0 means greedy (TopK, TopP and
// Seed are then unused). TopK ≤ 0 keeps every token; TopP outside (0, 1)
// keeps every token.
type Params struct {
	Temperature float64
	TopK        int
	TopP        float64
	Seed        uint64
}

// Sampler draws tokens. It is not safe for concurrent use.
type Sampler struct {
	p     Params
	rng   *rand.Rand
	idx   []int
	probs []float64
}

// New returns a sampler for p.
func New(p Params) *Sampler {
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(p.Seed, 0x5bd1e995))}
}

// Greedy returns the index of the largest logit (the first, on ties).
func Greedy(logits []float32) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return best
}

// Sample returns the next token. The steps are, in order: keep the TopK
// largest logits; softmax at Temperature; keep the smallest set of most
// likely tokens whose probability reaches TopP; draw from what is left.
// Only top-p needs the candidates sorted; without it no sort is done (a
// vocabulary of 150,000 would cost milliseconds per token).
func (s *Sampler) Sample(logits []float32) int {
	if s.p.Temperature <= 0 {
		return Greedy(logits)
	}
	s.idx = s.idx[:0]
	topP := s.p.TopP > 0 && s.p.TopP < 1
	if k := s.p.TopK; k > 0 && k < len(logits) {
		s.idx = topK(s.idx, logits, k)
	} else {
		for i := range logits {
			s.idx = append(s.idx, i)
		}
	}
	if topP {
		sort.SliceStable(s.idx, func(a, b int) bool { return logits[s.idx[a]] > logits[s.idx[b]] })
	}
	keep := s.idx
	top := float64(logits[keep[0]])
	for _, i := range keep {
		top = max(top, float64(logits[i]))
	}
	s.probs = s.probs[:0]
	var sum float64
	for _, i := range keep {
		e := math.Exp((float64(logits[i]) - top) / s.p.Temperature)
		s.probs = append(s.probs, e)
		sum += e
	}
	for i := range s.probs {
		s.probs[i] /= sum
	}
	if topP {
		var c float64
		for i, p := range s.probs {
			c += p
			if c >= s.p.TopP {
				keep, s.probs = keep[:i+1], s.probs[:i+1]
				sum = c
				break
			}
		}
		for i := range s.probs {
			s.probs[i] /= sum
		}
	}
	u := s.rng.Float64()
	for i, p := range s.probs {
		u -= p
		if u < 0 {
			return keep[i]
		}
	}
	return keep[len(keep)-1]
}

// topK appends to dst the indices of the k largest logits (ties: lower
// index first), in no particular order, with a min-heap of size k.
func topK(dst []int, logits []float32, k int) []int {
	h := dst[:0]
	less := func(a, b int) bool { // a ranks below b
		if logits[a] != logits[b] {
			return logits[a] < logits[b]
		}
		return a > b
	}
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= len(h) {
				return
			}
			if c+1 < len(h) && less(h[c+1], h[c]) {
				c++
			}
			if !less(h[c], h[i]) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for i := range logits {
		if len(h) < k {
			h = append(h, i)
			for j := len(h) - 1; j > 0; {
				p := (j - 1) / 2
				if !less(h[j], h[p]) {
					break
				}
				h[j], h[p] = h[p], h[j]
				j = p
			}
			continue
		}
		if less(h[0], i) {
			h[0] = i
			down(0)
		}
	}
	return h
}
