package main

// Paired measurements (-pairs): both guests at once, short runs taken in
// turn.
//
// This host's speed drifts by tens of percent within minutes: in one
// 6-round -against run of the new-connection row (2026-12-06), the same
// kernel served between 994 and 1,482 requests/s, and the rounds' ratios
// went from 0.89x to 1.12x. A round boots one guest, measures it, then
// boots the other, so its two figures lie minutes apart, and a few
// rounds cannot resolve the few percent a change to the stack makes.
// Here both guests are booted once and stay up; each row is measured in
// pairs of runs of a few seconds, one on each guest back to back, the
// first of a pair alternating (ABBA...), so a pair's two figures lie
// seconds apart and a steady drift cancels over two pairs. The guest not
// being measured idles (its vCPUs halt), and the ratios are taken within
// each pair; the median of those, and its spread, is the result.
//
// Each measured run follows an unmeasured one on the same guest (-warm,
// 10 s by default). Without it the pairs put every row further ahead of
// the Linux guest than rounds do: a guest that has idled for seconds
// serves its first seconds of load differently, the Linux guest more so.
// With 10 s of load first, small pages on one connection came out at
// 1.10x (against 1.16x to 1.31x with none or 2 s, and 1.05x in rounds),
// and a new connection per request at 0.96x against 1.03x to 1.08x
// (docs/net.md, "Figures", *Paired runs*).

import (
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	benchguest "github.com/velocityos/velocity/bench/guest"
	"github.com/velocityos/velocity/internal/qemu"
)

// slice is one short run on one guest.
type slice struct {
	rps, cpuPerReq float64 // host CPU in us per request (-1 when unknown)
}

// interleave boots Velocity and other (linux or variant) at once and
// measures each wrk row -rows selects in o.pairs pairs. It returns each
// row's pairs by the row's name, in wrkRows' order.
func interleave(o options, config func(sys string) (qemu.Config, qemu.Kind), other string) ([]rowPairs, error) {
	if o.slice < time.Second {
		return nil, fmt.Errorf("-slice %v: wrk runs whole seconds", o.slice)
	}
	if o.warm != 0 && o.warm < time.Second {
		return nil, fmt.Errorf("-warm %v: wrk runs whole seconds (0 for no warm-up)", o.warm)
	}
	fmt.Printf("-- paired: both guests up at once; each row in %d pairs of %v runs, each after %v unmeasured, the first of a pair alternating (load average %s)\n",
		o.pairs, o.slice.Truncate(time.Second), o.warm.Truncate(time.Second), benchguest.LoadAvg())
	ob := o
	if o.netns2 != "" {
		ob.netns = o.netns2
	}
	// guests[0] is always Velocity; slots is the boot order. The guest
	// booted second, into the second namespace, measured about 3% faster
	// than an identical one booted first (an A/A run of the same kernel
	// twice, 16 pairs, 2026-12-07: 0.966x, 12 of 16 for the second), so
	// -other-first swaps them and a comparison can be run both ways.
	var guests [2]*guest
	names := [2]string{"velocity", other}
	slots := []int{0, 1}
	if o.otherFirst {
		slots = []int{1, 0}
	}
	for n, i := range slots {
		sys := names[i]
		opt := o
		if n == 1 {
			opt = ob
		}
		c, kind := config(sys)
		g, err := boot(opt, sys, c, kind)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sys, err)
		}
		defer g.kill()
		guests[i] = g
	}
	fmt.Printf("  both ready (%s booted first)\n", names[slots[0]])
	label := map[string]string{"linux": "Linux", "variant": "the variant"}[other]
	// idleShare: the CPU each guest's QEMU took, as a share of one CPU,
	// while the other was measured: what sharing the host costs the
	// measured one.
	var idleShare [2][]float64
	var rows []rowPairs
	for _, row := range wrkRows {
		name := row.name()
		if !o.rows.MatchString(name) {
			continue
		}
		// Warm both up: the first seconds of a row run slower. With
		// -warm every measured run gets its own warm-up instead.
		if o.warm == 0 {
			for _, g := range guests {
				if _, err := g.o.wrk(time.Second, row.conns, g.base+row.path, row.closes); err != nil {
					return nil, fmt.Errorf("%s %s: %w", g.sys, name, err)
				}
			}
		}
		var sum pairSummary
		for p := 0; p < o.pairs; p++ {
			order := []int{0, 1}
			if p%2 == 1 {
				order = []int{1, 0}
			}
			var got [2]slice
			for _, i := range order {
				g, idle := guests[i], guests[1-i]
				if o.warm > 0 {
					// The guest idled while the other ran: load it first,
					// unmeasured, as a round's guest is loaded when its
					// next row starts.
					if _, err := g.o.wrk(o.warm, row.conns, g.base+row.path, row.closes); err != nil {
						sum.print(os.Stdout, name, other, label, o.pairs)
						return nil, fmt.Errorf("%s %s, pair %d, warm-up: %w", g.sys, name, p+1, err)
					}
				}
				cpu0, idle0, t0 := processCPU(g.cmd.Process.Pid), processCPU(idle.cmd.Process.Pid), time.Now()
				w, err := g.o.wrk(o.slice, row.conns, g.base+row.path, row.closes)
				if err != nil {
					sum.print(os.Stdout, name, other, label, o.pairs)
					return nil, fmt.Errorf("%s %s, pair %d: %w\nthe guest's serial output:\n%s", g.sys, name, p+1, err, g.serial.String())
				}
				got[i] = slice{rps: w.rps, cpuPerReq: -1}
				if us, ok := cpuPerRequest(cpu0, processCPU(g.cmd.Process.Pid), w.requests); ok {
					got[i].cpuPerReq = us
				}
				if idle1 := processCPU(idle.cmd.Process.Pid); idle0 >= 0 && idle1 >= 0 {
					idleShare[1-i] = append(idleShare[1-i], (idle1-idle0).Seconds()/time.Since(t0).Seconds())
				}
			}
			r := sum.add(got)
			fmt.Printf("    %-22s pair %2d: velocity %6.0f req/s %5.0f us/req, %-8s %6.0f req/s %5.0f us/req  %.2fx\n",
				name, p+1, got[0].rps, got[0].cpuPerReq, other, got[1].rps, got[1].cpuPerReq, r.rps)
		}
		sum.print(os.Stdout, name, other, label, o.pairs)
		rows = append(rows, rowPairs{name, sum})
	}
	if len(idleShare[0]) > 0 && len(idleShare[1]) > 0 {
		fmt.Printf("idle, while the other guest was measured: velocity's QEMU took %.1f%% of a CPU, %s's %.1f%% (medians)\n",
			100*median(idleShare[0]), other, 100*median(idleShare[1]))
	}
	fmt.Printf("(each ratio is Velocity's advantage within one pair: requests/s Velocity/%s, host CPU %s/Velocity. Target: >= 1.0x Linux on requests/s.)\n", label, label)
	return rows, nil
}

// rowPairs is one wrk row's pairs.
type rowPairs struct {
	name string
	sum  pairSummary
}

// printBothOrders gives -both-orders' result for every row measured in
// both runs: first had Velocity booted first, second the other guest.
//
// If the slot booted second is favoured by a factor b, the first run's
// median ratio r1 is e/b and the second's r2 is e*b, for a true
// advantage e. So sqrt(r1*r2) is e with b gone, and sqrt(r2/r1) is b.
// The pooled median of all pairs is printed too: with as many pairs in
// each order, b pushes half of them each way.
func printBothOrders(w io.Writer, first, second []rowPairs, other string) {
	fmt.Fprintf(w, "-- both boot orders (%s booted first in the second run)\n", other)
	for _, a := range first {
		for _, b := range second {
			if a.name != b.name || len(a.sum.ratios) == 0 || len(b.sum.ratios) == 0 {
				continue
			}
			r1, r2 := median(a.sum.ratios), median(b.sum.ratios)
			e, bias := bothOrders(r1, r2)
			all := append(slices.Clone(a.sum.ratios), b.sum.ratios...)
			fmt.Fprintf(w, "%-22s Velocity/%s: booted first %.3fx, second %.3fx; without the boot-order bias %.3fx (the bias %.3fx for the slot booted second); pooled median %.3fx, %d of %d pairs ahead\n",
				a.name, other, r1, r2, e, bias, median(all), countAbove(all, 1), len(all))
		}
	}
}

// bothOrders separates a true advantage e from the boot-order bias b, given
// the median ratios r1 = e/b (Velocity booted first) and r2 = e*b.
func bothOrders(r1, r2 float64) (e, b float64) {
	return math.Sqrt(r1 * r2), math.Sqrt(r2 / r1)
}

// pairSummary gathers one row's pairs.
type pairSummary struct {
	ratios, cpuRatios, rpsV, rpsO []float64
}

// add records one pair and returns its ratios.
func (s *pairSummary) add(got [2]slice) slice {
	r := pairRatio(got)
	s.ratios = append(s.ratios, r.rps)
	if r.cpuPerReq > 0 {
		s.cpuRatios = append(s.cpuRatios, r.cpuPerReq)
	}
	s.rpsV, s.rpsO = append(s.rpsV, got[0].rps), append(s.rpsO, got[1].rps)
	return r
}

// print writes the row's summary line. A row cut short by a failed run
// still gets one, over the pairs it finished, saying so, so that a long
// run's last row is not lost to one error.
func (s *pairSummary) print(w io.Writer, name, other, label string, want int) {
	if len(s.ratios) == 0 {
		return
	}
	lo, hi := spread(s.ratios)
	fmt.Fprintf(w, "%-22s req/s: velocity %.0f, %s %.0f (medians); Velocity/%s per pair: median %.3fx, middle half %.3fx to %.3fx, %d of %d pairs ahead",
		name, median(s.rpsV), other, median(s.rpsO), label, median(s.ratios), lo, hi, countAbove(s.ratios, 1), len(s.ratios))
	if len(s.cpuRatios) > 0 {
		fmt.Fprintf(w, "; host CPU per request, %s/Velocity: median %.3fx", label, median(s.cpuRatios))
	}
	if len(s.ratios) < want {
		fmt.Fprintf(w, " (stopped after %d of %d pairs)", len(s.ratios), want)
	}
	fmt.Fprintln(w)
}

// pairRatio is Velocity's advantage in one pair (got[0] Velocity's, got[1]
// the other guest's): requests/s over the other's, and the other's host
// CPU per request over Velocity's (0 when either is unknown).
func pairRatio(got [2]slice) slice {
	var r slice
	if got[1].rps > 0 {
		r.rps = got[0].rps / got[1].rps
	}
	if got[0].cpuPerReq > 0 && got[1].cpuPerReq > 0 {
		r.cpuPerReq = got[1].cpuPerReq / got[0].cpuPerReq
	}
	return r
}

// spread is the first and third quartile of x (nearest rank).
func spread(x []float64) (lo, hi float64) {
	if len(x) == 0 {
		return 0, 0
	}
	s := append([]float64(nil), x...)
	slices.Sort(s)
	n := len(s)
	return s[(n+3)/4-1], s[(3*n+3)/4-1]
}

// countAbove counts the values in x above v.
func countAbove(x []float64, v float64) int {
	n := 0
	for _, y := range x {
		if y > v {
			n++
		}
	}
	return n
}
