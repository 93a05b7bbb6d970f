package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/velocityos/velocity/internal/biotest"
	"github.com/velocityos/velocity/registry"
)

func modCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var o, e bytes.Buffer
	st := modMain(args, &o, &e)
	return o.String() + e.String(), st
}

// serveStore serves dir's store on a loopback port as velocity mod serve
// does, for the test's lifetime.
func serveStore(t *testing.T, dir string) string {
	s, err := registry.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newGatewayServer(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestModFetchImportExport(t *testing.T) {
	dirA := filepath.Join(t.TempDir(), "a")
	a, _ := registry.OpenDir(dirA)
	_, user := biotest.Modules(t, a)
	want, _ := registry.Closure(a, user)
	url := serveStore(t, dirA)
	for _, mode := range [][]string{nil, {"-car"}} {
		dirB := filepath.Join(t.TempDir(), "b")
		args := append([]string{"-store", dirB, "fetch", "-peer", url}, mode...)
		out, st := modCLI(t, append(args, user.String())...)
		if st != 0 || !strings.Contains(out, fmt.Sprintf("%d blocks (%d fetched", len(want), len(want))) {
			t.Fatalf("fetch %v: status %d\n%s", mode, st, out)
		}
		out, st = modCLI(t, "-store", dirB, "run", user.String(), "Main", "3")
		if st != 0 || strings.TrimSpace(out) != "36" {
			t.Fatalf("run after fetch %v: %d %q", mode, st, out)
		}
	}
	// Bad input: usage errors and unreachable or absent blocks.
	dirC := filepath.Join(t.TempDir(), "c")
	for _, args := range [][]string{
		{"fetch", user.String()},
		{"fetch", "-peer", url},
		{"fetch", "-peer", "ftp://x", user.String()},
	} {
		if _, st := modCLI(t, append([]string{"-store", dirC}, args...)...); st == 0 {
			t.Errorf("%v succeeded", args)
		}
	}
	if out, st := modCLI(t, "-store", dirC, "fetch", "-peer", url, "notacid"); st != exitModFailure || !strings.Contains(out, "malformed CID") {
		t.Errorf("malformed CID: %d %s", st, out)
	}
	// Export from A, import into D.
	carFile := filepath.Join(t.TempDir(), "user.car")
	if out, st := modCLI(t, "-store", dirA, "export", "-o", carFile, user.String()); st != 0 {
		t.Fatalf("export: %s", out)
	}
	dirD := filepath.Join(t.TempDir(), "d")
	out, st := modCLI(t, "-store", dirD, "import", carFile)
	if st != 0 || !strings.Contains(out, user.String()) || !strings.Contains(out, fmt.Sprintf("%d blocks (%d new)", len(want), len(want))) {
		t.Fatalf("import: %d %s", st, out)
	}
	// A corrupted or truncated CAR stores nothing.
	data, _ := os.ReadFile(carFile)
	for name, bad := range map[string][]byte{
		"flipped":   append(append([]byte(nil), data[:len(data)-1]...), data[len(data)-1]^1),
		"truncated": data[:len(data)/2],
	} {
		f := filepath.Join(t.TempDir(), name+".car")
		os.WriteFile(f, bad, 0o644)
		dirE := filepath.Join(t.TempDir(), "e-"+name)
		if out, st := modCLI(t, "-store", dirE, "import", f); st != exitModFailure || !strings.Contains(out, "nothing stored") {
			t.Errorf("%s CAR: %d %s", name, st, out)
		}
		e, _ := registry.OpenDir(dirE)
		if l, _ := e.List(); len(l) != 0 {
			t.Errorf("%s CAR stored %d blocks", name, len(l))
		}
	}
}

// TestModServe runs velocity mod serve as a process and asks it the
// trustless gateway's identity probe.
func TestModServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	cmd := exec.Command(os.Args[0], "mod", "-store", dir, "serve", "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "VELOCITY_TEST_AS_CLI=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve printed %q", line)
	}
	resp, err := http.Get("http://" + m[1] + "/ipfs/bafkqaaa?format=raw")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 0 {
		t.Fatalf("identity probe: %s, %d bytes", resp.Status, resp.ContentLength)
	}
	resp, err = http.Get("http://" + m[1] + "/biosphere/v1/records")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("records: %s", resp.Status)
	}
}
