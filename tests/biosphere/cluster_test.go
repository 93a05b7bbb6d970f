package biosphere

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/testenv"
)

// TestClusterCommand: `velocity run -cluster 2 IMAGE` boots two nodes of
// images/biosphere on one LAN, each told of the other by peers=; with no
// arguments node 1 publishes and heals the slow module, and node 2
// imports it by CID from node 1, runs it and adopts node 1's variant
// after validating it. Ctrl-C (SIGINT to velocity) stops both.
func TestClusterCommand(t *testing.T) {
	testenv.Need(t, "qemu")
	kernel, stub := testenv.Get(t, bioOnce), testenv.Get(t, stubOnce)
	velocity := filepath.Join(t.TempDir(), "velocity")
	if out, err := exec.Command(build.GoCmd, "build", "-o", velocity, "../../cmd/velocity").CombinedOutput(); err != nil {
		t.Fatalf("building velocity: %v\n%s", err, out)
	}
	out := new(syncBuffer)
	cmd := exec.Command(velocity, "run", "-accel", "tcg", "-cluster", "2", "-timeout", "4m", "-stub", stub, kernel)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		t.Logf("velocity run -cluster 2:\n%s", out)
	}()
	g := &guest{name: "cluster", serial: out, done: make(chan error, 1)}
	for _, re := range []string{
		`\[node 1\] BIO node1 key \S+, peers \[http://10\.0\.9\.2:80\], 2 blocks, roots \[(\S+)\]`,
		`\[node 2\] BIO node2 key \S+, peers \[http://10\.0\.9\.1:80\], 0 blocks`,
		`\[node 2\] BIO node2 imported \S+: 2 blocks \(2 fetched`,
		`\[node 1\] \[Biosphere\] published record \S+: \S+ replaces \S+ in slot Work`,
		`\[node 2\] \[Biosphere\] adopted \S+ for slot Work \(replacing \S+; record \S+ from http://10\.0\.9\.1:80, `,
		`\[node 1\] BIO node1 done`,
		`\[node 2\] BIO node2 done`,
	} {
		g.wait(t, re, 3*time.Minute)
	}
	calls := regexp1(`\[node \d\] BIO node\d call \S+ (Work\(500\) = \d+) `, out.String())
	if len(calls) != 4 || strings.Count(strings.Join(calls, "\n"), "Work(500) = 998000") != 4 {
		t.Fatalf("calls: %q", calls)
	}
	if strings.Contains(out.String(), " FAIL ") {
		t.Fatal("a node failed")
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Fatalf("velocity run after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("velocity run did not stop on SIGINT")
	}
	for _, w := range []string{"velocity run: node 1 exited with 130", "velocity run: node 2 exited with 130"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("no %q", w)
		}
	}
}
