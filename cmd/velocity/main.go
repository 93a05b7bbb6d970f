// Command velocity builds Go programs into Velocity unikernels, packs them
// into bootable ISO images, and boots them under QEMU, including as the
// -exec program of go test so a package's tests run inside the kernel.
//
// Usage:
//
//	velocity build [-o kernel.elf] [-test] PKG [go build flags]
//	velocity image [-o out.iso] [-append 'cmdline'] [-fs PATH]... [-gfx WxH] PKG|kernel.elf
//	velocity run   [boot flags] [-i] [-display none|auto|gtk] IMAGE|PKG|ELF [-- qemu args]
//	velocity exec  [boot flags] TESTBINARY ARGS...
//	velocity test  [-smp N] [-m SIZE] [go test flags] PKGS...
//	velocity mod   [-store DIR] add|cat|graph|pack|verify|run ...
//	velocity debug [boot flags] [PKG|ELF] [-- qemu args]
//	velocity heal  [-goroutines N] [-n N] [-rule RULE] [-pprof FILE]
//	velocity llm   info|run|gen|bench ...
//
// Exit status: run and exec exit with the guest's exit code; 124 means the
// guest timed out, 125 that velocity or QEMU failed, 2 a usage error.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
)

// Exit statuses of velocity itself; run and exec otherwise pass on the
// guest's code.
const (
	exitUsage   = 2
	exitTimeout = 124 // as timeout(1)
	exitFailure = 125 // velocity or QEMU failed; no guest exit code
)

type command struct {
	name, usage, summary string
	run                  func(args []string) int
}

var commands []command

func init() {
	commands = []command{
		{"build", "[-o kernel.elf] [-test] PKG [go build flags]", "build a Go main package (or its tests) into a kernel ELF", cmdBuild},
		{"image", "[-o out.iso] [-append 'cmdline'] [-stub BOOT_ND.BIN] [-fs PATH]... [-gfx WxH] PKG|kernel.elf", "make a bootable BIOS+UEFI ISO with GRUB", cmdImage},
		{"run", "[boot flags] [-i] [-display none|auto|gtk] IMAGE|PKG|ELF [-- qemu args]", "boot under QEMU and exit with the guest's exit code", cmdRun},
		{"exec", "[boot flags] TESTBINARY ARGS...", "boot a test binary with ARGS (go test -exec)", cmdExec},
		{"test", "[-smp N] [-m SIZE] [go test flags] PKGS...", "run go test with each test binary inside the unikernel", cmdTest},
		{"mod", "[-store DIR] add|cat|graph|pack|verify|run|fetch|serve|import|export ...", "manage the content-addressed module store and run modules", cmdMod},
		{"heal", "[-goroutines N] [-n N] [-rule RULE] [-pprof FILE]", "demo the self-healing loop on the host: detect, optimize, validate, hot-swap", cmdHeal},
		{"llm", "info|run|gen|bench ...", "run the on-board LLM engine on the host: inspect a GGUF model, generate text, make a random test model, benchmark against llama.cpp", cmdLLM},
		{"debug", "[boot flags] [PKG|ELF] [-- qemu args]", "boot PKG (default ./images/demo) waiting for gdb on COM2 (TCP port -gdb-port, default " + defaultDebugPort + ") and print the gdb command", cmdDebug},
	}
}

func main() {
	os.Exit(velocity(os.Args[1:]))
}

func velocity(args []string) int {
	if len(args) == 0 {
		usage()
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage()
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:])
		}
	}
	fmt.Fprintf(os.Stderr, "velocity: unknown command %q\n", args[0])
	usage()
	return exitUsage
}

func usage() {
	fmt.Fprintln(os.Stderr, "Usage: velocity COMMAND [flags] ...\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-6s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'velocity COMMAND -h' for a command's flags.\n\n%s\n", build.CmdlineGrammar)
}

func commandUsage(name string) string {
	for _, c := range commands {
		if c.name == name {
			return fmt.Sprintf("Usage: velocity %s %s\n\n%s.\n", c.name, c.usage, c.summary)
		}
	}
	return ""
}

// fail reports err and returns the matching exit status.
func fail(cmd string, err error) int {
	fmt.Fprintf(os.Stderr, "velocity %s: %v\n", cmd, err)
	var te *qemu.TimeoutError
	if errors.As(err, &te) {
		return exitTimeout
	}
	return exitFailure
}
