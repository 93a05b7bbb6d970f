package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
)

// event is one line of go test -json (test2json) output.
type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// Result is what one package's run amounted to, all of it read from go
// test's output.
type Result struct {
	Package   string
	Status    string   // pass, fail, skip (no tests ran), timeout, build-fail, error
	Elapsed   float64  // seconds, as go test reported them for the package (0 if it did not)
	Wall      float64  // seconds of wall time for the whole velocity test run, build included
	Short     bool     // run with -short
	Passed    int      // top-level tests and examples that passed
	Failed    int      // ... that failed
	Skipped   int      // ... that were skipped
	FirstFail string   // first failing test (deepest subtest first, as go test reports it); "" if none
	Reason    string   // the failing line, exactly as printed
	Category  string   // what the reason shows the test needs (see classify)
	Syscalls  []string // "velocity: unimplemented syscall NAME" lines seen, names only
	Skips     []string // top-level skipped tests with their skip message
	Log       string   // where the full output is kept
	Rerun     string   // when a rerun replaced an earlier result: the earlier status
}

var (
	syscallRE = regexp.MustCompile(`velocity: unimplemented syscall ([A-Za-z0-9_]+(?: \(\d+\))?)`)
	// fileLineRE matches the t.Error/t.Fatal prefix "    foo_test.go:12: ".
	fileLineRE  = regexp.MustCompile(`^\s*([A-Za-z0-9_]+\.go):(\d+): (.*)$`)
	timeoutRE   = regexp.MustCompile(`panic: test timed out after (\S+)|\*\*\* Test killed with quit: ran too long \((\S+)\)`)
	runningRE   = regexp.MustCompile(`^\s+(Test\S+|Example\S+) \(`)
	kernelErrRE = regexp.MustCompile(`^velocity: (fatal|panic|exception|page fault|unhandled|triple|double fault|general protection)`)
	errorishRE  = regexp.MustCompile(`(?i)\bwant\b|\bgot\b|error|fail|no such file|not implemented|not supported|mismatch|unexpected|panic|invalid|wrong|incorrect|should|timed out|permission denied|\bEOF\b`)
)

// parse reads go test -json output for one package.
func parse(r io.Reader, pkg string) (Result, string) {
	res := Result{Package: pkg, Status: "error"}
	var all strings.Builder                  // every output line, in order
	perTest := map[string]*strings.Builder{} // output by test name
	var failOrder []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	sawPkgEnd := false
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Not an event: go's own messages (e.g. build errors on old go).
			all.Write(line)
			all.WriteByte('\n')
			continue
		}
		switch e.Action {
		case "output", "build-output":
			all.WriteString(e.Output)
			if e.Test != "" {
				b := perTest[e.Test]
				if b == nil {
					b = &strings.Builder{}
					perTest[e.Test] = b
				}
				b.WriteString(e.Output)
			}
		case "build-fail":
			res.Status = "build-fail"
			sawPkgEnd = true
		case "pass", "fail", "skip":
			if e.Test == "" {
				if e.Package == pkg || pkg == "" {
					sawPkgEnd = true
					res.Elapsed = e.Elapsed
					if res.Status != "build-fail" {
						res.Status = e.Action
					}
				}
				continue
			}
			top := !strings.Contains(e.Test, "/")
			switch e.Action {
			case "pass":
				if top {
					res.Passed++
				}
			case "fail":
				failOrder = append(failOrder, e.Test)
				if top {
					res.Failed++
				}
			case "skip":
				if top {
					res.Skipped++
					if b := perTest[e.Test]; b != nil {
						if m := skipMessage(b.String()); m != "" {
							res.Skips = append(res.Skips, e.Test+": "+m)
						}
					}
				}
			}
		}
	}
	out := all.String()
	for _, m := range syscallRE.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(res.Syscalls, m[1]) {
			res.Syscalls = append(res.Syscalls, m[1])
		}
	}
	if !sawPkgEnd {
		res.Status = "error"
	}
	if res.Status == "skip" && res.Passed+res.Failed+res.Skipped > 0 {
		res.Status = "pass" // go test says skip only when nothing at all ran
	}
	if res.Status == "pass" && res.Passed == 0 && res.Skipped > 0 {
		res.Status = "skip"
	}
	if res.Status == "pass" {
		return res, out
	}

	// Why did it fail? A timeout panic names the test that was running.
	if m := timeoutRE.FindStringSubmatch(out); m != nil {
		res.Status = "timeout"
		res.Reason = m[0]
		res.Category = "timeout"
		if t := runningTest(out); t != "" {
			res.FirstFail = t
		}
		return res, out
	}
	if len(failOrder) > 0 {
		res.FirstFail = failOrder[0]
		text := ""
		if b := perTest[res.FirstFail]; b != nil {
			text = b.String()
		}
		res.Reason = failLine(text)
		if res.Reason == "" || res.Reason == "(no output)" || strings.HasPrefix(res.Reason, "--- ") || strings.HasPrefix(res.Reason, "=== ") {
			// Nothing of its own: an example or a test that panicked, the
			// panic reported outside the test's output.
			res.Reason = crashLine(out)
			text = out
		}
		res.Category = classify(res.Reason)
		if res.Category == "" {
			res.Category = classify(text)
		}
		if res.Category == "" {
			res.Category = classify(out)
		}
	} else {
		// The binary died without a failing test: a panic, a fatal error,
		// a kernel report, a build failure or a guest that never answered.
		res.Reason = crashLine(out)
		if t := runningTest(out); t != "" {
			res.FirstFail = t
		} else if t := lastRun(out); t != "" {
			res.FirstFail = t + " (last test started)"
		}
		// What the crash says first, then the test that was running,
		// then anything the binary printed.
		res.Category = classify(res.Reason)
		if b := perTest[strings.TrimSuffix(res.FirstFail, " (last test started)")]; res.Category == "" && b != nil {
			res.Category = classify(b.String())
		}
		if res.Category == "" {
			res.Category = classify(out)
		}
	}
	// A vague failure ("context deadline exceeded") in a run where the
	// kernel reported a missing system call: the call says what was needed.
	if (res.Category == "" || res.Category == "timing-sensitive") && len(res.Syscalls) > 0 {
		res.Category = syscallCategory(res.Syscalls)
	}
	if res.Category == "" {
		if len(res.Syscalls) > 0 {
			res.Category = "unimplemented syscall"
		} else if res.Status == "build-fail" {
			res.Category = "build failure"
		} else {
			res.Category = "test assertion"
		}
	}
	return res, out
}

// skipMessage returns the message of a t.Skip in a test's output.
func skipMessage(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if m := fileLineRE.FindStringSubmatch(l); m != nil {
			return strings.TrimSpace(m[3])
		}
	}
	return ""
}

// failLine picks the first error a test printed: the first "file.go:N: msg"
// line, or failing that the first non-framework line.
func failLine(s string) string {
	lines := strings.Split(s, "\n")
	// t.Log and t.Error print alike; prefer a line that reads as an error.
	first := -1
	for i, l := range lines {
		if m := fileLineRE.FindStringSubmatch(l); m != nil {
			if first < 0 {
				first = i
			}
			if errorishRE.MatchString(m[3]) {
				first = i
				break
			}
		}
	}
	if first >= 0 {
		i := first
		if m := fileLineRE.FindStringSubmatch(lines[i]); m != nil {
			msg := strings.TrimSpace(m[3])
			// A message continued on the next lines ("got:\n  want:").
			if msg == "" || strings.HasSuffix(msg, ":") {
				for _, n := range lines[i+1:] {
					if t := strings.TrimSpace(n); t != "" && !strings.HasPrefix(t, "---") && !strings.HasPrefix(t, "===") {
						msg += " " + t
						break
					}
				}
			}
			return m[1] + ":" + m[2] + ": " + msg
		}
	}
	return crashLine(s)
}

// crashLine finds what killed a test binary: a panic, a runtime fatal
// error, a kernel report, or else the last line it printed before go test's
// own FAIL and exit status lines (log.Fatal and os.Exit end that way).
func crashLine(s string) string {
	lines := strings.Split(s, "\n")
	for _, prefix := range []string{"panic: ", "fatal error: "} {
		for _, l := range lines {
			if t := strings.TrimSpace(l); strings.HasPrefix(t, prefix) {
				if prefix == "panic: " {
					return t + firstFrame(lines, l) // which function panicked
				}
				return t
			}
		}
	}
	for _, l := range lines {
		if t := strings.TrimSpace(l); kernelErrRE.MatchString(t) {
			return t
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		t := strings.TrimSpace(lines[i])
		if t == "" || strings.HasPrefix(t, "FAIL") || strings.HasPrefix(t, "exit status") || strings.HasPrefix(t, "--- ") ||
			strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "velocity: unimplemented syscall") || strings.HasPrefix(t, "velocity exec:") {
			continue
		}
		return t
	}
	for _, l := range lines {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "velocity exec:") || strings.HasPrefix(t, "# ") {
			return t
		}
	}
	return "(no output)"
}

func firstFrame(lines []string, panicLine string) string {
	i := slices.Index(lines, panicLine)
	for _, l := range lines[i+1:] {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "goroutine ") || t == "" || strings.HasPrefix(t, "[") {
			continue
		}
		if strings.HasPrefix(t, "panic(") || strings.HasPrefix(t, "runtime.") || strings.HasPrefix(t, "testing.") || strings.HasPrefix(t, "/") {
			continue
		}
		if i := strings.LastIndex(t, "("); i > 0 {
			t = t[:i]
		}
		return " [in " + t + "]"
	}
	return ""
}

// runningTest reads the "running tests:" list of a timeout panic.
func runningTest(s string) string {
	_, after, ok := strings.Cut(s, "running tests:")
	if !ok {
		return ""
	}
	for _, l := range strings.Split(after, "\n")[1:] {
		if m := runningRE.FindStringSubmatch(l); m != nil {
			return m[1]
		}
		if strings.TrimSpace(l) == "" {
			break
		}
	}
	return ""
}

// lastRun is the last test go test started ("=== RUN   X").
func lastRun(s string) string {
	last := ""
	for _, l := range strings.Split(s, "\n") {
		if t, ok := strings.CutPrefix(l, "=== RUN   "); ok {
			last = strings.TrimSpace(t)
		}
	}
	return last
}

// categories are checked in order; the first whose pattern occurs in the
// failing output names what the test needed. Every pattern is an error text
// Go's standard library or the kernel prints.
var categories = []struct {
	name string
	re   *regexp.Regexp
}{
	{"guest out of memory", regexp.MustCompile(`velocity: out of memory`)},
	{"kernel: a CPU did not start", regexp.MustCompile(`did not start; continuing without it`)},
	{"needs fork/exec", regexp.MustCompile(`fork/exec|exec: "[^"]*": executable file not found|os/exec|StartProcess|testenv\.Command|cannot run .* no exec|go tool: |os\.Executable`)},
	{"needs writable file system", regexp.MustCompile(`TempDir|TempFile|CreateTemp|MkdirTemp|read-only file system|(mkdir|open) /tmp/`)},
	{"needs file system", regexp.MustCompile(`(open|stat|lstat|readdir|mkdir|CreateTemp|MkdirTemp|chdir)[ :][^\n]*(no such file or directory|function not implemented|read-only file system|permission denied|not implemented)|testdata/|\$GOROOT|zoneinfo|unknown time zone`)},
	{"needs network", regexp.MustCompile(`dial (tcp|udp|unix)|\blisten (tcp|udp|unix)|socket: |network is unreachable|connection refused|lookup [a-z]`)},
	{"kernel crash", regexp.MustCompile(`(?m)^\s*(velocity|kernel): (exception|panic|page fault|fault|triple)|unexpected fault address|signal SIGSEGV|signal SIGBUS|fatal error: unexpected signal`)},
	{"runtime fatal error", regexp.MustCompile(`fatal error: `)},
	{"guest hung or exceeded QEMU timeout", regexp.MustCompile(`velocity exec: .*(timed out|timeout)|guest timed out`)},
	{"panic", regexp.MustCompile(`panic: `)},
	{"timing-sensitive", regexp.MustCompile(`(?i)took too long|too slow|timed out waiting|deadline|timer fired|expected .* duration|sleep.*took`)},
}

func classify(s string) string {
	for _, c := range categories {
		if c.re.MatchString(s) {
			return c.name
		}
	}
	return ""
}

func (r Result) String() string {
	return fmt.Sprintf("%s %s %.1fs", r.Package, r.Status, r.Wall)
}

// syscallCategory names what unimplemented system calls point to.
func syscallCategory(calls []string) string {
	for _, c := range calls {
		name, _, _ := strings.Cut(c, " ")
		switch name {
		case "socket", "bind", "listen", "connect", "accept", "accept4", "socketpair":
			return "needs network"
		case "clone3", "fork", "vfork", "execve", "execveat", "wait4", "waitid", "pidfd_open":
			return "needs fork/exec"
		case "mkdirat", "mkdir", "unlinkat", "renameat", "renameat2", "ftruncate":
			return "needs writable file system"
		}
	}
	return "unimplemented syscall"
}
