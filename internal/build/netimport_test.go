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

// TestNetPlanDependencies: the packages outside the standard library that
// depend on net are initialised after the stack (go build and go test);
// a package without net, the standard library's own packages and an
// external test package (whose directory it shares) are not listed.
func TestNetPlanDependencies(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":          "module example.com/m\n\ngo 1.22\n",
		"main.go":         "package main\n\nimport (\n\t_ \"example.com/m/dial\"\n\t_ \"example.com/m/plain\"\n\t_ \"example.com/m/wrap\"\n)\n\nfunc main() {}\n",
		"dial/dial.go":    "package dial\n\nimport \"net\"\n\nvar Conn, Err = net.Dial(\"tcp\", \"127.0.0.1:1\")\n",
		"wrap/wrap.go":    "package wrap\n\nimport _ \"example.com/m/dial\"\n",
		"plain/plain.go":  "package plain\n\nimport \"strings\"\n\nvar S = strings.ToUpper(\"x\")\n",
		"dial/x_test.go":  "package dial_test\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {}\n",
		"plain/p_test.go": "package plain\n\nimport (\n\t\"net\"\n\t\"testing\"\n)\n\nfunc TestP(t *testing.T) { _ = net.IPv4len }\n",
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	paths := func(ps []netPkg) map[string]string {
		m := map[string]string{}
		for _, p := range ps {
			m[p.path] = p.name
		}
		return m
	}
	uses, mains, first, err := netPlan(dir, nil, false, []string{"."})
	if err != nil {
		t.Fatal(err)
	}
	got := paths(first)
	if !uses || len(mains) != 1 || mains[0] != dir {
		t.Errorf("go build: uses net %v, main directories %q", uses, mains)
	}
	want := map[string]string{"example.com/m/dial": "dial", "example.com/m/wrap": "wrap"}
	if len(got) != len(want) || got["example.com/m/dial"] != "dial" || got["example.com/m/wrap"] != "wrap" {
		t.Errorf("go build: initialised after the stack: %v, want %v", got, want)
	}
	// go test: the tested packages (plain, whose test uses net, dial,
	// and the main package) and dial again as a dependency; never
	// dial_test.
	uses, _, first, err = netPlan(dir, nil, true, []string{"./plain", "./dial", "."})
	if err != nil {
		t.Fatal(err)
	}
	got = paths(first)
	if !uses || got["example.com/m/plain"] != "plain" || got["example.com/m/dial"] != "dial" || got["example.com/m"] != "main" || len(got) != 4 {
		t.Errorf("go test: uses net %v, initialised after the stack: %v", uses, got)
	}
}
