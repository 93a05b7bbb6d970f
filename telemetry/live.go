package telemetry

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Live writes the live "[telemetry]" lines a serial console shows while a
// system runs: one line per function of a registry, with the calls, mean
// and p99 bound of the window since the previous Print and the function's
// total calls. It keeps the previous snapshot itself, so any number of
// Lives can watch one registry at their own pace.
//
//	[telemetry] t=4.73s Work bafyrei… calls=5581 avg=9198 p99<=4095 total=5581
type Live struct {
	Reg *Registry // nil: Default
	W   io.Writer

	mu   sync.Mutex
	prev map[string]Stats
}

// Print writes one line per function with calls since the previous Print
// (and every function on the first); at is the time the line reports,
// usually since the start of the run.
func (l *Live) Print(at time.Duration) error {
	reg := l.Reg
	if reg == nil {
		reg = Default
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	first := l.prev == nil
	if first {
		l.prev = map[string]Stats{}
	}
	for _, s := range reg.Snapshot() {
		win := s.Stats.Since(l.prev[s.Key()])
		l.prev[s.Key()] = s.Stats
		if win.Calls == 0 && !first {
			continue
		}
		name := s.Name
		if s.ID != "" {
			name += " " + s.ID
		}
		if _, err := fmt.Fprintf(l.W, "[telemetry] t=%.2fs %s calls=%d avg=%.0f p99<=%d total=%d\n",
			at.Seconds(), name, win.Calls, win.Mean(), win.Quantile(0.99), s.Stats.Calls); err != nil {
			return err
		}
	}
	return nil
}

// Run prints every interval until stop is closed, then once more, so the
// last window is never lost.
func (l *Live) Run(interval time.Duration, stop <-chan struct{}) error {
	start := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := l.Print(time.Since(start)); err != nil {
				return err
			}
		case <-stop:
			return l.Print(time.Since(start))
		}
	}
}
