package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
)

// bootFlags are the flags run and exec share.
type bootFlags struct {
	smp         int
	mem         string
	uefi        bool
	iso         bool
	timeout     time.Duration
	appendLine  string
	accel       string
	gdbPort     string
	qemuGDB     string
	qemuGDBWait bool
	serialLog   string
	stub        string
	env         stringList
	fsRoots     stringList
	net         string     // -net: user, listen:PORT, connect:PORT
	hostfwd     stringList // -hostfwd
	disks       stringList // -disk: read-only virtio-blk disks
}

func (b *bootFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&b.smp, "smp", 1, "number of CPUs")
	fs.StringVar(&b.mem, "m", "512M", "guest memory size")
	fs.BoolVar(&b.uefi, "uefi", false, "boot through OVMF (UEFI); implies -iso")
	fs.BoolVar(&b.iso, "iso", false, "boot a kernel ELF or package from a GRUB ISO instead of the fast -kernel path")
	fs.DurationVar(&b.timeout, "timeout", 0, "kill the guest after this long; 0 means never (default: run 10m, or none with -i, -gdb-port or -qemu-gdb-port; exec: the test's -test.timeout + 30s); a guest that outlives it prints the kernel's NMI dump before it is killed")
	fs.StringVar(&b.appendLine, "append", "", "kernel command line (kernel options; see below)")
	fs.StringVar(&b.accel, "accel", "auto", "accelerator: auto, tcg or kvm (auto: $"+qemu.AccelEnv+", else a cached probe; TCG unless KVM is faster)")
	fs.StringVar(&b.gdbPort, "gdb-port", "", "put COM2, the kernel's gdb stub, on this TCP port of localhost (adds the kernel option debug unless -append has debug or debug=wait)")
	fs.StringVar(&b.qemuGDB, "qemu-gdb-port", "", "start QEMU's own gdbstub (the virtual CPU, not the kernel's stub) on this TCP port")
	fs.BoolVar(&b.qemuGDBWait, "qemu-gdb-wait", false, "with -qemu-gdb-port: wait for the debugger before running (-S)")
	fs.StringVar(&b.serialLog, "serial-log", "", "also write the raw serial output to this file")
	fs.StringVar(&b.stub, "stub", "", "prebuilt BOOT_ND.BIN (default: build it; also $"+build.StubEnv+")")
	fs.Var(&b.env, "env", "KEY=VALUE environment variable for the guest, KEY upper case (repeatable)")
	fs.StringVar(&b.net, "net", "", "network card (virtio-net): user (QEMU user networking, restrict=on), listen:PORT or connect:PORT (a guest-to-guest link over 127.0.0.1:PORT)")
	fs.Var(&b.hostfwd, "hostfwd", "forward tcp:HOSTPORT-:GUESTPORT from 127.0.0.1 on the host into the guest (repeatable; implies -net user)")
	fs.Var(&b.disks, "disk", "attach FILE as a read-only virtio block disk: /dev/vda inside the guest, then vdb, ... (repeatable; e.g. a GGUF model for images/llm -model /dev/vda)")
	fs.Var(&b.fsRoots, "fs", "file or directory to give the guest read-only, at its host path (repeatable; exec: default the working directory and Go's time zone database, 'none' for nothing)")
}

// netArgs turns -net and -hostfwd into QEMU arguments (internal/qemu/net.go).
func (b *bootFlags) netArgs() ([]string, error) {
	n := qemu.Net{Forwards: b.hostfwd}
	kind, arg, _ := strings.Cut(b.net, ":")
	switch kind {
	case "":
	case "user":
		n.User = true
	case "listen", "connect":
		port, err := strconv.Atoi(arg)
		if err != nil {
			return nil, fmt.Errorf("-net %s: want %s:PORT", b.net, kind)
		}
		if kind == "listen" {
			n.Listen = port
		} else {
			n.Connect = port
		}
	default:
		return nil, fmt.Errorf("-net %q: want user, listen:PORT or connect:PORT", b.net)
	}
	return n.Args()
}

// roots lists the -fs paths, without the 'none' marker.
func (b *bootFlags) roots() []string {
	var r []string
	for _, p := range b.fsRoots {
		if p != "none" {
			r = append(r, p)
		}
	}
	return r
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// config turns the flags into a QEMU configuration for target (an ISO,
// kernel ELF or multiboot image), building an ISO into tmp if needed.
func (b *bootFlags) config(target, tmp string, cmdline string) (qemu.Config, error) {
	kind, err := qemu.Detect(target)
	if err != nil {
		return qemu.Config{}, err
	}
	c := qemu.Config{
		Kernel: target, UEFI: b.uefi, SMP: b.smp, Mem: b.mem, Append: cmdline,
		Accel: b.accel, GDBPort: b.gdbPort, QEMUGDB: b.qemuGDB, QEMUGDBWait: b.qemuGDBWait, SerialLog: b.serialLog,
		Timeout: b.timeout, DumpOnTimeout: true,
	}
	if roots := b.roots(); len(roots) > 0 {
		if kind != qemu.KindKernelELF {
			return c, errors.New("-fs needs a kernel ELF or package: the files travel behind the ELF")
		}
		withFS := filepath.Join(tmp, "kernel+fs.elf")
		if err := build.AttachFS(target, withFS, roots); err != nil {
			return c, err
		}
		target, c.Kernel = withFS, withFS
	}
	switch {
	case kind == qemu.KindISO:
		if cmdline != "" {
			return c, errors.New("an ISO carries its own command line: rebuild it with velocity image -append, or boot the kernel ELF")
		}
		c.Append = ""
	case kind == qemu.KindKernelELF && (b.iso || b.uefi):
		iso := filepath.Join(tmp, "velocity.iso")
		if err := makeISO(target, b.stub, cmdline, iso); err != nil {
			return c, err
		}
		c.Kernel, c.Append = iso, ""
	case kind == qemu.KindKernelELF:
		if c.Stub, err = stubPath(b.stub); err != nil {
			return c, err
		}
	case b.iso || b.uefi:
		return c, fmt.Errorf("%s is not a kernel ELF; -iso and -uefi need one", target)
	}
	return c, nil
}

// kernelCmdline renders -env, -append and, if argv is not nil, "--" and
// argv.
func (b *bootFlags) kernelCmdline(argv []string) (string, error) {
	opts, err := build.SplitCmdline(b.appendLine)
	if err != nil {
		return "", err
	}
	if argv != nil && slices.Contains(opts, "--") {
		return "", errors.New(`-append must not contain "--" here: the program's arguments follow the binary`)
	}
	if b.gdbPort != "" {
		opts = withDebugOption(opts)
	}
	return build.KernelCmdline(b.env, opts, argv)
}

func cmdRun(args []string) int {
	fs := newFlagSet("run")
	var b bootFlags
	b.register(fs)
	interactive := fs.Bool("i", false, "interactive: serial console on this terminal, input forwarded to the guest (quit with Ctrl-A X)")
	cluster := fs.Int("cluster", 0, "boot this many nodes (2-8) of the image on one LAN (10.0.9.N/24, kernel option peers= naming the others, VELOCITY_NODE=N), serial lines prefixed [node N] (see docs/biosphere.md)")
	display := fs.String("display", "none", "the guest's screen: none (headless, serial only), auto (a window when $DISPLAY or $WAYLAND_DISPLAY is set, else none), or a QEMU -display value (gtk, sdl, ...)")
	if ok, st := parse(fs, args); !ok {
		return st
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return exitUsage
	}
	target, extra := fs.Arg(0), fs.Args()[1:]
	if len(extra) > 0 && extra[0] == "--" {
		extra = extra[1:]
	}
	if !isSet(fs, "timeout") {
		b.timeout = 10 * time.Minute
		if *interactive || b.gdbPort != "" || b.qemuGDB != "" {
			b.timeout = 0
		}
	}
	tmp, err := os.MkdirTemp("", "velocity-run-")
	if err != nil {
		return fail("run", err)
	}
	defer os.RemoveAll(tmp)
	if st, err := os.Stat(target); err != nil || st.IsDir() {
		// Not a file: a package to build.
		elf := filepath.Join(tmp, "kernel.elf")
		if err := build.Build(target, elf, nil); err != nil {
			return fail("run", err)
		}
		target = elf
	}
	if *cluster != 0 {
		if *interactive {
			fmt.Fprintln(os.Stderr, "velocity run: -cluster and -i: the nodes share this terminal's output only")
			return exitUsage
		}
		if !isSet(fs, "smp") {
			// A node serves, imports and heals at once: two CPUs
			// keep the healer's load from starving its gateway.
			b.smp = 2
		}
		return runCluster(&b, target, tmp, *cluster, extra)
	}
	cmdline, err := b.kernelCmdline(nil)
	if err != nil {
		return fail("run", err)
	}
	c, err := b.config(target, tmp, cmdline)
	if err != nil {
		return fail("run", err)
	}
	c.Interactive = *interactive
	c.Display = qemu.ResolveDisplay(*display, os.Getenv)
	netArgs, err := b.netArgs()
	if err != nil {
		fmt.Fprintf(os.Stderr, "velocity run: %v\n", err)
		return exitUsage
	}
	diskArgs, err := qemu.DiskArgs(b.disks)
	if err != nil {
		fmt.Fprintf(os.Stderr, "velocity run: %v\n", err)
		return exitUsage
	}
	c.Extra = append(append(netArgs, diskArgs...), extra...)
	return boot("run", c)
}

// boot runs c, ignoring Ctrl-C in velocity itself: QEMU gets it too and
// exits, and velocity then reports how it ended.
func boot(name string, c qemu.Config) int {
	signal.Ignore(os.Interrupt)
	res, err := qemu.Run(context.Background(), c)
	var ke *qemu.KVMError
	if errors.As(err, &ke) {
		ke.Symbolize(c.Kernel)
	}
	if err != nil {
		return fail(name, err)
	}
	return res.ExitCode
}

func cmdExec(args []string) int {
	fs := newFlagSet("exec")
	var b bootFlags
	b.register(fs)
	if ok, st := parse(fs, args); !ok {
		return st
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return exitUsage
	}
	binary, argv := fs.Arg(0), fs.Args()[1:]
	if !isSet(fs, "timeout") {
		b.timeout = execTimeout(argv)
	}
	if argv == nil {
		argv = []string{} // still pass "--": the binary gets no arguments
	}
	// go test runs a test binary in its package directory, where tests
	// find testdata: give the guest that directory (and Go's time zone
	// database) at the same path, and start the program there.
	if wd, err := os.Getwd(); err == nil && !isSet(fs, "fs") {
		b.fsRoots = stringList{wd}
		if root, err := build.GOROOT(""); err == nil {
			if zi := filepath.Join(root, "lib", "time", "zoneinfo.zip"); fileExists(zi) {
				b.fsRoots = append(b.fsRoots, zi)
			}
			b.fsRoots = append(b.fsRoots, stdTestRoots(root, wd)...)
			// Standard-library tests also read their parents' testdata
			// (compress/flate reads ../testdata and ../../testdata).
			src := filepath.Join(root, "src")
			if rel, err := filepath.Rel(src, wd); err == nil && !strings.HasPrefix(rel, "..") {
				for d := filepath.Dir(wd); len(d) >= len(src); d = filepath.Dir(d) {
					if td := filepath.Join(d, "testdata"); fileExists(td) {
						b.fsRoots = append(b.fsRoots, td)
					}
				}
			}
		}
		if fileExists("/usr/share/zoneinfo") {
			b.fsRoots = append(b.fsRoots, "/usr/share/zoneinfo")
		}
		opts := []string{"cwd=" + wd}
		// os.Executable (/proc/self/exe) names the binary, so testenv can
		// find it and then see that it cannot be run as a child.
		if exe, err := filepath.Abs(binary); err == nil {
			opts = append(opts, "exe="+exe)
		}
		line, err := build.JoinCmdline(opts)
		if err != nil {
			return fail("exec", err)
		}
		b.appendLine = strings.TrimSpace(b.appendLine + " " + line)
	}
	cmdline, err := b.kernelCmdline(argv)
	if err != nil {
		return fail("exec", err)
	}
	tmp, err := os.MkdirTemp("", "velocity-exec-")
	if err != nil {
		return fail("exec", err)
	}
	defer os.RemoveAll(tmp)
	c, err := b.config(binary, tmp, cmdline)
	if err != nil {
		return fail("exec", err)
	}
	if c.Extra, err = qemu.DiskArgs(b.disks); err != nil {
		return fail("exec", err)
	}
	out := &crlfWriter{w: os.Stdout}
	c.Stdout = out
	st := boot("exec", c)
	out.Flush()
	return st
}

// execTimeout gives the guest the test binary's own -test.timeout (the
// last one, as the flag package takes it) plus 30 seconds, 10 minutes if
// there is none. The test's own alarm fires inside the guest first and
// prints Go's goroutine dump; a guest still running 30 seconds later is
// stuck beneath Go, and gets the kernel's NMI dump (at most dumpMax, 15 s)
// before go test, a minute after the timeout, kills velocity exec.
func execTimeout(argv []string) time.Duration {
	d, found := time.Duration(0), false
	for _, a := range argv {
		v, ok := strings.CutPrefix(a, "-test.timeout=")
		if !ok {
			continue
		}
		if t, err := time.ParseDuration(v); err == nil {
			d, found = t, true
		}
	}
	switch {
	case !found:
		return 10 * time.Minute
	case d == 0:
		return 0
	}
	return d + 30*time.Second
}

// crlfWriter turns the serial console's CRLF line ends into LF, as go test
// (and test2json) expect from a test binary's output.
type crlfWriter struct {
	w  io.Writer
	cr bool // a '\r' is held back until we know whether '\n' follows
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+1)
	for _, ch := range p {
		if c.cr && ch != '\n' {
			out = append(out, '\r')
		}
		c.cr = ch == '\r'
		if !c.cr {
			out = append(out, ch)
		}
	}
	if _, err := c.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a held-back trailing '\r'.
func (c *crlfWriter) Flush() {
	if c.cr {
		c.w.Write([]byte{'\r'})
		c.cr = false
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// withDebugOption adds the kernel option "debug" (the gdb stub on COM2)
// to opts unless they already turn the stub on; it goes before any "--".
func withDebugOption(opts []string) []string {
	end := len(opts)
	if i := slices.Index(opts, "--"); i >= 0 {
		end = i
	}
	for _, o := range opts[:end] {
		if o == "debug" || o == "debug=wait" {
			return opts
		}
	}
	out := append(append([]string{}, opts[:end]...), "debug")
	return append(out, opts[end:]...)
}
