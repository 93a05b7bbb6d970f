// Package qemu boots Velocity kernels under QEMU and reports the guest's
// exit code.
//
// Guests exit by writing a byte v to the isa-debug-exit port 0xf4, which
// makes QEMU exit with status 2v+1; see GuestExitCode. Serial (COM1) is the
// guest's console and is streamed to Config.Stdout and Config.SerialLog.
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config describes one boot.
type Config struct {
	// Kernel is what to boot: a 64-bit kernel ELF (loaded through Stub:
	// -kernel Stub -initrd Kernel), an ISO image (booted from CD-ROM), or a
	// multiboot image QEMU loads itself (32-bit ELF or flat image).
	Kernel string
	// Stub is BOOT_ND.BIN, needed for kernel ELFs.
	Stub string
	// UEFI boots through OVMF instead of SeaBIOS. It needs an ISO: QEMU's
	// -kernel multiboot loader only exists under BIOS.
	UEFI bool
	// OVMFCode and OVMFVars override the firmware found by FindOVMF.
	OVMFCode, OVMFVars string
	SMP                int    // CPUs; 0 means 1
	Mem                string // memory size (-m); "" means 512M
	Append             string // kernel command line (ELF fast path only; ISOs carry theirs)
	// Timeout kills QEMU after this long; 0 means no limit.
	Timeout time.Duration
	// DumpOnTimeout, with a Timeout, makes a guest that outlives it print
	// the kernel's NMI dump (every CPU and thread, runtime/vk_dump.go)
	// before QEMU is killed: QEMU's monitor injects an NMI, and the
	// serial output is let through until it falls quiet. It needs no
	// Monitor of the caller's; one is made for it when there is none.
	DumpOnTimeout bool
	// Accel is "auto" (or ""), "tcg" or "kvm"; see ResolveAccel.
	Accel string
	// GDBPort, if set, puts the guest's second serial port (COM2, where
	// the kernel's gdb stub listens with the "debug" option) on this TCP
	// port of localhost.
	GDBPort string
	// QEMUGDB, if set, is a TCP port for QEMU's own gdbstub (the virtual
	// CPU, below the kernel); QEMUGDBWait also makes the guest wait for
	// the debugger (-S).
	QEMUGDB     string
	QEMUGDBWait bool
	// SerialLog, if set, receives a copy of the raw serial output.
	SerialLog string
	// Interactive puts the serial console on the terminal: Stdin is
	// forwarded to the guest, and Ctrl-A X quits (QEMU's mux).
	Interactive bool
	Stdin       io.Reader // default os.Stdin (Interactive only)
	Stdout      io.Writer // serial output; default os.Stdout
	// Stderr, if set, also receives QEMU's own error output as it comes:
	// its warnings and errors, such as a virtio device it declared broken
	// and stopped serving (otherwise seen only in Run's error).
	Stderr io.Writer
	Extra  []string // further QEMU arguments
	Binary string   // default qemu-system-x86_64
	// NetNS runs QEMU in this network namespace (ip netns exec), where
	// the caller made the tap device of Net.Tap.
	NetNS string

	// Display is QEMU's -display: "" or "none" for headless (serial
	// only; the guest's VGA still exists and screendump sees it), else a
	// QEMU display such as "gtk" or "sdl" (ResolveDisplay picks one).
	Display string
	// Monitor, if set, is a Unix socket path where QEMU's human monitor
	// listens (tests send screendump, mouse_move, sendkey through it).
	Monitor string
}

// Result describes a finished boot.
type Result struct {
	ExitCode  int           // what the guest wrote to port 0xf4
	FirstByte time.Duration // time until the first serial byte; 0 if none
	Elapsed   time.Duration
}

// Kind is what sort of bootable file a path holds.
type Kind int

const (
	KindKernelELF Kind = iota // 64-bit ELF: booted through the stub
	KindISO                   // CD image
	KindMultiboot             // anything else: QEMU's -kernel loader
)

// Detect looks at a file's magic numbers to decide how to boot it.
func Detect(path string) (Kind, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	head := make([]byte, 5)
	if _, err := io.ReadFull(f, head); err != nil {
		return 0, fmt.Errorf("%s: too short to boot", path)
	}
	if string(head[:4]) == "\x7fELF" {
		if head[4] == 2 { // ELFCLASS64
			return KindKernelELF, nil
		}
		return KindMultiboot, nil
	}
	iso := make([]byte, 5)
	if _, err := f.ReadAt(iso, 0x8001); err == nil && string(iso) == "CD001" {
		return KindISO, nil
	}
	return KindMultiboot, nil
}

// DefaultBinary is the QEMU system emulator used when Config.Binary is empty.
const DefaultBinary = "qemu-system-x86_64"

func (c *Config) binary() string {
	if c.Binary != "" {
		return c.Binary
	}
	return DefaultBinary
}

// Args returns QEMU's command line for c with the accelerator already
// resolved. varsFile is the writable OVMF variable store for UEFI boots.
func (c *Config) Args(kind Kind, accel, varsFile string) ([]string, error) {
	mem := c.Mem
	if mem == "" {
		mem = "512M"
	}
	smp := c.SMP
	if smp <= 0 {
		smp = 1
	}
	serial := "stdio"
	if c.Interactive {
		serial = "mon:stdio"
	}
	display, monitor := "none", "none"
	if c.Display != "" {
		display = c.Display
	}
	if c.Monitor != "" {
		monitor = "unix:" + escapeOpt(c.Monitor) + ",server=on,wait=off"
	}
	args := []string{
		"-display", display, "-monitor", monitor, "-serial", serial, "-parallel", "none",
		"-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-accel", accel, "-cpu", "max", "-smp", fmt.Sprint(smp), "-m", mem,
		"-nic", "none",
	}
	if c.UEFI {
		if kind != KindISO {
			return nil, errors.New("UEFI boots need an ISO image (QEMU's -kernel loader is BIOS only)")
		}
		code := c.OVMFCode
		if code == "" {
			var err error
			if code, _, err = FindOVMF(); err != nil {
				return nil, err
			}
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,readonly=on,file="+escapeOpt(code),
			"-drive", "if=pflash,format=raw,file="+escapeOpt(varsFile))
	}
	switch kind {
	case KindISO:
		args = append(args, "-drive", "media=cdrom,readonly=on,file="+escapeOpt(c.Kernel), "-boot", "d")
	case KindKernelELF:
		if c.Stub == "" {
			return nil, fmt.Errorf("%s is a kernel ELF: booting it needs the BOOT_ND.BIN stub", c.Kernel)
		}
		if err := checkModulePath(c.Kernel); err != nil {
			return nil, err
		}
		args = append(args, "-kernel", c.Stub, "-initrd", c.Kernel, "-append", c.Append)
	case KindMultiboot:
		args = append(args, "-kernel", c.Kernel, "-append", c.Append)
	}
	if c.GDBPort != "" {
		// COM2 follows COM1 (-serial above). The kernel waits for gdb
		// itself (debug=wait), so QEMU does not wait for a connection.
		// nodelay: the UART hands QEMU a reply a byte at a time, so with
		// Nagle on, every reply after the '+' waited for gdb's delayed
		// ACK, about 40 ms; a 4.4 s test session takes 0.9 s without it.
		args = append(args, "-serial", "tcp:127.0.0.1:"+c.GDBPort+",server=on,wait=off,nodelay=on")
	}
	if c.QEMUGDB != "" {
		args = append(args, "-gdb", "tcp:127.0.0.1:"+c.QEMUGDB) // localhost only, as every port the tool opens
		if c.QEMUGDBWait {
			args = append(args, "-S")
		}
	}
	return append(args, c.Extra...), nil
}

// ResolveDisplay turns velocity run's -display value into QEMU's: "auto"
// is a window ("gtk") when the environment has a graphical session
// ($DISPLAY or $WAYLAND_DISPLAY), else "none"; "" is "none"; anything else
// is passed to QEMU as it is.
func ResolveDisplay(mode string, getenv func(string) string) string {
	switch mode {
	case "", "none":
		return "none"
	case "auto":
		if getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != "" {
			return "gtk"
		}
		return "none"
	}
	return mode
}

// escapeOpt escapes commas for QEMU's key=value option syntax.
func escapeOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// checkModulePath rejects paths QEMU's multiboot -initrd cannot carry: it
// splits the list on commas and a module's path from its command line on
// the first space.
func checkModulePath(p string) error {
	if strings.ContainsAny(p, " ,") {
		return fmt.Errorf("kernel path %q contains a space or comma, which QEMU's -initrd cannot pass", p)
	}
	return nil
}

// Run boots c and waits for the guest to exit, the timeout, or ctx.
func Run(ctx context.Context, c Config) (Result, error) {
	kind, err := Detect(c.Kernel)
	if err != nil {
		return Result{}, err
	}
	accel, err := ResolveAccel(ctx, c.Accel, c.binary())
	if err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp("", "velocity-qemu-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)

	if kind == KindKernelELF && strings.ContainsAny(c.Kernel, " ,") {
		// Give QEMU a path it can parse.
		link := filepath.Join(tmp, "kernel.elf")
		abs, err := filepath.Abs(c.Kernel)
		if err != nil {
			return Result{}, err
		}
		if err := os.Symlink(abs, link); err != nil {
			return Result{}, err
		}
		c.Kernel = link
	}
	var varsFile string
	if c.UEFI {
		vars := c.OVMFVars
		if vars == "" {
			if _, vars, err = FindOVMF(); err != nil {
				return Result{}, err
			}
		}
		// The variable store is written by the firmware; each boot gets a
		// fresh copy so boots do not influence each other.
		varsFile = filepath.Join(tmp, "OVMF_VARS.fd")
		if err := copyFile(vars, varsFile); err != nil {
			return Result{}, err
		}
	}
	dumpMon := c.Monitor
	if c.DumpOnTimeout && c.Timeout > 0 && dumpMon == "" {
		dumpMon = filepath.Join(tmp, "mon.sock")
		if len(dumpMon) < 100 { // a Unix socket path's limit, with room
			c.Monitor = dumpMon
		} else {
			dumpMon = ""
		}
	}
	args, err := c.Args(kind, accel, varsFile)
	if err != nil {
		return Result{}, err
	}
	if !c.DumpOnTimeout {
		dumpMon = ""
	}
	return run(ctx, c, args, dumpMon)
}

func run(ctx context.Context, c Config, args []string, dumpMon string) (Result, error) {
	stdout := c.Stdout
	if stdout == nil {
		stdout = os.Stdout
	}
	if c.SerialLog != "" {
		if err := os.MkdirAll(filepath.Dir(c.SerialLog), 0o755); err != nil {
			return Result{}, err
		}
		log, err := os.Create(c.SerialLog)
		if err != nil {
			return Result{}, err
		}
		defer log.Close()
		stdout = io.MultiWriter(stdout, log)
	}
	start := time.Now()
	serial := &firstByteWriter{w: stdout, start: start}
	stderr := &tailBuffer{max: 64 << 10}

	cmd := exec.Command(c.binary(), args...)
	if c.NetNS != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", c.NetNS, c.binary()}, args...)...)
	}
	kvm := newKVMWatch()
	cmd.Stdout = serial
	cmd.Stderr = io.MultiWriter(stderr, kvm)
	if c.Stderr != nil {
		cmd.Stderr = io.MultiWriter(c.Stderr, stderr, kvm)
	}
	if c.Interactive {
		cmd.Stdin = c.Stdin
		if cmd.Stdin == nil {
			cmd.Stdin = os.Stdin
		}
		cmd.Stderr = io.MultiWriter(os.Stderr, cmd.Stderr)
	}
	cmd.WaitDelay = 2 * time.Second // do not hang on pipes if QEMU leaves children
	dieWithParent(cmd)
	// The parent-death signal follows the thread that forked, not the
	// process: keep this goroutine on its thread until QEMU has exited
	// (every return below waits for it), so no other goroutine can lock
	// that thread and end it (see deathsig_linux.go).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("starting %s: %w", c.binary(), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var timeout <-chan time.Time
	if c.Timeout > 0 {
		t := time.NewTimer(c.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var waitErr error
	select {
	case waitErr = <-done:
	case <-timeout:
		dumped := false
		if dumpMon != "" {
			dumped = requestDump(dumpMon, serial, done)
		}
		cmd.Process.Kill()
		<-done
		return serial.result(start), &TimeoutError{After: c.Timeout, Stderr: stderr.String(), Dumped: dumped}
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return serial.result(start), ctx.Err()
	case <-kvm.seen:
		// QEMU pauses the machine after printing the report: give it
		// the time to finish the register dump, then end it.
		exited := false
		select {
		case <-kvm.done:
		case <-time.After(2 * time.Second):
		case <-done:
			exited = true
		}
		if !exited {
			cmd.Process.Kill()
			<-done
		}
		if e, ok := parseKVMError(stderr.String()); ok {
			return serial.result(start), e
		}
		return serial.result(start), fmt.Errorf("qemu: KVM reported an internal error%s", stderrSuffix(stderr.String()))
	}
	res := serial.result(start)
	return res, mapExit(cmd.ProcessState, waitErr, stderr.String(), &res)
}

// mapExit turns QEMU's exit into the guest's exit code or an error.
func mapExit(ps *os.ProcessState, waitErr error, stderr string, res *Result) error {
	if ps == nil {
		return fmt.Errorf("qemu: %v%s", waitErr, stderrSuffix(stderr))
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &ExitError{Status: -1, Signal: ws.Signal().String(), Stderr: stderr}
	}
	status := ps.ExitCode()
	if status == 1 && reportsError(stderr) {
		// QEMU's own failures also exit with 1, the status of guest code 0.
		return &ExitError{Status: status, Stderr: stderr}
	}
	if code, ok := GuestExitCode(status); ok {
		res.ExitCode = code
		return nil
	}
	return &ExitError{Status: status, Stderr: stderr}
}

// reportsError tells whether QEMU printed anything but warnings, which is
// how a failing QEMU (status 1) differs from a guest exiting with code 0.
func reportsError(stderr string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.Contains(strings.ToLower(line), "warning") {
			return true
		}
	}
	return false
}

// firstByteWriter notes when the guest first wrote to the serial port, the
// latency the accelerator probe compares.
type firstByteWriter struct {
	w     io.Writer
	start time.Time
	mu    sync.Mutex
	first time.Duration
	last  time.Time // when the guest last wrote
}

func (f *firstByteWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	if f.first == 0 && len(p) > 0 {
		f.first = time.Since(f.start)
	}
	if len(p) > 0 {
		f.last = time.Now()
	}
	f.mu.Unlock()
	return f.w.Write(p)
}

func (f *firstByteWriter) lastWrite() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// Dump timing: how long the serial output must stay quiet after the NMI
// before the dump counts as printed, how long a guest that prints nothing
// (not a Velocity kernel, or one too far gone) is given, and the most the
// dump may take.
const (
	dumpQuiet = 1500 * time.Millisecond
	dumpFirst = 3 * time.Second
	dumpMax   = 15 * time.Second
)

// requestDump asks QEMU's monitor at sock for an NMI and waits until the
// guest's serial output has been quiet for dumpQuiet (see above for the
// limits), or until QEMU exits, which it leaves on done for the caller.
// It reports whether the NMI was sent.
func requestDump(sock string, serial *firstByteWriter, done chan error) bool {
	conn, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	sent := time.Now()
	if _, err := io.WriteString(conn, "nmi\n"); err != nil {
		return false
	}
	for {
		select {
		case err := <-done:
			done <- err // the caller waits for it too
			return true
		case <-time.After(100 * time.Millisecond):
		}
		last := serial.lastWrite()
		switch {
		case last.After(sent) && time.Since(last) > dumpQuiet,
			!last.After(sent) && time.Since(sent) > dumpFirst,
			time.Since(sent) > dumpMax:
			return true
		}
	}
}

func (f *firstByteWriter) result(start time.Time) Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Result{FirstByte: f.first, Elapsed: time.Since(start)}
}

// tailBuffer keeps the last max bytes written, enough for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if extra := t.buf.Len() - t.max; extra > 0 {
		t.buf.Next(extra)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// LastLines is the end of a console's text for an error message: at most
// its last n lines, each ended by a newline.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\r\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
