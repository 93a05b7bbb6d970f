package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const orphanHelperEnv = "VELOCITY_QEMU_ORPHAN_HELPER"

// TestQEMUDiesWithItsParent starts a stand-in for QEMU (a shell script
// that records its pid and sleeps) through run, from a child process that
// is then killed as go test kills a test binary on -timeout; the stand-in
// must not outlive it.
func TestQEMUDiesWithItsParent(t *testing.T) {
	if script := os.Getenv(orphanHelperEnv); script != "" {
		// The child: run the stand-in and wait to be killed.
		run(context.Background(), Config{Binary: script, Stdout: os.Stdout}, nil, "")
		return
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	script := filepath.Join(dir, "fake-qemu")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestQEMUDiesWithItsParent$")
	child.Env = append(os.Environ(), orphanHelperEnv+"="+script)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(20 * time.Second); ; {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			break
		}
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatal("the stand-in QEMU never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	child.Process.Kill()
	child.Wait()
	for deadline := time.Now().Add(10 * time.Second); alive(pid); {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("QEMU (pid %d) outlived the process that started it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie waiting for init counts as
// dead).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
