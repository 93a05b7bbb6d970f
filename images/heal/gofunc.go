package main

import (
	"fmt"
	"github.com/velocityos/velocity/examples/crc"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/telemetry"
)

// -mode go heals a Go function of this program, compiled by gc into the
// kernel image: checksum, a bitwise CRC-32 that goroutines on every CPU
// call directly. Its variants are registered with heal.NewGoFunc; the
// healer rejects the wrong and the panicking one, patches slicing-by-8
// in at checksum's entry (the kernel's INT3 protocol, system call
// 0x5602) while the callers run, and proves it on their traffic. Every
// result is checked against hash/crc32.

// checksum is the kernel function being healed: CRC-32 one bit at a time
// (crc.Bitwise; examples/crc holds it and its variants, all //go:noinline
// so that no call site inlines them past the patched entry).
var (
	checksum          = crc.Bitwise
	checksumSlicing8  = crc.Slicing8
	checksumWrongRare = crc.WrongRare
	checksumPanics    = crc.Panics
)

// goInputs are the differential test's edge and random inputs: every
// length up to 70 and a few up to 256 (kept short: the original runs them
// under TCG).
func goInputs() [][]byte {
	r := rand.New(rand.NewPCG(5, 6))
	var in [][]byte
	for n := 0; n <= 70; n++ {
		in = append(in, randBytes(r, n))
	}
	for k := 0; k < 8; k++ {
		in = append(in, randBytes(r, r.IntN(257)))
	}
	return in
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func bestCycles(f func([]byte) uint32, b []byte) uint64 {
	best := uint64(math.MaxUint64)
	for range 5 {
		t0 := telemetry.Now()
		f(b)
		best = min(best, telemetry.Now()-t0)
	}
	return best
}

func goFunc() bool {
	type F = func([]byte) uint32
	check := heal.Differential(goInputs, func(f F, b []byte) uint32 { return f(b) })
	check.Show = func(b []byte) string { return "len " + strconv.Itoa(len(b)) }
	check.RingN = 8
	g, err := heal.NewGoFunc("checksum", checksum, check,
		heal.GoVariant[F]{Name: "wrong-rare", Fn: checksumWrongRare},
		heal.GoVariant[F]{Name: "panics", Fn: checksumPanics},
		heal.GoVariant[F]{Name: "slicing8", Fn: checksumSlicing8})
	if err != nil {
		return fail("%v", err)
	}
	defer g.Close()

	// The callers' buffers and their CRCs by hash/crc32.
	r := rand.New(rand.NewPCG(1, 2))
	bufs := make([][]byte, 8)
	refs := make([]uint32, len(bufs))
	for i := range bufs {
		bufs[i] = randBytes(r, *goBytes)
		refs[i] = crc32.ChecksumIEEE(bufs[i])
	}
	// The rule: above the geometric mean of the two bodies' cycles on the
	// callers' buffers (the original fires it, slicing-by-8 does not),
	// whatever the speed of the machine. "checksum:RULE" in
	// $TELEMETRY_RULE still overrides it.
	slow, fast := bestCycles(checksum, bufs[0]), bestCycles(checksumSlicing8, bufs[0])
	rule := telemetry.Rule{MeanAbove: uint64(math.Sqrt(float64(slow) * float64(fast))), MinCalls: 20, Windows: 1}
	fmt.Printf("GO calibrate bytes=%d bitwise=%d slicing8=%d rule %v\n", *goBytes, slow, fast, rule)
	h := &heal.Healer{Rule: &rule, Log: os.Stdout}
	if err := h.AddGo(g); err != nil {
		return fail("%v", err)
	}

	st0, kerr := kernel.ReadPatchStats()
	var calls, wrong atomic.Int64
	var cpus cpuCounts
	var stop atomic.Bool
	var wg sync.WaitGroup
	var firstWrong sync.Once
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; !stop.Load(); k++ {
				b := bufs[k%len(bufs)]
				check.Record(b) // the buffers are never modified
				t := g.Probe().Start()
				got := checksum(b) // the kernel's call: the original, or the variant patched in
				g.Probe().End(t)
				calls.Add(1)
				cpus.count()
				if want := refs[k%len(bufs)]; got != want {
					wrong.Add(1)
					firstWrong.Do(func() { fmt.Printf("GO wrong checksum = %#x, want %#x\n", got, want) })
				}
			}
		}()
	}
	start := time.Now()
	var proven *heal.Event
	var afterProven int64
	for time.Since(start) < *timeout {
		time.Sleep(*tick)
		h.Tick()
		if proven == nil {
			for i := range h.Events {
				if h.Events[i].Kind == "proven" {
					proven, afterProven = &h.Events[i], calls.Load()
				}
			}
		}
		if proven != nil && calls.Load()-afterProven >= int64(20*runtime.NumCPU()) {
			break // the healed function has served real traffic for a while
		}
	}
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)

	var swap heal.Event
	for _, e := range h.Events {
		if e.Kind == "swap" {
			swap = e
		}
	}
	traffic := 0.0
	if proven != nil {
		traffic = proven.Speedup
	}
	fmt.Printf("GO cpus %s\n", cpus.String())
	fmt.Printf("GO summary calls=%d wrong=%d swaps=%d rejected=%d current=%s ab_speedup=%.2f traffic_speedup=%.2f swap_us=%.1f held_us=%.1f elapsed=%.2fs\n",
		calls.Load(), wrong.Load(), g.Swaps(), len(h.Rejected), g.Current(), swap.Speedup, traffic,
		float64(swap.Pause.Nanoseconds())/1e3, float64(swap.Held.Nanoseconds())/1e3, elapsed.Seconds())
	if st1, err := kernel.ReadPatchStats(); err == nil && kerr == nil {
		fmt.Printf("GO patch pokes=%d traps=%d busy=%d stale=%d entry_rewrites=%d\n",
			st1.Pokes-st0.Pokes, st1.Traps-st0.Traps, st1.Busy-st0.Busy, st1.Stale-st0.Stale, g.Rewrites())
	} else {
		n, _ := heal.PatchCounters()
		fmt.Printf("GO patch rewrites=%d entry_rewrites=%d (host)\n", n, g.Rewrites())
	}
	switch {
	case wrong.Load() != 0:
		return fail("%d wrong checksums of %d calls", wrong.Load(), calls.Load())
	case proven == nil:
		return fail("checksum was not healed within %v (events %+v)", *timeout, h.Events)
	case g.Current() != "slicing8":
		return fail("checksum runs %s, want slicing8", g.Current())
	}
	return true
}
