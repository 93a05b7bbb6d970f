// Command conformance is make conformance: it runs the standard library's
// own package tests inside the Velocity unikernel, one boot per package, with
// `velocity test -smp 2 -json`, and writes the per-package table to
// docs/conformance.md.
//
// Everything in the table is read from go test's -json output (test2json
// events carrying the guest's serial console): the package's pass, fail or
// skip, the test counts, the time go test reported, the first failing test,
// the exact line it failed with, and every "velocity: unimplemented syscall
// NAME" line the kernel printed. The category ("needs fork/exec", "needs
// file system", ...) comes from matching that output against error texts of
// Go's standard library (see categories in parse.go); a hand-written
// diagnosis from diagnosis.txt, if there is one for the package, is shown
// next to it.
//
// Full logs go to build/conformance/logs, results to
// build/conformance/results.json; -rerun-failed runs only the packages that
// did not pass last time and merges the new results.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Packages are the 40 packages of issue 3, section 5, and the network's.
var Packages = []string{
	"strings", "bytes", "strconv", "sort", "slices", "maps", "math", "math/big", "math/bits", "math/rand/v2",
	"container/heap", "container/list", "container/ring", "unicode/utf8", "unicode/utf16", "bufio", "errors", "fmt",
	"encoding/json", "encoding/binary", "encoding/base64", "encoding/hex", "encoding/csv", "hash/crc32", "hash/fnv",
	"crypto/sha256", "crypto/sha512", "crypto/aes", "crypto/hmac", "crypto/ecdsa", "compress/flate", "compress/gzip",
	"regexp", "text/template", "sync", "sync/atomic", "context", "time", "runtime/debug", "io",
	// The network packages (issue 10).
	"net", "net/http", "net/netip", "net/textproto", "net/rpc",
}

// shortPackages run with -short. net's full suite dials hosts on the
// internet (golang.org, DNS servers), which these machines cannot reach,
// with or without Velocity; -short skips those (and a few slow ones). (net/http's
// full suite passes: it stopped failing for want of time under TCG, and
// its goroutine-leak check stopped seeing the network stack's goroutines,
// internal/build/netgoroutines.go.)
var shortPackages = []string{"net"}

type options struct {
	velocity    string
	smp         int
	mem         string
	timeout     time.Duration
	out         string
	dir         string
	jobs        int
	pkgs        string
	short       string
	rerunFailed bool
	reparse     bool
	diagnosis   string
	all         bool
	notes       string

	universe []string        // the packages the table covers: Packages, or all of std with -all
	noTests  map[string]bool // with -all: packages that have no test files
}

func main() {
	var o options
	flag.StringVar(&o.velocity, "velocity", "build/velocity", "the velocity tool")
	flag.IntVar(&o.smp, "smp", 2, "guest CPUs")
	// 1G rather than velocity's 512M: encoding/gob's TestLargeSlice and
	// others build slices of hundreds of MiB, as they may on a Linux
	// builder, and net's tests hold many sockets; TCG only takes host
	// memory the guest touches.
	flag.StringVar(&o.mem, "m", "1G", "guest memory (velocity test -m)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "go test -timeout for each package")
	flag.StringVar(&o.out, "o", "docs/conformance.md", "report to write")
	flag.StringVar(&o.dir, "dir", "build/conformance", "directory for logs and results.json")
	flag.IntVar(&o.jobs, "j", 1, "packages to run at once (1 keeps timings comparable)")
	flag.StringVar(&o.pkgs, "pkgs", "", "comma-separated packages instead of all of Packages")
	flag.StringVar(&o.short, "short", strings.Join(shortPackages, ","), "comma-separated packages to run with -short")
	flag.BoolVar(&o.rerunFailed, "rerun-failed", false, "run only packages that did not pass in results.json, and merge")
	flag.BoolVar(&o.reparse, "reparse", false, "run nothing: parse the saved logs again and rewrite the report")
	flag.StringVar(&o.diagnosis, "diagnosis", "bench/conformance/diagnosis.txt", "hand-written per-package diagnoses (PKG: text)")
	flag.StringVar(&o.notes, "notes", "bench/conformance/notes-all.md", "hand-written notes for the -all report (kernel gaps fixed and left)")
	flag.BoolVar(&o.all, "all", false, "every package of go list std except cmd/, vendor/ and internal ones, all with -short; report docs/conformance-all.md, logs build/conformance-all")
	flag.Parse()
	o.universe = Packages
	if o.all {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["o"] {
			o.out = "docs/conformance-all.md"
		}
		if !set["dir"] {
			o.dir = "build/conformance-all"
		}
		if !set["timeout"] {
			o.timeout = 8 * time.Minute
		}
		var err error
		if o.universe, o.noTests, err = stdPackages(); err != nil {
			fmt.Fprintln(os.Stderr, "conformance:", err)
			os.Exit(1)
		}
	}
	if err := conformance(o); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

func conformance(o options) error {
	if err := os.MkdirAll(filepath.Join(o.dir, "logs"), 0o755); err != nil {
		return err
	}
	resultsFile := filepath.Join(o.dir, "results.json")
	prev := map[string]Result{}
	if data, err := os.ReadFile(resultsFile); err == nil {
		var rs []Result
		if json.Unmarshal(data, &rs) == nil {
			for _, r := range rs {
				prev[r.Package] = r
			}
		}
	}
	pkgs := o.universe
	if o.pkgs != "" {
		pkgs = strings.Split(o.pkgs, ",")
	}
	if o.rerunFailed {
		var again []string
		for _, p := range pkgs {
			if r, ok := prev[p]; !ok || r.Status != "pass" {
				again = append(again, p)
			}
		}
		pkgs = again
	}
	if o.reparse {
		for p, r := range prev {
			data, err := os.ReadFile(filepath.Join(o.dir, "logs", strings.ReplaceAll(p, "/", "_")+".json"))
			if err != nil {
				continue
			}
			nr, _ := parse(bytes.NewReader(data), p)
			nr.Wall, nr.Short, nr.Log, nr.Rerun = r.Wall, r.Short, r.Log, r.Rerun
			if r.Status == "timeout" && nr.Status != "timeout" { // killed by the runner
				nr.Status, nr.Category, nr.Reason = r.Status, r.Category, r.Reason
			}
			prev[p] = nr
		}
		// A run cut short leaves logs but no results.json entry: read
		// those too (their wall time is unknown).
		for _, p := range o.universe {
			if _, ok := prev[p]; ok {
				continue
			}
			base := filepath.Join(o.dir, "logs", strings.ReplaceAll(p, "/", "_"))
			data, err := os.ReadFile(base + ".json")
			if err != nil {
				continue
			}
			nr, _ := parse(bytes.NewReader(data), p)
			nr.Short, nr.Log = o.all || slices.Contains(strings.Split(o.short, ","), p), base+".log"
			prev[p] = nr
		}
		pkgs = nil
	}
	short := strings.Split(o.short, ",")
	fmt.Printf("== conformance: %d packages inside Velocity, -smp %d, one boot each, timeout %v\n", len(pkgs), o.smp, o.timeout)

	before := map[string]string{} // statuses before this run; prev changes as packages finish
	for p, r := range prev {
		before[p] = r.Status
	}
	results := make([]Result, len(pkgs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(o.jobs, 1))
	var mu sync.Mutex
	for i, p := range pkgs {
		wg.Add(1)
		sem <- struct{}{} // start in order
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var r Result
			if o.noTests[p] {
				r = Result{Package: p, Status: "no-tests"}
			} else {
				r = runPackage(o, p, o.all || slices.Contains(short, p))
			}
			if old, ok := before[p]; ok && o.rerunFailed {
				r.Rerun = old
			}
			results[i] = r
			mu.Lock()
			prev[p] = r
			if err := writeResults(o, prev, resultsFile); err != nil { // so a run cut short still has its table
				fmt.Fprintln(os.Stderr, "conformance:", err)
			}
			line := fmt.Sprintf("%-16s %-8s %3d pass %3d fail %3d skip  %7.1fs", p, r.Status, r.Passed, r.Failed, r.Skipped, r.Wall)
			if r.Status != "pass" && r.Status != "skip" {
				line += fmt.Sprintf("  %s: %s", r.FirstFail, r.Reason)
			}
			fmt.Println(line)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, r := range results {
		prev[r.Package] = r
	}
	if err := writeResults(o, prev, resultsFile); err != nil {
		return err
	}
	in := map[string]bool{}
	for _, p := range o.universe {
		in[p] = true
	}
	n := 0
	for _, r := range prev {
		if r.Status == "pass" && in[r.Package] {
			n++
		}
	}
	fmt.Printf("== %d/%d packages pass; report in %s, logs in %s\n", n, len(o.universe), o.out, filepath.Join(o.dir, "logs"))
	return nil
}

// writeResults writes results.json and the report from every result known.
func writeResults(o options, prev map[string]Result, resultsFile string) error {
	var all []Result
	in := map[string]bool{}
	for _, p := range o.universe {
		in[p] = true
		if r, ok := prev[p]; ok {
			all = append(all, r)
		}
	}
	for p, r := range prev { // packages given with -pkgs outside the list
		if !in[p] {
			all = append(all, r)
		}
	}
	if o.all {
		slices.SortFunc(all, func(a, b Result) int { return strings.Compare(a.Package, b.Package) })
	}
	data, _ := json.MarshalIndent(all, "", "  ")
	if err := os.WriteFile(resultsFile, data, 0o644); err != nil {
		return err
	}
	return os.WriteFile(o.out, []byte(render(o, all, readDiagnosis(o.diagnosis))), 0o644)
}

// stdPackages lists the standard library for -all: every package of
// go list std but commands (cmd/), vendored code (vendor/) and internal
// packages (internal/ and any path with an internal element, such as
// crypto/internal/fips140/...), which are not the library programs import.
// Packages without test files are returned in noTests: they are listed, not
// run. The 45 packages of the default table come last, so that a run cut
// short has covered the packages no earlier table had.
func stdPackages() (pkgs []string, noTests map[string]bool, err error) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{len .TestGoFiles}} {{len .XTestGoFiles}}", "std").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go list std: %v", err)
	}
	noTests = map[string]bool{}
	var known []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var p string
		var nt, nx int
		if _, err := fmt.Sscan(l, &p, &nt, &nx); err != nil {
			return nil, nil, fmt.Errorf("go list std: %q: %v", l, err)
		}
		if internalPackage(p) {
			continue
		}
		if nt+nx == 0 {
			noTests[p] = true
		}
		if slices.Contains(Packages, p) {
			known = append(known, p)
		} else {
			pkgs = append(pkgs, p)
		}
	}
	return append(pkgs, known...), noTests, nil
}

// internalPackage reports whether p is outside the public standard library.
func internalPackage(p string) bool {
	if strings.HasPrefix(p, "cmd/") || strings.HasPrefix(p, "vendor/") {
		return true
	}
	return slices.Contains(strings.Split(p, "/"), "internal")
}

// runPackage runs one package's tests in one boot.
func runPackage(o options, pkg string, short bool) Result {
	args := []string{"test", "-smp", fmt.Sprint(o.smp), "-json", "-count=1", "-timeout", o.timeout.String()}
	if o.mem != "" {
		args = append(args, "-m", o.mem)
	}
	if short {
		args = append(args, "-short")
	}
	args = append(args, pkg)
	// go test's own timeout fires first; this one catches a hung build or
	// a guest velocity exec failed to kill.
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout+5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.velocity, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	logBase := filepath.Join(o.dir, "logs", strings.ReplaceAll(pkg, "/", "_"))
	os.WriteFile(logBase+".json", stdout.Bytes(), 0o644)
	r, text := parse(bytes.NewReader(stdout.Bytes()), pkg)
	if stderr.Len() > 0 {
		text += "\n--- stderr of velocity test:\n" + stderr.String()
	}
	os.WriteFile(logBase+".log", []byte(text), 0o644)
	r.Log = logBase + ".log"
	r.Wall = wall.Seconds()
	r.Short = short
	if ctx.Err() != nil {
		r.Status, r.Category = "timeout", "timeout"
		r.Reason = fmt.Sprintf("velocity test killed after %v", o.timeout+5*time.Minute)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		r.Status, r.Reason = "error", err.Error()
	}
	if r.Status == "error" && r.Reason == "" {
		r.Reason = crashLine(text)
		r.Category = classify(text)
	}
	if err == nil && r.Status == "fail" {
		r.Reason += " (but go test exited 0)"
	}
	return r
}

// readDiagnosis reads "PKG: text" lines; # starts a comment.
func readDiagnosis(path string) map[string]string {
	m := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if k, v, ok := strings.Cut(l, ": "); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// autoDiagnosis turns a category into a one-line kernel-side diagnosis.
func autoDiagnosis(r Result) string {
	var d string
	switch r.Category {
	case "needs fork/exec":
		d = "the test starts a process (os/exec, go tool, testenv); Velocity is a single-process unikernel with no fork/execve"
	case "needs writable file system":
		d = "the test writes files (t.TempDir, os.CreateTemp under /tmp); the guest's file system is read-only (EROFS) and has no writable /tmp"
	case "needs file system":
		d = "the test reads files from the host (testdata, GOROOT); the guest has no file system with the package directory"
	case "needs network":
		d = "the test needs sockets; Velocity has no network stack"
	case "timeout":
		d = "did not finish within the timeout under TCG: slow emulation or a hang (see the running test)"
	case "kernel crash":
		d = "kernel bug: the guest faulted"
	case "runtime fatal error":
		d = "kernel bug suspected: the Go runtime hit a fatal error"
	case "unimplemented syscall":
		d = "kernel bug: missing system call(s) " + strings.Join(r.Syscalls, ", ")
	case "timing-sensitive":
		d = "timing assertion under emulation; check timer/clock accuracy"
	default:
		d = "assertion failed; see the reason"
	}
	return d
}

func render(o options, all []Result, diag map[string]string) string {
	var b strings.Builder
	goVer, _ := exec.Command("go", "env", "GOVERSION").Output()
	qver, _ := exec.Command("qemu-system-x86_64", "--version").Output()
	qv, _, _ := strings.Cut(string(qver), "\n")
	counts := map[string]int{}
	for _, r := range all {
		if slices.Contains(o.universe, r.Package) {
			counts[r.Status]++
		}
	}
	if o.all {
		renderAllHeader(&b, o, all)
	} else {
		fmt.Fprintf(&b, "# Go standard library conformance\n\n")
		mem := ""
		if o.mem != "" {
			mem = " -m " + o.mem
		}
		fmt.Fprintf(&b, "`make conformance` (scripts/conformance.sh, bench/conformance) runs each package's own tests inside the unikernel with `velocity test -smp %d%s -json -count=1 -timeout %v PKG` (with `-short` where marked): one QEMU boot per package, the test binary as the kernel's program, its output over the serial console. Every cell below is read from go test's output; the full logs are in build/conformance/logs.\n\n", o.smp, mem, o.timeout)
		fmt.Fprintf(&b, "Last run: %s, %s, %s, accel %s, host %s (%d CPUs).\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), strings.TrimSpace(string(goVer)), strings.TrimPrefix(qv, "QEMU emulator "), accelName(), hostCPU(), runtime.NumCPU())
		fmt.Fprintf(&b, "**%d of %d packages pass**", counts["pass"], len(o.universe))
		var rest []string
		for _, s := range []string{"fail", "timeout", "skip", "build-fail", "error"} {
			if counts[s] > 0 {
				rest = append(rest, fmt.Sprintf("%d %s", counts[s], s))
			}
		}
		if len(rest) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(rest, ", "))
		}
		b.WriteString(".\n\n")
		b.WriteString("Run it with `make conformance`; `scripts/conformance.sh -pkgs sort,fmt` runs some packages, `scripts/conformance.sh -rerun-failed` only those that did not pass last time (merged into this table, marked *was …*). Packages run with `-short` are marked in the table: `net`, whose full suite dials hosts on the internet, which the machines this runs on cannot reach. A fast subset (container/list, container/ring, unicode/utf8, errors, math/bits, hash/fnv) runs the same way in `make test` (tests/conformance). The whole standard library is `make conformance ALL=1` ([conformance-all.md](conformance-all.md)).\n\n")
	}
	b.WriteString("Columns: *tests* counts top-level tests and examples that passed/failed/skipped; *go test* is the time go test reported for the package (the test binary's run in the guest, boot included); *wall* is the whole `velocity test` run, build included.\n\n")
	b.WriteString("| package | result | tests p/f/s | go test | wall | first failing test | reason (from the output) | unimplemented syscalls |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range all {
		if r.Status == "no-tests" {
			continue // listed above
		}
		res := r.Status
		if r.Short {
			res += " (-short)"
		}
		if r.Rerun != "" && r.Rerun != r.Status {
			res += " (was " + r.Rerun + ")"
		}
		fail, reason := "", ""
		if r.Status != "pass" && r.Status != "skip" {
			fail, reason = md(r.FirstFail), md(r.Category)+": "+code(trim(r.Reason, 160))
		}
		wall := fmt.Sprintf("%.1fs", r.Wall)
		if r.Wall == 0 {
			wall = "–" // read back from a log (-reparse) without the runner's timing
		}
		fmt.Fprintf(&b, "| %s | %s | %d/%d/%d | %.1fs | %s | %s | %s | %s |\n", r.Package, res, r.Passed, r.Failed, r.Skipped,
			r.Elapsed, wall, fail, reason, md(strings.Join(r.Syscalls, ", ")))
	}
	var failed []Result
	for _, r := range all {
		if r.Status != "pass" && r.Status != "skip" && r.Status != "no-tests" {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		b.WriteString("\n## Failures\n\nEach failure is treated as a kernel bug first. *Reason* is the line the test failed with, verbatim; *category* is what that text shows the test needs; *diagnosis* is the kernel-side explanation (hand-written after reading the log where marked †, otherwise derived from the category).\n\n")
		for _, r := range failed {
			fmt.Fprintf(&b, "### %s — %s\n\n", r.Package, r.Status)
			fmt.Fprintf(&b, "- first failing test: %s\n", code(r.FirstFail))
			fmt.Fprintf(&b, "- reason: %s\n", code(trim(r.Reason, 400)))
			fmt.Fprintf(&b, "- category: %s\n", r.Category)
			if d, ok := diag[r.Package]; ok {
				fmt.Fprintf(&b, "- diagnosis †: %s\n", d)
			} else {
				fmt.Fprintf(&b, "- diagnosis: %s\n", autoDiagnosis(r))
			}
			if len(r.Syscalls) > 0 {
				fmt.Fprintf(&b, "- unimplemented syscalls seen: %s\n", strings.Join(r.Syscalls, ", "))
			} else {
				fmt.Fprintf(&b, "- unimplemented syscalls seen: none\n")
			}
			fmt.Fprintf(&b, "- log: %s\n\n", r.Log)
		}
	}
	var skips []Result
	for _, r := range all {
		if len(r.Skips) > 0 || len(r.Syscalls) > 0 && (r.Status == "pass" || r.Status == "skip") {
			skips = append(skips, r)
		}
	}
	if len(skips) > 0 {
		b.WriteString("## Skipped tests and syscalls in passing packages\n\nTests that skipped themselves inside the guest (message as printed), and unimplemented syscalls reported by packages that still passed.\n\n")
		for _, r := range skips {
			fmt.Fprintf(&b, "- **%s**:", r.Package)
			if len(r.Syscalls) > 0 && (r.Status == "pass" || r.Status == "skip") {
				fmt.Fprintf(&b, " syscalls %s;", strings.Join(r.Syscalls, ", "))
			}
			for i, s := range r.Skips {
				if i == 6 {
					fmt.Fprintf(&b, " … and %d more", len(r.Skips)-i)
					break
				}
				fmt.Fprintf(&b, " %s;", code(trim(s, 140)))
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// renderAllHeader opens docs/conformance-all.md: what was run, the pass
// rate over the packages that have tests and were run, the failures by
// category, and exactly which packages were not run or have no tests.
func renderAllHeader(b *strings.Builder, o options, all []Result) {
	goVer, _ := exec.Command("go", "env", "GOVERSION").Output()
	qver, _ := exec.Command("qemu-system-x86_64", "--version").Output()
	qv, _, _ := strings.Cut(string(qver), "\n")
	ran := map[string]Result{}
	for _, r := range all {
		ran[r.Package] = r
	}
	var withTests, noTests, notRun []string
	for _, p := range o.universe {
		if o.noTests[p] {
			noTests = append(noTests, p)
			continue
		}
		withTests = append(withTests, p)
		if _, ok := ran[p]; !ok {
			notRun = append(notRun, p)
		}
	}
	counts := map[string]int{}
	cats := map[string]int{}
	for _, p := range withTests {
		if r, ok := ran[p]; ok {
			counts[r.Status]++
			if r.Status != "pass" && r.Status != "skip" {
				cats[r.Category]++
			}
		}
	}
	run := len(withTests) - len(notRun)
	fmt.Fprintf(b, "# The whole standard library inside Velocity\n\n")
	fmt.Fprintf(b, "`make conformance ALL=1` (`scripts/conformance.sh -all`, bench/conformance) runs the tests of every package of `go list std` except commands (`cmd/`), vendored code (`vendor/`) and internal packages (any path with an `internal` element, such as `crypto/internal/fips140/...`): %d packages, %d of them with test files. Each runs with `velocity test -smp %d -m %s -json -count=1 -short -timeout %v PKG`: one QEMU boot per package, the test binary as the kernel's program. Every cell is read from go test's output; the full logs are in %s/logs. Rerun some packages with `scripts/conformance.sh -all -pkgs a,b` or `-all -rerun-failed` (merged, marked *was …*).\n\n",
		len(o.universe), len(withTests), o.smp, o.mem, o.timeout, o.dir)
	fmt.Fprintf(b, "Table written %s; %s, %s, accel %s, host %s (%d CPUs, shared with other work: the suite ran under `nice -n 19`, so times are not comparable between packages).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), strings.TrimSpace(string(goVer)), strings.TrimPrefix(qv, "QEMU emulator "), accelName(), hostCPU(), runtime.NumCPU())
	pct := 0.0
	if run > 0 {
		pct = 100 * float64(counts["pass"]+counts["skip"]) / float64(run)
	}
	fmt.Fprintf(b, "**%d of the %d packages run pass (%.0f%%)**", counts["pass"]+counts["skip"], run, pct)
	if counts["skip"] > 0 {
		fmt.Fprintf(b, " (%d of them skip every test they have)", counts["skip"])
	}
	if len(notRun) > 0 {
		fmt.Fprintf(b, "; %d packages with tests were not run (listed below).", len(notRun))
	} else {
		b.WriteString("; every package with tests was run.")
	}
	if len(cats) > 0 {
		var cs []string
		for c, n := range cats {
			cs = append(cs, fmt.Sprintf("%s: %d", c, n))
		}
		slices.Sort(cs)
		fmt.Fprintf(b, " Failures by what they need: %s.", strings.Join(cs, "; "))
	}
	b.WriteString("\n\n")
	if len(notRun) > 0 {
		fmt.Fprintf(b, "Not run: %s.\n\n", strings.Join(notRun, ", "))
	}
	fmt.Fprintf(b, "No test files (%d): %s.\n\n", len(noTests), strings.Join(noTests, ", "))
	// What the runs taught, written by hand after reading the logs.
	if notes, err := os.ReadFile(o.notes); err == nil {
		b.Write(notes)
		b.WriteString("\n")
	}
}

func accelName() string {
	if a := os.Getenv("VELOCITY_ACCEL"); a != "" {
		return a
	}
	return "auto (TCG unless KVM is usable and faster)"
}

func hostCPU() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func trim(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// md escapes a table cell.
func md(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// code renders s as inline code in a table cell.
func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + md(strings.ReplaceAll(s, "`", "'")) + "`"
}
