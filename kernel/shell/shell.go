// Package shell is Velocity's console shell: a line-oriented command
// interpreter a program runs on its standard input and output, which on
// Velocity are the serial console (COM1; the kernel echoes what is typed
// and turns Enter into a newline, like a Linux tty).
//
// It shows what the machine is doing: the module table (modules), the
// telemetry probes and the kernel's sampling profiler (top, prof), memory
// (mem) and CPUs (cpus). Everything reads from an io.Reader and writes to
// an io.Writer, so the same shell runs and is tested on a Linux host,
// where the kernel's statistics and profiler say they are not available.
//
// Bad input never stops the shell: an unknown command or a bad argument
// prints an error and the next prompt.
package shell

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/lang/modtable"
	"github.com/velocityos/velocity/llm/console"
	"github.com/velocityos/velocity/telemetry"
)

// Prompt is printed before each command.
const Prompt = "velocity> "

// Shell is one session. Set In and Out; the rest is optional.
type Shell struct {
	In  io.Reader
	Out io.Writer
	// Modules is the module table the modules command shows (nil: none
	// loaded); ModulesFrom says where its modules came from.
	Modules     *modtable.Table
	ModulesFrom string
	// Model is the on-board model (llm/onboard.Engine; nil: none loaded):
	// the llm command runs prompts on it, and it follows the typed line
	// so that Tab completes from a warm cache (llm.go).
	Model console.Model
	// TmpDir is where prof writes a file named without a directory
	// (default os.TempDir(), /tmp on Velocity).
	TmpDir string

	// profileCPU is kernel.ProfileCPU; tests replace it to check the
	// command's output on hosts, which have no kernel profiler.
	profileCPU func(d time.Duration, hz int) (*kernel.CPUProfile, error)

	last *kernel.CPUProfile // the last prof's profile, for top
	load loadState
}

// Usage errors print the command's usage line after the message.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitRequest ends Run with a status.
type exitRequest struct{ code int }

func (exitRequest) Error() string { return "exit" }

type command struct {
	name, args, help string
	run              func(sh *Shell, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"help", "[COMMAND]", "list the commands, or explain one", (*Shell).help},
		{"modules", "", "the module table: CID, code size, pages, references, importers, pages saved by sharing", (*Shell).modules},
		{"top", "[N]", "the N busiest telemetry probes and JIT functions, and the last prof's top functions (default 10)", (*Shell).top},
		{"prof", "[-hz N] SECONDS [FILE]", "sample every CPU for SECONDS (at N Hz, default 1000), print the top functions, write a pprof file (a bare name goes under /tmp)", (*Shell).prof},
		{"load", "[SECONDS]", "keep every CPU busy hashing for SECONDS in the background (default 5), to have something to profile", (*Shell).startLoad},
		{"mem", "", "Go heap and kernel memory", (*Shell).mem},
		{"cpus", "", "CPUs: time busy and system calls per CPU", (*Shell).cpus},
		{"llm", "[-n N] [-raw] PROMPT... | prefetch on|off | stats", "run PROMPT on the on-board model (-raw: without the chat template); prefetch: follow the typed line for Tab; stats: Tab-to-first-token figures", (*Shell).llm},
		{"pci", "", "the PCI devices: address, vendor:device, class, interrupt line, BARs, capabilities", (*Shell).pci},
		{"netstat", "", "the network card's counters (frames, bytes, interrupts, every frame dropped by kind) and the stack's (IP, TCP, UDP: received, sent, dropped and why)", (*Shell).netstat},
		{"locks", "", "kernel lock contention since boot: per lock class, acquisitions, how many found the lock held, time spent waiting", (*Shell).locks},
		{"syscalls", "[-t] [SECONDS]", "system calls by number, the most made first (-t: the most kernel CPU time first): since boot, or made during the next SECONDS (strace -c's counts and times for the whole machine)", (*Shell).syscalls},
		{"threads", "", "the kernel's dump of every CPU, lock held and thread, and of Go's Ps and Ms, printed on the console (as on an NMI, but without stopping the other CPUs)", (*Shell).threads},
		{"exit", "[STATUS]", "leave the shell; the program exits with STATUS (0-127, default 0)", (*Shell).exit},
	}
	// Samples in module code name the JIT function (jit:NAME), not ?0x….
	kernel.SetSymbolizer(jit.FuncAt)
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// Run reads commands until exit or the end of the input and returns the
// exit status (0 at the end of the input).
func (sh *Shell) Run() int {
	r := bufio.NewReader(sh.In)
	if sh.Model != nil {
		return sh.runKeys(r)
	}
	for {
		fmt.Fprint(sh.Out, Prompt)
		line, err := r.ReadString('\n')
		if line == "" && err != nil {
			if !errors.Is(err, io.EOF) {
				fmt.Fprintln(sh.Out, "\nshell: reading input:", err)
				return 1
			}
			fmt.Fprintln(sh.Out)
			return 0
		}
		if done, code := sh.Exec(line); done {
			return code
		}
	}
}

// Exec runs one command line. It reports whether the command was exit,
// and with which status.
func (sh *Shell) Exec(line string) (exit bool, code int) {
	words := strings.Fields(edit(line))
	if len(words) == 0 {
		return false, 0
	}
	name := words[0]
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(sh.Out, "%s: unknown command (type help for the list)\n", name)
		return false, 0
	}
	p := probe(name)
	t := p.Start()
	err := c.run(sh, words[1:])
	p.End(t)
	var ex exitRequest
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ex):
		return true, ex.code
	case errors.As(err, &ue):
		fmt.Fprintf(sh.Out, "%s: %s\nusage: %s %s\n", name, ue.msg, name, c.args)
	default:
		fmt.Fprintf(sh.Out, "%s: %v\n", name, err)
	}
	return false, 0
}

// edit applies the editing keys a terminal sends in a line: backspace and
// DEL delete the character before them, Ctrl-U everything before it. The kernel echoes input as it
// arrives, so the screen shows the keys; the command gets the result.
func edit(line string) string {
	var out []rune
	for _, r := range line {
		switch r {
		case '\b', 0x7f:
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case 0x15: // Ctrl-U, a tty's kill character: the line so far
			out = out[:0]
		case '\r', '\n':
		default:
			out = append(out, r)
		}
	}
	return string(out)
}

var probes struct {
	sync.Mutex
	m map[string]*telemetry.Probe
}

// probe times each command in the telemetry registry, so top has
// something to show even before anything else registers probes.
func probe(name string) *telemetry.Probe {
	probes.Lock()
	defer probes.Unlock()
	if probes.m == nil {
		probes.m = map[string]*telemetry.Probe{}
	}
	p := probes.m[name]
	if p == nil {
		p = telemetry.NewProbe("shell " + name)
		probes.m[name] = p
	}
	return p
}

func noArgs(args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", args[0])}
	}
	return nil
}

func (sh *Shell) help(args []string) error {
	if len(args) > 1 {
		return usageError{"too many arguments"}
	}
	if len(args) == 1 {
		c := lookup(args[0])
		if c == nil {
			return fmt.Errorf("no command %q (type help for the list)", args[0])
		}
		fmt.Fprintf(sh.Out, "%s %s\n    %s\n", c.name, c.args, c.help)
		return nil
	}
	fmt.Fprintln(sh.Out, "commands:")
	for _, c := range commands {
		fmt.Fprintf(sh.Out, "  %-30s %s\n", strings.TrimSpace(c.name+" "+c.args), c.help)
	}
	return nil
}

func (sh *Shell) modules(args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	if sh.Modules == nil {
		return errors.New("no module table: this program loaded no module pack")
	}
	if sh.ModulesFrom != "" {
		fmt.Fprintf(sh.Out, "modules from %s\n", sh.ModulesFrom)
	}
	sh.Modules.Print(sh.Out)
	return nil
}

func (sh *Shell) top(args []string) error {
	n := 10
	switch len(args) {
	case 0:
	case 1:
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 {
			return usageError{fmt.Sprintf("bad count %q (want a positive number)", args[0])}
		}
		n = v
	default:
		return usageError{"too many arguments"}
	}
	samples := telemetry.Default.Snapshot()
	if len(samples) == 0 {
		fmt.Fprintln(sh.Out, "telemetry: no probes or JIT functions registered")
	} else {
		fmt.Fprintf(sh.Out, "telemetry: %d probes and JIT functions, by cycles\n", len(samples))
		if err := telemetry.WriteTop(sh.Out, samples, n); err != nil {
			return err
		}
	}
	if sh.last == nil {
		fmt.Fprintln(sh.Out, "profile: none yet (prof SECONDS samples every CPU)")
		return nil
	}
	fmt.Fprintf(sh.Out, "profile: last prof, %d samples at %d Hz over %.2fs\n", len(sh.last.Samples), sh.last.Hz, sh.last.Duration.Seconds())
	return sh.last.WriteTop(sh.Out, n)
}

// maxProfile bounds prof's duration: the shell does nothing else meanwhile.
const maxProfile = 10 * time.Minute

func (sh *Shell) prof(args []string) error {
	hz := 1000
	if len(args) >= 2 && args[0] == "-hz" {
		v, err := strconv.Atoi(args[1])
		if err != nil || v < 1 || v > kernel.MaxProfileHz {
			return usageError{fmt.Sprintf("bad rate %q (want 1-%d)", args[1], kernel.MaxProfileHz)}
		}
		hz = v
		args = args[2:]
	}
	if len(args) < 1 || len(args) > 2 {
		return usageError{"want SECONDS and at most a FILE"}
	}
	secs, err := strconv.ParseFloat(args[0], 64)
	d := time.Duration(secs * float64(time.Second))
	if err != nil || !(secs > 0) || d > maxProfile {
		return usageError{fmt.Sprintf("bad duration %q (want seconds, more than 0, at most %v)", args[0], maxProfile)}
	}
	file := ""
	if len(args) == 2 {
		file = args[1]
		if !strings.Contains(file, "/") {
			dir := sh.TmpDir
			if dir == "" {
				dir = os.TempDir()
			}
			file = filepath.Join(dir, file)
		}
	}
	profile := sh.profileCPU
	if profile == nil {
		profile = kernel.ProfileCPU
	}
	p, err := profile(d, hz)
	if err != nil {
		return err
	}
	sh.last = p
	var per []string
	for cpu, n := range p.CPUs() {
		per = append(per, fmt.Sprintf("cpu%d %d", cpu, n))
	}
	fmt.Fprintf(sh.Out, "prof: %d samples in %.2fs at %d Hz per CPU (%s; %d lost; %v per sample)\n",
		len(p.Samples), p.Duration.Seconds(), p.Hz, strings.Join(per, ", "), p.Stats.Lost(), p.Stats.SampleCost())
	if err := p.WriteTop(sh.Out, 10); err != nil {
		return err
	}
	if file == "" {
		return nil
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := p.Write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(sh.Out, "prof: wrote %s (go tool pprof -top %s)\n", file, file)
	return nil
}

func (sh *Shell) mem(args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(sh.Out, "go: heap %s in use (%d objects), %s from the system, %d GCs\n",
		mib(m.HeapAlloc), m.HeapObjects, mib(m.Sys), m.NumGC)
	info, err := kernel.ReadInfo()
	if errors.Is(err, kernel.ErrNotVelocity) {
		fmt.Fprintln(sh.Out, "kernel: not running on Velocity (kernel memory statistics are not available)")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(sh.Out, "kernel: RAM %s, free %s, resident user pages %s, image %s, %d page faults\n",
		mib(info.MemTotal), mib(info.MemFree), mib(info.Resident), mib(info.ImageBytes), info.PageFaults)
	return nil
}

func (sh *Shell) netstat(args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	st, err := kernel.NetStats()
	switch {
	case errors.Is(err, kernel.ErrNotVelocity):
		fmt.Fprintln(sh.Out, "netstat: not running on Velocity")
		return nil
	case errors.Is(err, kernel.ErrNoNIC):
		fmt.Fprintln(sh.Out, "netstat: no network card")
	case err != nil:
		return err
	default:
		st.Write(sh.Out)
	}
	// The stack's counters, loopback's traffic included, with a card or
	// without.
	ss, err := kernel.NetStackStats()
	switch {
	case errors.Is(err, kernel.ErrNoStack):
		fmt.Fprintln(sh.Out, "netstat: no network stack (the program does not use package net)")
	case err != nil:
		return err
	default:
		ss.Write(sh.Out)
	}
	return nil
}

func (sh *Shell) pci(args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	devs, err := kernel.PCIDevices()
	if errors.Is(err, kernel.ErrNotVelocity) {
		fmt.Fprintln(sh.Out, "pci: not running on Velocity (use lspci on the host)")
		return nil
	}
	if err != nil {
		return err
	}
	for _, d := range devs {
		fmt.Fprintf(sh.Out, "%s %04x:%04x class %06x (%s) irq %d", d.Addr(), d.Vendor, d.Device, d.Class, d.ClassName(), d.IRQ)
		for i, b := range d.BAR {
			switch {
			case b == 0:
			case b&1 != 0:
				fmt.Fprintf(sh.Out, " bar%d io %#x", i, b&^3)
			default:
				fmt.Fprintf(sh.Out, " bar%d mem %#x", i, b&^15)
			}
		}
		if caps := d.CapNames(); len(caps) > 0 {
			fmt.Fprintf(sh.Out, " caps %s", strings.Join(caps, ","))
		}
		fmt.Fprintln(sh.Out)
	}
	fmt.Fprintf(sh.Out, "pci: %d functions\n", len(devs))
	return nil
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (sh *Shell) cpus(args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	info, err := kernel.ReadInfo()
	if errors.Is(err, kernel.ErrNotVelocity) {
		fmt.Fprintf(sh.Out, "cpus: %d CPUs, GOMAXPROCS %d (not on Velocity: per-CPU statistics are not available)\n",
			runtime.NumCPU(), runtime.GOMAXPROCS(0))
		return nil
	}
	if err != nil {
		return err
	}
	cur, _ := kernel.CurrentCPU()
	fmt.Fprintf(sh.Out, "cpus: %d CPUs, GOMAXPROCS %d, LAPIC timer %d Hz, %d threads, %d context switches, shell on CPU %d\n",
		info.CPUs, runtime.GOMAXPROCS(0), info.LAPICHz, info.Threads, info.Switches, cur)
	for i, c := range info.PerCPU {
		reserved := ""
		if info.Reserved&(1<<i) != 0 {
			reserved = "  (reserved)"
		}
		fmt.Fprintf(sh.Out, "  cpu%-3d busy %8.2fs  syscalls %d%s\n", i, c.Busy.Seconds(), c.Syscalls, reserved)
	}
	return nil
}

func (sh *Shell) locks(args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	ls, err := kernel.Locks()
	if errors.Is(err, kernel.ErrNotVelocity) {
		fmt.Fprintln(sh.Out, "locks: not on Velocity: the kernel's lock counters are not available")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(sh.Out, "%-16s %9s %12s %12s %9s %12s %10s %8s\n", "lock", "instances", "acquired", "contended", "percent", "waited", "max wait", "halts")
	for _, l := range ls {
		fmt.Fprintf(sh.Out, "%-16s %9d %12d %12d %8.3f%% %12v %10v %8d\n", l.Name, l.Instances, l.Acquires, l.Contended,
			l.ContendedPercent(), l.Wait.Round(time.Microsecond), l.MaxWait.Round(time.Microsecond), l.Halts)
	}
	return nil
}

func (sh *Shell) syscalls(args []string) error {
	var wait time.Duration
	byTime := len(args) > 0 && args[0] == "-t"
	if byTime {
		args = args[1:]
	}
	switch len(args) {
	case 0:
	case 1:
		s, err := strconv.ParseFloat(args[0], 64)
		if err != nil || s <= 0 || s > 3600 {
			return usageError{fmt.Sprintf("bad duration %q (want seconds, 0-3600)", args[0])}
		}
		wait = time.Duration(s * float64(time.Second))
	default:
		return usageError{"too many arguments"}
	}
	counts, err := kernel.Syscalls()
	if errors.Is(err, kernel.ErrNotVelocity) {
		fmt.Fprintln(sh.Out, "syscalls: not on Velocity: the kernel's system call counts are not available")
		return nil
	}
	if err != nil {
		return err
	}
	what := "since boot"
	if wait > 0 {
		time.Sleep(wait)
		after, err := kernel.Syscalls()
		if err != nil {
			return err
		}
		counts = kernel.SyscallsDelta(counts, after)
		what = "in " + wait.String()
	}
	var total uint64
	var cpu time.Duration
	for _, c := range counts {
		total += c.Count
		cpu += c.Time
	}
	if byTime {
		slices.SortStableFunc(counts, func(a, b kernel.SyscallCount) int { return cmp.Compare(b.Time, a.Time) })
	}
	fmt.Fprintf(sh.Out, "%d system calls %s, %v of kernel CPU time\n", total, what, cpu.Round(time.Microsecond))
	fmt.Fprintf(sh.Out, "%-24s %7s %12s %8s %12s %9s\n", "call", "number", "count", "percent", "cpu time", "us/call")
	for _, c := range counts {
		name := c.Name
		if name == "" {
			name = "?"
		}
		fmt.Fprintf(sh.Out, "%-24s %#7x %12d %7.2f%% %12v %9.2f\n", name, c.Nr, c.Count, 100*float64(c.Count)/float64(total),
			c.Time.Round(time.Microsecond), float64(c.Time)/float64(c.Count)/1e3)
	}
	return nil
}

func (sh *Shell) threads(args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	err := kernel.Dump()
	if errors.Is(err, kernel.ErrNotVelocity) {
		fmt.Fprintln(sh.Out, "threads: not on Velocity: the kernel's dump is not available")
		return nil
	}
	return err
}

func (sh *Shell) exit(args []string) error {
	switch len(args) {
	case 0:
		return exitRequest{0}
	case 1:
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 0 || v > 127 {
			return usageError{fmt.Sprintf("bad status %q (want 0-127)", args[0])}
		}
		return exitRequest{v}
	}
	return usageError{"too many arguments"}
}

// Commands lists the command names, sorted (for completion and tests).
func Commands() []string {
	var out []string
	for _, c := range commands {
		out = append(out, c.name)
	}
	sort.Strings(out)
	return out
}
