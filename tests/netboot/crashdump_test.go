package netboot

import (
	"strings"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/testenv"
)

// TestStackGoroutinesInCrashDump: the network stack's goroutines are
// system goroutines (internal/build/netgoroutines.go), hidden from the
// program's dumps (tests/net TestStackGoroutinesHidden) but printed in a
// crash dump with GOTRACEBACK=system, as the runtime's own are.
func TestStackGoroutinesInCrashDump(t *testing.T) {
	testenv.Need(t, "qemu")
	for _, tc := range []struct {
		traceback string
		shown     bool
	}{{"system", true}, {"all", false}} {
		res, serial := bootNetTests(t, 2, []string{"GOTRACEBACK=" + tc.traceback, "VELOCITY_NET_PANIC=1"}, 2*time.Minute,
			"-test.run=TestStackGoroutinesInCrashDump")
		if res.ExitCode == 0 || !strings.Contains(serial, "panic: velocity: crash dump requested") {
			t.Fatalf("GOTRACEBACK=%s: the test binary did not crash as asked (exit %d):\n%s", tc.traceback, res.ExitCode, serial)
		}
		// gVisor's TCP processors start with the stack and never end.
		shown := strings.Contains(serial, "created by vendor/gvisor.dev/gvisor/pkg/tcpip/transport/tcp.")
		if shown != tc.shown {
			t.Errorf("GOTRACEBACK=%s: the crash dump shows the network stack's goroutines: %v, want %v:\n%s", tc.traceback, shown, tc.shown, serial)
		}
	}
}
