// Package patch swaps the body of a running function for another while
// other threads keep calling it: the function's first five bytes become a
// JMP rel32 to the variant, written with a cross-modifying-code protocol so
// that no thread ever executes a torn instruction. Revert puts the original
// bytes back the same way.
//
// Two kinds of code can be patched:
//   - Go functions compiled by gc: Func(orig, variant) for two top-level
//     functions of identical type. The original must be marked
//     //go:noinline, or call sites that inlined it keep the old body.
//   - Machine code such as the JIT's: Redirect(entry, target, region) for
//     a function whose entry is decoded within region. Every JIT function
//     starts with a 5-byte NOP (jit.PatchPad) for this.
//
// Why a JMP at the entry is enough: under Go's ABIInternal the arguments
// are in AX, BX, CX, DI, SI, R8-R11 and X0-X14, the closure context in DX,
// the goroutine in R14, and the return address on top of the stack. A JMP
// changes none of them, so the variant starts exactly as if it had been
// called, and returns straight to the original's caller. DX is the reason
// the variant must be a top-level function: a closure reads its captured
// variables through DX, which still holds whatever the caller put there for
// the original (nothing, for a top-level function), so Func refuses
// closures and method values.
//
// How the bytes are written depends on where the program runs (see
// docs/patch.md for the protocols, why each step is safe and what is
// refused): inside the Velocity kernel a system call rewrites the site with
// the INT3 protocol of Linux's text_poke_bp and IPIs that serialise every
// CPU; on a Linux host the text page is made writable with mprotect and
// the equivalent protocol uses a two-byte self-loop instead of INT3 (a
// SIGTRAP would kill a Go program) and membarrier to serialise the cores.
//
// Nothing is freed when a patch is reverted: a Go function's body is part
// of the binary. For code that is freed (a JIT blob), Tracker tells when no
// thread can still be executing it.
package patch

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Region is a range of machine code, [Lo, Hi), decoded linearly from Lo to
// find instruction boundaries and branch targets.
type Region struct{ Lo, Hi uintptr }

// Patch is one installed redirection of a site.
type Patch struct {
	s        *site
	target   uintptr
	reverted bool
}

// site is one patchable entry and what was learnt about it.
type site struct {
	entry  uintptr
	orig   [Len]byte // the bytes before any patch
	info   siteInfo
	name   string
	active *Patch
	stub   uintptr // host only: trampoline for an entry with an instruction boundary at byte 4
}

var (
	mu    sync.Mutex // serialises every patch: one site is rewritten at a time
	sites = map[uintptr]*site{}
)

// Errors a caller may want to tell apart.
var (
	ErrPatched  = errors.New("patch: the site is already patched; revert that patch first")
	ErrReverted = errors.New("patch: the patch was already reverted")
)

// Func redirects every call of orig to variant until Revert. Both must be
// top-level functions (not closures or method values) of identical type;
// orig must not be a function of the runtime.
func Func(orig, variant any) (*Patch, error) {
	ov, vv := reflect.ValueOf(orig), reflect.ValueOf(variant)
	if ov.Kind() != reflect.Func || vv.Kind() != reflect.Func {
		return nil, fmt.Errorf("patch: Func needs two functions, got %T and %T", orig, variant)
	}
	if ov.Type() != vv.Type() {
		return nil, fmt.Errorf("patch: %v and %v are not the same function type", ov.Type(), vv.Type())
	}
	if ov.IsNil() || vv.IsNil() {
		return nil, errors.New("patch: nil function")
	}
	entry, target := ov.Pointer(), vv.Pointer()
	oname, err := topLevel(entry, "original")
	if err != nil {
		return nil, err
	}
	if _, err := topLevel(target, "variant"); err != nil {
		return nil, err
	}
	if entry == target {
		return nil, fmt.Errorf("patch: %s cannot be redirected to itself", oname)
	}
	if strings.HasPrefix(oname, "runtime.") || strings.HasPrefix(oname, "internal/runtime/") {
		return nil, fmt.Errorf("patch: %s belongs to the runtime, which may run it in states where a patch in flight is not safe", oname)
	}
	hi, err := funcEnd(entry)
	if err != nil {
		return nil, err
	}
	return redirect(entry, target, Region{entry, hi}, oname)
}

// Redirect makes the code at entry jump to target until Revert. entry must
// lie in code, the region whose instructions are decoded and checked (for
// a JIT program: [Base, Base+CodeSize)).
func Redirect(entry, target uintptr, code Region) (*Patch, error) {
	if code.Hi <= code.Lo || entry < code.Lo || entry >= code.Hi {
		return nil, fmt.Errorf("patch: entry %#x is not inside the code region [%#x, %#x)", entry, code.Lo, code.Hi)
	}
	if target == 0 || target == entry {
		return nil, fmt.Errorf("patch: bad target %#x for entry %#x", target, entry)
	}
	return redirect(entry, target, code, fmt.Sprintf("code at %#x", entry))
}

func redirect(entry, target uintptr, code Region, name string) (*Patch, error) {
	mu.Lock()
	defer mu.Unlock()
	s := sites[entry]
	if s == nil {
		var err error
		if s, err = newSite(entry, code, name); err != nil {
			return nil, err
		}
		sites[entry] = s
	}
	if s.active != nil {
		return nil, ErrPatched
	}
	if cur := read5(entry); cur != s.orig {
		return nil, fmt.Errorf("patch: %s: the entry bytes % x changed behind the patcher's back (was % x)", name, cur, s.orig)
	}
	b, err := encode(s, target)
	if err != nil {
		return nil, err
	}
	if err := poke(s, b, target); err != nil {
		return nil, err
	}
	p := &Patch{s: s, target: target}
	s.active = p
	return p, nil
}

// Revert puts the original entry bytes back.
func (p *Patch) Revert() error {
	mu.Lock()
	defer mu.Unlock()
	if p.reverted {
		return ErrReverted
	}
	s := p.s
	if s.active != p {
		return fmt.Errorf("patch: %s: this patch is not the active one", s.name)
	}
	// A thread that meets the site mid-rewrite continues at the variant:
	// the old code, equally valid until the rewrite completes.
	if err := poke(s, s.orig, p.target); err != nil {
		return err
	}
	p.reverted = true
	s.active = nil
	return nil
}

// Retarget makes the patched site jump to target instead of the current
// variant, with one rewrite under the same protocol. A thread that meets
// the site meanwhile runs either variant, never the original code, which
// Revert followed by a new Redirect would expose between the two.
func (p *Patch) Retarget(target uintptr) error {
	mu.Lock()
	defer mu.Unlock()
	if p.reverted {
		return ErrReverted
	}
	s := p.s
	if s.active != p {
		return fmt.Errorf("patch: %s: this patch is not the active one", s.name)
	}
	if target == 0 || target == s.entry {
		return fmt.Errorf("patch: bad target %#x for %s", target, s.name)
	}
	if target == p.target {
		return nil
	}
	want, err := encode(s, p.target)
	if err != nil {
		return err
	}
	if cur := read5(s.entry); cur != want {
		return fmt.Errorf("patch: %s: the entry bytes % x changed behind the patcher's back (was % x)", s.name, cur, want)
	}
	b, err := encode(s, target)
	if err != nil {
		return err
	}
	if err := poke(s, b, target); err != nil {
		return err
	}
	p.target = target
	return nil
}

// Entry is the patched address; Target is where it jumps while patched.
func (p *Patch) Entry() uintptr  { return p.s.entry }
func (p *Patch) Target() uintptr { return p.target }

func newSite(entry uintptr, code Region, name string) (*site, error) {
	if code.Hi-code.Lo > 64<<20 {
		return nil, fmt.Errorf("patch: %s: code region of %d bytes is implausibly large", name, code.Hi-code.Lo)
	}
	if entry%64 > 64-2 {
		// The two-byte stores of the host protocol must not straddle a
		// cache line, or they would not be atomic for other CPUs.
		return nil, fmt.Errorf("patch: %s: entry %#x is the last byte of a cache line", name, entry)
	}
	bytes := unsafe.Slice((*byte)(ptr(code.Lo)), code.Hi-code.Lo)
	info, err := analyze(bytes, code.Lo, int(entry-code.Lo))
	if err != nil {
		return nil, fmt.Errorf("%v (%s)", err, name)
	}
	return &site{entry: entry, orig: read5(entry), info: info, name: name}, nil
}

func read5(a uintptr) [Len]byte { return *(*[Len]byte)(ptr(a)) }

// topLevel returns the name of the function whose code starts at pc and
// refuses closures and method values: they expect a context in DX that a
// JMP from another function's entry does not provide.
func topLevel(pc uintptr, what string) (string, error) {
	f := runtime.FuncForPC(pc)
	if f == nil || f.Entry() != pc {
		return "", fmt.Errorf("patch: the %s at %#x is not the entry of a Go function", what, pc)
	}
	name := f.Name()
	if strings.HasSuffix(name, "-fm") {
		return "", fmt.Errorf("patch: the %s %s is a method value; it needs its receiver in DX", what, name)
	}
	for _, part := range strings.Split(name, ".") {
		if strings.HasPrefix(part, "func") && len(part) > 4 && strings.Trim(part[4:], "0123456789") == "" {
			return "", fmt.Errorf("patch: the %s %s is a closure; it reads its captured variables through DX", what, name)
		}
	}
	return name, nil
}

// funcEnd finds where the Go function at entry ends: the first address the
// runtime's function table attributes to another function (the inter-
// function padding counts as the function's: it is INT3s, which decode).
func funcEnd(entry uintptr) (uintptr, error) {
	same := func(pc uintptr) bool {
		f := runtime.FuncForPC(pc)
		return f != nil && f.Entry() == entry
	}
	step := uintptr(64)
	for same(entry + step) {
		if step > 16<<20 {
			return 0, fmt.Errorf("patch: cannot find the end of the function at %#x", entry)
		}
		step *= 2
	}
	lo, hi := entry+step/2, entry+step // same(lo) (or lo is the entry), !same(hi)
	if step == 64 {
		lo = entry
	}
	for hi-lo > 1 {
		m := lo + (hi-lo)/2
		if same(m) {
			lo = m
		} else {
			hi = m
		}
	}
	return hi, nil
}

// ptr turns a code address into a pointer. Code is not Go heap memory, so
// the garbage collector has nothing to track (this spelling keeps vet's
// uintptr check quiet, which is meant for heap pointers).
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
