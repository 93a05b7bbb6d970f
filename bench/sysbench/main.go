// Command sysbench is the system-call section of make bench (issue 13):
// it boots bench/sysbench/prog as a Velocity kernel and as the /init of a
// Linux guest (Debian's kernel, fetched and packed by bench/guest as
// bench/smpbench does), on the same QEMU binary, accelerator, CPU model and
// memory, and compares what the program measures with each guest's own
// clock: getpid, clock_gettime, futex wake with no waiter, futex ping-pong
// across CPUs, mmap+touch+munmap of 4 KiB and 2 MiB, a pipe round trip and
// a page-fault storm. Both guests run with -smp 2 (the ping-pong needs two
// CPUs); the ratio is Linux's time over Velocity's, so >= 1.0 means
// Velocity is at least as fast (the target). Velocity is also
// booted with -smp 1 and -smp 4, and its lock contention counters for each
// run are printed.
//
// Every figure is the median of the program's repetitions over all boots;
// every raw figure is printed. Under TCG the runner asks for
// multi-threaded TCG (-accel tcg,thread=multi), as smpbench does.
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
	accel, tcgThread, binary, mem, cache, linuxCache, linuxAppend string
	runs, reps, scale                                             int
	timeout                                                       time.Duration
	smps                                                          string
}

func main() {
	var o options
	flag.StringVar(&o.accel, "accel", "auto", "accelerator: auto (honours $"+qemu.AccelEnv+"), tcg or kvm")
	flag.StringVar(&o.tcgThread, "tcg-thread", "multi", "TCG threading when the accelerator is tcg: multi, single, or '' for QEMU's default")
	flag.StringVar(&o.binary, "qemu", qemu.DefaultBinary, "QEMU system emulator used for both guests")
	flag.StringVar(&o.mem, "m", "512M", "guest memory for both guests")
	flag.StringVar(&o.cache, "cache", filepath.Join("build", "bench"), "directory for the built images and initramfs")
	flag.StringVar(&o.linuxCache, "linux-cache", "", "directory for Debian's kernel (default: velocity's cache dir + /bench/linux)")
	flag.StringVar(&o.linuxAppend, "linux-append", "console=ttyS0 quiet panic=-1", "Linux kernel command line (the SYSBENCH_* variables are added)")
	flag.IntVar(&o.runs, "n", 1, "boots per guest and CPU count")
	flag.IntVar(&o.reps, "reps", 5, "repetitions of each benchmark inside one boot")
	flag.IntVar(&o.scale, "scale", 1, "multiplies every benchmark's iteration count")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "limit for one boot")
	flag.StringVar(&o.smps, "smp", "1,2,4", "CPU counts Velocity boots with for the contention counters (2 is always booted: the comparison runs there)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "sysbench:", err)
		os.Exit(1)
	}
}

// boot is one guest configuration and, after it ran, what it printed.
type boot struct {
	kernel string // velocity or linux
	smp    int
	args   []string
	status int // QEMU exit status of a clean run
	bench  map[string][]float64
	locks  []map[string]string
}

const compareSMP = 2

var benches = []string{"getpid", "clock_gettime", "futex_wake_nowaiter", "futex_pingpong",
	"mmap_touch_munmap_4k", "mmap_touch_munmap_2m", "pipe_roundtrip", "fault_storm", "epoll_wait_1000"}

func run(o options) error {
	if err := benchguest.PrepareDirs(&o.linuxCache, o.cache); err != nil {
		return err
	}
	ctx := context.Background()
	accel, accelArg, err := benchguest.AccelArg(ctx, o.accel, o.tcgThread, o.binary)
	if err != nil {
		return err
	}
	fmt.Printf("\n== Velocity system-call microbenchmarks (issue 13)\n")
	fmt.Printf("host:   %s\n", benchguest.HostCPU())
	fmt.Printf("qemu:   %s, -accel %s -cpu max -m %s; comparison at -smp %d, %d boot(s) per guest, %d repetitions per boot\n",
		benchguest.QEMUVersion(o.binary), accelArg, o.mem, compareSMP, o.runs, o.reps)

	fmt.Println("-- building bench/sysbench/prog as a Velocity kernel and as a static Linux /init")
	stub, velELF, linuxBin, err := benchguest.BuildBoth("./bench/sysbench/prog", o.cache, "sysbench")
	if err != nil {
		return err
	}
	fmt.Println("-- preparing the Linux guest (Debian kernel via apt-get download, initramfs via cpio)")
	vmlinuz, kver, linuxErr := benchguest.DebianKernel(o.linuxCache)
	initrd := filepath.Join(o.cache, "initramfs-sysbench.cpio.gz")
	if linuxErr == nil {
		linuxErr = benchguest.MakeInitramfs(linuxBin, initrd)
	}
	env := []string{fmt.Sprintf("SYSBENCH_REPS=%d", o.reps), fmt.Sprintf("SYSBENCH_SCALE=%d", o.scale)}
	velAppend, err := build.KernelCmdline(env, []string{"quiet"}, nil)
	if err != nil {
		return err
	}

	smps := []int{compareSMP}
	for _, f := range strings.Split(o.smps, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 && !slices.Contains(smps, n) {
			smps = append(smps, n)
		}
	}
	slices.Sort(smps)
	var boots []*boot
	for _, smp := range smps {
		vc := qemu.Config{Kernel: velELF, Stub: stub, SMP: smp, Mem: o.mem, Binary: o.binary, Append: velAppend}
		va, err := vc.Args(qemu.KindKernelELF, accel, "")
		if err != nil {
			return err
		}
		boots = append(boots, &boot{kernel: "velocity", smp: smp, args: benchguest.WithAccel(va, accelArg), status: 1})
		if smp == compareSMP && linuxErr == nil {
			lc := qemu.Config{Kernel: vmlinuz, SMP: smp, Mem: o.mem, Binary: o.binary,
				Append: o.linuxAppend + " " + strings.Join(env, " "), Extra: []string{"-initrd", initrd}}
			la, err := lc.Args(qemu.KindMultiboot, accel, "")
			if err != nil {
				return err
			}
			boots = append(boots, &boot{kernel: "linux", smp: smp, args: benchguest.WithAccel(la, accelArg), status: 0})
		}
	}
	for _, b := range boots {
		if b.smp == compareSMP {
			fmt.Printf("%-8s %s\n", b.kernel+":", benchguest.ShellLine(o.binary, b.args))
		}
	}

	fmt.Println("-- booting")
	for i := 0; i < o.runs; i++ {
		seq := slices.Clone(boots)
		if i%2 == 1 {
			slices.Reverse(seq)
		}
		for _, b := range seq {
			t := time.Now()
			if err := b.run(ctx, o); err != nil {
				if b.kernel == "linux" {
					linuxErr = err
					fmt.Printf("  boot %d %s -smp %d FAILED: %v\n", i+1, b.kernel, b.smp, err)
					continue
				}
				return err
			}
			fmt.Printf("  boot %d %-8s -smp %d: %v\n", i+1, b.kernel, b.smp, time.Since(t).Round(time.Millisecond))
		}
	}
	report(boots, linuxErr, kver, accelArg)
	return nil
}

// run boots the guest once and adds what it printed to b.
func (b *boot) run(ctx context.Context, o options) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.binary, b.args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pr, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	if b.bench == nil {
		b.bench = map[string][]float64{}
	}
	var serial strings.Builder
	done := false
	var locks []map[string]string
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		serial.WriteString(line + "\n")
		i := strings.Index(line, "SYSBENCH ")
		if i < 0 {
			continue
		}
		kv := fields(line[i+len("SYSBENCH "):])
		switch kv[""] {
		case "bench":
			if v, err := strconv.ParseFloat(kv["ns"], 64); err == nil {
				b.bench[kv["name"]] = append(b.bench[kv["name"]], v)
			}
		case "lock":
			locks = append(locks, kv)
		case "done":
			done = true
		case "error":
			return fmt.Errorf("%s -smp %d: %s", b.kernel, b.smp, line)
		}
	}
	werr := cmd.Wait()
	tail := qemu.LastLines(serial.String(), 20)
	if ctx.Err() != nil {
		return fmt.Errorf("%s -smp %d: no exit within %v; serial tail:\n%s", b.kernel, b.smp, o.timeout, tail)
	}
	if !done {
		return fmt.Errorf("%s -smp %d: the program did not finish (%v); serial tail:\n%s%s", b.kernel, b.smp, werr, tail, stderr.String())
	}
	if st := cmd.ProcessState.ExitCode(); st != b.status {
		return fmt.Errorf("%s -smp %d: QEMU exit status %d, want %d; serial tail:\n%s%s", b.kernel, b.smp, st, b.status, tail, stderr.String())
	}
	b.locks = locks // the last boot's counters
	return nil
}

// fields splits `word k=v k="quoted v" ...`; the first word is under "".
func fields(s string) map[string]string {
	kv := map[string]string{}
	first := true
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		end := strings.IndexByte(s, ' ')
		if eq := strings.IndexByte(s, '='); eq >= 0 && (end < 0 || eq < end) && eq+1 < len(s) && s[eq+1] == '"' {
			if v, err := strconv.QuotedPrefix(s[eq+1:]); err == nil {
				uq, _ := strconv.Unquote(v)
				kv[s[:eq]] = uq
				s = s[eq+1+len(v):]
				continue
			}
		}
		w := s
		if end >= 0 {
			w, s = s[:end], s[end:]
		} else {
			s = ""
		}
		if k, v, ok := strings.Cut(w, "="); ok {
			kv[k] = v
		} else if first {
			kv[""] = w
		}
		first = false
	}
	return kv
}

func report(boots []*boot, linuxErr error, kver, accel string) {
	fmt.Printf("\n== system-call microbenchmarks (accel %s, -smp %d, same QEMU, same run; ns per operation measured inside each guest, median of all repetitions)\n", accel, compareSMP)
	if linuxErr != nil {
		fmt.Printf("linux not measured: %v\n", linuxErr)
	} else {
		fmt.Printf("linux: Debian %s, the same static binary as /init\n", kver)
	}
	var vel, lin *boot
	for _, b := range boots {
		if b.smp == compareSMP && b.kernel == "velocity" {
			vel = b
		}
		if b.smp == compareSMP && b.kernel == "linux" && linuxErr == nil {
			lin = b
		}
	}
	fmt.Printf("%-22s %14s %14s %16s  %s\n", "benchmark", "velocity ns", "linux ns", "linux/velocity", "target >= 1.0")
	for _, name := range benches {
		v := median(vel.bench[name])
		l := 0.0
		if lin != nil {
			l = median(lin.bench[name])
		}
		ratio, verdict := "-", "not measured"
		if v > 0 && l > 0 {
			ratio = fmt.Sprintf("%.2fx", l/v)
			verdict = "MISS"
			if l/v >= 1.0 {
				verdict = "PASS"
			}
		}
		fmt.Printf("%-22s %14s %14s %16s  %s\n", name, num(v), num(l), ratio, verdict)
	}
	fmt.Println("raw (ns per op, every repetition):")
	for _, name := range benches {
		for _, b := range []*boot{vel, lin} {
			if b != nil && len(b.bench[name]) > 0 {
				fmt.Printf("  %-22s %-8s %s\n", name, b.kernel, joinF(b.bench[name]))
			}
		}
	}

	fmt.Printf("\n-- Velocity's lock counters for the whole program (kernel.Locks, before and after), per CPU count\n")
	fmt.Printf("%-6s %-16s %9s %12s %11s %9s %12s\n", "smp", "lock", "instances", "acquired", "contended", "percent", "waited")
	for _, b := range boots {
		if b.kernel != "velocity" {
			continue
		}
		for _, l := range b.locks {
			pct, _ := strconv.ParseFloat(l["pct"], 64)
			w, _ := strconv.ParseFloat(l["wait_ns"], 64)
			fmt.Printf("%-6d %-16s %9s %12s %11s %8.3f%% %12v\n", b.smp, l["name"], l["instances"], l["acquires"], l["contended"], pct,
				time.Duration(w).Round(time.Microsecond))
		}
	}
}

func num(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func median(v []float64) float64 {
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

func joinF(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, strconv.FormatFloat(x, 'f', 0, 64))
	}
	return strings.Join(s, " ")
}
