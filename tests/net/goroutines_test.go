package net

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/velocityos/velocity/kernel"
)

// stackPackages prefix the functions of the kernel's network stack as the
// build vendors them (internal/build/netgoroutines.go).
var stackPackages = []string{"vendor/github.com/velocityos/velocity/", "vendor/gvisor.dev/gvisor/"}

func inStack(fn string) bool {
	for _, p := range stackPackages {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// startFunctions dumps every goroutine runtime.Stack shows and returns the
// function each one started in: the last frame of its stack.
func startFunctions() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var starts []string
	for _, g := range strings.Split(strings.TrimSpace(string(buf)), "\n\n") {
		last := ""
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "created by ") {
				break
			}
			if line != "" && !strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, "goroutine ") {
				last, _, _ = strings.Cut(line, "(0x")
				last = strings.TrimSuffix(last, "(...)")
			}
		}
		starts = append(starts, last)
	}
	return starts
}

// TestStackGoroutinesHidden: the network stack's goroutines are the
// kernel's, as Linux's network stack runs in kernel threads no program
// sees. A program's goroutine dump and goroutine profile leave them out,
// so leak checks (net/http's tests' own, goleak) see only the program's.
// A crash dump with GOTRACEBACK=system shows them, as it does the
// runtime's (TestStackGoroutinesInCrashDump).
func TestStackGoroutinesHidden(t *testing.T) {
	if !kernel.OnVelocity() {
		t.Skip("the kernel's network stack: Linux runs it in kernel threads")
	}
	// A connection through the stack, so that its goroutines have started.
	c, s := tcpPair(t)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}

	for _, fn := range startFunctions() {
		if inStack(fn) {
			t.Errorf("runtime.Stack shows a goroutine of the network stack, started in %s", fn)
		}
	}
	var prof bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&prof, 1); err != nil {
		t.Fatal(err)
	}
	for _, rec := range strings.Split(prof.String(), "\n\n") {
		bottom := ""
		for _, line := range strings.Split(rec, "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" {
				bottom = f[2]
			}
		}
		if inStack(bottom) {
			t.Errorf("the goroutine profile shows a goroutine of the network stack, started in %s", bottom)
		}
	}
}

// TestStackGoroutinesInCrashDump panics with a connection open, only when
// VELOCITY_NET_PANIC=1 asks for it: tests/netboot boots it with
// GOTRACEBACK=system and finds the stack's goroutines in the crash dump,
// which is how a kernel developer sees them.
func TestStackGoroutinesInCrashDump(t *testing.T) {
	if os.Getenv("VELOCITY_NET_PANIC") != "1" {
		t.Skip("crashes the test binary: tests/netboot runs it")
	}
	tcpPair(t)
	panic("velocity: crash dump requested (VELOCITY_NET_PANIC=1)")
}
