package qemu

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	ms := time.Millisecond
	fail := errors.New("probe failed")
	for _, tc := range []struct {
		name     string
		tcg, kvm time.Duration
		tcgErr   error
		kvmErr   error
		want     string
	}{
		{"nested KVM slower", 150 * ms, 2800 * ms, nil, nil, "tcg"},
		{"KVM faster", 150 * ms, 40 * ms, nil, nil, "kvm"},
		{"equal", 100 * ms, 100 * ms, nil, nil, "tcg"},
		{"KVM hangs", 150 * ms, 0, nil, fail, "tcg"},
		{"TCG failed", 0, 40 * ms, fail, nil, "tcg"},
	} {
		if got := Decide(tc.tcg, tc.tcgErr, tc.kvm, tc.kvmErr); got != tc.want {
			t.Errorf("%s: Decide = %s; want %s", tc.name, got, tc.want)
		}
	}
}

// fakeProber returns canned timings and records the timeouts it was given.
type fakeProber struct {
	times    map[string]time.Duration
	errs     map[string]error
	timeouts map[string]time.Duration
}

func (f *fakeProber) boot(_ context.Context, accel string, timeout time.Duration) (time.Duration, error) {
	f.timeouts[accel] = timeout
	if d := f.times[accel]; d > timeout {
		return 0, &TimeoutError{After: timeout}
	}
	return f.times[accel], f.errs[accel]
}

func TestProbeNestedKVM(t *testing.T) {
	f := &fakeProber{
		times:    map[string]time.Duration{"tcg": 150 * time.Millisecond, "kvm": 2800 * time.Millisecond},
		timeouts: map[string]time.Duration{},
	}
	v := probe(context.Background(), f.boot)
	if v.Accel != "tcg" || v.TCG != 150*time.Millisecond || v.KVMError == "" {
		t.Errorf("verdict %+v; want tcg with a KVM timeout recorded", v)
	}
	// KVM must not be waited for longer than TCG took (plus slack).
	if f.timeouts["kvm"] > 500*time.Millisecond || f.timeouts["tcg"] != ProbeTimeout {
		t.Errorf("probe timeouts %v", f.timeouts)
	}
}

func TestProbeFastKVM(t *testing.T) {
	f := &fakeProber{
		times:    map[string]time.Duration{"tcg": 300 * time.Millisecond, "kvm": 50 * time.Millisecond},
		timeouts: map[string]time.Duration{},
	}
	if v := probe(context.Background(), f.boot); v.Accel != "kvm" {
		t.Errorf("verdict %+v; want kvm", v)
	}
}

func TestVerdictCache(t *testing.T) {
	file := filepath.Join(t.TempDir(), "accel.json")
	now := time.Now()
	saveVerdict(file, Verdict{Accel: "kvm", Binary: "qemu", At: now.Add(-time.Hour)})
	if v, ok := loadVerdict(file, "qemu", now); !ok || v.Accel != "kvm" {
		t.Errorf("fresh verdict not loaded: %+v %v", v, ok)
	}
	if _, ok := loadVerdict(file, "other-qemu", now); ok {
		t.Error("verdict for another QEMU binary used")
	}
	if _, ok := loadVerdict(file, "qemu", now.Add(VerdictTTL)); ok {
		t.Error("verdict older than a day used")
	}
	if _, ok := loadVerdict(filepath.Join(t.TempDir(), "none.json"), "qemu", now); ok {
		t.Error("missing cache file gave a verdict")
	}
}

func TestResolveAccelOverrides(t *testing.T) {
	t.Setenv(AccelEnv, "kvm")
	if a, err := ResolveAccel(context.Background(), "tcg", "qemu"); err != nil || a != "tcg" {
		t.Errorf("explicit tcg: %q, %v", a, err)
	}
	if a, err := ResolveAccel(context.Background(), "auto", "qemu"); err != nil || a != "kvm" {
		t.Errorf("env kvm: %q, %v", a, err)
	}
	t.Setenv(AccelEnv, "bogus")
	if _, err := ResolveAccel(context.Background(), "", "qemu"); err == nil {
		t.Error("bad env value accepted")
	}
	if _, err := ResolveAccel(context.Background(), "hvf", "qemu"); err == nil {
		t.Error("bad accelerator accepted")
	}
}
