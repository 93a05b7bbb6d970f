package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// events renders go test -json lines: each spec is action, test, output.
func events(pkg string, specs ...[3]string) string {
	var b strings.Builder
	for _, s := range specs {
		e := event{Action: s[0], Package: pkg, Test: s[1], Output: s[2]}
		if s[0] != "output" && s[1] == "" {
			e.Elapsed = 1.5
		}
		data, _ := json.Marshal(e)
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestParsePass(t *testing.T) {
	in := events("sort",
		[3]string{"run", "TestA", ""}, [3]string{"output", "TestA", "=== RUN   TestA\n"},
		[3]string{"pass", "TestA", ""},
		[3]string{"output", "TestB", "    x_test.go:9: needs a big machine\n"}, [3]string{"skip", "TestB", ""},
		[3]string{"output", "", "PASS\n"}, [3]string{"pass", "", ""})
	r, _ := parse(strings.NewReader(in), "sort")
	if r.Status != "pass" || r.Passed != 1 || r.Skipped != 1 || r.Elapsed != 1.5 {
		t.Errorf("got %+v", r)
	}
	if len(r.Skips) != 1 || r.Skips[0] != "TestB: needs a big machine" {
		t.Errorf("skips %q", r.Skips)
	}
}

func TestParseFail(t *testing.T) {
	in := events("math/big",
		[3]string{"output", "", "velocity: unimplemented syscall mkdirat (258) -> ENOSYS\n"},
		[3]string{"output", "TestX/sub", "    x_test.go:12: TempDir: mkdir /tmp/TestX1: function not implemented\n"},
		[3]string{"fail", "TestX/sub", ""},
		[3]string{"fail", "TestX", ""},
		[3]string{"pass", "TestY", ""},
		[3]string{"output", "", "FAIL\n"}, [3]string{"fail", "", ""})
	r, _ := parse(strings.NewReader(in), "math/big")
	if r.Status != "fail" || r.Failed != 1 || r.Passed != 1 || r.FirstFail != "TestX/sub" {
		t.Errorf("got %+v", r)
	}
	if r.Reason != "x_test.go:12: TempDir: mkdir /tmp/TestX1: function not implemented" {
		t.Errorf("reason %q", r.Reason)
	}
	if r.Category != "needs writable file system" {
		t.Errorf("category %q", r.Category)
	}
	if !slices.Equal(r.Syscalls, []string{"mkdirat (258)"}) {
		t.Errorf("syscalls %q", r.Syscalls)
	}
}

func TestParseTimeout(t *testing.T) {
	out := "panic: test timed out after 10m0s\n\trunning tests:\n\t\tTestSlow (9m59s)\n\ngoroutine 1 [running]:\n"
	in := events("time", [3]string{"output", "", out}, [3]string{"fail", "", ""})
	r, _ := parse(strings.NewReader(in), "time")
	if r.Status != "timeout" || r.FirstFail != "TestSlow" || r.Reason != "panic: test timed out after 10m0s" {
		t.Errorf("got %+v", r)
	}
}

func TestParseCrash(t *testing.T) {
	out := "=== RUN   TestZ\npanic: runtime error: index out of range\n\ngoroutine 7 [running]:\nfoo.TestZ(0xc000)\n\t/x/foo_test.go:5\n"
	in := events("foo", [3]string{"output", "TestZ", out}, [3]string{"output", "", "FAIL\tfoo\t1.0s\n"}, [3]string{"fail", "", ""})
	r, _ := parse(strings.NewReader(in), "foo")
	if r.Status != "fail" || r.FirstFail != "TestZ (last test started)" || r.Reason != "panic: runtime error: index out of range [in foo.TestZ]" {
		t.Errorf("got %+v", r)
	}
	if r.Category != "panic" {
		t.Errorf("category %q", r.Category)
	}
}

func TestClassify(t *testing.T) {
	for in, want := range map[string]string{
		`fork/exec /bin/go: function not implemented`:             "needs fork/exec",
		`open testdata/x.txt: no such file or directory`:          "needs file system",
		`dial tcp 127.0.0.1:80: socket: function not implemented`: "needs network",
		`all good`: "",
	} {
		if got := classify(in); got != want {
			t.Errorf("classify(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFailLinePrefersErrors(t *testing.T) {
	got := failLine("    a_test.go:1: Testing \"x\"\n    a_test.go:2: open x: no such file or directory\n")
	if want := "a_test.go:2: open x: no such file or directory"; got != want {
		t.Errorf("failLine = %q, want %q", got, want)
	}
}

// The go command kills a binary that outlives its -timeout by a minute
// and says so; that is a timeout too, not whatever else the output shows.
func TestParseKilledByGo(t *testing.T) {
	in := events("crypto/x509",
		[3]string{"run", "TestA", ""}, [3]string{"output", "TestA", "=== RUN   TestA\n"},
		[3]string{"output", "", "velocity: unimplemented syscall pidfd_open (434) -> ENOSYS\n"},
		[3]string{"output", "", "*** Test killed with quit: ran too long (9m0s).\n"},
		[3]string{"fail", "", ""})
	r, _ := parse(strings.NewReader(in), "crypto/x509")
	if r.Status != "timeout" || r.Category != "timeout" || !strings.Contains(r.Reason, "ran too long (9m0s)") {
		t.Errorf("got %s %q %q", r.Status, r.Category, r.Reason)
	}
}

func TestParseCPUDidNotStart(t *testing.T) {
	in := events("strconv",
		[3]string{"output", "", "velocity: CPU with APIC id 1 did not start; continuing without it\n"},
		[3]string{"output", "", "velocity exec: qemu exited with status 0\n"},
		[3]string{"fail", "", ""})
	r, _ := parse(strings.NewReader(in), "strconv")
	if r.Status != "fail" || r.Category != "kernel: a CPU did not start" {
		t.Errorf("got %s %q %q", r.Status, r.Category, r.Reason)
	}
}
