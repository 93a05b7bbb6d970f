package build

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// cpuProfile builds a profile shaped like Go's CPU profiles whose samples
// are the given stacks, leaf first, each worth 10 ms. A stack entry "a|b"
// is one location where a was inlined into b, its caller, as pprof lists
// an inlined call's lines.
func cpuProfile(stacks ...[]string) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
	}
	fns := map[string]*profile.Function{}
	fn := func(name string) *profile.Function {
		if f := fns[name]; f != nil {
			return f
		}
		f := &profile.Function{ID: uint64(len(fns) + 1), Name: name, SystemName: name}
		fns[name] = f
		p.Function = append(p.Function, f)
		return f
	}
	for _, st := range stacks {
		s := &profile.Sample{Value: []int64{1, 10_000_000}}
		for _, frame := range st {
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Address: uint64(0x1000 + len(p.Location))}
			for i, name := range strings.Split(frame, "|") {
				loc.Line = append(loc.Line, profile.Line{Function: fn(name), Line: int64(10 + i)})
			}
			p.Location = append(p.Location, loc)
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

// frames lists each sample's function names, leaf first.
func frames(p *profile.Profile) [][]string {
	var out [][]string
	for _, s := range p.Sample {
		var f []string
		for _, l := range s.Location {
			for _, ln := range l.Line {
				f = append(f, ln.Function.Name)
			}
		}
		out = append(out, f)
	}
	return out
}

const (
	gvA = "vendor/gvisor.dev/gvisor/pkg/tcpip/transport/tcp.a"
	gvB = "vendor/gvisor.dev/gvisor/pkg/tcpip/stack.b"
	nsC = "vendor/github.com/velocityos/velocity/netstack.c"
)

func TestKernelProfile(t *testing.T) {
	p := cpuProfile(
		[]string{"runtime.memmove", gvA, gvB, "net/http.(*conn).serve", "runtime.goexit"},
		[]string{"net/http.(*conn).serve", "runtime.goexit"},        // no frame of the stack: dropped
		[]string{"runtime.add|" + gvA, nsC, "net.(*conn).Read"},     // an inlined runtime callee
		[]string{gvA, "runtime.mcall", gvB, "main.main"},            // only the run at the leaf end
		[]string{"sync.(*Mutex).Lock", "runtime.lock2|" + gvB, nsC}, // the runtime frame inside a location
	)
	got := frames(KernelProfile(p))
	want := [][]string{
		{gvA, gvB},
		{gvA, nsC},
		{gvA},
		{gvB, nsC},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("kept frames\n%q\nwant\n%q", got, want)
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := profile.ParseData(buf.Bytes())
	if err != nil {
		t.Fatalf("the cut profile does not parse: %v", err)
	}
	if n := totalWeight(q); n != 4*10_000_000 {
		t.Fatalf("the kept samples weigh %d ns, want 40 ms", n)
	}
}

// TestEmbeddedKernelPGO: the profile every network kernel is built with
// names only the stack's functions, so no call edge in it has a caller
// or callee in the program or the standard library.
func TestEmbeddedKernelPGO(t *testing.T) {
	p, err := profile.ParseData(kernelPGO)
	if err != nil {
		t.Fatalf("kernel.pgo: %v", err)
	}
	if len(p.Sample) == 0 || totalWeight(p) == 0 {
		t.Fatal("kernel.pgo has no samples")
	}
	for _, f := range frames(p) {
		for _, name := range f {
			if !isKernelFunc(name) {
				t.Fatalf("kernel.pgo names %s, outside the stack's packages (stack %q)", name, f)
			}
		}
	}
}

func TestPGOFlag(t *testing.T) {
	for _, c := range []struct {
		args      []string
		i, vi     int
		wantValue string
	}{
		{nil, -1, -1, ""},
		{[]string{"-v", "-pgo=off"}, 1, 1, "off"},
		{[]string{"--pgo", "x.pgo", "-v"}, 0, 1, "x.pgo"},
		{[]string{"-args", "-pgo=off"}, -1, -1, ""},
		{[]string{"-pgoish=1"}, -1, -1, ""},
	} {
		i, vi, v := pgoFlag(c.args)
		if i != c.i || vi != c.vi || v != c.wantValue {
			t.Errorf("pgoFlag(%q) = %d, %d, %q; want %d, %d, %q", c.args, i, vi, v, c.i, c.vi, c.wantValue)
		}
	}
}

func writeProfile(t *testing.T, path string, p *profile.Profile) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// profileAt parses the profile a -pgo= argument names.
func profileAt(t *testing.T, args []string) *profile.Profile {
	t.Helper()
	_, _, v := pgoFlag(args)
	data, err := os.ReadFile(v)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	p, err := profile.ParseData(data)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return p
}

func hasFunc(p *profile.Profile, name string) bool {
	for _, f := range p.Function {
		if f.Name == name {
			return true
		}
	}
	return false
}

func TestWithKernelPGO(t *testing.T) {
	t.Setenv("VELOCITY_CACHE", t.TempDir())
	t.Setenv("VELOCITY_KERNELPGO", "")
	kernel, err := profile.ParseData(kernelPGO)
	if err != nil {
		t.Fatal(err)
	}
	kfn := kernel.Function[0].Name
	const userFn = "main.hot"
	dir := t.TempDir()
	user := filepath.Join(dir, "user.pgo")
	writeProfile(t, user, cpuProfile([]string{userFn, "main.main"}))

	// No flag: the kernel's profile alone.
	out, err := withKernelPGO([]string{"-v"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The flag goes first: go test passes what follows the packages to the test binary.
	if p := profileAt(t, out); !hasFunc(p, kfn) || hasFunc(p, userFn) || !slices.Equal(out[1:], []string{"-v"}) {
		t.Fatalf("without -pgo: %q", out)
	}
	// -pgo=off and the switch leave the arguments alone.
	for _, args := range [][]string{{"-pgo=off"}, {"-pgo", "off", "-v"}} {
		if out, err := withKernelPGO(args, nil); err != nil || !slices.Equal(out, args) {
			t.Fatalf("withKernelPGO(%q) = %q, %v", args, out, err)
		}
	}
	t.Setenv("VELOCITY_KERNELPGO", "0")
	if out, err := withKernelPGO([]string{"-v"}, nil); err != nil || !slices.Equal(out, []string{"-v"}) {
		t.Fatalf("with VELOCITY_KERNELPGO=0: %q, %v", out, err)
	}
	// A file in its place: that profile, not the embedded one.
	other := filepath.Join(dir, "other.pgo")
	const otherFn = "vendor/gvisor.dev/gvisor/pkg/other.Hot"
	writeProfile(t, other, cpuProfile([]string{otherFn, "vendor/gvisor.dev/gvisor/pkg/other.Caller"}))
	t.Setenv("VELOCITY_KERNELPGO", other)
	out, err = withKernelPGO([]string{"-v"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := profileAt(t, out); !hasFunc(p, otherFn) || hasFunc(p, kfn) {
		t.Fatalf("with VELOCITY_KERNELPGO=%s: %q", other, out)
	}
	// A file that is missing or not a profile is an error, not a build
	// with some other profile.
	notProfile := filepath.Join(dir, "not.pgo")
	if err := os.WriteFile(notProfile, []byte("not a profile"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{filepath.Join(dir, "missing.pgo"), notProfile} {
		t.Setenv("VELOCITY_KERNELPGO", bad)
		if out, err := withKernelPGO([]string{"-v"}, nil); err == nil {
			t.Fatalf("with VELOCITY_KERNELPGO=%s: %q, no error", bad, out)
		}
	}
	t.Setenv("VELOCITY_KERNELPGO", "")

	// The user's profile, given or found as default.pgo, is merged in
	// and replaces the flag (its separate value too).
	out, err = withKernelPGO([]string{"-pgo", user, "-x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := profileAt(t, out)
	if !hasFunc(p, kfn) || !hasFunc(p, userFn) || len(out) != 2 || out[1] != "-x" {
		t.Fatalf("with -pgo %s: %q", user, out)
	}
	var kt, ut int64 // each side's weight in the merged profile
	for _, s := range p.Sample {
		if s.Location[0].Line[0].Function.Name == userFn {
			ut += s.Value[1]
		} else {
			kt += s.Value[1]
		}
	}
	if kt < ut*9/10 || kt > ut*11/10 {
		t.Fatalf("merged weights: kernel %d, user %d; want them equal", kt, ut)
	}
	main1, main2 := t.TempDir(), t.TempDir()
	writeProfile(t, filepath.Join(main1, "default.pgo"), cpuProfile([]string{userFn, "main.main"}))
	out, err = withKernelPGO([]string{"-pgo=auto"}, []string{main1})
	if err != nil {
		t.Fatal(err)
	}
	if p := profileAt(t, out); !hasFunc(p, kfn) || !hasFunc(p, userFn) {
		t.Fatalf("with default.pgo: %q", out)
	}
	// Two main packages with profiles of their own: one flag cannot carry
	// both, so go build's -pgo=auto decides.
	writeProfile(t, filepath.Join(main2, "default.pgo"), cpuProfile([]string{userFn, "main.main"}))
	if out, err := withKernelPGO(nil, []string{main1, main2}); err != nil || len(out) != 0 {
		t.Fatalf("with two default.pgo files: %q, %v", out, err)
	}

	// A file that is not a profile is an error that names it.
	bad := filepath.Join(dir, "bad.pgo")
	os.WriteFile(bad, []byte("not a profile"), 0o644)
	if _, err := withKernelPGO([]string{"-pgo=" + bad}, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("with a bad profile: %v", err)
	}
}
