package telemetry

import (
	"fmt"
	"io"
	"time"

	"github.com/google/pprof/profile"
)

// Profile converts samples to a pprof profile with two sample types,
// calls/count and cycles/count, one function and one location per sample
// (the function name is the probe name, or the function name and its
// CID for JIT code; the CID is also the function's file name and a
// label).
func Profile(samples []Sample, dur time.Duration) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{
			{Type: "calls", Unit: "count"},
			{Type: "cycles", Unit: "count"},
		},
		DefaultSampleType: "cycles",
		PeriodType:        &profile.ValueType{Type: "cycles", Unit: "count"},
		Period:            1,
		TimeNanos:         time.Now().UnixNano(),
		DurationNanos:     int64(dur),
	}
	for i, s := range samples {
		name := s.Name
		if s.ID != "" {
			name = s.Name + " " + s.ID
		}
		fn := &profile.Function{ID: uint64(i + 1), Name: name, SystemName: s.Key(), Filename: s.ID}
		loc := &profile.Location{ID: uint64(i + 1), Line: []profile.Line{{Function: fn}}}
		p.Function = append(p.Function, fn)
		p.Location = append(p.Location, loc)
		smp := &profile.Sample{
			Location: []*profile.Location{loc},
			Value:    []int64{int64(s.Stats.Calls), int64(s.Stats.Cycles)},
		}
		if s.ID != "" {
			smp.Label = map[string][]string{"cid": {s.ID}}
		}
		smp.NumLabel = map[string][]int64{"min_cycles": {int64(s.Stats.Min)}, "max_cycles": {int64(s.Stats.Max)}}
		p.Sample = append(p.Sample, smp)
	}
	return p
}

// WriteProfile writes samples as a gzipped pprof profile (go tool pprof
// opens it).
func WriteProfile(w io.Writer, samples []Sample, dur time.Duration) error {
	return Profile(samples, dur).Write(w)
}

// WriteTop writes the n functions with the most cycles as a table
// (n <= 0: all), one line each: cycles, calls, mean, min, max, p99, name.
func WriteTop(w io.Writer, samples []Sample, n int) error {
	if n <= 0 || n > len(samples) {
		n = len(samples)
	}
	if _, err := fmt.Fprintf(w, "%14s %10s %10s %10s %10s %10s  %s\n", "cycles", "calls", "mean", "min", "max", "p99<=", "function"); err != nil {
		return err
	}
	for _, s := range samples[:n] {
		name := s.Name
		if s.ID != "" {
			name += " " + s.ID
		}
		if _, err := fmt.Fprintf(w, "%14d %10d %10.0f %10d %10d %10d  %s\n", s.Stats.Cycles, s.Stats.Calls, s.Stats.Mean(),
			s.Stats.Min, s.Stats.Max, s.Stats.Quantile(0.99), name); err != nil {
			return err
		}
	}
	return nil
}
