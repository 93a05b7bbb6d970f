package qwen2

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/velocityos/velocity/llm/quant"
)

// DefaultContext is the KV cache length when none is given.
const DefaultContext = 4096

// ErrContextFull is returned when tokens would not fit in the KV cache.
var ErrContextFull = errors.New("qwen2: context full")

// ErrNonFinite is returned when the logits hold a NaN or infinity, which
// means the weights do (they are not scanned at load: that would read the
// whole file).
var ErrNonFinite = errors.New("qwen2: non-finite logits (NaN or Inf in the weights?)")

// State is one sequence being evaluated: its KV cache and scratch space.
// It is not safe for concurrent use; the work inside Eval is split across
// Threads goroutines.
type State struct {
	m       *Model
	Threads int
	// Pool, if set and no larger than Threads, runs the parallel work on
	// its long-lived workers.
	Pool *Pool
	ctx  int
	pos  int
	k, v [][]uint16 // per layer: ctx × KVHeads·HeadDim, f16 like llama.cpp's default cache

	// scratch, sized for the largest batch seen
	x, xb, q, kk, vv, att, gate, up, logits [][]float32
	acts                                    []quant.Act
	scores                                  [][]float32 // per thread
	qh                                      [][]uint16  // per thread: a query head rounded to f16
}

// NewState makes a state with a KV cache of ctx positions (DefaultContext if
// ctx ≤ 0) whose Eval splits work over threads goroutines (at least 1).
func (m *Model) NewState(ctx, threads int) *State {
	if ctx <= 0 {
		ctx = DefaultContext
	}
	threads = max(threads, 1)
	s := &State{m: m, Threads: threads, ctx: ctx}
	kvd := m.KVHeads * m.HeadDim
	for range m.Layers {
		s.k = append(s.k, make([]uint16, ctx*kvd))
		s.v = append(s.v, make([]uint16, ctx*kvd))
	}
	for range threads {
		s.scores = append(s.scores, make([]float32, ctx))
		s.qh = append(s.qh, make([]uint16, m.HeadDim))
	}
	return s
}

// Pos is the number of tokens in the cache.
func (s *State) Pos() int { return s.pos }

// Context is the KV cache length.
func (s *State) Context() int { return s.ctx }

// Rewind drops the cache after the first pos tokens, so that a changed
// suffix can be re-evaluated without recomputing the prefix.
func (s *State) Rewind(pos int) {
	if pos >= 0 && pos < s.pos {
		s.pos = pos
	}
}

func resize(b [][]float32, n, width int) [][]float32 {
	for len(b) < n {
		b = append(b, make([]float32, width))
	}
	return b[:n]
}

// Eval appends tokens to the sequence and returns the logits after the last
// token, or after every token if all is set (one slice of Vocab values per
// token; they are reused by the next call).
func (s *State) Eval(tokens []int, all bool) ([][]float32, error) {
	m := s.m
	n := len(tokens)
	if n == 0 {
		return nil, errors.New("qwen2: no tokens to evaluate")
	}
	if s.pos+n > s.ctx {
		return nil, fmt.Errorf("%w: %d cached + %d new tokens > context %d", ErrContextFull, s.pos, n, s.ctx)
	}
	for _, t := range tokens {
		if t < 0 || t >= m.Vocab {
			return nil, fmt.Errorf("qwen2: token %d outside the vocabulary (0..%d)", t, m.Vocab-1)
		}
	}
	qd, kvd := m.Heads*m.HeadDim, m.KVHeads*m.HeadDim
	s.x = resize(s.x, n, m.Hidden)
	s.xb = resize(s.xb, n, max(m.Hidden, qd))
	s.q = resize(s.q, n, qd)
	s.kk = resize(s.kk, n, kvd)
	s.vv = resize(s.vv, n, kvd)
	s.att = resize(s.att, n, qd)
	s.gate = resize(s.gate, n, m.FFN)
	s.up = resize(s.up, n, m.FFN)
	for len(s.acts) < n {
		s.acts = append(s.acts, quant.Act{})
	}
	for i, t := range tokens {
		if err := quant.Dequantize(m.Embed.Type, m.Embed.Row(t), s.x[i]); err != nil {
			return nil, err
		}
	}
	for l := range m.Layers {
		L := &m.Layers[l]
		for i := range n {
			rmsNorm(s.xb[i][:m.Hidden], s.x[i], L.AttnNorm, m.Eps)
		}
		s.setActs(s.xb, m.Hidden)
		s.matmul(&L.Wq, s.q, L.Bq)
		s.matmul(&L.Wk, s.kk, L.Bk)
		s.matmul(&L.Wv, s.vv, L.Bv)
		for i := range n {
			p := s.pos + i
			for h := 0; h < m.Heads; h++ {
				ropeNeox(s.q[i][h*m.HeadDim:(h+1)*m.HeadDim], p, m.RopeBase)
			}
			kc := s.k[l][p*kvd : (p+1)*kvd]
			vc := s.v[l][p*kvd : (p+1)*kvd]
			for h := 0; h < m.KVHeads; h++ {
				ropeNeox(s.kk[i][h*m.HeadDim:(h+1)*m.HeadDim], p, m.RopeBase)
			}
			for j := range kvd {
				kc[j] = quant.F32ToF16(s.kk[i][j])
				vc[j] = quant.F32ToF16(s.vv[i][j])
			}
		}
		s.attention(l, n)
		s.setActs(s.att, qd)
		s.matmul(&L.Wo, s.xb, nil)
		for i := range n {
			add(s.x[i], s.xb[i][:m.Hidden])
			rmsNorm(s.xb[i][:m.Hidden], s.x[i], L.FFNNorm, m.Eps)
		}
		s.setActs(s.xb, m.Hidden)
		s.matmul(&L.Gate, s.gate, nil)
		s.matmul(&L.Up, s.up, nil)
		for i := range n {
			g, u := s.gate[i], s.up[i]
			for j := range g {
				g[j] = g[j] / (1 + float32(math.Exp(float64(-g[j])))) * u[j]
			}
		}
		s.setActs(s.gate, m.FFN)
		s.matmul(&L.Down, s.xb, nil)
		for i := range n {
			add(s.x[i], s.xb[i][:m.Hidden])
		}
	}
	s.pos += n
	first := n - 1
	if all {
		first = 0
	}
	out := s.x[first:n]
	for i := range out {
		rmsNorm(s.xb[i][:m.Hidden], out[i], m.OutNorm, m.Eps)
	}
	s.logits = resize(s.logits, len(out), m.Vocab)
	s.setActs(s.xb[:len(out)], m.Hidden)
	s.matmul(&m.Output, s.logits, nil)
	for _, lg := range s.logits {
		for _, v := range lg {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, ErrNonFinite
			}
		}
	}
	return s.logits, nil
}

// setActs points the first len(rows) activations at rows[i][:width].
func (s *State) setActs(rows [][]float32, width int) {
	for i := range rows {
		s.acts[i].Set(rows[i][:width])
	}
}

// parallel runs fn over [0, n) on s.Threads goroutines (the caller's
// and Threads-1 more), which take ranges of chunk items from a shared
// counter: a worker that is slowed down (by another program on its CPU)
// then does less of the work instead of making the others wait.
func (s *State) parallel(n, chunk int, fn func(worker, lo, hi int)) {
	usePool := s.Pool != nil && s.Pool.n <= s.Threads // worker scratch is sized by Threads
	threads := s.Threads
	if usePool {
		threads = s.Pool.n
	}
	t := min(threads, (n+chunk-1)/chunk)
	if t <= 1 {
		fn(0, 0, n)
		return
	}
	var next atomic.Int64
	work := func(w int) {
		for {
			lo := int(next.Add(int64(chunk))) - chunk
			if lo >= n {
				return
			}
			fn(w, lo, min(lo+chunk, n))
		}
	}
	if usePool {
		s.Pool.run(work)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < t; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(w)
		}()
	}
	work(0)
	wg.Wait()
}

// matmulTile is the number of weight rows multiplied with every activation
// of a batch before moving on, so that they are read from memory once.
const matmulTile = 16

// matmul computes out[i] = w · act[i] (+ bias) for the first len(out)
// activations, splitting w's rows over the threads.
func (s *State) matmul(w *Matrix, out [][]float32, bias []float32) {
	acts := s.acts[:len(out)]
	for i := range acts {
		acts[i].Prepare(w.Type)
	}
	s.parallel(w.Rows, max(matmulTile, w.Rows/(8*s.Threads)/matmulTile*matmulTile), func(_, lo, hi int) {
		var outs [16][]float32
		for r := lo; r < hi; r += matmulTile {
			e := min(r+matmulTile, hi)
			for i0 := 0; i0 < len(acts); i0 += len(outs) {
				i1 := min(i0+len(outs), len(acts))
				for i := i0; i < i1; i++ {
					outs[i-i0] = out[i][r:e]
				}
				quant.MatMul(w.Type, w.Data, w.Cols, acts[i0:i1], outs[:i1-i0], r, e)
			}
		}
	})
	if bias != nil {
		for i := range out {
			add(out[i][:w.Rows], bias)
		}
	}
}

// attention computes s.att[i] for the n new tokens: causal, grouped-query,
// over the cached keys and values of layer l.
func (s *State) attention(l, n int) {
	m := s.m
	hd, kvd := m.HeadDim, m.KVHeads*m.HeadDim
	group := m.Heads / m.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	kc, vc := s.k[l], s.v[l]
	s.parallel(n*m.Heads, 1, func(w, lo, hi int) {
		qh := s.qh[w]
		for job := lo; job < hi; job++ {
			i, h := job/m.Heads, job%m.Heads
			p := s.pos + i
			q := s.q[i][h*hd : (h+1)*hd]
			for j, v := range q {
				qh[j] = quant.F32ToF16(v)
			}
			off := (h / group) * hd
			sc := s.scores[w][:p+1]
			mx := float32(math.Inf(-1))
			for t := 0; t <= p; t++ {
				krow := kc[t*kvd+off : t*kvd+off+hd]
				var d float32
				for j := range hd {
					d += quant.F16ToF32(qh[j]) * quant.F16ToF32(krow[j])
				}
				d *= scale
				sc[t] = d
				mx = max(mx, d)
			}
			var sum float64
			for t := range sc {
				e := float32(math.Exp(float64(sc[t] - mx)))
				sc[t] = e
				sum += float64(e)
			}
			inv := float32(1 / sum)
			o := s.att[i][h*hd : (h+1)*hd]
			clear(o)
			for t, pr := range sc {
				pr = quant.F16ToF32(quant.F32ToF16(pr * inv))
				vrow := vc[t*kvd+off : t*kvd+off+hd]
				for j := range hd {
					o[j] += pr * quant.F16ToF32(vrow[j])
				}
			}
		}
	})
}

func add(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// rmsNorm writes x / rms(x) · w into dst. The float steps are ggml's:
// squares in float32 summed in float64, the mean and 1/sqrt in float32.
func rmsNorm(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v * v)
	}
	mean := float32(ss / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+eps)))
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

// ropeNeox rotates one head in place for position pos: element i pairs
// with i+d/2 (the NEOX layout Qwen2 uses), at angle pos·base^(-2i/d). The
// angle is stepped in float32 as ggml does, so that long positions round
// the same way.
func ropeNeox(x []float32, pos int, base float64) {
	half := len(x) / 2
	thetaScale := float32(math.Pow(base, -2/float64(len(x))))
	theta := float32(pos)
	for i := 0; i < half; i++ {
		c, sn := float32(math.Cos(float64(theta))), float32(math.Sin(float64(theta)))
		a, b := x[i], x[i+half]
		x[i] = a*c - b*sn
		x[i+half] = a*sn + b*c
		theta *= thetaScale
	}
}
