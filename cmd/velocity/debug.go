package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/velocityos/velocity/internal/build"
)

// defaultDebugPort is the TCP port velocity debug puts COM2 (the kernel's
// gdb stub) on unless -gdb-port says otherwise.
const defaultDebugPort = "1234"

// cmdDebug builds PKG (default: the demo), boots it with COM2 on a TCP
// port and the kernel option debug=wait, and prints the gdb command that
// attaches to the stub. The ELF stays until the guest exits.
func cmdDebug(args []string) int {
	fs := newFlagSet("debug")
	var b bootFlags
	b.register(fs)
	if ok, st := parse(fs, args); !ok {
		return st
	}
	if b.gdbPort == "" {
		b.gdbPort = defaultDebugPort
	}
	if !isSet(fs, "timeout") {
		b.timeout = 0
	}
	target, extra := "./images/demo", fs.Args()
	if fs.NArg() > 0 && fs.Arg(0) != "--" {
		target, extra = fs.Arg(0), fs.Args()[1:]
	} else if st, err := os.Stat(target); err != nil || !st.IsDir() {
		fmt.Fprintln(os.Stderr, "velocity debug: no package given and ./images/demo is not here (run it from the Velocity checkout, or name a package)")
		return exitUsage
	}
	if len(extra) > 0 && extra[0] == "--" {
		extra = extra[1:]
	}
	tmp, err := os.MkdirTemp("", "velocity-debug-")
	if err != nil {
		return fail("debug", err)
	}
	defer os.RemoveAll(tmp)
	elf := target
	if st, err := os.Stat(target); err != nil || st.IsDir() {
		elf = filepath.Join(tmp, "kernel.elf")
		if err := build.Build(target, elf, nil); err != nil {
			return fail("debug", err)
		}
	}
	b.appendLine = "debug=wait " + b.appendLine
	cmdline, err := b.kernelCmdline(nil)
	if err != nil {
		return fail("debug", err)
	}
	c, err := b.config(elf, tmp, cmdline)
	if err != nil {
		return fail("debug", err)
	}
	c.Extra = extra
	goroot, _ := build.GOROOT("")
	abs, err := filepath.Abs(elf)
	if err != nil {
		return fail("debug", err)
	}
	fmt.Fprintf(os.Stderr, "velocity debug: the kernel stops before Go starts and waits for gdb on localhost:%s (COM2).\n"+
		"Attach from another terminal with:\n\n  %s\n\n(QEMU ends with the guest; Ctrl-C here kills it.)\n",
		b.gdbPort, shellJoin(GDBCommand(abs, b.gdbPort, goroot, kernelSourceDir())))
	return boot("debug", c)
}

// GDBCommand is the gdb command line that attaches to the kernel stub on
// localhost:port: gdb with the kernel ELF (Go's DWARF) and, when the Go
// installation has it, Go's runtime-gdb.py loaded explicitly (its
// auto-load would only print a safe-path warning). srcDir, if not empty,
// is where the kernel's own sources are: the DWARF names them by overlay
// paths under GOROOT that do not exist, and gdb then looks up the file
// name in its source directories.
func GDBCommand(elf, port, goroot, srcDir string) []string {
	cmd := []string{"gdb", "-q"}
	if srcDir != "" {
		cmd = append(cmd, "-ex", "directory "+srcDir)
	}
	if goroot != "" {
		py := filepath.Join(goroot, "src", "runtime", "runtime-gdb.py")
		if _, err := os.Stat(py); err == nil {
			cmd = append(cmd, "-iex", "set auto-load python-scripts off", "-ex", "source "+py)
		}
	}
	return append(cmd, "-ex", "target remote localhost:"+port, elf)
}

// shellJoin quotes args for a POSIX shell, only where needed.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=+,@") == "" {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// kernelSourceDir is build.SourceDir, or "" if it cannot be had (gdb then
// just shows no kernel source).
func kernelSourceDir() string {
	d, err := build.SourceDir()
	if err != nil {
		return ""
	}
	return d
}
