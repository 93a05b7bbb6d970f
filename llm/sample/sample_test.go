package sample

import (
	"math"
	"slices"
	"testing"
)

func TestGreedy(t *testing.T) {
	if g := Greedy([]float32{1, 5, 5, -2}); g != 1 {
		t.Errorf("greedy = %d, want 1 (first of the tie)", g)
	}
	s := New(Params{Temperature: 0, TopK: 1, Seed: 9})
	if s.Sample([]float32{0, 0, 3}) != 2 {
		t.Error("temperature 0 is not greedy")
	}
}

func counts(p Params, logits []float32, n int) []int {
	s := New(p)
	c := make([]int, len(logits))
	for range n {
		c[s.Sample(logits)]++
	}
	return c
}

func TestDistribution(t *testing.T) {
	logits := []float32{0, float32(math.Log(2)), float32(math.Log(4)), -20}
	const n = 70000
	c := counts(Params{Temperature: 1, Seed: 1}, logits, n)
	for i, want := range []float64{1.0 / 7, 2.0 / 7, 4.0 / 7, 0} {
		if got := float64(c[i]) / n; math.Abs(got-want) > 0.01 {
			t.Errorf("token %d drawn %.3f of the time, want %.3f", i, got, want)
		}
	}
	// Temperature 2 flattens: probabilities ∝ 1, √2, 2.
	c = counts(Params{Temperature: 2, Seed: 2}, logits[:3], n)
	z := 1 + math.Sqrt2 + 2
	if got := float64(c[2]) / n; math.Abs(got-2/z) > 0.01 {
		t.Errorf("T=2: top token %.3f, want %.3f", got, 2/z)
	}
}

func TestTopKTopP(t *testing.T) {
	logits := []float32{3, 2, 1, 0}
	c := counts(Params{Temperature: 1, TopK: 2, Seed: 3}, logits, 5000)
	if c[2] != 0 || c[3] != 0 || c[0] == 0 || c[1] == 0 {
		t.Errorf("top-k 2 drew %v", c)
	}
	// p(0)≈0.64, p(1)≈0.24: top-p 0.5 keeps token 0 only, 0.8 keeps two.
	c = counts(Params{Temperature: 1, TopP: 0.5, Seed: 4}, logits, 2000)
	if c[0] != 2000 {
		t.Errorf("top-p 0.5 drew %v", c)
	}
	c = counts(Params{Temperature: 1, TopP: 0.8, Seed: 4}, logits, 2000)
	if c[2] != 0 || c[3] != 0 || c[1] == 0 {
		t.Errorf("top-p 0.8 drew %v", c)
	}
}

func TestSeedRepeats(t *testing.T) {
	logits := []float32{1, 1, 1, 1, 1, 1, 1, 1}
	a, b, c := New(Params{Temperature: 1, Seed: 7}), New(Params{Temperature: 1, Seed: 7}), New(Params{Temperature: 1, Seed: 8})
	same, diff := true, false
	for range 50 {
		x, y, z := a.Sample(logits), b.Sample(logits), c.Sample(logits)
		same = same && x == y
		diff = diff || x != z
	}
	if !same || !diff {
		t.Errorf("same seed repeats: %v; other seed differs: %v", same, diff)
	}
}

func TestTopKSelection(t *testing.T) {
	logits := []float32{5, 1, 9, 9, 3, 7, 0, 5}
	got := topK(nil, logits, 4)
	slices.Sort(got)
	if !slices.Equal(got, []int{0, 2, 3, 5}) {
		t.Errorf("top 4 = %v, want [0 2 3 5] (ties to the lower index)", got)
	}
}
