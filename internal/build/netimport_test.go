package build

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTestedPackageImportsStack: go test of a package that opens sockets
// while it initialises (net/http/pprof's tests start a server from a
// package-level variable) gets a file in that package importing the
// stack, so the stack is initialised first; a package the stack itself
// imports (net) gets none, which would be an import cycle.
func TestTestedPackageImportsStack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the network GOROOT")
	}
	overlayOf := func(pkg string) map[string]string {
		t.Helper()
		args, _, err := KernelArgs(".", nil, true, []string{pkg})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range args {
			if f, ok := strings.CutPrefix(a, "-overlay="); ok {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				var o struct{ Replace map[string]string }
				if err := json.Unmarshal(data, &o); err != nil {
					t.Fatal(err)
				}
				return o.Replace
			}
		}
		t.Fatal("no -overlay flag")
		return nil
	}
	var added string
	for k, v := range overlayOf("net/http/pprof") {
		if filepath.Base(k) == netImportFile && strings.HasSuffix(filepath.Dir(k), filepath.Join("src", "net", "http", "pprof")) {
			if !strings.Contains(k, "goroot-") {
				t.Errorf("the file goes to the ordinary GOROOT, not the stack's: %s", k)
			}
			data, err := os.ReadFile(v)
			if err != nil {
				t.Fatal(err)
			}
			added = string(data)
		}
	}
	if !strings.HasPrefix(added, "package pprof\n") || !strings.Contains(added, `import _ "`+NetImport+`"`) {
		t.Errorf("net/http/pprof's added file: %q", added)
	}
	for k := range overlayOf("net") {
		if filepath.Base(k) == netImportFile && strings.HasSuffix(filepath.Dir(k), filepath.Join("src", "net")) {
			t.Errorf("net, a dependency of the stack, got %s", k)
		}
	}
}
