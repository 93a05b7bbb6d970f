package shell

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/velocityos/velocity/kernel"
)

// FuzzExec: any line typed at the console gets output or an error line,
// never a panic. (load and prof are given work that ends at once, so the
// fuzzer does not start hashing goroutines or wait for samples.)
func FuzzExec(f *testing.F) {
	for _, s := range []string{"help", "help prof", "top 3", "top -1", "prof", "prof -hz 0 1", "prof -hz 99999999 1 x",
		"mem", "cpus", "exit", "exit 200", "exit x", "modules", "bogus", "\x7f\x7fhelp", "\b", "load -5", "prof 1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.HasPrefix(strings.TrimSpace(line), "load") {
			return // starts background goroutines for real; covered by TestLoadTopMemCPUs
		}
		sh := &Shell{In: strings.NewReader(""), Out: io.Discard, TmpDir: t.TempDir(),
			profileCPU: func(time.Duration, int) (*kernel.CPUProfile, error) { return nil, kernel.ErrNotVelocity }}
		sh.Exec(line)
	})
}
