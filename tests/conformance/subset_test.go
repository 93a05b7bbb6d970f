// Package conformance_test is the fast subset of make conformance that runs
// in make test: a few standard-library packages whose own tests pass inside
// the unikernel in seconds, run exactly as make conformance runs all 40
// (velocity test -smp 2, one boot per package; see bench/conformance and
// docs/conformance.md). It skips when QEMU or binutils are missing.
package conformance_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
)

// Subset are standard-library packages whose tests pass inside Velocity with
// -smp 2 in a few seconds each under TCG.
var Subset = []string{"container/list", "container/ring", "unicode/utf8", "errors", "math/bits", "hash/fnv"}

func TestStdlibSubset(t *testing.T) {
	for _, tool := range []string{qemu.DefaultBinary, "as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/deps.sh installs QEMU and binutils)", tool)
		}
	}
	velocity := filepath.Join(t.TempDir(), "velocity")
	cmd := exec.Command(build.GoCmd, "build", "-o", velocity, "../../cmd/velocity")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building velocity: %v\n%s", err, out)
	}
	args := append([]string{"test", "-smp", "2", "-count=1", "-timeout", "3m"}, Subset...)
	start := time.Now()
	cmd = exec.Command(velocity, args...)
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	t.Logf("velocity %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Second))
	text := string(out)
	for _, pkg := range Subset {
		ok := regexp.MustCompile(`(?m)^ok  \t` + regexp.QuoteMeta(pkg) + `\t`)
		if !ok.MatchString(text) {
			t.Errorf("%s did not pass inside the unikernel", pkg)
		}
	}
	if err != nil || t.Failed() {
		t.Fatalf("velocity test: %v\n%s", err, text)
	}
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "ok ") {
			t.Log(l)
		}
	}
}
