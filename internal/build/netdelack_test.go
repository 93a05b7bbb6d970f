package build

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pinnedGvisor is the module directory of the gVisor that go.mod pins;
// the test is skipped without a module cache or proxy to get it from.
func pinnedGvisor(t *testing.T) string {
	t.Helper()
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	version := requiredVersions(gomod)["gvisor.dev/gvisor"]
	if version == "" {
		t.Fatal("go.mod does not require gvisor.dev/gvisor")
	}
	dir, err := moduleDir("gvisor.dev/gvisor", version)
	if err != nil {
		t.Skip(err) // no module cache and no proxy: nothing to check against
	}
	return dir
}

// The delayed ACK's edits must apply to the gVisor that go.mod pins, and
// the results must parse; a file whose text changed is refused, not half
// patched.
func TestPatchDelack(t *testing.T) {
	dir := pinnedGvisor(t)
	out, err := patchGvisor(dir, delackEdits)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 4 {
		t.Fatalf("%d files patched, want 4", len(out))
	}
	out["pkg/tcpip/transport/tcp/zz_velocity_delack.go"] = delackFile
	parseAsTCP(t, out)
	if n := strings.Count(out["pkg/tcpip/transport/tcp/snd.go"], "s.ep.velocityAckSent()"); n != 2 {
		t.Errorf("velocityAckSent called in %d places of snd.go, want 2", n)
	}
	if n := strings.Count(out["pkg/tcpip/transport/tcp/rcv.go"], "if !r.ep.velocityDelayFinAck() {"); n != 1 {
		t.Errorf("velocityDelayFinAck asked in %d places of rcv.go, want 1", n)
	}
	// A gVisor whose handleSegmentsLocked changed is refused.
	changed := t.TempDir()
	for _, f := range []string{"endpoint.go", "connect.go", "snd.go", "rcv.go"} {
		rel := filepath.Join("pkg", "tcpip", "transport", "tcp", f)
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if f == "connect.go" {
			data = []byte(strings.Replace(string(data), "\t\te.snd.sendAck()\n\t}\n\n\te.resetKeepaliveTimer(true", "\t\te.snd.sendAck() // moved\n\t}\n\n\te.resetKeepaliveTimer(true", 1))
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(changed, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(changed, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := patchGvisor(changed, delackEdits); err == nil {
		t.Fatal("a connect.go whose ACK site changed was patched anyway")
	}
}

// parseAsTCP checks that every file, patched or added, parses as
// gVisor's package tcp.
func parseAsTCP(t *testing.T, files map[string]string) {
	t.Helper()
	fset := token.NewFileSet()
	for name, src := range files {
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Name.Name != "tcp" {
			t.Errorf("%s: package %s, want tcp", name, f.Name.Name)
		}
	}
}
