// Package telemetry keeps cycle-accurate per-function counters.
//
// Each probed function (a Go probe or a JIT-compiled module function)
// has a Counter per shard: calls, total cycles, min, max and a log2
// histogram of cycles per call. Go probes keep one shard per CPU, chosen
// by the CPU number RDTSCP returns in IA32_TSC_AUX, so the hot path takes
// no lock and its atomic updates stay on a cache line owned by that CPU.
// JIT code keeps one counter block per jit.Machine (a Machine is used by
// one goroutine at a time) and writes it from its prologue and epilogue.
//
// A Registry merges all shards into Stats snapshots; a Watcher compares
// successive snapshots window by window against Rules and calls back when
// a function stays slow (this is what triggers healing); WriteProfile
// exports a snapshot as a pprof profile.
package telemetry

import (
	"math"
	"math/bits"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"
)

// HistBuckets is the number of log2 histogram buckets: bucket b counts
// calls that took [2^b, 2^(b+1)) cycles (bucket 0 also counts 0 and 1).
const HistBuckets = 64

// Counter is one shard of a function's statistics. lang/jit writes this
// layout from machine code: the field order and sizes must not change.
type Counter struct {
	Calls  uint64
	Cycles uint64
	Min    uint64 // ^0 until the first call
	Max    uint64
	Hist   [HistBuckets]uint64
}

// Offsets of Counter fields, for code generators.
const (
	OffCalls     = 0
	OffCycles    = 8
	OffMin       = 16
	OffMax       = 24
	OffHist      = 32
	CounterBytes = OffHist + 8*HistBuckets
)

var _ = [1]struct{}{}[unsafe.Sizeof(Counter{})-CounterBytes]

// Reset zeroes c (Min becomes ^0).
func (c *Counter) Reset() { *c = Counter{Min: math.MaxUint64} }

// Bucket returns the histogram bucket of a duration.
func Bucket(cycles uint64) int {
	if cycles < 2 {
		return 0
	}
	return bits.Len64(cycles) - 1
}

// Stats is a merged snapshot of a function's counters.
type Stats struct {
	Calls  uint64
	Cycles uint64
	Min    uint64 // 0 if there were no calls
	Max    uint64
	Hist   [HistBuckets]uint64
}

// load reads a counter that may be written concurrently (atomically by
// Go probes, by plain stores from JIT code on another thread).
func load(c *Counter) Stats {
	var s Stats
	s.Calls = atomic.LoadUint64(&c.Calls)
	s.Cycles = atomic.LoadUint64(&c.Cycles)
	s.Min = atomic.LoadUint64(&c.Min)
	s.Max = atomic.LoadUint64(&c.Max)
	for i := range c.Hist {
		s.Hist[i] = atomic.LoadUint64(&c.Hist[i])
	}
	if s.Calls == 0 {
		s.Min = 0
	}
	return s
}

// StatsOf returns a snapshot of counter c.
func StatsOf(c *Counter) Stats { return load(c) }

// Merge adds o into s.
func (s *Stats) Merge(o Stats) {
	if o.Calls == 0 {
		return
	}
	if s.Calls == 0 || o.Min < s.Min {
		s.Min = o.Min
	}
	if o.Max > s.Max {
		s.Max = o.Max
	}
	s.Calls += o.Calls
	s.Cycles += o.Cycles
	for i := range s.Hist {
		s.Hist[i] += o.Hist[i]
	}
}

// Since returns the calls recorded in s but not in the earlier snapshot
// prev (a window). Min and Max of a window are bounded from its
// histogram: the lower bound of its lowest bucket and the upper bound of
// its highest (or the overall Min/Max when they fall in those buckets).
func (s Stats) Since(prev Stats) Stats {
	var d Stats
	d.Calls = s.Calls - prev.Calls
	d.Cycles = s.Cycles - prev.Cycles
	lo, hi := -1, -1
	for i := range s.Hist {
		d.Hist[i] = s.Hist[i] - prev.Hist[i]
		if d.Hist[i] != 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo >= 0 {
		d.Min = uint64(1) << lo
		if lo == 0 {
			d.Min = 0
		}
		if Bucket(s.Min) == lo {
			d.Min = s.Min
		}
		d.Max = bucketTop(hi)
		if Bucket(s.Max) == hi {
			d.Max = s.Max
		}
	}
	return d
}

func bucketTop(b int) uint64 {
	if b >= 63 {
		return math.MaxUint64
	}
	return uint64(1)<<(b+1) - 1
}

// Mean is the mean cycles per call (0 without calls).
func (s Stats) Mean() float64 {
	if s.Calls == 0 {
		return 0
	}
	return float64(s.Cycles) / float64(s.Calls)
}

// Quantile estimates the q-quantile (0 < q <= 1) of cycles per call from
// the histogram: the upper bound of the bucket holding it, clamped to Max.
func (s Stats) Quantile(q float64) uint64 {
	if s.Calls == 0 {
		return 0
	}
	var n uint64
	for _, h := range s.Hist {
		n += h
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for b, h := range s.Hist {
		seen += h
		if seen >= rank {
			v := bucketTop(b)
			if s.Max != 0 && v > s.Max {
				v = s.Max
			}
			return v
		}
	}
	return s.Max
}

// shard is a Counter padded to whole cache lines.
type shard struct {
	Counter
	_ [64 - CounterBytes%64]byte
}

// Probe measures a region of Go code:
//
//	t := p.Start()
//	...
//	p.End(t)
type Probe struct {
	name   string
	mask   uint32
	shards []shard
}

// Stamp is a Start timestamp.
type Stamp uint64

// NewProbe returns a probe registered in Default.
func NewProbe(name string) *Probe {
	p := newProbe(name)
	Default.AddProbe(p)
	return p
}

func newProbe(name string) *Probe {
	n := 1
	for n < runtime.NumCPU() {
		n <<= 1
	}
	p := &Probe{name: name, mask: uint32(n - 1), shards: make([]shard, n)}
	for i := range p.shards {
		p.shards[i].Reset()
	}
	return p
}

// Name returns the probe's name.
func (p *Probe) Name() string { return p.name }

// Start returns the current timestamp.
func (p *Probe) Start() Stamp { return Stamp(Now()) }

// End records one call that began at t, in the shard of the current CPU.
// The updates are atomic (the goroutine may be preempted and another may
// run on the same CPU) but uncontended: each CPU has its own cache lines.
func (p *Probe) End(t Stamp) {
	now, cpu := nowShard()
	p.Record(cpu, now-uint64(t))
}

// Record adds one call of d cycles to the shard of cpu.
func (p *Probe) Record(cpu uint32, d uint64) {
	c := &p.shards[cpu&p.mask].Counter
	atomic.AddUint64(&c.Calls, 1)
	atomic.AddUint64(&c.Cycles, d)
	atomic.AddUint64(&c.Hist[Bucket(d)], 1)
	for {
		m := atomic.LoadUint64(&c.Min)
		if d >= m || atomic.CompareAndSwapUint64(&c.Min, m, d) {
			break
		}
	}
	for {
		m := atomic.LoadUint64(&c.Max)
		if d <= m || atomic.CompareAndSwapUint64(&c.Max, m, d) {
			break
		}
	}
}

// Stats merges the probe's shards.
func (p *Probe) Stats() Stats {
	var s Stats
	for i := range p.shards {
		s.Merge(load(&p.shards[i].Counter))
	}
	return s
}

// PerCPU returns each shard's statistics (index = CPU number modulo the
// shard count).
func (p *Probe) PerCPU() []Stats {
	out := make([]Stats, len(p.shards))
	for i := range p.shards {
		out[i] = load(&p.shards[i].Counter)
	}
	return out
}

// Sample is one function's statistics in a snapshot.
type Sample struct {
	Name  string // probe name, or function name for JIT code
	ID    string // module function CID for JIT code ("" for probes)
	Stats Stats
}

// Key identifies a sample: its ID when it has one, else its name.
func (s Sample) Key() string {
	if s.ID != "" {
		return s.ID
	}
	return s.Name
}

// Source supplies samples from counters the registry does not own (JIT
// machines).
type Source interface {
	TelemetrySamples() []Sample
}

// Registry collects probes and sources.
type Registry struct {
	mu      sync.Mutex
	probes  []*Probe
	sources []Source
}

// Default is the registry NewProbe adds to.
var Default = &Registry{}

// AddProbe registers p.
func (r *Registry) AddProbe(p *Probe) {
	r.mu.Lock()
	r.probes = append(r.probes, p)
	r.mu.Unlock()
}

// AddSource registers s.
func (r *Registry) AddSource(s Source) {
	r.mu.Lock()
	r.sources = append(r.sources, s)
	r.mu.Unlock()
}

// RemoveSource unregisters s.
func (r *Registry) RemoveSource(s Source) {
	r.mu.Lock()
	for i, x := range r.sources {
		if x == s {
			r.sources = append(r.sources[:i], r.sources[i+1:]...)
			break
		}
	}
	r.mu.Unlock()
}

// Snapshot merges every probe and source into one sample per key,
// sorted by total cycles, largest first.
func (r *Registry) Snapshot() []Sample {
	r.mu.Lock()
	probes := append([]*Probe(nil), r.probes...)
	sources := append([]Source(nil), r.sources...)
	r.mu.Unlock()
	var all []Sample
	for _, p := range probes {
		all = append(all, Sample{Name: p.name, Stats: p.Stats()})
	}
	for _, s := range sources {
		all = append(all, s.TelemetrySamples()...)
	}
	return MergeSamples(all)
}

// MergeSamples merges samples with the same key, sorted by cycles (then key).
func MergeSamples(all []Sample) []Sample {
	idx := map[string]int{}
	var out []Sample
	for _, s := range all {
		k := s.Key()
		if i, ok := idx[k]; ok {
			out[i].Stats.Merge(s.Stats)
			continue
		}
		idx[k] = len(out)
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Stats.Cycles != out[j].Stats.Cycles {
			return out[i].Stats.Cycles > out[j].Stats.Cycles
		}
		return out[i].Key() < out[j].Key()
	})
	return out
}
