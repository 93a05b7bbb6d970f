package patch

import (
	"hash/adler32"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/velocityos/velocity/kernel"
)

// Two implementations of Adler-32 that must agree. Each also says which one
// ran, so a test can count how many calls each variant served.

const adlerMod = 65521

//go:noinline
func adlerSimple(p []byte) (uint32, int) {
	a, b := uint32(1), uint32(0)
	for _, c := range p {
		a = (a + uint32(c)) % adlerMod
		b = (b + a) % adlerMod
	}
	return b<<16 | a, 0
}

//go:noinline
func adlerBlocked(p []byte) (uint32, int) {
	// Defer the modulo: 5552 bytes is the longest run that cannot overflow.
	a, b := uint32(1), uint32(0)
	for len(p) > 0 {
		n := min(len(p), 5552)
		for _, c := range p[:n] {
			a += uint32(c)
			b += a
		}
		a %= adlerMod
		b %= adlerMod
		p = p[n:]
	}
	return b<<16 | a, 1
}

//go:noinline
func otherType(p []byte) uint32 { return 0 }

type adder struct{ n int }

func (a adder) add(p []byte) (uint32, int) { return uint32(a.n), 2 }

func inputs(n int) (bufs [][]byte, want []uint32) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < n; i++ {
		b := make([]byte, 1+r.Intn(300))
		r.Read(b)
		bufs = append(bufs, b)
		want = append(want, adler32.Checksum(b))
	}
	return bufs, want
}

func TestVariantsAgree(t *testing.T) {
	bufs, want := inputs(50)
	for i, b := range bufs {
		if s, _ := adlerSimple(b); s != want[i] {
			t.Fatalf("adlerSimple = %#x, want %#x", s, want[i])
		}
		if s, _ := adlerBlocked(b); s != want[i] {
			t.Fatalf("adlerBlocked = %#x, want %#x", s, want[i])
		}
	}
}

func TestFuncSwapAndRevert(t *testing.T) {
	t.Logf("sync mode: %s", SyncMode())
	data := []byte("live patching")
	want := adler32.Checksum(data)
	check := func(impl int) {
		t.Helper()
		s, got := adlerSimple(data)
		if s != want || got != impl {
			t.Fatalf("adlerSimple = %#x from implementation %d, want %#x from %d", s, got, want, impl)
		}
	}
	check(0)
	for i := 0; i < 3; i++ {
		p, err := Func(adlerSimple, adlerBlocked)
		if err != nil {
			t.Fatal(err)
		}
		check(1)
		if _, err := Func(adlerSimple, adlerBlocked); err != ErrPatched {
			t.Fatalf("second patch of a patched site: %v, want ErrPatched", err)
		}
		if err := p.Revert(); err != nil {
			t.Fatal(err)
		}
		check(0)
		if err := p.Revert(); err != ErrReverted {
			t.Fatalf("second Revert: %v, want ErrReverted", err)
		}
	}
}

func TestFuncRefusesBadArguments(t *testing.T) {
	captured := 7
	closure := func(p []byte) (uint32, int) { return uint32(captured), 3 }
	cases := []struct {
		name          string
		orig, variant any
		want          string
	}{
		{"not functions", 1, 2, "needs two functions"},
		{"different types", adlerSimple, otherType, "not the same function type"},
		{"closure variant", adlerSimple, closure, "closure"},
		{"method value", adlerSimple, adder{3}.add, "method value"},
		{"itself", adlerSimple, adlerSimple, "itself"},
		{"runtime", runtime.GC, runtime.Gosched, "runtime"},
		{"nil", adlerSimple, (func([]byte) (uint32, int))(nil), "nil"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Func(c.orig, c.variant)
			if err == nil {
				p.Revert()
				t.Fatal("patched")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// TestAnalyzeRefuses checks the decoder's verdicts on hand-made code.
func TestAnalyzeRefuses(t *testing.T) {
	cases := []struct {
		name string
		code []byte
		want string // "" = accepted
		off  int
	}{
		{"nop pad", []byte{0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc3}, "", 0},
		{"branch into the pad", []byte{0x0f, 0x1f, 0x44, 0x00, 0x00, 0xeb, 0xfa}, "targets byte 1", 0},
		{"call into the range", []byte{0x48, 0x89, 0xc3, 0x48, 0x89, 0xc8, 0xe8, 0xf8, 0xff, 0xff, 0xff}, "targets byte 3", 0},
		{"jcc into byte 4", []byte{0x49, 0x3b, 0x66, 0x10, 0x76, 0x02, 0x74, 0xfc, 0xc3}, "targets byte 4", 0},
		{"gc prologue", []byte{0x49, 0x3b, 0x66, 0x10, 0x76, 0x02, 0xc3, 0xcc, 0xcc}, "", 0},
		{"long first instruction", []byte{0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 0xc3}, "", 0},
		{"entry inside an instruction", []byte{0x90, 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 0xc3}, "not an instruction boundary", 2},
		{"undecodable", []byte{0x0f, 0x1f, 0x44, 0x00, 0x00, 0x06}, "cannot decode", 0},
		{"too short", []byte{0x90, 0x90}, "does not hold", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := analyze(c.code, 0x1000, c.off)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatal("accepted")
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
	// The same verdict through the public entry point, on a code blob.
	blob := []byte{0x0f, 0x1f, 0x44, 0x00, 0x00, 0xeb, 0xfa}
	lo := uintptr(ptrOf(blob))
	if _, err := Redirect(lo, lo+5, Region{lo, lo + uintptr(len(blob))}); err == nil || !strings.Contains(err.Error(), "targets byte 1") {
		t.Fatalf("Redirect into a pad with a branch to byte 1: %v", err)
	}
	if _, err := Redirect(lo+100, lo, Region{lo, lo + uintptr(len(blob))}); err == nil {
		t.Fatal("Redirect outside its region accepted")
	}
}

func TestJmpReach(t *testing.T) {
	if _, err := jmpRel32(0x1000, 0x1000+1<<32); err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("4 GiB jump: %v", err)
	}
	b, err := jmpRel32(0x1000, 0x800)
	if err != nil {
		t.Fatal(err)
	}
	if to, ok := jmpTarget(0x1000, b); !ok || to != 0x800 {
		t.Fatalf("round trip: %#x %v", to, ok)
	}
}

// TestRedirectExecutableBlob patches code the way the JIT's is patched: a
// NOP pad at the entry of code in an anonymous RX mapping, redirected to
// another function of the blob and back. The test reads the bytes (calling
// raw machine code from Go needs the JIT's trampoline; heal's tests run
// patched JIT code).
func TestRedirectExecutableBlob(t *testing.T) {
	if onVelocity() {
		t.Skip("host mapping test")
	}
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	// f: pad; mov eax, 1; ret   g (at 32): pad; mov eax, 2; ret
	f := []byte{0x0f, 0x1f, 0x44, 0x00, 0x00, 0xb8, 1, 0, 0, 0, 0xc3}
	g := []byte{0x0f, 0x1f, 0x44, 0x00, 0x00, 0xb8, 2, 0, 0, 0, 0xc3}
	for i := range mem[:64] {
		mem[i] = 0xcc
	}
	copy(mem, f)
	copy(mem[32:], g)
	if err := syscall.Mprotect(mem, syscall.PROT_READ|syscall.PROT_EXEC); err != nil {
		t.Fatal(err)
	}
	lo := uintptr(ptrOf(mem))
	p, err := Redirect(lo, lo+32, Region{lo, lo + 64})
	if err != nil {
		t.Fatal(err)
	}
	if to, ok := jmpTarget(lo, read5(lo)); !ok || to != lo+32 {
		t.Fatalf("entry now % x, want a JMP to %#x", read5(lo), lo+32)
	}
	if err := p.Revert(); err != nil {
		t.Fatal(err)
	}
	if read5(lo) != [5]byte{0x0f, 0x1f, 0x44, 0x00, 0x00} {
		t.Fatalf("entry after Revert: % x", read5(lo))
	}
}

// TestSwapUnderLoad: goroutines on every CPU call adlerSimple while the
// patcher swaps it to adlerBlocked and back. Every result must be right,
// and both implementations must have served calls. On a host: 10^6 calls
// and 1,000 round trips (2,000 rewrites); inside the kernel, smaller.
func TestSwapUnderLoad(t *testing.T) {
	calls, trips := int64(1_000_000), 1000
	if onVelocity() {
		calls, trips = 100_000, 100
	}
	if testing.Short() {
		calls, trips = calls/10, trips/10
	}
	r := swapUnderLoad(t, calls, trips)
	t.Logf("%d goroutines: %d calls (%d by the original, %d by the variant), %d wrong; %d swaps in %v (%.1f µs per swap); sync %s",
		r.workers, r.calls, r.served[0], r.served[1], r.wrong, 2*trips, r.swapTime.Round(time.Millisecond),
		float64(r.swapTime.Microseconds())/float64(2*trips), SyncMode())
	if onVelocity() {
		if st, err := kernel.ReadPatchStats(); err == nil {
			t.Logf("kernel: %d pokes, %d refused busy, %d INT3 hits emulated, %d stale INT3s re-run, %d IPI rounds, last poke %.1f µs, longest %.1f µs",
				st.Pokes, st.Busy, st.Traps, st.Stale, st.Syncs, float64(st.LastNs)/1e3, float64(st.MaxNs)/1e3)
		}
	}
	if r.wrong != 0 {
		t.Errorf("%d wrong results", r.wrong)
	}
	if r.calls < calls {
		t.Errorf("only %d calls", r.calls)
	}
	if r.served[0] == 0 || r.served[1] == 0 {
		t.Errorf("calls served: original %d, variant %d; want both > 0", r.served[0], r.served[1])
	}
}

type loadResult struct {
	workers  int
	calls    int64
	served   [2]int64
	wrong    int64
	swapTime time.Duration
}

// swapUnderLoad runs the workers until they made calls calls and the
// swapper made trips round trips, whichever ends later, so every swap
// happens while calls are in flight.
func swapUnderLoad(t testing.TB, calls int64, trips int) loadResult {
	bufs, want := inputs(64)
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 {
		workers = 2
	}
	var (
		total, wrong atomic.Int64
		served       [2]atomic.Int64
		swapsDone    atomic.Bool
		wg           sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var local [2]int64
			for i := w; ; i++ {
				if i%256 == 0 && total.Load() >= calls && swapsDone.Load() {
					break
				}
				k := i % len(bufs)
				s, impl := adlerSimple(bufs[k])
				if s != want[k] || impl < 0 || impl > 1 {
					wrong.Add(1)
				} else {
					local[impl]++
				}
				if i%64 == 0 {
					total.Add(64)
				}
			}
			served[0].Add(local[0])
			served[1].Add(local[1])
		}(w)
	}
	var swapTime time.Duration
	var p *Patch
	for i := 0; i < 2*trips; i++ {
		// Space the rewrites over the calls: wait for the workers'
		// progress (not for a fixed time) so that rewrites and calls
		// overlap and each variant serves a share.
		for total.Load() < calls*int64(i)/int64(2*trips) {
		}
		start := time.Now()
		var err error
		if i%2 == 0 {
			p, err = Func(adlerSimple, adlerBlocked)
		} else {
			err = p.Revert()
		}
		swapTime += time.Since(start)
		if err != nil {
			swapsDone.Store(true)
			wg.Wait()
			t.Fatal(err)
		}
	}
	swapsDone.Store(true)
	wg.Wait()
	return loadResult{workers, served[0].Load() + served[1].Load() + wrong.Load(), [2]int64{served[0].Load(), served[1].Load()}, wrong.Load(), swapTime}
}

// BenchmarkSwap measures one rewrite (a patch or a revert) from the
// caller's side, and on a host also the pause within it: from the
// placeholder going in to the last sync, while a thread that calls the
// function waits (averaged over every host rewrite of the run).
func BenchmarkSwap(b *testing.B) {
	b.ReportAllocs()
	k0, _ := kernel.ReadPatchStats()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p, err := Func(adlerSimple, adlerBlocked)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Revert(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Nanoseconds())/1e3/float64(2*b.N), "µs/rewrite")
	if !onVelocity() {
		n, held := HostPause()
		b.ReportMetric(float64(held.Nanoseconds())/1e3/float64(n), "µs-pause/rewrite")
	} else if k1, err := kernel.ReadPatchStats(); err == nil && k1.Pokes > k0.Pokes {
		// In the kernel the pause is the poke: first INT3 to last sync.
		b.ReportMetric(float64(k1.TotalNs-k0.TotalNs)/1e3/float64(k1.Pokes-k0.Pokes), "µs-pause/rewrite")
	}
}

func ptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
