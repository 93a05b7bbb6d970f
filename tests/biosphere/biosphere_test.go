// Package biosphere runs the Biosphere's multi-node scenario (issue 11)
// under QEMU: four images/biosphere guests on one LAN (internal/ethswitch,
// loopback streams only), peers named by peers= on each kernel command
// line, every node's serial lines asserted.
package biosphere

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/ethswitch"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
	"github.com/velocityos/velocity/registry"
)

var outDir string

func TestMain(m *testing.M) { testenv.Main(m, "velocity-biosphere-test-", &outDir) }

var (
	stubOnce = sync.OnceValues(build.Stub)
	bioOnce  = sync.OnceValues(func() (string, error) {
		out := filepath.Join(outDir, "biosphere.elf")
		return out, build.Build("../../images/biosphere", out, nil)
	})
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.ReplaceAll(s.b.String(), "\r\n", "\n")
}

// guest is one node: a QEMU process on the switch.
type guest struct {
	name   string
	serial *syncBuffer
	stop   context.CancelFunc
	done   chan error
}

// lan is the nodes' network: node i (1-based) is 10.0.5.i, MAC
// 52:54:00:56:00:0i, its gateway on port 80.
type lan struct {
	t      *testing.T
	sw     *ethswitch.Switch
	kernel string
	stub   string
}

func ip(i int) string { return fmt.Sprintf("10.0.5.%d", i) }

// boot starts node i with peers (node numbers) and argv.
func (l *lan) boot(name string, i int, peers []int, fs []string, argv ...string) *guest {
	t := l.t
	t.Helper()
	var opts []string
	if len(peers) > 0 {
		var ps []string
		for _, p := range peers {
			ps = append(ps, ip(p)+":80")
		}
		opts = append(opts, "peers="+strings.Join(ps, ","))
	}
	cmdline, err := build.KernelCmdline(nil, append([]string{"ip=" + ip(i) + "/24"}, opts...), append([]string{"-name", name}, argv...))
	if err != nil {
		t.Fatal(err)
	}
	kernel := l.kernel
	if len(fs) > 0 {
		kernel = filepath.Join(t.TempDir(), "biosphere+fs.elf")
		if err := build.AttachFS(l.kernel, kernel, fs); err != nil {
			t.Fatal(err)
		}
	}
	g := &guest{name: name, serial: new(syncBuffer), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	g.stop = cancel
	c := qemu.Config{
		Kernel: kernel, Stub: l.stub, SMP: 2, Accel: "tcg",
		Stdout: g.serial, Append: cmdline, Timeout: 6 * time.Minute, DumpOnTimeout: true, Extra: l.sw.NetArgs(byte(i)),
	}
	go func() {
		_, err := qemu.Run(ctx, c)
		g.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		<-g.done
		t.Logf("serial of %s:\n%s", name, g.serial)
	})
	return g
}

// wait waits for a line matching re on g's serial (a FAIL line or the
// guest's end fails the test at once) and returns its submatches.
func (g *guest) wait(t *testing.T, re string, timeout time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		out := g.serial.String()
		if m := rx.FindStringSubmatch(out); m != nil {
			return m
		}
		if strings.Contains(out, "BIO "+g.name+" FAIL") {
			t.Fatalf("node %s failed:\n%s", g.name, out)
		}
		select {
		case err := <-g.done:
			g.done <- err
			t.Fatalf("node %s ended (%v) without %q:\n%s", g.name, err, re, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: no %q within %v:\n%s", g.name, re, timeout, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// halt stops g's QEMU and waits for it.
func (g *guest) halt() {
	g.stop()
	err := <-g.done
	g.done <- err
}

// calls returns g's "call" lines without the node's name, in order.
// Whoever waits for a call before reading them must wait for its whole
// line (through "(function CID)"): the serial log grows in pieces, and a
// line caught half written is not a call yet.
func calls(g *guest) []string {
	var out []string
	for _, m := range regexp.MustCompile(`BIO \S+ (call \S+ \S+ = \d+) \(function (\S+)\)`).FindAllStringSubmatch(g.serial.String(), -1) {
		out = append(out, m[1]+" "+m[2])
	}
	return out
}

// regexp1 returns the first submatch of every match of re in s.
func regexp1(re, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestScenario is issue 11's multi-node scenario:
//
//  1. A publishes a module set (the example modules and heal's slow
//     module); B and D import it by CID (fetch, JIT, run) and get A's
//     results.
//  2. A is stopped; C imports the same CIDs from its peers A (down), D
//     (which now serves wrong bytes, and is listed before B so that it is
//     asked first) and B: D is detected and demoted, the import completes
//     from B, and C gets A's results.
//  3. A boots again with the same module set, heals the slow function
//     under load, and its healer publishes the proven variant as a signed
//     record. B and C, polling their peers' records, validate the variant
//     through their own gates on their own recorded inputs, adopt it, log
//     it, and still compute A's results, now with the variant. C has
//     also polled D, which published a record with a bad signature and a
//     signed one for a variant that is not equivalent: C rejects both,
//     with the reason, and keeps running what it ran.
func TestScenario(t *testing.T) {
	testenv.Need(t, "qemu")
	sw, err := ethswitch.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	l := &lan{t: t, sw: sw, kernel: testenv.Get(t, bioOnce), stub: testenv.Get(t, stubOnce)}

	pack := filepath.Join(t.TempDir(), "modules.pack")
	roots, err := testenv.ExamplePack("../../examples/modules", pack)
	if err != nil {
		t.Fatal(err)
	}
	slow, _, err := registry.AddSource(registry.NewMemStore(), "slow.vel", []byte(heal.DemoSource))
	if err != nil {
		t.Fatal(err)
	}
	var set []string
	for _, r := range append(roots, slow) {
		set = append(set, r.String())
	}
	fetchAll := strings.Join(set, ",")
	callArgs := []string{"-call", "SumSquares(100)", "-call", "Mix(1000)", "-call", "Choose(10,3)", "-call", "Work(500)"}
	start := time.Now()

	// 1. A publishes; B and D import from A.
	a := l.boot("A", 1, nil, []string{pack}, append([]string{"-pack", pack, "-demo"}, callArgs...)...)
	b := l.boot("B", 2, []int{1}, nil, append([]string{"-fetch", fetchAll, "-adopt", "Work", "-n", "1500"}, callArgs...)...)
	d := l.boot("D", 4, []int{1}, nil, "-fetch", fetchAll, "-tamper")
	pub := a.wait(t, `BIO A key \S+, peers \[\], 15 blocks, roots \[([^]]*)\]`, 2*time.Minute)[1]
	if got := strings.Fields(pub); len(got) != len(set) {
		t.Fatalf("A publishes %q, want %q", got, set)
	}
	for _, r := range set {
		if !strings.Contains(pub, r) {
			t.Fatalf("A does not publish %s: %q", r, pub)
		}
	}
	a.wait(t, `BIO A call .* Work\(500\) = \d+ \(function \S+\)`, 2*time.Minute)
	want := calls(a)
	if len(want) != 4 {
		t.Fatalf("A's calls: %q", want)
	}
	b.wait(t, `BIO B call .* Work\(500\) = \d+ \(function \S+\)`, 3*time.Minute)
	if got := calls(b); !slices.Equal(got, want) {
		t.Fatalf("B computes\n%s\nA computes\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, r := range set {
		b.wait(t, `BIO B imported `+r+`: \d+ blocks`, time.Second)
	}
	b.wait(t, `BIO B peer http://10.0.5.1:80: score \d+, served \d+, failed 0, wrong bytes 0`, time.Second)
	bad := d.wait(t, `BIO D tampering: published record (\S+) with a bad signature and record (\S+) claiming (\S+) \(which computes other results\) replaces (\S+)`, 3*time.Minute)
	dKey := d.wait(t, `BIO D key ([0-9a-f]{16}),`, time.Second)[1]
	d.wait(t, `BIO D done`, 3*time.Minute)
	t.Logf("%v: B imported the set from A and computes what A computes", time.Since(start).Round(time.Second))

	// 2. A stops; C imports from A (down), D (tampering) and B.
	a.halt()
	// C waits 500 ms for HEAD answers after the first holder's (not
	// 50 ms), so that D, a holder listed before B, is among the holders
	// even on a loaded host, and is asked first.
	c := l.boot("C", 3, []int{1, 4, 2}, nil, append([]string{"-fetch", fetchAll, "-adopt", "Work", "-n", "1800", "-holder-wait", "500ms"}, callArgs...)...)
	c.wait(t, `BIO C call .* Work\(500\) = \d+ \(function \S+\)`, 3*time.Minute)
	if got := calls(c); !slices.Equal(got, want) {
		t.Fatalf("C computes\n%s\nA computes\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c.wait(t, `\[Biosphere\] peer http://10.0.5.4:80 served wrong bytes for \S+ \(they hash to \S+\): demoted to score -10, trying the next holder`, time.Second)
	c.wait(t, `BIO C peer http://10.0.5.4:80: score -\d+, served 0, failed \d+, wrong bytes [1-9]`, time.Second)
	c.wait(t, `BIO C peer http://10.0.5.2:80: score [1-9]\d*, served [1-9]\d*, failed 0, wrong bytes 0`, time.Second)
	c.wait(t, `BIO C peer http://10.0.5.1:80: score 0, served 0, failed 0, wrong bytes 0`, time.Second)
	d.wait(t, `BIO D tampering: served \S+ with its last byte flipped to 10.0.5.3:`, time.Second)
	t.Logf("%v: with A down, C imported from B; D was demoted", time.Since(start).Round(time.Second))

	// 3. A is back, heals Work and publishes; B and C adopt.
	a2 := l.boot("A", 1, nil, []string{pack}, "-pack", pack, "-demo", "-heal", "Work", "-n", "2000")
	m := a2.wait(t, `\[Biosphere\] published record (\S+): (\S+) replaces (\S+) in slot Work \(advisor optimizer, passes \[[^]]+\]; gate: (\d+) inputs equal, A/B speedup ([\d.]+)x; ([\d.]+)x on live traffic\), key ([0-9a-f]{16})`, 4*time.Minute)
	rec, healed, orig, key := m[1], m[2], m[3], m[7]
	a2.wait(t, `\[Self-Evolution\] candidate `+healed+` `, time.Second)
	a2.wait(t, `BIO A heal: \d+ calls of Work under load, 0 wrong results`, time.Minute)
	if !strings.HasSuffix(want[3], " "+orig) {
		t.Fatalf("A healed %s, but Work ran %s", orig, want[3])
	}
	// C also polled D's records: one with a bad signature, one whose
	// variant C's own gate found not equivalent. Both rejected, logged.
	c.wait(t, `\[Biosphere\] rejected record `+bad[1]+` from http://10.0.5.4:80: record: bad signature \(key `+dKey+`\)`, time.Minute)
	c.wait(t, `\[Biosphere\] rejected record `+bad[2]+` from http://10.0.5.4:80: local validation of `+bad[3]+` for slot Work failed: candidate from biosphere `+dKey+` rejected at equivalence: on input \(\d+\): current returns \d+, candidate \d+`, time.Second)
	if bad[4] != orig {
		t.Errorf("D's records claim to replace %s, Work is %s", bad[4], orig)
	}
	for _, g := range []*guest{b, c} {
		g.wait(t, `\[Biosphere\] adopted `+healed+` for slot Work \(replacing `+orig+`; record `+rec+` from http://10.0.5.1:80, key `+key+`, passes \[[^]]+\]\): local gate: \d+ inputs equal, speedup [\d.]+x here \(publisher measured [\d.]+x\)`, 3*time.Minute)
		g.wait(t, `BIO `+g.name+` done`, time.Minute)
		got := calls(g)
		if len(got) != 8 || !slices.Equal(got[:4], want) {
			t.Fatalf("%s's calls:\n%s", g.name, strings.Join(got, "\n"))
		}
		if after := strings.TrimSuffix(want[3], orig) + healed; got[7] != after {
			t.Fatalf("%s after adoption: %q, want %q", g.name, got[7], after)
		}
		if n := strings.Count(g.serial.String(), "rejected record"); g == b && n != 0 || g == c && n != 2 {
			t.Errorf("%s rejected %d records:\n%s", g.name, n, g.serial)
		}
	}
	t.Logf("%v: A healed Work (record %s); B and C validated and adopted it", time.Since(start).Round(time.Second), rec)
}
