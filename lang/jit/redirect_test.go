package jit

import (
	"strings"
	"testing"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/progen"
	"github.com/velocityos/velocity/patch"
)

// Two bodies of one signature; their results differ (by 1) so a test can
// tell which one ran. G's callee H traps on n = 0: only the redirected
// program has H.
const redirHome = `module home

func F(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ { s += 2 }
	return 100 / n + s
}
`

const redirVariant = `module variant

func H(n int64) int64 { return 100 / n }

func G(n int64) int64 { return H(n) + 2*n + 1 }
`

// TestRedirectedTelemetryAndTraps: after a live patcher redirects a
// program's entry to another program's function, calls made through the
// first program count in the second program's counters (the counter
// address is baked into each program's code, not taken from the program
// the call entered), and a trap in the second program's code, even in a
// function the first program does not have, names that function. After
// the revert, calls count in the first program again.
func TestRedirectedTelemetryAndTraps(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	hm, vm := compileSrc(t, redirHome), compileSrc(t, redirVariant)
	f, g := hm.Lookup("F"), vm.Lookup("G")
	load := func(fn *ir.Func) *Program {
		t.Helper()
		c, err := CompileInstrumented(fn)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Load(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	hp, vp := load(f), load(g)
	m := New(1 << 30)
	defer m.Close()
	m.Telemetry = true
	hprof, err := m.ProfileOf(hp)
	if err != nil {
		t.Fatal(err)
	}
	vprof, err := m.ProfileOf(vp)
	if err != nil {
		t.Fatal(err)
	}
	count := func() (home, variant uint64) {
		a, _ := hprof.Stats(f)
		b, _ := vprof.Stats(g)
		return a.Calls, b.Calls
	}
	call := func(n int64) (interp.Value, error) { return m.Call(hp, f, []interp.Value{uint64(n)}) }

	for n := int64(1); n <= 5; n++ {
		if r, err := call(n); err != nil || r != uint64(100/n+2*n) {
			t.Fatalf("F(%d) = %v, %v before the redirect", n, r, err)
		}
	}
	if h, v := count(); h != 5 || v != 0 {
		t.Fatalf("before the redirect: %d calls counted in the home program, %d in the variant; want 5, 0", h, v)
	}

	entry, _ := hp.FuncAddr(f)
	target, _ := vp.FuncAddr(g)
	lo, hi := hp.Text()
	pt, err := patch.Redirect(uintptr(entry), uintptr(target), patch.Region{Lo: uintptr(lo), Hi: uintptr(hi)})
	if err != nil {
		t.Fatal(err)
	}
	for n := int64(1); n <= 7; n++ {
		if r, err := call(n); err != nil || r != uint64(100/n+2*n+1) {
			t.Fatalf("F(%d) = %v, %v through the redirect, want the variant's %d", n, r, err, 100/n+2*n+1)
		}
	}
	if h, v := count(); h != 5 || v != 7 {
		t.Fatalf("through the redirect: %d calls counted in the home program, %d in the variant; want 5, 7", h, v)
	}
	if hs, _ := vprof.Stats(vm.Lookup("H")); hs.Calls != 7 {
		t.Fatalf("the variant's callee H counted %d calls, want 7", hs.Calls)
	}
	_, err = call(0)
	if err == nil || !strings.Contains(err.Error(), "H: ") || !strings.Contains(err.Error(), "divide by zero") {
		t.Fatalf("F(0) through the redirect: %v, want the variant's H to trap with divide by zero", err)
	}
	if err := pt.Revert(); err != nil {
		t.Fatal(err)
	}
	if r, err := call(3); err != nil || r != uint64(100/3+6) {
		t.Fatalf("F(3) = %v, %v after the revert", r, err)
	}
	_, err = call(0)
	if err == nil || !strings.Contains(err.Error(), "F: ") {
		t.Fatalf("F(0) after the revert: %v, want F to trap", err)
	}
	if h, v := count(); h != 6 || v != 7 {
		t.Fatalf("after the revert: %d, %d calls; want 6, 7", h, v)
	}
}

// TestShards: a machine's counters start at zero when it first counts,
// also in a shard another (closed) machine used before; a Profile reads
// nothing once its machine is closed; an unbound Profile is zeroed when
// first attached.
func TestShards(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	mod := compileSrc(t, probeSrc)
	fib := mod.Lookup("Fib")
	c, err := CompileInstrumented(fib)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	args := []interp.Value{uint64(10)}
	a := New(1 << 30)
	a.Telemetry = true
	if _, err := a.Call(p, fib, args); err != nil {
		t.Fatal(err)
	}
	pa, _ := a.ProfileOf(p)
	if s, _ := pa.Stats(fib); s.Calls != fibCalls(10) {
		t.Fatalf("machine a counted %d calls, want %d", s.Calls, fibCalls(10))
	}
	shard := a.shard
	a.Close()
	if s, _ := pa.Stats(fib); s.Calls != 0 {
		t.Fatalf("profile of a closed machine reads %d calls", s.Calls)
	}
	b := New(1 << 30)
	defer b.Close()
	pb, err := b.ProfileOf(p)
	if err != nil {
		t.Fatal(err)
	}
	if b.shard != shard {
		t.Logf("machine b got shard %d, a had %d", b.shard, shard)
	}
	if s, _ := pb.Stats(fib); s.Calls != 0 || s.Min != 0 {
		t.Fatalf("a new machine starts with %d calls (min %d)", s.Calls, s.Min)
	}
	b.Telemetry = true
	if _, err := b.Call(p, fib, args); err != nil {
		t.Fatal(err)
	}
	prof, _ := NewProfile(p)
	b.Prof = prof
	if _, err := b.Call(p, fib, []interp.Value{uint64(3)}); err != nil {
		t.Fatal(err)
	}
	if s, _ := prof.Stats(fib); s.Calls != fibCalls(3) {
		t.Fatalf("a Profile attached after other calls counted %d, want %d", s.Calls, fibCalls(3))
	}
	other := New(1 << 30)
	defer other.Close()
	other.Prof = prof
	if _, err := other.Call(p, fib, args); err == nil {
		t.Fatal("a Profile bound to one machine was accepted by another")
	}
}

// TestEntriesPatchable: no function entry is the last byte of a cache
// line, which package patch refuses (its host protocol stores two bytes
// at the entry atomically).
func TestEntriesPatchable(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 50
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		mod := compileSrc(t, progen.Module(seed, progenConfig))
		for _, instr := range []bool{false, true} {
			var c *Code
			var err error
			if instr {
				c, err = CompileInstrumented(mod.Funcs...)
			} else {
				c, err = Compile(mod.Funcs...)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, off := range c.bodies {
				if off%64 == 63 {
					t.Fatalf("seed %d instr=%v: a function starts at %#x, the last byte of a cache line", seed, instr, off)
				}
			}
		}
	}
}

// TestCodeWithinReach: JIT code stays within one 2 GiB window although
// machines map hundreds of MiB (stack and arena) between the loads, so a
// JMP rel32 from any loaded function reaches any other (what a live
// patcher writes).
func TestCodeWithinReach(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	mod := compileSrc(t, probeSrc)
	fib := mod.Lookup("Fib")
	var progs []*Program
	var machines []*Machine
	defer func() {
		for _, p := range progs {
			p.Close()
		}
		for _, m := range machines {
			m.Close()
		}
	}()
	for i := 0; i < 12; i++ {
		m := New(1 << 20)
		machines = append(machines, m)
		if err := m.setup(); err != nil { // 64 MiB stack, 512 MiB arena
			t.Fatal(err)
		}
		p, err := CompileAndLoad(fib)
		if err != nil {
			t.Fatal(err)
		}
		progs = append(progs, p)
	}
	// Closed code's addresses are reused.
	first := progs[0].Base()
	progs[0].Close()
	p, err := CompileAndLoad(fib)
	if err != nil {
		t.Fatal(err)
	}
	progs = append(progs, p)
	if p.Base() != first {
		t.Errorf("a program loaded after the lowest one was closed is at %#x, not at the freed %#x", p.Base(), first)
	}
	lo, hi := p.Base(), p.Base()
	for _, p := range progs[1:] {
		lo, hi = min(lo, p.Base()), max(hi, p.Base()+uint64(p.MappedBytes()))
	}
	if hi-lo > 128<<20 { // the code arena (exec_linux_amd64.go)
		t.Fatalf("JIT code spans %#x..%#x (%d MiB), more than the code arena", lo, hi, (hi-lo)>>20)
	}
	t.Logf("13 programs within %d KiB, between 12 machines' %d MiB of stacks and arenas", (hi-lo)>>10, 12*(64+512))
}
