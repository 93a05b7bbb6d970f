// Package heal_test boots images/heal under QEMU (TCG, two CPUs) and
// checks, on its serial output, the self-healing loop running inside the
// unikernel: the latency warning, a candidate that faults on a rare input
// rejected by the gate, an overfit candidate swapped in and rolled back on
// real traffic, the optimizer's candidate swapped in and proven at least
// twice as fast, every result checked against the interpreter, and the
// slot swapped 1,000 times under load with no wrong result. The trigger
// rule comes from a TELEMETRY_RULE=... word on the kernel command line.
//
// Tests skip, naming the apt-get command, when QEMU or binutils are
// missing (scripts/deps.sh installs them).
package heal_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
	"github.com/velocityos/velocity/llm/modelgen"
	"github.com/velocityos/velocity/llm/quant"
)

const bootTimeout = 4 * time.Minute

var outDir string

func TestMain(m *testing.M) { testenv.Main(m, "velocity-heal-test-", &outDir) }

var (
	stubOnce   = sync.OnceValues(build.Stub)
	kernelOnce = sync.OnceValues(func() (string, error) {
		elf := outDir + "/heal.elf"
		return elf, build.Build("../../images/heal", elf, nil)
	})
)

// boot runs images/heal on two CPUs with env on the kernel command line
// and argv after "--", and returns the serial output and exit code.
func boot(t *testing.T, env []string, argv ...string) (string, int) {
	t.Helper()
	testenv.Need(t, "qemu")
	cmdline, err := build.KernelCmdline(env, nil, argv)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{
		Kernel: testenv.Get(t, kernelOnce), Stub: testenv.Get(t, stubOnce), SMP: 2, Append: cmdline,
		Accel: "tcg", Stdout: &out, Timeout: bootTimeout,
	})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("boot: %v\nserial output:\n%s", err, serial)
	}
	t.Logf("guest exited with %d after %v", res.ExitCode, res.Elapsed.Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serial output:\n%s", serial)
		}
	})
	return serial, res.ExitCode
}

// match returns the submatches of every line re matches, in order.
func match(serial, re string) [][]string {
	return regexp.MustCompile(`(?m)^`+re+`$`).FindAllStringSubmatch(serial, -1)
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return v
}

// index returns the offset of the first line re matches (-1 if none).
func index(serial, re string) int {
	loc := regexp.MustCompile(`(?m)^` + re).FindStringIndex(serial)
	if loc == nil {
		return -1
	}
	return loc[0]
}

const (
	cidRE     = `(bafy[a-z2-7]+)`
	warnRE    = `\[Self-Evolution\] Latency warning on ` + cidRE + ` avg=(\d+) calls=(\d+)`
	candRE    = `\[Self-Evolution\] candidate ` + cidRE + ` \(([a-z0-9,-]+)\): validated (\d+) inputs, speedup (\d+\.\d\d), swapped in (\d+\.\d\d) µs \(old version quiescent after (\d+) µs\)`
	rollRE    = `\[Self-Evolution\] rolled back ` + cidRE + `: (\d+) cycles per call on (\d+) calls since the swap, (\d+)% slower than ` + cidRE + ` \((\d+)\)`
	provenRE  = `HEAL proven ` + cidRE + ` before=(\d+) after=(\d+) speedup=(\d+\.\d\d)`
	summaryRE = `HEAL summary calls=(\d+) wrong=(\d+) swaps=(\d+) rollbacks=(\d+) rejected=(\d+) speedup=(\d+\.\d\d) elapsed=([\d.]+)s`
	liveRE    = `\[telemetry\] t=[\d.]+s Work ` + cidRE + ` calls=(\d+) avg=(\d+) p99<=(\d+) total=(\d+)`
	alertRE   = `HEAL alert mean=(\d+) p99<=(\d+) windows=(\d+) calls=(\d+)`
	cpusRE    = `(?:HEAL|SWAP|GO) cpus ((?:\d+=\d+ ?)+).*`
)

// checkCPUs asserts that calls ran on both CPUs.
func checkCPUs(t *testing.T, serial string) {
	t.Helper()
	m := match(serial, cpusRE)
	if len(m) == 0 {
		t.Fatal("no cpus line")
	}
	for _, l := range m {
		got := map[string]bool{}
		for _, kv := range strings.Fields(l[1]) {
			cpu, n, _ := strings.Cut(kv, "=")
			got[cpu] = num(t, n) > 0
		}
		if !got["0"] || !got["1"] {
			t.Errorf("calls did not run on both CPUs: %s", l[0])
		}
	}
}

// checkHealed asserts the whole scenario on the serial output, with the
// trigger threshold mean and the calls a warning needs at least.
func checkHealed(t *testing.T, serial string, code int, mean, minCalls float64) {
	t.Helper()
	if code != 0 {
		t.Errorf("guest exit code %d, want 0", code)
	}
	if strings.Contains(serial, "HEAL FAIL") || strings.Contains(serial, "HEAL wrong") {
		t.Errorf("the guest reported a failure")
	}
	warns := match(serial, warnRE)
	if len(warns) != 2 {
		t.Fatalf("want 2 latency warnings (before the rollback and after), got %d", len(warns))
	}
	orig := warns[0][1]
	for _, w := range warns {
		if w[1] != orig {
			t.Errorf("warning on %s, want the original %s", w[1], orig)
		}
		if avg := num(t, w[2]); avg <= mean {
			t.Errorf("warning with avg=%v, not above the rule's %v", avg, mean)
		}
		if calls := num(t, w[3]); calls < minCalls {
			t.Errorf("warning after calls=%v, the rule needs %v", calls, minCalls)
		}
	}
	if alerts := match(serial, alertRE); len(alerts) != len(warns) {
		t.Errorf("%d alert lines for %d warnings", len(alerts), len(warns))
	}
	cands := match(serial, candRE)
	if len(cands) != 2 {
		t.Fatalf("want 2 candidates swapped in (overfit, then the optimizer's), got %d", len(cands))
	}
	for _, c := range cands {
		if sp := num(t, c[4]); sp < 1.10 {
			t.Errorf("candidate %s swapped in with A/B speedup %v < 1.10", c[1], sp)
		}
		if num(t, c[3]) < 1 {
			t.Errorf("candidate %s validated on no input", c[1])
		}
		t.Logf("candidate %s (%s): %s inputs, A/B speedup %s, swap %s µs, old version quiescent after %s µs", c[1][:16], c[2], c[3], c[4], c[5], c[6])
	}
	overfit, healed := cands[0], cands[1]
	if overfit[2] != "scripted-overfit" || healed[2] == "scripted-overfit" || healed[2] == "scripted-fault" {
		t.Errorf("candidates %q then %q, want scripted-overfit then the optimizer's passes", overfit[2], healed[2])
	}
	rolls := match(serial, rollRE)
	if len(rolls) != 1 {
		t.Fatalf("want 1 rollback, got %d", len(rolls))
	}
	r := rolls[0]
	if r[1] != overfit[1] || r[5] != orig {
		t.Errorf("rolled back %s to %s, want %s to %s", r[1], r[5], overfit[1], orig)
	}
	if slower := num(t, r[4]); slower <= 10 || num(t, r[2]) <= num(t, r[6]) {
		t.Errorf("rollback of a version only %v%% slower (%s vs %s cycles)", slower, r[2], r[6])
	}
	for _, rej := range []string{
		`\[Self-Evolution\] rejected candidate from scripted-fault at equivalence: on input \(1000\): .*integer divide by zero`,
		`\[Self-Evolution\] rejected candidate from scripted-overfit at A/B timing: speedup \d+\.\d\d on \d+ recorded inputs is below 1\.10`,
	} {
		if len(match(serial, rej)) == 0 {
			t.Errorf("no line %s", rej)
		}
	}
	proven := match(serial, provenRE)
	if len(proven) != 1 {
		t.Fatalf("want 1 proven line, got %d", len(proven))
	}
	p := proven[0]
	if p[1] != healed[1] {
		t.Errorf("proven %s, want the optimizer's %s", p[1], healed[1])
	}
	if sp := num(t, p[4]); sp < 2 {
		t.Errorf("in-kernel speedup %v < 2 (%s -> %s cycles per call)", sp, p[2], p[3])
	}
	// The order of events.
	order := []string{warnRE, `\[Self-Evolution\] rejected candidate from scripted-fault`, `\[Self-Evolution\] candidate \S+ \(scripted-overfit\)`,
		`\[Self-Evolution\] rolled back`, `\[Self-Evolution\] rejected candidate from scripted-overfit`, provenRE, summaryRE}
	last := -1
	for _, re := range order {
		i := index(serial[last+1:], re)
		if i < 0 {
			t.Errorf("%s missing or out of order", re)
			break
		}
		last += 1 + i
	}
	sum := match(serial, summaryRE)
	if len(sum) != 1 {
		t.Fatalf("want 1 summary line, got %d", len(sum))
	}
	s := sum[0]
	if num(t, s[1]) < 100 || s[2] != "0" || s[3] != "3" || s[4] != "1" || num(t, s[5]) < 3 || num(t, s[6]) < 2 {
		t.Errorf("summary %q: want ≥ 100 calls, 0 wrong, 3 swaps, 1 rollback, ≥ 3 rejected, speedup ≥ 2", s[0])
	}
	live := match(serial, liveRE)
	if len(live) == 0 {
		t.Error("no live [telemetry] lines")
	}
	for _, l := range live {
		if num(t, l[5]) < num(t, l[2]) || num(t, l[2]) > 0 && num(t, l[3]) == 0 {
			t.Errorf("inconsistent telemetry line %q", l[0])
		}
	}
	checkCPUs(t, serial)
	t.Logf("%s calls, %s wrong, in-kernel speedup %s (%s -> %s cycles per call on the post-swap traffic), %d live telemetry lines",
		s[1], s[2], p[4], p[2], p[3], len(live))
}

// TestHealInKernel runs the scenario with the seed's rule (mean above
// 1,500,000 cycles over at least 10 calls).
func TestHealInKernel(t *testing.T) {
	serial, code := boot(t, nil, "-mode", "demo", "-n", "3000", "-timeout", "3m")
	if !strings.Contains(serial, "HEAL rule mean=1500000,p99=0,calls=10,windows=1 (the seed's default)") {
		t.Error("the guest does not report the seed's rule")
	}
	checkHealed(t, serial, code, 1_500_000, 10)
}

// TestSwapUnderLoadInKernel: one goroutine per CPU makes 10^6 calls in
// total while the slot is swapped 1,000 times between two versions.
func TestSwapUnderLoadInKernel(t *testing.T) {
	serial, code := boot(t, nil, "-mode", "swap")
	if code != 0 {
		t.Errorf("guest exit code %d, want 0", code)
	}
	m := match(serial, `SWAP calls=(\d+) goroutines=(\d+) swaps=(\d+) wrong=(\d+) versions=(\d+)/(\d+) publish_median=(\d+) publish_max=(\d+) quiesce_median=(\d+) quiesce_max=(\d+) elapsed=([\d.]+)s`)
	if len(m) != 1 {
		t.Fatal("no SWAP line")
	}
	s := m[0]
	if s[1] != "1000000" || s[2] != "2" || s[3] != "1000" || s[4] != "0" {
		t.Errorf("%q: want 1000000 calls on 2 goroutines, 1000 swaps, 0 wrong", s[0])
	}
	a, b := num(t, s[5]), num(t, s[6])
	if a+b != 1e6 || a == 0 || b == 0 {
		t.Errorf("versions ran %v and %v calls, want both > 0 adding up to 10^6", a, b)
	}
	checkCPUs(t, serial)
	t.Logf("%s", s[0])
}

// TestGoFuncInKernel: a Go function of the image (a bitwise CRC-32,
// called directly by a goroutine on each CPU) is healed by patching its
// entry in the kernel's text: the latency warning, a variant wrong on a
// rare input and one that panics rejected, slicing-by-8 validated and
// swapped in with an A/B speedup ≥ 1.10, no wrong checksum, and the
// kernel's patch counters show the rewrite.
func TestGoFuncInKernel(t *testing.T) {
	serial, code := boot(t, nil, "-mode", "go", "-timeout", "60s")
	if code != 0 {
		t.Errorf("guest exit code %d, want 0", code)
	}
	if strings.Contains(serial, "HEAL FAIL") || strings.Contains(serial, "GO wrong") {
		t.Errorf("the guest reported a failure")
	}
	cal := match(serial, `GO calibrate bytes=(\d+) bitwise=(\d+) slicing8=(\d+) rule mean=(\d+),p99=0,calls=20,windows=1`)
	if len(cal) != 1 {
		t.Fatal("no GO calibrate line")
	}
	threshold := num(t, cal[0][4])
	warns := match(serial, `\[Self-Evolution\] Latency warning on go:checksum avg=(\d+) calls=(\d+)`)
	if len(warns) == 0 {
		t.Fatal("no latency warning on go:checksum")
	}
	if avg, calls := num(t, warns[0][1]), num(t, warns[0][2]); avg <= threshold || calls < 20 {
		t.Errorf("%q: want avg above the rule's %v after ≥ 20 calls", warns[0][0], threshold)
	}
	for _, rej := range []string{
		`\[Self-Evolution\] rejected candidate from go:checksum/wrong-rare at equivalence: on input len \d*37: current returns \d+, candidate \d+`,
		`\[Self-Evolution\] rejected candidate from go:checksum/panics at sandbox: on input len 0: panic: runtime error: index out of range.*`,
	} {
		if len(match(serial, rej)) != 1 {
			t.Errorf("want one line %s", rej)
		}
	}
	cands := match(serial, `\[Self-Evolution\] candidate go:checksum/(\S+) \(variant\): validated (\d+) inputs, speedup (\d+\.\d\d), swapped in (\d+\.\d\d) µs`)
	if len(cands) != 1 || cands[0][1] != "slicing8" {
		t.Fatalf("want one candidate line, for slicing8; got %v", cands)
	}
	if sp := num(t, cands[0][3]); sp < 1.10 || num(t, cands[0][2]) < 1 {
		t.Errorf("%q: want speedup ≥ 1.10 on ≥ 1 input", cands[0][0])
	}
	if strings.Contains(serial, "rolled back go:checksum") {
		t.Error("slicing-by-8 was rolled back")
	}
	sum := match(serial, `GO summary calls=(\d+) wrong=(\d+) swaps=(\d+) rejected=(\d+) current=(\S+) ab_speedup=(\d+\.\d\d) traffic_speedup=(\d+\.\d\d) swap_us=([\d.]+) held_us=([\d.]+) elapsed=([\d.]+)s`)
	if len(sum) != 1 {
		t.Fatal("no GO summary line")
	}
	s := sum[0]
	if num(t, s[1]) < 100 || s[2] != "0" || s[3] != "1" || s[4] != "2" || s[5] != "slicing8" {
		t.Errorf("%q: want ≥ 100 calls, 0 wrong, 1 swap, 2 rejected, slicing8 current", s[0])
	}
	pm := match(serial, `GO patch pokes=(\d+) traps=(\d+) busy=(\d+) stale=(\d+) entry_rewrites=(\d+)`)
	if len(pm) != 1 {
		t.Fatal("no GO patch line (the kernel's patch counters)")
	}
	if num(t, pm[0][1]) < 1 || pm[0][5] != "1" {
		t.Errorf("%q: want ≥ 1 kernel poke and 1 rewrite of checksum's entry", pm[0][0])
	}
	checkCPUs(t, serial)
	t.Logf("%s\n%s\n%s", cands[0][0], s[0], pm[0][0])
}

// TestRuleFromKernelCmdline: TELEMETRY_RULE=... on the kernel command
// line becomes the environment variable the healer reads.
func TestRuleFromKernelCmdline(t *testing.T) {
	// A threshold no call reaches: the rule never fires although the
	// seed's would have (the average printed is above 1,500,000), so
	// nothing is healed.
	t.Run("never", func(t *testing.T) {
		serial, code := boot(t, []string{"TELEMETRY_RULE=mean=1000000000000,calls=50"}, "-mode", "demo", "-n", "3000", "-expect", "none", "-none-calls", "100")
		if code != 0 {
			t.Errorf("guest exit code %d, want 0", code)
		}
		if !strings.Contains(serial, "HEAL rule mean=1000000000000,p99=0,calls=50,windows=1 ($TELEMETRY_RULE=mean=1000000000000,calls=50)") {
			t.Error("the guest does not report the rule from the command line")
		}
		if strings.Contains(serial, "[Self-Evolution]") {
			t.Error("the healer acted although the rule cannot fire")
		}
		m := match(serial, `HEAL none calls=(\d+) avg=(\d+)`)
		if len(m) != 1 {
			t.Fatal("no HEAL none line")
		}
		if calls, avg := num(t, m[0][1]), num(t, m[0][2]); calls < 100 || avg <= 1_500_000 {
			t.Errorf("%d calls at avg %v: want ≥ 100 calls slow enough for the seed's rule", int(calls), avg)
		}
	})
	// A p99 rule over two windows of at least 30 calls each: the warning
	// comes after at least 60 calls, from a p99 above the threshold.
	// (-expect warn: no candidates, the guest stops at the first alert.)
	t.Run("p99", func(t *testing.T) {
		rule := "TELEMETRY_RULE=mean=0,p99=4000000,calls=30,windows=2"
		serial, code := boot(t, []string{rule}, "-mode", "demo", "-n", "3000", "-expect", "warn", "-timeout", "3m")
		if code != 0 {
			t.Errorf("guest exit code %d, want 0", code)
		}
		if !strings.Contains(serial, "HEAL rule mean=0,p99=4000000,calls=30,windows=2 ($TELEMETRY_RULE=mean=0,p99=4000000,calls=30,windows=2)") {
			t.Error("the guest does not report the rule from the command line")
		}
		warns, alerts := match(serial, warnRE), match(serial, alertRE)
		if len(warns) != 1 || len(alerts) != 1 {
			t.Fatalf("want 1 warning and 1 alert line, got %d and %d", len(warns), len(alerts))
		}
		if calls := num(t, warns[0][3]); calls < 60 {
			t.Errorf("warning after %v calls; the rule needs 2 windows of 30", calls)
		}
		if a := alerts[0]; num(t, a[2]) <= 4_000_000 || a[3] != "2" {
			t.Errorf("%q: want p99 above 4000000 over 2 windows", a[0])
		}
		if strings.Contains(serial, "[Self-Evolution] candidate") {
			t.Error("a candidate was swapped in with -expect warn")
		}
		t.Logf("%s\n%s", warns[0][0], alerts[0][0])
	})
	// A malformed rule is a clear error, not a silent default.
	t.Run("bad", func(t *testing.T) {
		serial, code := boot(t, []string{"TELEMETRY_RULE=mean=fast"}, "-mode", "demo")
		if code != 2 || !strings.Contains(serial, "HEAL FAIL $TELEMETRY_RULE: telemetry: rule \"mean=fast\"") {
			t.Errorf("exit code %d; want 2 and the parse error", code)
		}
	})
}

// The on-board model as the healer's advisor, inside the kernel: a tiny
// random-weight model (its replies are noise) runs pinned to the reserved
// CPU, is shown Work's source and telemetry, and the gate rejects what it
// says, with a reason, while callers keep getting right results.
func TestLLMAdvisorInKernel(t *testing.T) {
	testenv.Need(t, "qemu")
	var buf bytes.Buffer
	spec := modelgen.Spec{Layers: 1, Hidden: 64, Heads: 2, KVHeads: 1, FFN: 128, Type: quant.Q8_0, Seed: 5}
	if err := modelgen.Write(&buf, spec); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(outDir, "advisor.gguf")
	if err := os.WriteFile(model, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	kern := filepath.Join(outDir, "heal-llm.elf")
	if err := build.AttachFS(testenv.Get(t, kernelOnce), kern, []string{model}); err != nil {
		t.Fatal(err)
	}
	cmdline, err := build.KernelCmdline(nil, []string{"reserve=1"}, []string{"-mode", "llm", "-model", model, "-llm-tokens", "24", "-n", "2000"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{
		Kernel: kern, Stub: testenv.Get(t, stubOnce), SMP: 2, Mem: "512M", Append: cmdline,
		Accel: "tcg", Stdout: &out, Timeout: bootTimeout,
	})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("boot: %v\n%s", err, serial)
	}
	t.Logf("serial output:\n%s", serial)
	if res.ExitCode != 0 || strings.Contains(serial, "HEAL FAIL") {
		t.Fatalf("guest exited with %d", res.ExitCode)
	}
	if index(serial, `HEAL llm model \S+: 1 layers, hidden 64, vocab \d+; engine on CPU 1`) < 0 {
		t.Error("the engine was not pinned to reserved CPU 1")
	}
	if index(serial, `\[Self-Evolution\] llm: asked about Work \(`+cidRE+`\): prompt \d+ bytes, reply \d+ bytes in`) < 0 {
		t.Error("no question to the model")
	}
	rej := match(serial, `HEAL llm rejected (\d+) at (no code|parse|type check|machine code|equivalence|A/B timing): (.+)`)
	if len(rej) == 0 {
		t.Fatal("the model's reply was not rejected")
	}
	if index(serial, `\[Self-Evolution\] rejected candidate from llm at `+regexp.QuoteMeta(rej[0][2])+`: `) < 0 {
		t.Error("the healer did not log the rejection")
	}
	s := match(serial, `HEAL llm summary calls=(\d+) wrong=(\d+) asked=(\d+) rejected=(\d+) swaps=(\d+) quarantined=(\w+)`)
	if len(s) != 1 {
		t.Fatal("no summary")
	}
	if s[0][2] != "0" || s[0][3] != "1" || s[0][5] != "0" || s[0][6] != "false" {
		t.Errorf("summary %q: want no wrong result, one question, no swap, not quarantined", s[0][0])
	}
}
