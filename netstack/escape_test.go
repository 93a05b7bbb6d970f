package netstack

import (
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestDirectEntriesKeepDgramOnStack: sendto's destination reaches the
// handler as a slice into the calling goroutine's stack, held in a dgram
// in the nosplit entry's frame (direct_velocity.go). A heap object may
// not point into a stack (the stack copier moves only pointers in frames),
// so that dgram must never be moved to the heap, and recvfrom's should not
// be either (an allocation per call). The compiler's escape analysis
// decides; this asks it.
func TestDirectEntriesKeepDgramOnStack(t *testing.T) {
	gobin := runtime.GOROOT() + "/bin/go"
	// Without a profile, and with the one kernels are built with
	// (internal/build/kernelpgo.go), which inlines differently.
	for _, pgo := range []string{"off", "../internal/build/kernel.pgo"} {
		cmd := exec.Command(gobin, "build", "-tags", "velocity", "-pgo="+pgo, "-gcflags=-m", ".")
		cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go build -pgo=%s -gcflags=-m: %v\n%s", pgo, err, out)
		}
		if !strings.Contains(string(out), "direct_velocity.go") {
			t.Fatalf("-pgo=%s: no escape analysis output for direct_velocity.go:\n%s", pgo, out)
		}
		moved := regexp.MustCompile(`direct_velocity\.go:\d+:\d+: moved to heap: \w+`)
		if m := moved.FindAllString(string(out), -1); len(m) > 0 {
			t.Errorf("-pgo=%s: the direct path's entries keep their variables in the stack; the compiler moved some to the heap:\n%s", pgo, strings.Join(m, "\n"))
		}
	}
}
