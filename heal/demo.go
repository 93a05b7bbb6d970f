package heal

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/registry"
	"github.com/velocityos/velocity/telemetry"
)

// DemoSource is the demo's deliberately slow module: each outer
// iteration does redundant work whose result is never used.
const DemoSource = `module slow

func Work(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		var junk int64
		for j := int64(0); j < 200; j++ {
			junk = junk*31 + j
		}
		s += i * 8
	}
	return s
}
`

// DemoOptions configures Demo.
type DemoOptions struct {
	Goroutines int             // callers (default 2×NumCPU)
	N          int64           // argument of Work (default 2000)
	Timeout    time.Duration   // give up after (default 30 s)
	Tick       time.Duration   // telemetry window (default 20 ms)
	Rule       *telemetry.Rule // trigger (default: $TELEMETRY_RULE or the seed's)
}

// DemoResult is what the demo measured.
type DemoResult struct {
	Calls, Wrong int64
	Events       []Event
	Rejected     []Rejection
	Samples      []telemetry.Sample // telemetry at the end (both versions)
	Elapsed      time.Duration
}

// Demo runs the healing loop on DemoSource: callers call Work and check
// every result while the healer ticks; it returns once the healed
// version is proven (or on timeout). Log lines go to log.
func Demo(log io.Writer, o DemoOptions) (*DemoResult, error) {
	if o.Goroutines <= 0 {
		o.Goroutines = 2 * runtime.NumCPU()
	}
	if o.N <= 0 {
		o.N = 2000
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Tick <= 0 {
		o.Tick = 20 * time.Millisecond
	}
	st := registry.NewMemStore()
	_, m, err := registry.AddSource(st, "slow.vel", []byte(DemoSource))
	if err != nil {
		return nil, err
	}
	slot, err := NewSlot("Work", m.Lookup("Work"))
	if err != nil {
		return nil, err
	}
	orig := slot.Current()
	h := &Healer{Gate: Gate{Blocks: st, Random: 100, Fuel: 1e7, MinSpeedup: 1.1}, Log: log, Rule: o.Rule}
	h.Add(slot)
	res := &DemoResult{}
	var calls, wrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	want := func(n int64) int64 { return 8 * n * (n - 1) / 2 }
	for g := 0; g < o.Goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			c := NewCaller()
			defer c.Close()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				n := o.N + int64((k*7+g)%64)
				r, err := c.Call(slot, []interp.Value{uint64(n)})
				calls.Add(1)
				if err != nil || int64(r.(uint64)) != want(n) {
					wrong.Add(1)
				}
			}
		}(g)
	}
	start := time.Now()
	done := false
	for !done && time.Since(start) < o.Timeout {
		time.Sleep(o.Tick)
		h.Tick()
		for _, e := range h.Events {
			done = done || e.Kind == "proven"
		}
	}
	close(stop)
	wg.Wait()
	res.Calls, res.Wrong, res.Elapsed = calls.Load(), wrong.Load(), time.Since(start)
	res.Events, res.Rejected = h.Events, h.Rejected
	res.Samples = telemetry.MergeSamples([]telemetry.Sample{
		{Name: "Work (original)", ID: orig.CID, Stats: orig.Stats()},
		{Name: "Work (healed)", ID: slot.Current().CID, Stats: slot.Current().Stats()},
	})
	if !done {
		return res, errors.New("heal: no healed version proven before the timeout")
	}
	if res.Wrong != 0 {
		return res, fmt.Errorf("heal: %d wrong results", res.Wrong)
	}
	return res, nil
}
