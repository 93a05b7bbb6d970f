// Command llmbench is make bench's LLM section: the engine against
// llama.cpp (from npm) on Qwen2.5-0.5B-shaped models, decode and prefill
// tokens/s on one and two threads, with the ratio and the memory-bandwidth
// limit. See llm/bench.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/velocityos/velocity/llm/bench"
)

func main() {
	dir := flag.String("dir", "build/llmbench", "where the generated models are kept between runs")
	threads := flag.String("threads", "1,2", "thread counts, comma-separated")
	prompt := flag.Int("prompt", 64, "prefill tokens")
	gen := flag.Int("gen", 32, "decoded tokens")
	mixes := flag.String("mix", strings.Join(bench.Mixes, ","), "quantizations")
	repeat := flag.Int("repeat", 3, "runs per measurement (the best is kept)")
	pf := flag.Bool("prefetch", true, "also measure the KV prefetch of a typing session (first mix, one thread)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to FILE")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "llmbench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	c := bench.Config{Dir: *dir, Prompt: *prompt, Gen: *gen, Mixes: strings.Split(*mixes, ","), Prefetch: *pf, Repeat: *repeat}
	for _, s := range strings.Split(*threads, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "llmbench: bad thread count %q\n", s)
			os.Exit(2)
		}
		c.Threads = append(c.Threads, n)
	}
	if err := bench.Run(os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "llmbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
