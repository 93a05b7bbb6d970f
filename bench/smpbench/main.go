// Command smpbench is the SMP section of make bench (issue 3, section 6). It
// boots images/smpbench, a plain Go program, as a Velocity kernel and as the
// /init of a Linux guest (Debian's kernel, fetched and packed by bench/guest
// exactly as bench/bootbench does), on the same QEMU binary, accelerator, CPU
// model and memory, with -smp 1 and -smp 2, and compares what the program
// measures inside each guest with the guest's own clock:
//
//   - parallel speedup: the time to hash a fixed amount of data over
//     GOMAXPROCS goroutines on -smp 1 divided by the time on -smp 2, for
//     each kernel; target >= 1.8x and >= Linux's own ratio;
//   - goroutine ping-pong round trip and buffered-channel throughput;
//   - interference: p50/p99 wake-up lateness of a 1 kHz periodic goroutine,
//     idle, with a CPU hog and nothing pinned, and with the ticker pinned to
//     core 0 and the hog to the last core (LockOSThread + sched_setaffinity).
//
// Under TCG the runner asks for multi-threaded TCG (-accel
// tcg,thread=multi: one host thread per vCPU), without which -smp 2 could
// not be faster than -smp 1. Boots alternate between the guests so drift in
// host load hits both alike. Every raw figure is printed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	benchguest "github.com/velocityos/velocity/bench/guest"
	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
)

type options struct {
	accel       string
	tcgThread   string
	binary      string
	mem         string
	cache       string
	linuxCache  string
	runs        int
	mb          int
	ticks       int
	timeout     time.Duration
	linuxAppend string
	target      float64
	smp         int
}

func main() {
	var o options
	flag.StringVar(&o.accel, "accel", "auto", "accelerator: auto (honours $"+qemu.AccelEnv+"), tcg or kvm")
	flag.StringVar(&o.tcgThread, "tcg-thread", "multi", "TCG threading when the accelerator is tcg: multi (one host thread per vCPU), single, or '' for QEMU's default")
	flag.StringVar(&o.binary, "qemu", qemu.DefaultBinary, "QEMU system emulator used for both guests")
	flag.StringVar(&o.mem, "m", "512M", "guest memory for both guests")
	flag.StringVar(&o.cache, "cache", filepath.Join("build", "bench"), "directory for the built images and initramfs")
	flag.StringVar(&o.linuxCache, "linux-cache", "", "directory for Debian's kernel (default: velocity's cache dir + /bench/linux)")
	flag.IntVar(&o.runs, "n", 2, "boots per guest and CPU count")
	flag.IntVar(&o.mb, "mb", 24, "MiB hashed per parallel run")
	flag.IntVar(&o.ticks, "ticks", 2000, "wake-ups per interference scenario")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "limit for one boot")
	flag.StringVar(&o.linuxAppend, "linux-append", "console=ttyS0 quiet panic=-1", "Linux kernel command line (the SMPBENCH_* variables are added)")
	flag.Float64Var(&o.target, "target", 1.8, "target parallel speedup")
	flag.IntVar(&o.smp, "smp", 2, "CPUs of the multi-CPU boots")
	flag.Parse()
	if err := bench(o); err != nil {
		fmt.Fprintln(os.Stderr, "smpbench:", err)
		os.Exit(1)
	}
}

// result is what one boot printed: the SMPBENCH lines by name, each a
// key=value map (several lines of one name in order).
type result struct {
	lines  map[string][]map[string]string
	hostNS int64 // host time from the start line to the done line
}

func (r result) get(name string) []map[string]string { return r.lines[name] }

// guestRun is one bootable configuration.
type guestRun struct {
	kernel string // velocity or linux
	smp    int
	args   []string
	status int // QEMU exit status of a clean run
}

func bench(o options) error {
	if err := benchguest.PrepareDirs(&o.linuxCache, o.cache); err != nil {
		return err
	}
	ctx := context.Background()
	accel, accelArg, err := benchguest.AccelArg(ctx, o.accel, o.tcgThread, o.binary)
	if err != nil {
		return err
	}
	fmt.Printf("\n== Velocity SMP benchmarks (issue 3, section 6)\n")
	fmt.Printf("host:   %s, load average %s\n", benchguest.HostCPU(), benchguest.LoadAvg())
	fmt.Printf("qemu:   %s, -accel %s -cpu max -m %s; -smp 1 and -smp %d; %d boots per guest and CPU count, interleaved\n",
		benchguest.QEMUVersion(o.binary), accelArg, o.mem, o.smp, o.runs)
	if accel == "tcg" {
		fmt.Printf("        (TCG: with thread=multi each vCPU is its own host thread; this host has %d CPUs)\n", hostCPUs())
	}

	step("building images/smpbench as a Velocity kernel and as a static Linux /init")
	stub, velELF, linuxBin, err := benchguest.BuildBoth("./images/smpbench", o.cache, "smpbench")
	if err != nil {
		return err
	}
	step("preparing the Linux guest (Debian kernel via apt-get download, initramfs via cpio)")
	vmlinuz, kver, linuxErr := benchguest.DebianKernel(o.linuxCache)
	initrd := filepath.Join(o.cache, "initramfs-smpbench.cpio.gz")
	if linuxErr == nil {
		linuxErr = benchguest.MakeInitramfs(linuxBin, initrd)
	}

	env := []string{fmt.Sprintf("SMPBENCH_MB=%d", o.mb), fmt.Sprintf("SMPBENCH_TICKS=%d", o.ticks)}
	velAppend, err := build.KernelCmdline(env, nil, nil)
	if err != nil {
		return err
	}
	var runs []guestRun
	for _, smp := range []int{1, o.smp} {
		vc := qemu.Config{Kernel: velELF, Stub: stub, SMP: smp, Mem: o.mem, Binary: o.binary, Append: velAppend}
		va, err := vc.Args(qemu.KindKernelELF, accel, "")
		if err != nil {
			return err
		}
		runs = append(runs, guestRun{"velocity", smp, benchguest.WithAccel(va, accelArg), 1})
		if linuxErr == nil {
			lc := qemu.Config{Kernel: vmlinuz, SMP: smp, Mem: o.mem, Binary: o.binary,
				Append: o.linuxAppend + " " + strings.Join(env, " "), Extra: []string{"-initrd", initrd}}
			la, err := lc.Args(qemu.KindMultiboot, accel, "") // plain -kernel/-append
			if err != nil {
				return err
			}
			runs = append(runs, guestRun{"linux", smp, benchguest.WithAccel(la, accelArg), 0})
		}
	}
	for _, r := range runs {
		if r.smp == o.smp {
			fmt.Printf("%-8s %s\n", r.kernel+":", benchguest.ShellLine(o.binary, r.args))
		}
	}

	step(fmt.Sprintf("booting (%d MiB SHA-256 per parallel run, %d wake-ups per interference scenario)", o.mb, o.ticks))
	got := map[string][]result{} // "velocity/2" -> boots
	for i := 0; i < o.runs; i++ {
		seq := slices.Clone(runs)
		if i%2 == 1 {
			slices.Reverse(seq)
		}
		for _, g := range seq {
			res, err := boot(ctx, o, g)
			key := fmt.Sprintf("%s/%d", g.kernel, g.smp)
			if err != nil {
				if g.kernel == "linux" {
					linuxErr = err
					fmt.Printf("  boot %d %-12s FAILED: %v\n", i+1, key, err)
					continue
				}
				return err
			}
			got[key] = append(got[key], res)
			fmt.Printf("  boot %d %-12s %s\n", i+1, key, summary(res))
		}
	}
	report(o, got, linuxErr, kver, accelArg)
	return nil
}

// boot runs one guest to the end and collects its SMPBENCH lines.
func boot(ctx context.Context, o options, g guestRun) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.binary, g.args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pr, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	res := result{lines: map[string][]map[string]string{}}
	var serial strings.Builder
	var startT time.Time
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		serial.WriteString(line + "\n")
		i := strings.Index(line, "SMPBENCH ")
		if i < 0 {
			continue
		}
		f := strings.Fields(line[i+len("SMPBENCH "):])
		if len(f) == 0 {
			continue
		}
		kv := map[string]string{}
		for _, w := range f[1:] {
			if k, v, ok := strings.Cut(w, "="); ok {
				kv[k] = v
			}
		}
		switch f[0] {
		case "start":
			startT = time.Now()
		case "done":
			res.hostNS = time.Since(startT).Nanoseconds()
		}
		res.lines[f[0]] = append(res.lines[f[0]], kv)
	}
	werr := cmd.Wait()
	tail := qemu.LastLines(serial.String(), 15)
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s -smp %d: no exit within %v; serial tail:\n%s", g.kernel, g.smp, o.timeout, tail)
	}
	if len(res.get("done")) == 0 {
		return res, fmt.Errorf("%s -smp %d: the program did not finish (%v); serial tail:\n%s%s", g.kernel, g.smp, werr, tail, stderr.String())
	}
	if st := cmd.ProcessState.ExitCode(); st != g.status {
		return res, fmt.Errorf("%s -smp %d: QEMU exit status %d, want %d; serial tail:\n%s%s", g.kernel, g.smp, st, g.status, tail, stderr.String())
	}
	return res, nil
}

func summary(r result) string {
	s := ""
	if st := r.get("start"); len(st) > 0 {
		s += fmt.Sprintf("numcpu=%s gomaxprocs=%s  ", st[0]["numcpu"], st[0]["gomaxprocs"])
	}
	var par []string
	for _, p := range r.get("par") {
		par = append(par, fmt.Sprintf("%.0f", nsf(p, "ns")/1e6))
	}
	s += "par ms: " + strings.Join(par, " ")
	if p1 := r.get("par1"); len(p1) > 0 {
		var v []string
		for _, p := range p1 {
			v = append(v, fmt.Sprintf("%.0f", nsf(p, "ns")/1e6))
		}
		s += "  (1 goroutine: " + strings.Join(v, " ") + ")"
	}
	return s
}

// --- Report.

func report(o options, got map[string][]result, linuxErr error, kver, accel string) {
	fmt.Printf("\n== SMP results (accel %s, same QEMU, same run; all times measured inside the guest)\n", accel)
	if linuxErr != nil {
		fmt.Printf("linux     not measured: %v\n", linuxErr)
	} else {
		fmt.Printf("linux     Debian %s, same static binary as /init\n", kver)
	}
	kernels := []string{"velocity", "linux"}
	// Clock sanity: the guest's own span against the host's.
	for _, k := range kernels {
		for _, smp := range []int{1, o.smp} {
			for _, r := range got[fmt.Sprintf("%s/%d", k, smp)] {
				if d := r.get("done"); len(d) > 0 && r.hostNS > 0 {
					if g := nsf(d[0], "ns"); g > 0 {
						fmt.Printf("clock     %-8s -smp %d: guest measured %.2f s from start to done, host saw %.2f s (%+.1f%%)\n",
							k, smp, g/1e9, float64(r.hostNS)/1e9, 100*(g/float64(r.hostNS)-1))
						break
					}
				}
			}
		}
	}

	// Parallel speedup.
	fmt.Printf("\n-- parallel speedup: %d MiB SHA-256 over GOMAXPROCS goroutines (median of %d timed runs per CPU count)\n", o.mb, 3*o.runs)
	ratio := map[string]float64{}
	for _, k := range kernels {
		t1 := medianOf(got[k+"/1"], "par", "ns")
		tn := medianOf(got[fmt.Sprintf("%s/%d", k, o.smp)], "par", "ns")
		if t1 == 0 || tn == 0 {
			fmt.Printf("%-8s  not measured\n", k)
			continue
		}
		ratio[k] = t1 / tn
		fmt.Printf("%-8s  raw ms -smp 1: %s | -smp %d: %s\n", k, rawMS(got[k+"/1"], "par"), o.smp, rawMS(got[fmt.Sprintf("%s/%d", k, o.smp)], "par"))
		in := ""
		if t1g := medianOf(got[fmt.Sprintf("%s/%d", k, o.smp)], "par1", "ns"); t1g > 0 {
			in = fmt.Sprintf("; same boot, 1 vs %d goroutines: %.2fx", o.smp, t1g/tn)
		}
		fmt.Printf("%-8s  median -smp 1 %.0f ms, -smp %d %.0f ms: speedup %.2fx%s\n", k, t1/1e6, o.smp, tn/1e6, ratio[k], in)
	}
	if v, ok := ratio["velocity"]; ok {
		l, lok := ratio["linux"]
		verdict := func(b bool) string {
			if b {
				return "PASS"
			}
			return "MISS"
		}
		fmt.Printf("target    velocity speedup %.2fx >= %.1fx: %s\n", v, o.target, verdict(v >= o.target))
		if lok {
			fmt.Printf("target    velocity speedup %.2fx >= linux's %.2fx: %s (velocity/linux ratio of ratios %.2f)\n", v, l, verdict(v >= l), v/l)
		} else {
			fmt.Printf("target    >= linux's ratio: MISS (linux not measured)\n")
		}
	}

	// Ping-pong and channel throughput.
	fmt.Printf("\n-- goroutine ping-pong (round trip over two unbuffered channels) and channel throughput (cap 128, 1 sender, 1 receiver)\n")
	for _, smp := range []int{1, o.smp} {
		pp := map[string]float64{}
		ct := map[string]float64{}
		for _, k := range kernels {
			rs := got[fmt.Sprintf("%s/%d", k, smp)]
			if len(rs) == 0 {
				continue
			}
			var pps, cts []float64
			for _, r := range rs {
				for _, p := range r.get("pingpong") {
					pps = append(pps, nsf(p, "ns")/nsf(p, "n"))
				}
				for _, c := range r.get("chan") {
					cts = append(cts, nsf(c, "n")/(nsf(c, "ns")/1e9))
				}
			}
			pp[k], ct[k] = medianF(pps), medianF(cts)
			fmt.Printf("%-8s  -smp %d: ping-pong %7.0f ns/round trip (raw %s)   channel %6.2f M items/s (raw %s)\n",
				k, smp, pp[k], joinF(pps, "%.0f"), ct[k]/1e6, joinF(scale(cts, 1e-6), "%.2f"))
		}
		if pp["velocity"] > 0 && pp["linux"] > 0 {
			fmt.Printf("ratio     -smp %d: ping-pong linux/velocity %.2fx (>1: velocity faster); channel velocity/linux %.2fx\n",
				smp, pp["linux"]/pp["velocity"], ct["velocity"]/ct["linux"])
		}
	}

	// Interference.
	fmt.Printf("\n-- interference: 1 kHz periodic goroutine, wake-up lateness vs. its nominal time (-smp %d, %d wake-ups each)\n", o.smp, o.ticks)
	fmt.Printf("   idle: no hog; hog: a spinning goroutine, nothing pinned; pinned: ticker thread on core 0, hog thread on core %d\n", o.smp-1)
	p99 := map[string]float64{}
	for _, k := range kernels {
		rs := got[fmt.Sprintf("%s/%d", k, o.smp)]
		if len(rs) == 0 {
			continue
		}
		for _, mode := range []string{"idle", "hog", "pinned"} {
			var p50s, p99s, maxs []float64
			missed, where := 0, ""
			for _, r := range rs {
				for _, t := range r.get("tick") {
					if t["mode"] != mode {
						continue
					}
					p50s = append(p50s, nsf(t, "p50_ns")/1e3)
					p99s = append(p99s, nsf(t, "p99_ns")/1e3)
					maxs = append(maxs, nsf(t, "max_ns")/1e3)
					m, _ := strconv.Atoi(t["missed"])
					missed += m
					where = "ticker " + t["ticker"] + ", hog " + t["hog"]
				}
			}
			if len(p50s) == 0 {
				fmt.Printf("%-8s  %-6s not measured\n", k, mode)
				continue
			}
			p99[k+"/"+mode] = medianF(p99s)
			fmt.Printf("%-8s  %-6s p50 %7.1f us  p99 %8.1f us  max %8.1f us  missed %d  (raw p50 %s; p99 %s; %s)\n",
				k, mode, medianF(p50s), medianF(p99s), medianF(maxs), missed, joinF(p50s, "%.0f"), joinF(p99s, "%.0f"), where)
		}
		if h, p := p99[k+"/hog"], p99[k+"/pinned"]; h > 0 && p > 0 {
			fmt.Printf("%-8s  p99 pinned/unpinned with the hog: %.2fx (<1: pinning helps)\n", k, p/h)
		}
	}
	if v, l := p99["velocity/pinned"], p99["linux/pinned"]; v > 0 && l > 0 {
		fmt.Printf("ratio     pinned p99 linux/velocity %.2fx (>1: velocity lower); unpinned-with-hog p99 linux/velocity %.2fx\n",
			l/v, p99["linux/hog"]/p99["velocity/hog"])
	}
}

// --- Helpers.

func nsf(m map[string]string, k string) float64 {
	v, _ := strconv.ParseFloat(m[k], 64)
	return v
}

func medianOf(rs []result, name, key string) float64 {
	var v []float64
	for _, r := range rs {
		for _, m := range r.get(name) {
			v = append(v, nsf(m, key))
		}
	}
	return medianF(v)
}

func rawMS(rs []result, name string) string {
	var v []float64
	for _, r := range rs {
		for _, m := range r.get(name) {
			v = append(v, nsf(m, "ns")/1e6)
		}
	}
	return joinF(v, "%.0f")
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func scale(v []float64, f float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * f
	}
	return out
}

func joinF(v []float64, format string) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf(format, x))
	}
	return strings.Join(s, " ")
}

func step(s string) { fmt.Printf("-- %s\n", s) }

func hostCPUs() int {
	n := 0
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "processor") {
			n++
		}
	}
	return n
}
