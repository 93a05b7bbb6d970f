package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// profileSummary is where a profile's samples went, for the kernel's
// sampler (-profile-kind kernel): by the goroutine or thread they ran in
// (the outermost function of the stack, which names a goroutine's entry
// point: a TCP processor, a net/http connection, the card's receive
// loop) and by the package of the innermost function. docs/net.md,
// "Figures", reads a new connection's cost this way.
type profileSummary struct {
	total         int64 // nanoseconds sampled
	roots, leaves []share
}

// share is one line of a summary.
type share struct {
	name string
	ns   int64
}

// summarizeProfile sums p's samples by root and by innermost package: the
// value whose unit is nanoseconds (the kernel's profile has a count of
// samples first, CPU time second), or the first if none is.
func summarizeProfile(p *profile.Profile) profileSummary {
	roots, leaves := map[string]int64{}, map[string]int64{}
	var total int64
	idx := 0
	for i, st := range p.SampleType {
		if st.Unit == "nanoseconds" {
			idx = i
			break
		}
	}
	for _, s := range p.Sample {
		if len(s.Value) <= idx {
			continue
		}
		var frames []string // innermost first
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if l.Function != nil {
					frames = append(frames, l.Function.Name)
				}
			}
		}
		if len(frames) == 0 {
			continue
		}
		v := s.Value[idx]
		total += v
		roots[rootOf(frames)] += v
		leaves[packageOf(frames[0])] += v
	}
	return profileSummary{total: total, roots: sorted(roots), leaves: sorted(leaves)}
}

// rootOf names the goroutine or thread a stack ran in: its outermost
// function below runtime.goexit; for the scheduler's and the system
// stack's trampolines, with the function they ran.
func rootOf(frames []string) string {
	i := len(frames) - 1
	if frames[i] == "runtime.goexit" && i > 0 {
		i--
	}
	switch frames[i] {
	case "runtime.mcall", "runtime.systemstack", "runtime.morestack", "runtime.mstart":
		if i > 0 {
			return short(frames[i]) + " / " + short(frames[i-1])
		}
	}
	return short(frames[i])
}

// packageOf is the import path of a function's package.
func packageOf(fn string) string {
	fn = strings.TrimPrefix(fn, "vendor/")
	slash := strings.LastIndex(fn, "/")
	if dot := strings.Index(fn[slash+1:], "."); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}

// short drops the vendor prefix.
func short(fn string) string { return strings.TrimPrefix(fn, "vendor/") }

func sorted(m map[string]int64) []share {
	out := make([]share, 0, len(m))
	for k, v := range m {
		out = append(out, share{k, v})
	}
	slices.SortFunc(out, func(a, b share) int {
		if c := cmp.Compare(b.ns, a.ns); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

// write prints the first n lines of each table, with microseconds per
// request when requests is not zero.
func (s profileSummary) write(w io.Writer, requests, n int) {
	line := func(sh share) {
		fmt.Fprintf(w, "  %8.0f ms %5.1f%%", float64(sh.ns)/1e6, 100*float64(sh.ns)/float64(max(s.total, 1)))
		if requests > 0 {
			fmt.Fprintf(w, " %7.1f us/request", float64(sh.ns)/1e3/float64(requests))
		}
		fmt.Fprintf(w, "  %s\n", sh.name)
	}
	fmt.Fprintf(w, "samples: %.0f ms", float64(s.total)/1e6)
	if requests > 0 {
		fmt.Fprintf(w, " over %d wrk requests, %.0f us each", requests, float64(s.total)/1e3/float64(requests))
	}
	fmt.Fprintf(w, "\nby goroutine (the stack's outermost function):\n")
	for _, sh := range s.roots[:min(n, len(s.roots))] {
		line(sh)
	}
	fmt.Fprintf(w, "by the innermost function's package:\n")
	for _, sh := range s.leaves[:min(n, len(s.leaves))] {
		line(sh)
	}
}

// printProfileSummary summarizes the profile in file.
func printProfileSummary(file string, requests int) error {
	p, err := readProfile(file)
	if err != nil {
		return err
	}
	summarizeProfile(p).write(os.Stdout, requests, 12)
	return nil
}
