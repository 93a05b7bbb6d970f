package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/telemetry"
)

func cmdHeal(args []string) int { return healMain(args, os.Stdout, os.Stderr) }

// healMain runs the self-healing demo on the host: a deliberately slow
// module function is called by many goroutines; telemetry flags it, the
// optimizer rewrites it, the sandbox validates it and the slot is swapped
// while the callers keep checking results.
func healMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("heal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	g := fs.Int("goroutines", 0, "callers (default 2×CPUs)")
	n := fs.Int64("n", 2000, "argument of Work (outer iterations)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after")
	rule := fs.String("rule", "", "trigger `RULE` mean=N,p99=N,calls=N,windows=N (default $TELEMETRY_RULE, else mean=1500000,calls=10)")
	pprofOut := fs.String("pprof", "", "write a pprof profile (calls, cycles) of both versions to `FILE`")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: velocity heal [-goroutines N] [-n N] [-rule RULE] [-timeout D] [-pprof FILE]")
		return exitUsage
	}
	if !jit.Supported() {
		fmt.Fprintln(stderr, "velocity heal: the JIT needs linux/amd64")
		return 1
	}
	fmt.Fprintf(stdout, "module:\n%s\n", strings.TrimSpace(heal.DemoSource))
	opts := heal.DemoOptions{Goroutines: *g, N: *n, Timeout: *timeout}
	if *rule != "" {
		r, err := telemetry.ParseRule(*rule)
		if err != nil {
			fmt.Fprintf(stderr, "velocity heal: %v\n", err)
			return exitUsage
		}
		opts.Rule = &r
	}
	res, err := heal.Demo(stdout, opts)
	if res != nil {
		fmt.Fprintf(stdout, "\n%d calls in %v, %d wrong results\n", res.Calls, res.Elapsed.Round(time.Millisecond), res.Wrong)
		for _, e := range res.Events {
			switch e.Kind {
			case "swap":
				fmt.Fprintf(stdout, "swap: %s -> %s (%s), %d inputs validated, A/B speedup %.2f, swap %v, old version quiescent after %v\n",
					short(e.From), short(e.To), strings.Join(e.Passes, ","), e.Inputs, e.Speedup, e.Pause, e.Quiesce)
			default:
				fmt.Fprintf(stdout, "%s: %s cycles/call before %.0f, after %.0f (%.1fx)\n", e.Kind, short(e.To), e.BeforeMean, e.AfterMean, e.Speedup)
			}
		}
		fmt.Fprintln(stdout)
		telemetry.WriteTop(stdout, res.Samples, 0)
		if *pprofOut != "" {
			f, ferr := os.Create(*pprofOut)
			if ferr == nil {
				ferr = telemetry.WriteProfile(f, res.Samples, res.Elapsed)
				if cerr := f.Close(); ferr == nil {
					ferr = cerr
				}
			}
			if ferr != nil {
				fmt.Fprintf(stderr, "velocity heal: %v\n", ferr)
				return 1
			}
			fmt.Fprintf(stdout, "\nwrote %s (go tool pprof -top %s)\n", *pprofOut, *pprofOut)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "velocity heal: %v\n", err)
		return 1
	}
	return 0
}

func short(cid string) string {
	if len(cid) > 16 {
		return cid[:16] + "…"
	}
	return cid
}
