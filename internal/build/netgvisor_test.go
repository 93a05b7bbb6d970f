package build

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPatchedGvisor builds gVisor with every patch of ours (a module
// replacement whose patched directories are real and the rest symbolic
// links to the module cache, which -overlay may not touch) and runs the
// tests in testdata/gvisortest against it twice: with the compact
// TIME-WAIT and with VELOCITY_TWCOMPACT=0, gVisor's own. One harness
// speaks TCP segment by segment to a stack that serves and closes first,
// and checks what a connection in TIME-WAIT answers: a retransmitted FIN,
// segments in and out of sequence, a RST, an old SYN and a new one, and
// expiry; and what it keeps of the heap. Others check the monotonic
// clock's arithmetic (netmonotonic.go) against gVisor's original, a
// NIC's address lookups (netaddrscan.go), and the inline edit
// (netinline.go), asked for, and off by default. The tests in
// testdata/gvisortcp run inside gVisor's package tcp, for what only its
// unexported code shows (netwritelist.go).
func TestPatchedGvisor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gVisor's stack for the host")
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	const gv = "gvisor.dev/gvisor"
	version := requiredVersions(gomod)[gv]
	modDir, err := moduleDir(gv, version)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := patchGvisor(modDir, gvisorEdits())
	if err != nil {
		t.Fatal(err)
	}
	added, err := gvisorAddedFiles()
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(patched, added)
	// Tests that need gVisor's package tcp from the inside
	// (testdata/gvisortcp) go into its directory, for this build only.
	inTCP, err := filepath.Glob("testdata/gvisortcp/*_test.go")
	if err != nil || len(inTCP) == 0 {
		t.Fatalf("no tests in testdata/gvisortcp: %v", err)
	}
	for _, name := range inTCP {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		patched["pkg/tcpip/transport/tcp/"+filepath.Base(name)] = string(data)
	}
	dir := t.TempDir()
	if err := linkTree(modDir, filepath.Join(dir, "gvisor"), patched); err != nil {
		t.Fatal(err)
	}
	mod := strings.Replace(string(gomod), "module github.com/velocityos/velocity", "module velocity.test/timewait", 1) +
		"\nreplace " + gv + " => ./gvisor\n"
	sum, err := os.ReadFile("../../go.sum")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"go.mod": []byte(mod), "go.sum": sum}
	tests, err := filepath.Glob("testdata/gvisortest/*_test.go")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no harness in testdata/gvisortest: %v", err)
	}
	for _, name := range tests {
		if files[filepath.Base(name)], err = os.ReadFile(name); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// goTest runs go test in dir with env and the build's own settings.
	goTest := func(env []string, args ...string) ([]byte, error) {
		cmd := exec.Command(GoCmd, append([]string{"test", "-count=1", "-mod=mod"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(env, "GOFLAGS=", "CGO_ENABLED=0")
		return cmd.CombinedOutput()
	}
	if out, err := goTest(os.Environ(), gv+"/pkg/tcpip/transport/tcp"); err != nil {
		t.Errorf("gVisor's package tcp, with testdata/gvisortcp: %v\n%s", err, out)
	}
	// The inline edit's tests need it asked for (VELOCITY_TCPINLINE=1),
	// unless the caller names another mode.
	inline := "VELOCITY_TCPINLINE=1"
	if m := os.Getenv("VELOCITY_TCPINLINE"); m != "" {
		inline = "VELOCITY_TCPINLINE=" + m
	}
	for _, mode := range []string{"1", "0"} {
		out, err := goTest(append(os.Environ(), "VELOCITY_TWCOMPACT="+mode, inline), "-v", ".")
		if err != nil {
			t.Errorf("VELOCITY_TWCOMPACT=%s: %v\n%s", mode, err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "bytes of heap") {
				t.Log(strings.TrimSpace(l))
			}
		}
	}
	// With VELOCITY_TCPINLINE unset the edit is off.
	unset := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "VELOCITY_TCPINLINE=") })
	if out, err := goTest(unset, "-v", "-run", "^TestInlineDefault$", "."); err != nil || !strings.Contains(string(out), "--- PASS: TestInlineDefault") {
		t.Errorf("TestInlineDefault with VELOCITY_TCPINLINE unset: %v\n%s", err, out)
	}
}

// linkTree makes dst mirror src with symbolic links, except that the
// files in replace (by path relative to src) are written out with their
// new text, inside real directories.
func linkTree(src, dst string, replace map[string]string) error {
	// skip: each real directory's entries that are not links, by
	// directory: the replaced files and the real directories below it.
	skip := map[string][]string{".": nil}
	for rel := range replace {
		for r := rel; r != "."; r = filepath.Dir(r) {
			d := filepath.Dir(r)
			skip[d] = append(skip[d], filepath.Base(r))
		}
	}
	for d, names := range skip {
		if err := linkEntries(filepath.Join(dst, d), filepath.Join(src, d), names...); err != nil {
			return err
		}
	}
	for rel, text := range replace {
		if err := os.WriteFile(filepath.Join(dst, rel), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}
