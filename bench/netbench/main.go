// Command netbench is make bench's network comparison (issue 10): the same
// Go net/http server (images/netbench) runs as a Velocity kernel and as the
// /init of a Linux guest (Debian's kernel, its virtio-net driver loaded
// from the initramfs), on the same QEMU, accelerator, CPUs, memory and
// virtio-net card behind QEMU user networking (restrict=on, a forward on
// 127.0.0.1). Debian's wrk drives both through the forward: requests/s
// and latency p50/p99 for a 100-byte and a 64 KiB page, with 1 and 16
// connections, and for the 100-byte page with 16 connections that each
// make one request ("Connection: close": accept, Go's socket options and
// close on every request); then bulk TCP throughput (a 64 MiB download) and the same
// request mix over each guest's own loopback. Every figure is printed
// for both systems with the ratio Velocity/Linux (for latency,
// Linux/Velocity, so above 1 is better for Velocity either way). Each
// row also gives QEMU's host CPU time per request, split between its vCPU
// threads (user and system time, and how often they slept: a halted guest
// CPU) and its other threads (the main loop, which runs the card), so a
// gap can be placed in the guest's own instructions or in the device
// model. For Velocity it adds the kernel's own counts per request, and
// the share of the run its card's receive goroutine spent waiting for
// the card: near 0% the receive path, one goroutine, set the pace.
//
// With -net tap the card's back end is a tap device instead, in a network
// namespace that netbench creates and removes itself (root only): QEMU
// runs in that namespace with virtio-net headers on, so it offers both
// guests checksum and segmentation offloads, and wrk and curl reach the
// guest at 10.0.2.15 from inside it. Nothing leaves the namespace.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
	benchguest "github.com/velocityos/velocity/bench/guest"
	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
)

type options struct {
	accel, binary, mem, cache, linuxCache string
	net                                   string // "user" or "tap"
	netns                                 string // with -net tap: the namespace made for the run
	smp                                   int
	duration                              time.Duration
	bulkMB, loopN, rounds                 int
	// against: kernel options for a second Velocity guest that takes the
	// Linux guest's place, to measure what the options change.
	against string
	// againstFlags: go build flags for that second guest's kernel (e.g.
	// -pgo=off), to measure what a build choice changes.
	againstFlags string
	// againstPGO: a kernel profile the second guest's kernel is built
	// with in place of internal/build/kernel.pgo, to measure a refreshed
	// profile against the one it would replace.
	againstPGO string
	// rows: which measurements run (a regular expression matched against
	// a row's name, e.g. "64 KiB c=16"); perfDir: where perf record
	// writes QEMU's CPU samples taken during each wrk run, if set.
	rows    *regexp.Regexp
	perfDir string
	// profile: write the Velocity guest's CPU profile, taken over every
	// measurement, to this file instead of comparing (for go tool pprof,
	// or a build's -pgo); kernelPGO: also write the part of it that
	// guides the kernel's compilation (build.KernelProfile) to this file.
	profile, kernelPGO string
	// profileKind: go (net/http/pprof's, 100 Hz) or kernel
	// (kernel/profilehttp's, 1000 Hz on every CPU).
	profileKind string
	// pairs: with more than 0, both guests run at once and each wrk row
	// is measured in this many pairs of slice-long runs (interleave.go).
	pairs int
	slice time.Duration
	warm  time.Duration // with -pairs, an unmeasured run before each measured one
	// otherFirst: under -pairs, boot the other guest (Linux or the
	// variant) first, into the first network namespace: the slot booted
	// second measured about 3% faster in an A/A run (interleave.go).
	otherFirst bool
	// bothOrders: under -pairs, run every row's pairs twice, first with
	// Velocity booted first, then with the other guest booted first, and
	// give the result with the boot-order bias taken out (interleave.go).
	bothOrders bool
	// netns2: under -pairs with -net tap, the second guest's namespace.
	netns2 string
	// virtioTrace: a directory for QEMU's trace of the card's
	// notifications and interrupts (virtiotrace.go), if set.
	virtioTrace string
	// freshNS: with -net tap, each guest's measurement in each round gets
	// a namespace of its own, so that no run meets the host's sockets
	// another left (wrk's TIME_WAIT ports).
	freshNS bool
	// env: KEY=VALUE words for the program's environment in both
	// guests (each kernel's command line: Velocity's sets them, Linux
	// hands its unknown KEY=VALUE words to /init as its environment).
	env []string
}

func main() {
	var o options
	flag.StringVar(&o.accel, "accel", "tcg", "accelerator for both guests: tcg or kvm")
	flag.StringVar(&o.binary, "qemu", qemu.DefaultBinary, "QEMU system emulator used for both guests")
	flag.StringVar(&o.mem, "m", "512M", "guest memory for both guests")
	flag.IntVar(&o.smp, "smp", 2, "CPUs of both guests")
	flag.StringVar(&o.cache, "cache", filepath.Join("build", "bench"), "directory for the built images and initramfs")
	flag.StringVar(&o.linuxCache, "linux-cache", "", "directory for Debian's kernel (default: velocity's cache dir + /bench/linux)")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "duration of each wrk run")
	flag.IntVar(&o.bulkMB, "bulk-mb", 64, "MiB of the bulk download")
	flag.IntVar(&o.loopN, "loop-n", 2000, "requests of each in-guest loopback run")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds, each measuring both guests (the first of a round alternates); the table gives medians")
	flag.StringVar(&o.against, "against", "", "instead of the Linux guest, measure Velocity booted with these extra kernel options (e.g. spinsleep=0) against Velocity without them")
	flag.StringVar(&o.againstPGO, "against-kernel-pgo", "", "like -against-build, but the second Velocity guest's kernel is built with this kernel profile in place of internal/build/kernel.pgo (VELOCITY_KERNELPGO=FILE), e.g. the committed one against a new make kernel-pgo; combines with -against and -against-build")
	flag.StringVar(&o.againstFlags, "against-build", "", "like -against, but the second Velocity guest's kernel is built with these go build flags (e.g. -pgo=off); combines with -against")
	flag.StringVar(&o.net, "net", "user", "the card's back end: user (QEMU user networking, a forward on 127.0.0.1) or tap (a tap device with offloads, in a network namespace made for the run; needs root)")
	rows := flag.String("rows", "", "only the measurements whose names match this regular expression (e.g. '64 KiB c=16|bulk'); default all")
	env := flag.String("env", "", "KEY=VALUE words (space-separated) for the server program's environment in both guests, such as GOGC=400, so that a setting is compared on equal terms")
	flag.BoolVar(&o.freshNS, "fresh-ns", false, "with -net tap and rounds, give each guest's measurement a network namespace of its own instead of one for the whole run, so that no run meets the TIME_WAIT ports wrk left in another")
	flag.StringVar(&o.virtioTrace, "virtio-trace", "", "log QEMU's virtio_queue_notify and virtio_notify trace events to a file per guest in this directory and print the card's notifications and interrupts per request, the same count for both guests (the logging costs host CPU, so such a run's requests/s do not compare)")
	flag.StringVar(&o.perfDir, "perf", "", "record QEMU's CPU samples with perf during each wrk run, one file per round, guest and row in this directory (for perf report --sort dso,sym)")
	flag.StringVar(&o.profileKind, "profile-kind", "go", "with -profile: go (Go's profiler, 100 Hz, what -kernel-pgo wants) or kernel (the kernel's sampling profiler at 1000 Hz on every CPU, which an idle CPU does not sample: samples per request show where each request's CPU time goes)")
	flag.StringVar(&o.kernelPGO, "kernel-pgo", "", "with -profile, also write the profile's network-stack part, which velocity builds network kernels with, to this file (internal/build/kernel.pgo; make kernel-pgo)")
	flag.StringVar(&o.profile, "profile", "", "instead of comparing, run every measurement once on Velocity alone (with -against or -against-build, on that variant alone) and write the kernel's CPU profile over all of them to this file (for go tool pprof, or go build -pgo)")
	flag.IntVar(&o.pairs, "pairs", 0, "instead of rounds, boot both guests at once and measure each wrk row in this many pairs of short runs, one on each guest, the order alternating; ratios are taken within a pair (see interleave.go); bulk and loopback rows are left out")
	flag.DurationVar(&o.slice, "slice", 5*time.Second, "with -pairs, the length of each measured wrk run (whole seconds)")
	flag.DurationVar(&o.warm, "warm", 10*time.Second, "with -pairs, an unmeasured wrk run of this length (whole seconds, 0 for none) before each measured one, on the same guest: a guest that idled for seconds serves its first seconds of load differently (interleave.go)")
	flag.BoolVar(&o.bothOrders, "both-orders", false, "with -pairs, measure each row in -pairs pairs with Velocity booted first and -pairs more with the other guest booted first, and print, besides each order's median, the pooled median and the geometric mean of the two orders' medians, which the boot-order bias cancels out of (interleave.go)")
	flag.BoolVar(&o.otherFirst, "other-first", false, "with -pairs, boot the other guest (Linux or the variant) first and Velocity second, each into the other's network namespace, so that a comparison can be run both ways: the guest booted second measured about 3% faster in an A/A run (interleave.go)")
	flag.Parse()
	var err error
	if o.rows, err = regexp.Compile(*rows); err != nil {
		fmt.Fprintln(os.Stderr, "netbench: -rows:", err)
		os.Exit(2)
	}
	if o.env, err = envWords(*env); err != nil {
		fmt.Fprintln(os.Stderr, "netbench: -env:", err)
		os.Exit(2)
	}
	undoOnSignal()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "netbench:", err)
		os.Exit(1)
	}
}

// wrkRow is a measurement wrk makes: conns connections asking for path,
// each request on a new connection with closes ("Connection: close").
type wrkRow struct {
	path   string
	conns  int
	closes bool
}

var wrkRows = []wrkRow{{"/", 1, false}, {"/", 16, false}, {"/64k", 1, false}, {"/64k", 16, false}, {"/", 16, true}}

func (r wrkRow) name() string {
	if r.closes {
		return fmt.Sprintf("100 B c=%d new conns", r.conns)
	}
	return fmt.Sprintf("%s c=%d", map[string]string{"/": "100 B", "/64k": "64 KiB"}[r.path], r.conns)
}

// figures are one guest's results, by row name.
type figures map[string]float64

// modules are Debian's virtio-net driver and what it needs, in load order
// (each after what its depends= names). The initramfs holds them as
// /modules/NN-name.ko, and images/netbench loads them in name order.
var modules = []string{"virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
	"failover", "net_failover", "virtio_net"}

func run(o options) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk not found (scripts/deps.sh installs it): %v", err)
	}
	if err := benchguest.PrepareDirs(&o.linuxCache, o.cache); err != nil {
		return err
	}
	switch {
	case o.profileKind != "go" && o.profileKind != "kernel":
		return fmt.Errorf("-profile-kind %q: want go or kernel", o.profileKind)
	case o.profileKind == "kernel" && o.kernelPGO != "":
		return fmt.Errorf("-kernel-pgo takes Go's profile (-profile-kind go): one made from the kernel's sampler measured no better (docs/net.md)")
	}
	if o.pairs > 0 && (o.profile != "" || o.perfDir != "" || o.virtioTrace != "") {
		return fmt.Errorf("-pairs measures two guests at once; -profile, -perf and -virtio-trace take one guest's figures (leave -pairs out)")
	}
	if o.bothOrders && (o.pairs == 0 || o.otherFirst) {
		return fmt.Errorf("-both-orders runs -pairs in both boot orders: it needs -pairs and sets the order itself (leave -other-first out)")
	}
	if o.otherFirst && o.pairs == 0 {
		return fmt.Errorf("-other-first sets the boot order of -pairs; rounds boot the guests one after the other, alternating which goes first")
	}
	if o.freshNS && (o.net != "tap" || o.pairs > 0) {
		return fmt.Errorf("-fresh-ns gives each round's guest a tap namespace of its own: it needs -net tap and rounds (pairs already give each guest its own)")
	}
	if o.virtioTrace != "" {
		if err := os.MkdirAll(o.virtioTrace, 0o755); err != nil {
			return err
		}
	}
	if o.perfDir != "" {
		if _, err := exec.LookPath("perf"); err != nil {
			return fmt.Errorf("-perf: perf not found (apt-get install linux-perf): %v", err)
		}
		if err := os.MkdirAll(o.perfDir, 0o755); err != nil {
			return err
		}
	}
	fmt.Printf("\n== Network: Velocity against a Linux guest (issue 10)\n")
	fmt.Printf("host:   %s, load average %s\n", benchguest.HostCPU(), benchguest.LoadAvg())
	path := "user networking (restrict=on), a forward on 127.0.0.1"
	switch o.net {
	case "user":
	case "tap":
		ns, cleanup, err := makeTapNamespace("")
		if err != nil {
			return err
		}
		defer cleanup()
		o.netns = ns
		if o.pairs > 0 {
			// The second guest gets a namespace of its own, with the same
			// addresses: the Linux guest's /init hard-codes its own.
			ns2, cleanup2, err := makeTapNamespace("-b")
			if err != nil {
				return err
			}
			defer cleanup2()
			o.netns2 = ns2
		}
		path = fmt.Sprintf("a tap device with virtio-net headers (offloads offered) in network namespace %s, wrk and curl inside it", ns)
	default:
		return fmt.Errorf("-net %q: want user or tap", o.net)
	}
	fmt.Printf("qemu:   %s, -accel %s -cpu max -smp %d -m %s, transitional virtio-net-pci on %s\n",
		benchguest.QEMUVersion(o.binary), o.accel, o.smp, o.mem, path)

	stub, velELF, linuxBin, err := benchguest.BuildBoth("./images/netbench", o.cache, "netbench")
	if err != nil {
		return err
	}
	vmlinuz, kver, err := benchguest.DebianKernel(o.linuxCache)
	if err != nil {
		return err
	}
	mods, err := benchguest.DebianModules(o.linuxCache, modules)
	if err != nil {
		return err
	}
	extra := map[string]string{}
	for i, n := range modules {
		extra[fmt.Sprintf("modules/%02d-%s.ko", i, n)] = mods[n]
	}
	initrd := filepath.Join(o.cache, "initramfs-netbench.cpio.gz")
	if err := benchguest.MakeInitramfsWith(linuxBin, extra, initrd); err != nil {
		return err
	}
	fmt.Printf("linux:  %s as the guest kernel, images/netbench as /init\n", kver)
	variant := o.against != "" || o.againstFlags != "" || o.againstPGO != ""
	variantELF := velELF
	if o.againstFlags != "" || o.againstPGO != "" {
		variantELF = filepath.Join(o.cache, "netbench-variant.elf")
		if err := o.buildVariant(variantELF); err != nil {
			return err
		}
	}

	// This host's speed drifts by tens of percent within minutes, so
	// the guests take turns: rounds alternate which goes first, a ratio
	// is taken within a round, and the table gives medians.
	var rounds []map[string]figures
	// A profile is of one guest, one round: Velocity's, or with -against
	// or -against-build the variant's.
	profiled := "velocity"
	if o.profile != "" {
		o.rounds = 1
		if variant {
			profiled = "variant"
		}
	}
	config := func(sys string) (qemu.Config, qemu.Kind) {
		c := qemu.Config{SMP: o.smp, Mem: o.mem, Binary: o.binary}
		kind := qemu.KindKernelELF
		if sys != "linux" {
			c.Kernel, c.Stub, c.Append = velELF, stub, "quiet"
			if o.netns != "" {
				c.Append += " ip=" + tapGuest + "/24 gw=" + tapHost // no DHCP server on the tap
			}
			if sys == "variant" {
				c.Kernel = variantELF
				if o.against != "" {
					c.Append += " " + o.against
				}
			}
		} else {
			c.Kernel, c.Append, kind = vmlinuz, "console=ttyS0 quiet panic=-1", qemu.KindMultiboot
			c.Extra = []string{"-initrd", initrd}
		}
		if len(o.env) > 0 {
			// Both kernels take KEY=VALUE words anywhere on the line.
			c.Append += " " + strings.Join(o.env, " ")
		}
		return c, kind
	}
	if o.pairs > 0 {
		other := "linux"
		if variant {
			other = "variant"
		}
		if !o.bothOrders {
			_, err := interleave(o, config, other)
			return err
		}
		first, err := interleave(o, config, other)
		if err != nil {
			return err
		}
		o.otherFirst = true
		second, err := interleave(o, config, other)
		if err != nil {
			return err
		}
		printBothOrders(os.Stdout, first, second, other)
		return nil
	}
	for r := 0; r < max(o.rounds, 1); r++ {
		order := []string{"velocity", "linux"}
		if variant {
			order[1] = "variant"
		}
		if o.profile != "" {
			order = []string{profiled}
		}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		fmt.Printf("-- round %d of %d (load average %s)\n", r+1, max(o.rounds, 1), benchguest.LoadAvg())
		results := map[string]figures{}
		for _, sys := range order {
			c, kind := config(sys)
			om := o
			var cleanup func()
			if o.freshNS && o.netns != "" {
				ns, done, err := makeTapNamespace(fmt.Sprintf("-r%d-%s", r+1, sys))
				if err != nil {
					return err
				}
				om.netns, cleanup = ns, done
			}
			f, err := measure(om, fmt.Sprintf("r%d-%s", r+1, sys), sys, c, kind)
			if cleanup != nil {
				cleanup()
			}
			if err != nil {
				return fmt.Errorf("%s: %w", sys, err)
			}
			results[sys] = f
		}
		rounds = append(rounds, results)
	}
	if o.profile != "" {
		what := "Velocity"
		if profiled == "variant" {
			what = "Velocity " + o.variantDesc()
		}
		fmt.Printf("\nwrote %s: the CPU profile of %s over every measurement above\n", o.profile, what)
		if o.profileKind == "kernel" {
			// Per request only when the rows were wrk's alone: the
			// loopback and bulk rows are sampled too.
			requests := 0
			if !o.rows.MatchString("bulk download") && !o.rows.MatchString("loopback 100 B c=1") &&
				!o.rows.MatchString("loopback 100 B c=16") && !o.rows.MatchString("loopback 64 KiB c=16") {
				requests = int(rounds[0][profiled]["wrk requests"])
			}
			if err := printProfileSummary(o.profile, requests); err != nil {
				return err
			}
		}
		if o.kernelPGO != "" {
			if err := writeKernelPGO(o.profile, o.kernelPGO); err != nil {
				return err
			}
			fmt.Printf("wrote %s: its network-stack part, for building network kernels\n", o.kernelPGO)
		}
		return nil
	}
	other, label := "linux", "Linux"
	if variant {
		other, label = "variant", strings.TrimSpace("+"+o.against+" "+o.againstFlags)
		if o.againstPGO != "" {
			label = strings.TrimSpace(label + " pgo=" + filepath.Base(o.againstPGO))
		}
		fmt.Printf("\nthe second column is Velocity %s, in place of the Linux guest\n", o.variantDesc())
	}
	report(os.Stdout, rounds, other, label)
	return nil
}

// lockedLog collects a guest's serial output while measure reads it.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// guest is a booted guest whose server answers.
type guest struct {
	sys    string
	o      options // with the guest's own namespace under -net tap
	cmd    *exec.Cmd
	base   string // the server's URL
	client *http.Client
	serial *lockedLog
	cancel context.CancelFunc
	trace  *virtioTrace // with -virtio-trace
	// withdraw takes kill's registration for an interrupted run back
	// (interrupt.go).
	withdraw func()
}

func (g *guest) get(url string) (string, error) { return g.o.get(g.client, url) }

// kill ends the guest's QEMU.
func (g *guest) kill() {
	if g.withdraw != nil {
		g.withdraw()
	}
	g.cmd.Process.Kill()
	g.cancel()
}

// boot starts guest sys (c, kind) on the card o names and waits until its
// server answers, warmed up by that first request.
func boot(o options, sys string, c qemu.Config, kind qemu.Kind) (_ *guest, err error) {
	nc := qemu.Net{Tap: tapName}
	base := "http://" + tapGuest
	if o.netns == "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		nc = qemu.Net{Forwards: []string{fmt.Sprintf("tcp:%d-:80", port)}}
		base = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	netArgs, err := nc.Args()
	if err != nil {
		return nil, err
	}
	c.Extra = append(c.Extra, netArgs...)
	// Named threads, so qemuThreads can tell the vCPUs from the rest.
	c.Extra = append(c.Extra, "-name", "netbench-"+sys+",debug-threads=on")
	var trace *virtioTrace
	if o.virtioTrace != "" {
		args, path := virtioTraceArgs(o.virtioTrace, sys)
		c.Extra = append(c.Extra, args...)
		trace = newVirtioTrace(path)
	}
	args, err := c.Args(kind, o.accel, "")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	cmd := o.command(ctx, o.binary, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	g := &guest{sys: sys, o: o, cmd: cmd, base: base, client: &http.Client{Timeout: 2 * time.Minute}, serial: &lockedLog{}, cancel: cancel, trace: trace}
	g.withdraw = onInterrupt(func() { cmd.Process.Kill() })
	defer func() {
		if err != nil {
			g.kill()
		}
	}()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := sc.Text()
			g.serial.add(l + "\n")
			if strings.Contains(l, "NETBENCH ready") {
				ready <- true
			}
			if strings.Contains(l, "NETBENCH setup failed") {
				ready <- false
			}
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			return nil, fmt.Errorf("the guest could not set up its network:\n%s", g.serial.String())
		}
	case <-time.After(5 * time.Minute):
		return nil, fmt.Errorf("the guest never became ready:\n%s", g.serial.String())
	}
	// Wait until the forward reaches the server, and warm both up.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, err := g.get(base + "/"); err == nil {
			break
		} else if time.Now().After(deadline) {
			return nil, fmt.Errorf("no answer through the forward: %v\nthe guest's serial output:\n%s", err, g.serial.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return g, nil
}

// envWords checks -env's words: each KEY=VALUE with an upper-case key,
// nothing either kernel would take for an option of its own.
func envWords(s string) ([]string, error) {
	words := strings.Fields(s)
	for _, w := range words {
		k, _, ok := strings.Cut(w, "=")
		if !ok || k == "" || strings.ToUpper(k) != k || strings.ContainsAny(k, ".-") {
			return nil, fmt.Errorf("%q: want KEY=VALUE with an upper-case KEY", w)
		}
	}
	return words, nil
}

// measure boots one guest and takes every figure from it (those -rows
// selects); tag names its perf files.
func measure(o options, tag, sys string, c qemu.Config, kind qemu.Kind) (_ figures, err error) {
	g, err := boot(o, sys, c, kind)
	if err != nil {
		return nil, err
	}
	defer g.kill()
	defer func() {
		// A guest that stops answering mid-run has usually said why.
		if err != nil {
			err = fmt.Errorf("%w\nthe guest's serial output:\n%s", err, g.serial.String())
		}
	}()
	cmd, base, client, get := g.cmd, g.base, g.client, g.get
	fmt.Printf("  %s ready; measuring\n", sys)
	f := figures{}
	profiled := make(chan error, 1)
	if o.profile != "" {
		// Every row below at most: five wrk runs, the bulk download and
		// the loopback runs. What is left of the window is idle, which a
		// CPU profile does not sample.
		secs := 5*int(o.duration.Seconds()) + 30
		go func() {
			if o.profileKind == "kernel" {
				profiled <- o.fetchKernelProfile(base, secs)
				return
			}
			profiled <- o.fetch(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), o.profile)
		}()
	} else {
		profiled <- nil
	}
	for _, row := range wrkRows {
		path, conns, name := row.path, row.conns, row.name()
		if !o.rows.MatchString(name) {
			continue
		}
		stop, err := o.perf(cmd.Process.Pid, tag, name)
		if err != nil {
			return nil, err
		}
		guest0, guestOK0 := guestCounters(get, base)
		cpu0 := processCPU(cmd.Process.Pid)
		vcpu0, rest0, threads0 := qemuThreads(cmd.Process.Pid)
		wire0, wired0 := o.wireCounters()
		var card0 map[string]uint64
		if g.trace != nil {
			if err := g.trace.update(); err != nil {
				return nil, fmt.Errorf("-virtio-trace: %v", err)
			}
			card0 = g.trace.snapshot()
		}
		wrkStart := time.Now()
		w, err := o.wrk(o.duration, conns, base+path, row.closes)
		wrkWall := time.Since(wrkStart)
		stop()
		vcpu1, rest1, threads1 := qemuThreads(cmd.Process.Pid)
		wire1, wired1 := o.wireCounters()
		guest1, guestOK1 := guestCounters(get, base)
		if err != nil {
			return nil, err
		}
		f[name+" req/s"], f[name+" p50 ms"], f[name+" p99 ms"] = w.rps, w.p50, w.p99
		f["wrk requests"] += float64(w.requests)
		// QEMU's own CPU time per request (its CPUs' threads, its
		// main loop with the user networking): what the guest costs
		// the host, which on a busy host bounds requests/s.
		if us, ok := cpuPerRequest(cpu0, processCPU(cmd.Process.Pid), w.requests); ok {
			f[name+" host CPU us/req"] = us
		}
		var onWire string
		if wired0 && wired1 && w.requests > 0 {
			n := float64(w.requests)
			f[name+" frames out/req"] = float64(wire1.out-wire0.out) / n
			f[name+" frames in/req"] = float64(wire1.in-wire0.in) / n
			f[name+" resent/1k req"] = float64(wire1.dup-wire0.dup) * 1000 / n
			onWire = fmt.Sprintf("  frames out %.2f in %.2f /req  resent %.1f /1k req",
				f[name+" frames out/req"], f[name+" frames in/req"], f[name+" resent/1k req"])
		}
		fmt.Printf("    %-8s %-14s %8.0f req/s  p50 %7.2f ms  p99 %7.2f ms  host CPU %6.0f us/req%s\n",
			sys, name, w.rps, w.p50, w.p99, f[name+" host CPU us/req"], onWire)
		if card0 != nil && w.requests > 0 {
			if err := g.trace.update(); err != nil {
				return nil, fmt.Errorf("-virtio-trace: %v", err)
			}
			desc, kicks, irqs := cardPerRequest(card0, g.trace.snapshot(), w.requests)
			f[name+" card notifications/req"], f[name+" card interrupts/req"] = kicks, irqs
			fmt.Printf("    %-8s %-14s   QEMU's trace of the card, per request: %s\n", sys, name, desc)
		}
		if threads0 && threads1 && w.requests > 0 {
			n := float64(w.requests)
			us := func(a, b time.Duration) float64 { return (b - a).Seconds() * 1e6 / n }
			f[name+" vCPU user us/req"] = us(vcpu0.user, vcpu1.user)
			f[name+" vCPU sys us/req"] = us(vcpu0.sys, vcpu1.sys)
			f[name+" vCPU asleep/req"] = float64(vcpu1.sleeps-vcpu0.sleeps) / n
			f[name+" vCPU preempted/req"] = float64(vcpu1.preempts-vcpu0.preempts) / n
			f[name+" other threads us/req"] = us(rest0.user+rest0.sys, rest1.user+rest1.sys)
			f[name+" other preempted/req"] = float64(rest1.preempts-rest0.preempts) / n
			fmt.Printf("    %-8s %-14s   of which vCPU threads: user %.0f sys %.0f us/req, asleep %.2f and preempted %.2f times/req; QEMU's other threads %.0f us/req, preempted %.2f times/req\n",
				sys, name, f[name+" vCPU user us/req"], f[name+" vCPU sys us/req"], f[name+" vCPU asleep/req"], f[name+" vCPU preempted/req"],
				f[name+" other threads us/req"], f[name+" other preempted/req"])
		}
		if guestOK0 && guestOK1 && w.requests > 0 {
			// The kernel's own counts (Velocity only; the two reads are
			// outside wrk's run and add one request each).
			n := float64(w.requests)
			per := func(k string) float64 { return float64(guest1[k]-guest0[k]) / n }
			f[name+" guest syscalls/req"], f[name+" guest switches/req"] = per("syscalls"), per("switches")
			f[name+" guest IPIs/req"], f[name+" guest halts/req"] = per("ipis"), per("halts")
			f[name+" guest busy us/req"] = per("busy_ns") / 1e3
			// The system calls that took the most of the kernel's CPU time.
			type call struct {
				name     string
				n, usPer float64
			}
			var calls []call
			for k, v := range guest1 {
				if nm, ok := strings.CutPrefix(k, "call_ns."); ok && v > guest0[k] {
					calls = append(calls, call{nm, per("calls." + nm), float64(v-guest0[k]) / n / 1e3})
				}
			}
			sort.Slice(calls, func(i, j int) bool { return calls[i].usPer > calls[j].usPer })
			var top []string
			for i := 0; i < len(calls) && i < 6; i++ {
				top = append(top, fmt.Sprintf("%s %.2f (%.1f us)", calls[i].name, calls[i].n, calls[i].usPer))
			}
			fmt.Printf("    %-8s %-14s   of which the guest: busy %.0f us, %.1f system calls, %.2f thread switches, %.2f IPIs, %.2f halts (%.0f us halted) per request\n",
				sys, name, f[name+" guest busy us/req"], f[name+" guest syscalls/req"], f[name+" guest switches/req"], f[name+" guest IPIs/req"], f[name+" guest halts/req"], per("halted_ns")/1e3)
			if len(top) > 0 {
				fmt.Printf("    %-8s %-14s   the calls that took the kernel's time, per request: %s\n", sys, name, strings.Join(top, ", "))
			}
			if _, ok := guest1["shootdowns"]; ok {
				// Under TCG each shootdown and refresh empties QEMU's
				// software TLB and its jump cache (runtime/vk_tlbrefresh.go),
				// and each timer interrupt leaves the translated code.
				k := func(key string) float64 { return per(key) * 1000 }
				f[name+" guest faults/1k req"], f[name+" guest shootdowns/1k req"] = k("faults"), k("shootdowns")
				fmt.Printf("    %-8s %-14s   per 1,000 requests: %.1f demand-zero faults, %.2f TLB shootdowns, %.2f whole-TLB refreshes, %.0f timer interrupts; resident memory %.1f MiB before, %.1f after\n",
					sys, name, k("faults"), k("shootdowns"), k("tlb_refreshes"), k("ticks"), float64(guest0["resident_bytes"])/(1<<20), float64(guest1["resident_bytes"])/(1<<20))
			}
			if _, ok := guest1["nic.tx_notifies"]; ok {
				// The card's crossings: each notification is an I/O write
				// that leaves the translated code for QEMU's global lock.
				f[name+" guest tx notifies/req"] = per("nic.tx_notifies")
				fmt.Printf("    %-8s %-14s   the card, per request: %.2f frames sent with %.2f notifications (%.2f suppressed), %.2f received, %.2f interrupt wake-ups, %.2f refill notifications\n",
					sys, name, per("nic.tx_frames"), per("nic.tx_notifies"), per("nic.tx_suppressed"), per("nic.rx_frames"), per("nic.interrupts"), per("nic.rx_notifies"))
				if _, ok := guest1["nic.rx_wait_ns"]; ok && wrkWall > 0 {
					// Near 0% the receive goroutine never caught up
					// with the card: the receive path, one goroutine,
					// set the pace.
					f[name+" guest rx waiting %"] = 100 * float64(guest1["nic.rx_wait_ns"]-guest0["nic.rx_wait_ns"]) / float64(wrkWall.Nanoseconds())
					fmt.Printf("    %-8s %-14s   the receive goroutine waited for the card %.1f%% of the run\n", sys, name, f[name+" guest rx waiting %"])
				}
			}
		}
	}
	if o.rows.MatchString("bulk download") {
		start := time.Now()
		n, err := o.download(client, fmt.Sprintf("%s/bulk?mb=%d", base, o.bulkMB))
		if err != nil || n != int64(o.bulkMB)<<20 {
			return nil, fmt.Errorf("bulk download: %d bytes, %v", n, err)
		}
		f["bulk download MB/s"] = float64(n) / time.Since(start).Seconds() / 1e6
		fmt.Printf("    %-8s bulk           %8.1f MB/s\n", sys, f["bulk download MB/s"])
	}
	for _, lc := range []struct {
		c    int
		size int
		name string
	}{{1, 100, "loopback 100 B c=1"}, {16, 100, "loopback 100 B c=16"}, {16, 65536, "loopback 64 KiB c=16"}} {
		if !o.rows.MatchString(lc.name) {
			continue
		}
		body, err := get(fmt.Sprintf("%s/loop?n=%d&c=%d&size=%d", base, o.loopN, lc.c, lc.size))
		if err != nil {
			return nil, err
		}
		m := regexp.MustCompile(`rps=(\d+) p50us=(\d+) p99us=(\d+)`).FindStringSubmatch(body)
		if m == nil {
			return nil, fmt.Errorf("loopback run: %q", body)
		}
		rps, _ := strconv.ParseFloat(m[1], 64)
		p50, _ := strconv.ParseFloat(m[2], 64)
		p99, _ := strconv.ParseFloat(m[3], 64)
		f[lc.name+" req/s"], f[lc.name+" p50 ms"], f[lc.name+" p99 ms"] = rps, p50/1000, p99/1000
		fmt.Printf("    %-8s %-20s %8.0f req/s  p50 %7.2f ms  p99 %7.2f ms\n", sys, lc.name, rps, p50/1000, p99/1000)
	}
	if err := <-profiled; err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	get(base + "/quit")
	return f, nil
}

// kernelProfileWindow is the longest profile kernel/profilehttp takes in
// one request.
const kernelProfileWindow = 60

// fetchKernelProfile takes the kernel's sampling profile for secs seconds
// in windows of at most kernelProfileWindow, one after the other, and
// writes them merged into one file at o.profile.
func (o options) fetchKernelProfile(base string, secs int) error {
	var parts []*profile.Profile
	for left := secs; left > 0; left -= kernelProfileWindow {
		part := fmt.Sprintf("%s.part%d", o.profile, len(parts))
		url := fmt.Sprintf("%s/debug/kernel/profile?seconds=%d&hz=1000", base, min(left, kernelProfileWindow))
		if err := o.fetch(url, part); err != nil {
			return err
		}
		p, err := readProfile(part)
		os.Remove(part)
		if err != nil {
			return fmt.Errorf("%s: %v", url, err)
		}
		parts = append(parts, p)
	}
	merged, err := profile.Merge(parts)
	if err != nil {
		return err
	}
	return writeProfile(merged, o.profile)
}

// perf starts perf record on QEMU's process for one wrk run if -perf
// asked for it; stop ends the recording and waits for its file.
func (o options) perf(pid int, tag, row string) (stop func(), err error) {
	if o.perfDir == "" {
		return func() {}, nil
	}
	name := tag + "-" + strings.NewReplacer(" ", "", "=", "", "KiB", "k").Replace(row) + ".data"
	cmd := exec.Command("perf", "record", "-q", "-F", "997", "-p", strconv.Itoa(pid), "-o", filepath.Join(o.perfDir, name))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %v", err)
	}
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}, nil
}

func httpGet(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), err
}

// wrkResult is what one wrk run measured: requests/s, the p50 and p99
// latencies in milliseconds, and the requests completed.
type wrkResult struct {
	rps, p50, p99 float64
	requests      int
}

// wrk runs Debian's wrk; with closes, every request asks the server to
// close its connection, so each one opens a new one (accept, the socket
// options Go sets, close).
func (o options) wrk(d time.Duration, conns int, url string, closes bool) (wrkResult, error) {
	threads := min(conns, 2)
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--timeout", "10s", "--latency"}
	if closes {
		args = append(args, "-H", "Connection: close")
	}
	out, err := o.command(context.Background(), "wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	w, err := parseWrk(string(out))
	if err == nil && w.p99 > 1000 {
		// A p99 of seconds at thousands of requests/s over a few
		// connections is more than the connections could have waited in
		// turn: keep wrk's own words for whoever looks into it.
		fmt.Printf("    wrk's output for a p99 over 1 s:\n%s", out)
	}
	return w, err
}

var (
	reRPS  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reLat  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	reReqs = regexp.MustCompile(`(?m)^\s+(\d+) requests in `)
)

func parseWrk(out string) (wrkResult, error) {
	var w wrkResult
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return w, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	w.rps, _ = strconv.ParseFloat(m[1], 64)
	// A request wrk gave up on (10 s) or a failed connection is an
	// error: the figures would flatter whoever dropped it.
	if strings.Contains(out, "Non-2xx") || strings.Contains(out, "Socket errors") {
		return wrkResult{}, fmt.Errorf("wrk saw errors:\n%s", out)
	}
	if m := reReqs.FindStringSubmatch(out); m != nil {
		w.requests, _ = strconv.Atoi(m[1])
	}
	for _, l := range reLat.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		switch l[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if l[1] == "50" {
			w.p50 = v
		} else {
			w.p99 = v
		}
	}
	if w.p50 == 0 || w.p99 == 0 {
		return wrkResult{}, fmt.Errorf("no latency distribution in wrk's output:\n%s", out)
	}
	return w, nil
}

// report prints, per row, the median of each guest's figures over the
// rounds and the median of the rounds' own ratios, then each round's
// ratio. other names the guest Velocity is compared with (the Linux
// guest, or a Velocity variant), label its column.
func report(w io.Writer, rounds []map[string]figures, other, label string) {
	fmt.Fprintf(w, "\n%-34s %12s %12s %8s   %s\n", "", "Velocity", label, "ratio", "ratio by round")
	rows := []string{}
	for _, p := range []string{"100 B c=1", "100 B c=16", "64 KiB c=1", "64 KiB c=16", "100 B c=16 new conns"} {
		rows = append(rows, p+" req/s", p+" p50 ms", p+" p99 ms", p+" host CPU us/req",
			p+" vCPU user us/req", p+" vCPU sys us/req", p+" vCPU asleep/req", p+" vCPU preempted/req", p+" other threads us/req", p+" other preempted/req",
			p+" frames out/req", p+" frames in/req", p+" resent/1k req",
			p+" guest busy us/req", p+" guest syscalls/req", p+" guest switches/req", p+" guest IPIs/req", p+" guest halts/req",
			p+" guest faults/1k req", p+" guest shootdowns/1k req",
			p+" card notifications/req", p+" card interrupts/req")
	}
	rows = append(rows, "bulk download MB/s")
	for _, p := range []string{"loopback 100 B c=1", "loopback 100 B c=16", "loopback 64 KiB c=16"} {
		rows = append(rows, p+" req/s", p+" p50 ms", p+" p99 ms")
	}
	for _, k := range rows {
		var vs, ls, rs []float64
		counts := strings.Contains(k, " frames ") || strings.Contains(k, " resent/") || strings.Contains(k, " asleep/") || strings.Contains(k, " preempted/") ||
			strings.Contains(k, " guest ") || strings.Contains(k, " card ") // zero is a value
		for _, r := range rounds {
			v, okv := r["velocity"][k]
			l, okl := r[other][k]
			if !okv || !okl || (!counts && (v == 0 || l == 0)) {
				continue // not measured (no /proc, no tap), not a zero
			}
			ratio := v / l
			if strings.HasSuffix(k, " ms") || strings.HasSuffix(k, "/req") {
				ratio = l / v // less is better
			}
			vs, ls, rs = append(vs, v), append(ls, l), append(rs, ratio)
		}
		if len(vs) == 0 {
			continue
		}
		if counts {
			// A count with a zero has no ratio; its medians say enough.
			fmt.Fprintf(w, "%-34s %12.2f %12.2f\n", k, median(vs), median(ls))
			continue
		}
		byRound := make([]string, len(rs))
		for i, x := range rs {
			byRound[i] = fmt.Sprintf("%.2fx", x)
		}
		fmt.Fprintf(w, "%-34s %12.2f %12.2f %7.2fx   %s\n", k, median(vs), median(ls), median(rs), strings.Join(byRound, " "))
	}
	fmt.Fprintf(w, "(medians over %d rounds; ratio: Velocity's advantage, for latency and host CPU %s/Velocity. Target: >= 1.0x Linux on requests/s.)\n", len(rounds), label)
}

func median(x []float64) float64 {
	y := slices.Clone(x)
	slices.Sort(y)
	if n := len(y); n%2 == 1 {
		return y[n/2]
	} else {
		return (y[n/2-1] + y[n/2]) / 2
	}
}

// cpuPerRequest is the CPU time between two processCPU readings in us
// per request; ok is false when either reading failed or nothing was
// served.
func cpuPerRequest(cpu0, cpu1 time.Duration, requests int) (us float64, ok bool) {
	if cpu0 < 0 || cpu1 < 0 || requests <= 0 {
		return 0, false
	}
	return (cpu1 - cpu0).Seconds() * 1e6 / float64(requests), true
}

// processCPU is the user and system time process pid has used so far,
// from /proc/PID/stat (clock ticks of 10 ms), or -1 without /proc.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	u, s, ok := statTimes(b)
	if !ok {
		return -1
	}
	return u + s
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// writeKernelPGO writes the part of CPU profile in that may guide the
// compilation of a network kernel (build.KernelProfile) to out.
func writeKernelPGO(in, out string) error {
	p, err := readProfile(in)
	if err != nil {
		return err
	}
	return writeProfile(build.KernelProfile(p), out)
}

// readProfile parses the pprof file at file.
func readProfile(file string) (*profile.Profile, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

// writeProfile writes p to file.
func writeProfile(p *profile.Profile, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := p.Write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// guestCounters reads the kernel's counters from images/netbench
// (/debug/kernel/counters: "name value" lines); ok is false for a guest
// without them (Linux) or any answer that does not parse.
func guestCounters(get func(string) (string, error), base string) (map[string]uint64, bool) {
	body, err := get(base + "/debug/kernel/counters")
	if err != nil {
		return nil, false
	}
	return parseCounters(body)
}

func parseCounters(body string) (map[string]uint64, bool) {
	m := map[string]uint64{}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || !counterName(name) {
			return nil, false
		}
		v, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return nil, false
		}
		m[name] = v
	}
	for _, k := range []string{"syscalls", "switches", "ipis", "halts", "halted_ns", "busy_ns"} {
		if _, ok := m[k]; !ok {
			return nil, false
		}
	}
	return m, true
}

// counterName reports whether name is one the guest's counters page uses:
// letters, digits, '_' and '.' ("halted_ns", "call_ns.read"), nothing
// else (a line with anything more is not one of its lines).
func counterName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// variantDesc says how the second Velocity guest differs (-against,
// -against-build, -against-kernel-pgo).
func (o options) variantDesc() string {
	d := fmt.Sprintf("booted with %q and built with %q", o.against, o.againstFlags)
	if o.againstPGO != "" {
		d += fmt.Sprintf(" and the kernel profile %s", o.againstPGO)
	}
	return d
}

// buildVariant builds the second Velocity guest's kernel into elf: with
// -against-build's go build flags, and with -against-kernel-pgo's profile
// in place of kernel.pgo (internal/build reads VELOCITY_KERNELPGO while it
// builds, so it is set for this build only).
func (o options) buildVariant(elf string) error {
	if o.againstPGO != "" {
		old, had := os.LookupEnv("VELOCITY_KERNELPGO")
		os.Setenv("VELOCITY_KERNELPGO", o.againstPGO)
		defer func() {
			if had {
				os.Setenv("VELOCITY_KERNELPGO", old)
			} else {
				os.Unsetenv("VELOCITY_KERNELPGO")
			}
		}()
	}
	return build.Build("./images/netbench", elf, strings.Fields(o.againstFlags))
}
