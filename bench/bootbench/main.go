// Command bootbench is make bench: it measures how long Velocity takes from
// QEMU's start to the first line of main, side by side with a Linux guest
// (Debian's kernel) running the same Go program as /init, on the same QEMU
// binary, accelerator, CPU model, CPU count and memory size.
//
// The guest program is images/bootbench. It is built twice from the same
// source: once as a Velocity kernel ELF (booted on the fast path, -kernel
// BOOT_ND.BIN -initrd kernel.elf) and once as a plain static linux/amd64
// binary, the /init of a gzip'd newc initramfs made with cpio. The time
// measured for each boot is the wall time from starting the QEMU process to
// the marker line appearing on the serial console. Boots alternate between
// the two guests (V L, L V, ...) after one discarded warm-up boot each, so
// drift in host load hits both alike; every raw figure is printed.
//
// It also reports Velocity's image size and the physical memory in use after
// boot (images/meminfo, which calls kernel.ReadInfo; the same program as a
// Linux /init reads /proc/meminfo, for comparison).
//
// Run it from the repository root (scripts/bench.sh does). The Linux kernel
// is fetched once with apt-get download into the cache directory; without it
// the Velocity figures are still printed, with the reason.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	benchguest "github.com/velocityos/velocity/bench/guest"
	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
)

// marker must match images/bootbench.Marker.
const marker = "BOOTBENCH main"

type options struct {
	runs        int
	accel       string
	binary      string
	mem         string
	smp         int
	cache       string
	linuxCache  string
	target      float64
	timeout     time.Duration
	linuxAppend string
	iso         bool
}

func main() {
	var o options
	flag.IntVar(&o.runs, "n", 5, "timed boots per guest (at least 5 for the report)")
	flag.StringVar(&o.accel, "accel", "auto", "accelerator: auto (honours $"+qemu.AccelEnv+"), tcg or kvm")
	flag.StringVar(&o.binary, "qemu", qemu.DefaultBinary, "QEMU system emulator used for both guests")
	flag.StringVar(&o.mem, "m", "512M", "guest memory for both guests")
	flag.IntVar(&o.smp, "smp", 1, "guest CPUs for both guests")
	flag.StringVar(&o.cache, "cache", filepath.Join("build", "bench"), "directory for the built images and initramfs")
	flag.StringVar(&o.linuxCache, "linux-cache", "", "directory for Debian's kernel (default: velocity's cache dir + /bench/linux, kept across make clean)")
	flag.Float64Var(&o.target, "target", 20, "target ratio Linux/Velocity")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "limit for one boot")
	flag.StringVar(&o.linuxAppend, "linux-append", "console=ttyS0 quiet panic=-1", "Linux kernel command line")
	flag.BoolVar(&o.iso, "iso", true, "also build the ISO to report its size (needs grub-mkrescue)")
	flag.Parse()
	if err := bench(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// guest is one bootable configuration.
type guest struct {
	name   string
	args   []string // QEMU arguments
	status int      // QEMU exit status of a clean run
}

// boot is one timed boot.
type boot struct {
	marker  time.Duration // QEMU start to the marker line on serial
	cpu     time.Duration // CPU time QEMU had used (all threads) when the marker appeared; -1 if unknown
	total   time.Duration // QEMU start to QEMU exit
	serial  string
	kready  string // Velocity's own "kernel ready" figure, if printed
	linuxTS string // Linux's printk time of the last kernel message, if any
}

func bench(o options) error {
	if o.runs < 1 {
		return fmt.Errorf("-n %d: need at least one run", o.runs)
	}
	if err := benchguest.PrepareDirs(&o.linuxCache, o.cache); err != nil {
		return err
	}
	ctx := context.Background()
	qemuPath, err := exec.LookPath(o.binary)
	if err != nil {
		return err
	}
	accel, err := qemu.ResolveAccel(ctx, o.accel, o.binary)
	if err != nil {
		return err
	}
	qver := benchguest.QEMUVersion(o.binary)
	fmt.Printf("== Velocity boot benchmark (issue 2, section 8)\n")
	fmt.Printf("host:   %s, %d runs per guest after 1 discarded warm-up each, interleaved\n", benchguest.HostCPU(), o.runs)
	fmt.Printf("qemu:   %s (%s), accel=%s, -cpu max -smp %d -m %s\n", qemuPath, qver, accel, o.smp, o.mem)

	// --- Build the guests.
	step("building images/bootbench and images/meminfo as Velocity kernels and as static Linux binaries")
	stub, err := build.Stub()
	if err != nil {
		return err
	}
	velELF := filepath.Join(o.cache, "bootbench.elf")
	memELF := filepath.Join(o.cache, "meminfo.elf")
	for pkg, out := range map[string]string{"./images/bootbench": velELF, "./images/meminfo": memELF} {
		if err := build.Build(pkg, out, nil); err != nil {
			return err
		}
	}
	linuxBin := filepath.Join(o.cache, "bootbench.linux")
	linuxMemBin := filepath.Join(o.cache, "meminfo.linux")
	for pkg, out := range map[string]string{"./images/bootbench": linuxBin, "./images/meminfo": linuxMemBin} {
		if err := benchguest.GoBuildStatic(pkg, out); err != nil {
			return err
		}
	}
	var isoPath, isoErr = "", error(nil)
	if o.iso {
		isoPath = filepath.Join(o.cache, "bootbench.iso")
		if isoErr = build.MakeISO(build.ISOConfig{Kernel: velELF, Stub: stub, Out: isoPath}); isoErr != nil {
			isoPath = ""
		}
	}

	// --- The Linux guest.
	step("preparing the Linux guest (Debian kernel via apt-get download, initramfs via cpio)")
	vmlinuz, kver, linuxErr := benchguest.DebianKernel(o.linuxCache)
	var initrd, memInitrd string
	if linuxErr == nil {
		initrd = filepath.Join(o.cache, "initramfs.cpio.gz")
		memInitrd = filepath.Join(o.cache, "initramfs-meminfo.cpio.gz")
		if linuxErr = benchguest.MakeInitramfs(linuxBin, initrd); linuxErr == nil {
			linuxErr = benchguest.MakeInitramfs(linuxMemBin, memInitrd)
		}
	}

	// --- QEMU command lines: both from the harness's own Config.Args, so
	// the machine (accelerator, CPU model, memory, devices, -no-reboot,
	// isa-debug-exit) is the same; only what is booted differs.
	velCfg := qemu.Config{Kernel: velELF, Stub: stub, SMP: o.smp, Mem: o.mem, Binary: o.binary}
	velArgs, err := velCfg.Args(qemu.KindKernelELF, accel, "")
	if err != nil {
		return err
	}
	vel := guest{name: "velocity", args: velArgs, status: 1} // guest exit code 0 through isa-debug-exit
	memCfg := velCfg
	memCfg.Kernel = memELF
	memArgs, _ := memCfg.Args(qemu.KindKernelELF, accel, "")

	// The floor: no kernel at all, just QEMU, SeaBIOS and QEMU's multiboot
	// loader running a 4 KiB image that prints the marker and exits. No
	// kernel booted this way can beat it; it shows what part of the
	// Velocity figure is the machine rather than the kernel.
	img, err := qemu.ProbeImage(marker+"\n", 0)
	if err != nil {
		return err
	}
	floorImg := filepath.Join(o.cache, "floor.bin")
	if err := os.WriteFile(floorImg, img, 0o644); err != nil {
		return err
	}
	floorCfg := qemu.Config{Kernel: floorImg, SMP: o.smp, Mem: o.mem, Binary: o.binary}
	floorArgs, err := floorCfg.Args(qemu.KindMultiboot, accel, "")
	if err != nil {
		return err
	}
	floor := guest{name: "floor", args: floorArgs, status: 1}

	var lin, linMem guest
	if linuxErr == nil {
		lc := qemu.Config{Kernel: vmlinuz, SMP: o.smp, Mem: o.mem, Append: o.linuxAppend, Binary: o.binary,
			Extra: []string{"-initrd", initrd}}
		largs, err := lc.Args(qemu.KindMultiboot, accel, "") // plain -kernel/-append
		if err != nil {
			return err
		}
		lin = guest{name: "linux", args: largs, status: 0} // ACPI power-off
		lc.Extra = []string{"-initrd", memInitrd}
		margs, _ := lc.Args(qemu.KindMultiboot, accel, "")
		linMem = guest{name: "linux-meminfo", args: margs, status: 0}
	}
	fmt.Printf("velocity: %s\n", benchguest.ShellLine(o.binary, velArgs))
	if linuxErr == nil {
		fmt.Printf("linux:    %s\n", benchguest.ShellLine(o.binary, lin.args))
	}

	// --- Timed boots.
	step(fmt.Sprintf("booting (marker %q; time = QEMU process start -> marker line on serial)", marker))
	var vb, lb, fb []boot
	order := []*guest{&vel, &floor}
	if linuxErr == nil {
		order = append(order, &lin)
	}
	for i := -1; i < o.runs; i++ { // i == -1 is the warm-up
		seq := slices.Clone(order)
		if i%2 != 0 { // alternate which guest goes first
			slices.Reverse(seq)
		}
		for _, g := range seq {
			b, err := run(ctx, o, *g, true)
			if err != nil && g.name == "linux" {
				linuxErr = fmt.Errorf("linux boot: %w", err)
				order = order[:2]
				continue
			}
			if err != nil {
				return err
			}
			label := fmt.Sprintf("run %d", i+1)
			if i < 0 {
				label = "warm-up"
			}
			extra := ""
			if b.kready != "" {
				extra = "  (kernel ready " + b.kready + " ms after power-on)"
			}
			if b.linuxTS != "" {
				extra = "  (last printk at " + b.linuxTS + " s guest time)"
			}
			fmt.Printf("  %-7s %-8s marker %9.1f ms   qemu exit %9.1f ms   qemu cpu %8.0f ms%s\n", label, g.name, ms(b.marker), ms(b.total), ms(b.cpu), extra)
			if i < 0 {
				continue
			}
			switch g.name {
			case "velocity":
				vb = append(vb, b)
			case "floor":
				fb = append(fb, b)
			default:
				lb = append(lb, b)
			}
		}
	}

	// --- Memory after boot.
	step("memory in use after boot (images/meminfo)")
	velMem, velMemErr := meminfo(ctx, o, guest{name: "velocity-meminfo", args: memArgs, status: 1})
	var linMemLine string
	var linMemErr error = linuxErr
	if linuxErr == nil {
		linMemLine, linMemErr = meminfo(ctx, o, linMem)
	}

	// --- Report.
	fmt.Printf("\n== Results (accel=%s, %d runs each, same QEMU, same run)\n", accel, o.runs)
	if o.runs < 5 {
		fmt.Printf("warning   fewer than 5 runs: not a valid figure for the issue's target\n")
	}
	vm := median(markers(vb))
	fmt.Printf("velocity  raw ms: %s\n", joinMS(markers(vb)))
	fmt.Printf("velocity  median QEMU start -> main: %8.1f ms   (QEMU exit: %.1f ms)\n", ms(vm), ms(median(totals(vb))))
	fm := median(markers(fb))
	fmt.Printf("floor     raw ms: %s\n", joinMS(markers(fb)))
	fmt.Printf("floor     median QEMU start -> marker with no kernel (QEMU + SeaBIOS + multiboot load): %.1f ms; Velocity above it: %.1f ms\n", ms(fm), ms(vm-fm))
	if linuxErr != nil {
		fmt.Printf("linux     not measured: %v\n", linuxErr)
		fmt.Printf("ratio     n/a (no Linux figure), target >= %g: MISS (not measured)\n", o.target)
	} else {
		lm := median(markers(lb))
		fmt.Printf("linux     raw ms: %s\n", joinMS(markers(lb)))
		fmt.Printf("linux     median QEMU start -> main: %8.1f ms   (QEMU exit: %.1f ms)  [Debian %s]\n", ms(lm), ms(median(totals(lb))), kver)
		ratio := float64(lm) / float64(vm)
		verdict := "MISS"
		if ratio >= o.target {
			verdict = "PASS"
		}
		fmt.Printf("ratio     linux/velocity = %.1fx (ratio of the medians); per-run pairs: %s; median of pairs %.1fx\n", ratio, pairRatios(lb, vb), medianRatio(lb, vb))
		if vc, lc := median(cpus(vb)), median(cpus(lb)); vc > 0 && lc > 0 {
			fmt.Printf("cpu time  QEMU CPU time to the marker (less sensitive to host load, 10 ms ticks): velocity %.0f ms, linux %.0f ms, ratio %.1fx\n", ms(vc), ms(lc), float64(lc)/float64(vc))
		}
		fmt.Printf("target    >= %gx (Velocity <= 1/%g of Linux): %s\n", o.target, o.target, verdict)
	}
	fmt.Printf("\nimage     kernel ELF %s: %d bytes (%.2f MiB)\n", velELF, size(velELF), mib(size(velELF)))
	if isoPath != "" {
		fmt.Printf("image     ISO %s: %d bytes (%.2f MiB)\n", isoPath, size(isoPath), mib(size(isoPath)))
	} else if isoErr != nil {
		fmt.Printf("image     ISO not built: %v\n", firstLine(isoErr.Error()))
	}
	fmt.Printf("image     boot stub %s: %d bytes\n", filepath.Base(stub), size(stub))
	if linuxErr == nil {
		fmt.Printf("linux     vmlinuz %d bytes + initramfs %d bytes (static /init %d bytes)\n", size(vmlinuz), size(initrd), size(linuxBin))
	}
	if velMemErr != nil {
		fmt.Printf("memory    velocity: %v\n", velMemErr)
	} else {
		printMem("velocity", velMem, o.mem)
	}
	if linMemErr != nil {
		fmt.Printf("memory    linux: not measured: %v\n", linMemErr)
	} else {
		printMem("linux", linMemLine, o.mem)
	}
	return nil
}

// run boots g once and times the marker line.
func run(ctx context.Context, o options, g guest, wantMarker bool) (boot, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.binary, g.args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pr, pw, err := os.Pipe()
	if err != nil {
		return boot{}, err
	}
	cmd.Stdout = pw
	cmd.WaitDelay = 2 * time.Second

	var b boot
	var serial bytes.Buffer
	found := make(chan struct{})
	readDone := make(chan struct{})
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return boot{}, err
	}
	pw.Close()
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		seen := false
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				serial.Write(buf[:n])
				// The whole line: Linux's tty turns "\n" into "\r\n".
				if !seen && (bytes.Contains(serial.Bytes(), []byte(marker+"\n")) || bytes.Contains(serial.Bytes(), []byte(marker+"\r\n"))) {
					b.marker = time.Since(start)
					b.cpu = cpuTime(cmd.Process.Pid)
					seen = true
					close(found)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	werr := cmd.Wait()
	b.total = time.Since(start)
	<-readDone
	pr.Close()
	b.serial = serial.String()
	tail := qemu.LastLines(b.serial, 15)
	if ctx.Err() != nil {
		return b, fmt.Errorf("%s: no exit within %v; serial tail:\n%s", g.name, o.timeout, tail)
	}
	select {
	case <-found:
	default:
		if wantMarker {
			return b, fmt.Errorf("%s: marker %q never appeared (%v); serial tail:\n%s%s", g.name, marker, werr, tail, stderr.String())
		}
	}
	status := 0
	if cmd.ProcessState != nil {
		status = cmd.ProcessState.ExitCode()
	}
	if status != g.status {
		return b, fmt.Errorf("%s: QEMU exit status %d, want %d; serial tail:\n%s%s", g.name, status, g.status, tail, stderr.String())
	}
	if m := kreadyRE.FindStringSubmatch(b.serial); m != nil {
		b.kready = m[1]
	}
	if m := printkRE.FindAllStringSubmatch(b.serial, -1); len(m) > 0 {
		b.linuxTS = m[len(m)-1][1]
	}
	return b, nil
}

var (
	kreadyRE  = regexp.MustCompile(`kernel ready ([0-9.]+) ms after power-on`)
	printkRE  = regexp.MustCompile(`\[\s*([0-9]+\.[0-9]+)\]`)
	meminfoRE = regexp.MustCompile(`MEMINFO [^\r\n]*`)
)

// meminfo boots a meminfo guest and returns its MEMINFO line.
func meminfo(ctx context.Context, o options, g guest) (string, error) {
	b, err := run(ctx, o, g, false)
	if err != nil {
		return "", err
	}
	line := meminfoRE.FindString(b.serial)
	if line == "" {
		return "", fmt.Errorf("%s printed no MEMINFO line; serial tail:\n%s", g.name, qemu.LastLines(b.serial, 10))
	}
	return line, nil
}

func printMem(name, line, mem string) {
	kv := map[string]uint64{}
	for _, f := range strings.Fields(line)[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				kv[k] = n
			}
		}
	}
	if _, ok := kv["used"]; !ok {
		fmt.Printf("memory    %s: %s\n", name, line)
		return
	}
	switch name {
	case "velocity":
		fmt.Printf("memory    velocity after boot (kernel.ReadInfo MemTotal-MemFree): %d bytes (%.2f MiB) of %.1f MiB managed, -m %s\n",
			kv["used"], mib(int64(kv["used"])), mib(int64(kv["total"])), mem)
		fmt.Printf("memory    velocity + loaded kernel image %d bytes (not in MemTotal) = %.2f MiB; demand-zero pages resident %d bytes\n",
			kv["image"], mib(int64(kv["used"]+kv["image"])), kv["resident"])
	default:
		fmt.Printf("memory    linux after boot (/proc/meminfo MemTotal-MemFree, same Go program as /init): %d bytes (%.2f MiB) of %.1f MiB, -m %s\n",
			kv["used"], mib(int64(kv["used"])), mib(int64(kv["total"])), mem)
	}
}

func step(s string) { fmt.Printf("-- %s\n", s) }

func markers(bs []boot) []time.Duration {
	var d []time.Duration
	for _, b := range bs {
		d = append(d, b.marker)
	}
	return d
}

func totals(bs []boot) []time.Duration {
	var d []time.Duration
	for _, b := range bs {
		d = append(d, b.total)
	}
	return d
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func cpus(bs []boot) []time.Duration {
	var d []time.Duration
	for _, b := range bs {
		if b.cpu > 0 {
			d = append(d, b.cpu)
		}
	}
	return d
}

// cpuTime is the user+system time of process pid and all its threads, from
// /proc/PID/stat (clock ticks of 10 ms); -1 if it cannot be read.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	_, rest, ok := strings.Cut(string(data), ") ") // the command name may hold spaces
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat(5)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func medianRatio(lb, vb []boot) float64 {
	var r []float64
	for i := range min(len(lb), len(vb)) {
		r = append(r, float64(lb[i].marker)/float64(vb[i].marker))
	}
	if len(r) == 0 {
		return 0
	}
	slices.Sort(r)
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

func pairRatios(lb, vb []boot) string {
	var s []string
	for i := range min(len(lb), len(vb)) {
		s = append(s, fmt.Sprintf("%.1f", float64(lb[i].marker)/float64(vb[i].marker)))
	}
	return strings.Join(s, " ")
}

func joinMS(d []time.Duration) string {
	var s []string
	for _, x := range d {
		s = append(s, fmt.Sprintf("%.1f", ms(x)))
	}
	return strings.Join(s, " ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(n int64) float64        { return float64(n) / (1 << 20) }

func size(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return st.Size()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
