package semantics

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/velocityos/velocity/kernel"
	"golang.org/x/sys/cpu"
)

// What CPUID offers and what the OS enabled, as the CPU itself reports it.
type simdState struct {
	xsave, osxsave, avx, avx2, avx512f bool
	xcr0                               uint64
}

func readSIMD() simdState {
	var s simdState
	_, _, c1, _ := cpuid(1, 0)
	s.xsave = c1&(1<<26) != 0
	s.osxsave = c1&(1<<27) != 0
	s.avx = c1&(1<<28) != 0
	if max, _, _, _ := cpuid(0, 0); max >= 7 {
		_, b7, _, _ := cpuid(7, 0)
		s.avx2 = b7&(1<<5) != 0
		s.avx512f = b7&(1<<16) != 0
	}
	if s.osxsave {
		s.xcr0 = xgetbv0()
	}
	return s
}

// The kernel enables the extended state (CR4.OSXSAVE, XCR0) when the CPU
// offers it, and Go's feature detection agrees with what the CPU reports:
// HasAVX2 exactly when CPUID has AVX and AVX2 and XCR0 has SSE|AVX. On
// Velocity, a CPU that offers XSAVE and AVX must get them enabled unless
// the kernel was booted with noxsave (the log line lets tests/boot tell
// the two boots apart).
func TestSIMDMatchesCPUID(t *testing.T) {
	s := readSIMD()
	t.Logf("simd: cpuid xsave=%v avx=%v avx2=%v avx512f=%v osxsave=%v xcr0=%#x; Go HasAVX=%v HasAVX2=%v HasAVX512F=%v",
		s.xsave, s.avx, s.avx2, s.avx512f, s.osxsave, s.xcr0, cpu.X86.HasAVX, cpu.X86.HasAVX2, cpu.X86.HasAVX512F)
	if s.osxsave && !s.xsave {
		t.Errorf("CPUID reports OSXSAVE without XSAVE")
	}
	if s.osxsave && s.xcr0&3 != 3 {
		t.Errorf("XCR0 = %#x lacks x87|SSE", s.xcr0)
	}
	ymm := s.osxsave && s.xcr0&6 == 6
	zmm := ymm && s.xcr0&0xE0 == 0xE0
	if got, want := cpu.X86.HasAVX, s.avx && ymm; got != want {
		t.Errorf("Go HasAVX = %v, but CPUID AVX = %v and XCR0 = %#x", got, s.avx, s.xcr0)
	}
	if got, want := cpu.X86.HasAVX2, s.avx && s.avx2 && ymm; got != want {
		t.Errorf("Go HasAVX2 = %v, but CPUID AVX = %v, AVX2 = %v and XCR0 = %#x", got, s.avx, s.avx2, s.xcr0)
	}
	if got, want := cpu.X86.HasAVX512F, s.avx512f && zmm; got != want {
		t.Errorf("Go HasAVX512F = %v, but CPUID AVX512F = %v and XCR0 = %#x", got, s.avx512f, s.xcr0)
	}
	if s.xcr0&^0xE7 != 0 {
		// MPX, PKRU, AMX...: Linux may enable them, Velocity must not,
		// since it saves only x87, SSE, AVX and AVX-512.
		if _, err := kernel.ReadInfo(); err == nil {
			t.Errorf("XCR0 = %#x enables state Velocity does not save", s.xcr0)
		}
	}
}

// holdSpin calibrates how many iterations of the hold loops take about d,
// so each call is long enough to be interrupted by the timer, switched out
// and sent preemption signals, yet short enough for the GC (which cannot
// stop a goroutine inside assembly) not to wait long.
func holdSpin(d time.Duration) uint64 {
	var out [16][2]uint64
	n := uint64(1 << 20)
	for {
		start := time.Now()
		xmmHold(0, n, &out)
		el := time.Since(start)
		if el >= d/4 || n >= 1<<34 {
			n = uint64(float64(n) * float64(d) / float64(max(el, time.Microsecond)))
			return min(max(n, 1<<16), 1<<34)
		}
		n *= 4
	}
}

// holdOnce runs one hold call with seed and checks every register,
// MXCSR and the x87 control word afterwards.
func holdOnce(seed, iters uint64, wide bool) error {
	var mx uint32
	var cw uint16
	var got [16][]uint64
	if wide {
		var out [16][4]uint64
		mx, cw = ymmHold(seed, iters, &out)
		for i := range out {
			got[i] = out[i][:]
		}
	} else {
		var out [16][2]uint64
		mx, cw = xmmHold(seed, iters, &out)
		for i := range out {
			got[i] = out[i][:]
		}
	}
	for i, lanes := range got {
		for l, v := range lanes {
			if v != seed+uint64(i) {
				return fmt.Errorf("seed %#x: register %d lane %d = %#x, want %#x", seed, i, l, v, seed+uint64(i))
			}
		}
	}
	if mx != 0x7F80 {
		return fmt.Errorf("seed %#x: MXCSR = %#x, want %#x (toward zero)", seed, mx, 0x7F80)
	}
	if cw&0x1F7F != 0x0F7F {
		return fmt.Errorf("seed %#x: x87 control word = %#x, want %#x (toward zero)", seed, cw, 0x0F7F)
	}
	return nil
}

// Vector register state (YMM when the CPU and OS have AVX, else XMM), MXCSR
// and the x87 control word survive preemption: more Go threads than CPUs
// (GOMAXPROCS above the CPU count), goroutines holding distinct values in
// all 16 vector registers across loops long enough for timer preemption,
// thread switches and the runtime's preemption signals (SIGURG: the handler
// runs on the same thread, and only rt_sigreturn brings the registers
// back), while others hash with SHA-256 and search with bytes.Index and
// multiply big.Ints, whose assembly uses AVX2 where Go detected it. Every
// hold and every hash must come out exact.
func TestVectorStateSurvivesPreemption(t *testing.T) {
	wide := cpu.X86.HasAVX
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2*runtime.NumCPU() + 1))
	iters := holdSpin(20 * time.Millisecond)

	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*31 + i>>9)
	}
	needle := []byte("velocity-avx-needle-0123456789abcdef")
	const at = 777_777
	copy(data[at:], needle)
	wantSum := sha256.Sum256(data)
	x := new(big.Int).Lsh(big.NewInt(0x1234567), 4000)
	x.Add(x, big.NewInt(99))
	wantSq := new(big.Int).Mul(x, x).String()

	before, kerr := kernel.ReadInfo()
	holders := runtime.GOMAXPROCS(0)
	const rounds = 6
	var stop atomic.Bool
	var hashes atomic.Int64
	errs := make(chan error, 2*holders+2)
	var hold, work sync.WaitGroup
	for g := range holders {
		hold.Add(1)
		go func() {
			defer hold.Done()
			for r := range rounds {
				if err := holdOnce(uint64(g+1)<<40|uint64(r)<<20, iters, wide); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range runtime.NumCPU() + 1 {
		work.Add(1)
		go func() {
			defer work.Done()
			for !stop.Load() {
				if sha256.Sum256(data) != wantSum {
					errs <- errors.New("SHA-256 of the test data changed")
					return
				}
				if i := bytes.Index(data, needle); i != at {
					errs <- fmt.Errorf("bytes.Index = %d, want %d", i, at)
					return
				}
				if sq := new(big.Int).Mul(x, x).String(); sq != wantSq {
					errs <- errors.New("big.Int square changed")
					return
				}
				hashes.Add(1)
			}
		}()
	}
	hold.Wait()
	stop.Store(true)
	work.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if hashes.Load() == 0 {
		t.Error("no hashing round completed while the holders ran")
	}
	msg := fmt.Sprintf("%d holders x %d rounds of %d iterations (%s registers), %d hashing rounds alongside",
		holders, rounds, iters, map[bool]string{true: "YMM", false: "XMM"}[wide], hashes.Load())
	if kerr == nil {
		after, _ := kernel.ReadInfo()
		msg += fmt.Sprintf(", %d thread switches", after.Switches-before.Switches)
	}
	t.Log(msg)
}

// floatWork is a loop with no calls, so its float values stay in X
// registers, and with enough iterations for the runtime to preempt it
// asynchronously (SIGURG; asyncPreempt saves the X registers the kernel
// restored from the signal frame).
//
//go:noinline
func floatWork(n int) float64 {
	a, b, c, d := 1.0, 0.5, 0.25, 0.125
	for i := 0; i < n; i++ {
		a = a*0.9999999 + b
		b = b*0.9999998 + c
		c = c*0.9999997 + d
		d = d*0.9999996 + 0.001
	}
	return a + b*3 + c*5 + d*7
}

// faultAndRecover takes a nil dereference (page fault, SIGSEGV, sigpanic)
// and recovers from it.
func faultAndRecover() (err error) {
	defer func() {
		r := recover()
		re, ok := r.(runtime.Error)
		if !ok || !strings.Contains(re.Error(), "nil pointer dereference") {
			err = fmt.Errorf("recovered %v, want a nil pointer dereference", r)
		}
	}()
	var p *[8]float64
	p[5] = 1
	return errors.New("nil dereference did not fault")
}

// x87/SSE state is right after signals: goroutines alternate float loops
// that are preempted asynchronously with nil dereferences turned into
// panics and recovered, and every float result matches the one computed
// before any of it.
func TestFloatStateAcrossSignals(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2*runtime.NumCPU() + 1))
	n := 1 << 16
	for {
		start := time.Now()
		floatWork(n)
		if time.Since(start) > 15*time.Millisecond || n >= 1<<28 {
			break
		}
		n *= 2
	}
	want := floatWork(n)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 2*runtime.NumCPU() + 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if got := floatWork(n); got != want {
					errs <- fmt.Errorf("floatWork(%d) = %v, want %v", n, got, want)
					return
				}
				if err := faultAndRecover(); err != nil {
					errs <- err
					return
				}
				if got, w := 1.0/3.0+float64(n), float64(n)+0.3333333333333333; got != w {
					errs <- fmt.Errorf("after recover 1/3+%d = %v, want %v", n, got, w)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
