package build

import (
	"strings"
	"testing"
)

// SipHash's edits apply to the gVisor that go.mod pins, and the patched
// and added files parse as package tcp.
func TestPatchISN(t *testing.T) {
	dir := pinnedGvisor(t)
	out, err := patchGvisor(dir, isnEdits)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Fatalf("%d files patched, want 2", len(out))
	}
	added, err := isnFiles()
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range added {
		out[name] = src
	}
	parseAsTCP(t, out)
	if !strings.Contains(out["pkg/tcpip/transport/tcp/connect.go"], "return velocitySecureISN(id, clock, seed)") ||
		!strings.Contains(out["pkg/tcpip/transport/tcp/protocol.go"], "velocityTSOffset(p.tsOffsetSecret, src, dst)") {
		t.Error("a hash's call site is not patched")
	}
	if !strings.Contains(added["pkg/tcpip/transport/tcp/zz_velocity_siphash.go"], "func velocitySipHash24(") {
		t.Error("SipHash's file lacks velocitySipHash24")
	}
}
