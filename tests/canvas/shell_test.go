package canvas_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
)

// TestShellBesideCanvas: with -interactive, the console shell answers on
// serial while the canvas keeps drawing, and exit ends the demo with the
// status given.
func TestShellBesideCanvas(t *testing.T) {
	testenv.Need(t, "qemu")
	kernel, stub := testenv.Get(t, kernelOnce), testenv.Get(t, stubOnce)
	cmdline, err := build.KernelCmdline(nil, nil, []string{"-seconds", "1", "-interactive", "-size", fmt.Sprintf("%dx%d", width, height)})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(outDir, "monitor-shell.sock")
	r, w, err := os.Pipe() // an *os.File: QEMU reads it directly
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	out := &lines{ch: make(chan string, 4096)}
	done := make(chan struct{})
	var res qemu.Result
	var runErr error
	go func() {
		defer close(done)
		res, runErr = qemu.Run(context.Background(), qemu.Config{Kernel: kernel, Stub: stub, SMP: 2, Append: cmdline,
			Accel: "tcg", Stdout: out, Timeout: bootTimeout, Monitor: sock, Interactive: true, Stdin: r})
		r.Close()
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serial output:\n%s", out.String())
		}
	})
	mon := dialMonitor(t, sock)
	defer mon.c.Close()
	await(t, out.ch, done, `^demo: interactive: the console shell runs on serial`)
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q on serial", want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("velocity> ")
	io.WriteString(w, "cpus\r")
	waitFor("cpu1")
	// The canvas is still drawing the graph beside the shell.
	if n := len(nodeBlobs(mon.shot(t, "shell"))); n == 0 {
		t.Error("no nodes on the canvas while the shell runs")
	}
	io.WriteString(w, "exit 3\r")
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the demo did not end after exit")
	}
	if runErr != nil {
		t.Fatalf("boot: %v", runErr)
	}
	if res.ExitCode != 3 {
		t.Errorf("demo exited %d, want 3 (exit 3 in the shell)", res.ExitCode)
	}
}
