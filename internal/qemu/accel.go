package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// AccelEnv overrides the automatic accelerator choice ("tcg" or "kvm").
const AccelEnv = "VELOCITY_ACCEL"

// ProbeTimeout bounds each probe boot. A healthy probe finishes in a few
// hundred milliseconds; nested KVM has been seen to take seconds or to hang
// after entering long mode, and must not stall every run.
var ProbeTimeout = 3 * time.Second

// VerdictTTL is how long a probe verdict is trusted.
const VerdictTTL = 24 * time.Hour

// Verdict is the cached outcome of the accelerator probe.
type Verdict struct {
	Accel    string        `json:"accel"`
	TCG      time.Duration `json:"tcg_ns"`
	KVM      time.Duration `json:"kvm_ns"`
	KVMError string        `json:"kvm_error,omitempty"`
	Binary   string        `json:"binary"`
	At       time.Time     `json:"at"`
}

// Prober boots the probe guest with one accelerator and reports how long
// it took; tests inject fakes.
type Prober func(ctx context.Context, accel string, timeout time.Duration) (time.Duration, error)

// ResolveAccel turns "auto" (or "") into "tcg" or "kvm"; explicit choices
// are returned as they are. Auto uses $VELOCITY_ACCEL if set, else a cached
// verdict younger than a day, else probes. TCG is the default: KVM is used
// only when /dev/kvm works and the probe shows it is faster, because on
// nested virtualisation it is often slower or unreliable.
func ResolveAccel(ctx context.Context, requested, binary string) (string, error) {
	switch requested {
	case "tcg", "kvm":
		return requested, nil
	case "", "auto":
	default:
		return "", fmt.Errorf("accelerator %q: want auto, tcg or kvm", requested)
	}
	switch env := os.Getenv(AccelEnv); env {
	case "tcg", "kvm":
		return env, nil
	case "", "auto":
	default:
		return "", fmt.Errorf("%s=%q: want auto, tcg or kvm", AccelEnv, env)
	}
	if !KVMUsable() {
		return "tcg", nil
	}
	cache := verdictFile()
	if v, ok := loadVerdict(cache, binary, time.Now()); ok {
		return v.Accel, nil
	}
	v := probe(ctx, bootProber(binary))
	v.Binary = binary
	if v.TCG > 0 { // a failed TCG probe says nothing lasting; try again next time
		saveVerdict(cache, v)
	}
	return v.Accel, nil
}

// KVMUsable reports whether /dev/kvm exists and can be opened for
// read-write, which is what QEMU needs.
func KVMUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// probe times TCG, then KVM, and decides. KVM only gets as long as TCG
// took (plus a little): a slower KVM loses anyway, so waiting longer for a
// hanging one would be wasted.
func probe(ctx context.Context, boot Prober) Verdict {
	v := Verdict{At: time.Now()}
	tcg, tcgErr := boot(ctx, "tcg", ProbeTimeout)
	kvmTimeout := ProbeTimeout
	if tcgErr == nil {
		kvmTimeout = min(ProbeTimeout, tcg+200*time.Millisecond)
	}
	kvm, kvmErr := boot(ctx, "kvm", kvmTimeout)
	if tcgErr == nil {
		v.TCG = tcg
	}
	if kvmErr == nil {
		v.KVM = kvm
	} else {
		v.KVMError = kvmErr.Error()
	}
	v.Accel = Decide(tcg, tcgErr, kvm, kvmErr)
	return v
}

// Decide picks KVM only if both probes booted and KVM was strictly faster.
func Decide(tcg time.Duration, tcgErr error, kvm time.Duration, kvmErr error) string {
	if tcgErr == nil && kvmErr == nil && kvm < tcg {
		return "kvm"
	}
	return "tcg"
}

// bootProber boots ProbeImage under binary.
func bootProber(binary string) Prober {
	return func(ctx context.Context, accel string, timeout time.Duration) (time.Duration, error) {
		img, err := ProbeImage("V", 0)
		if err != nil {
			return 0, err
		}
		f, err := os.CreateTemp("", "velocity-probe-*.bin")
		if err != nil {
			return 0, err
		}
		defer os.Remove(f.Name())
		if _, err := f.Write(img); err != nil {
			f.Close()
			return 0, err
		}
		if err := f.Close(); err != nil {
			return 0, err
		}
		res, err := Run(ctx, Config{Kernel: f.Name(), Accel: accel, Timeout: timeout,
			Mem: "64M", Stdout: io.Discard, Binary: binary})
		if err != nil {
			return 0, err
		}
		if res.ExitCode != 0 || res.FirstByte == 0 {
			return 0, fmt.Errorf("probe guest under %s: exit code %d, serial output seen: %v", accel, res.ExitCode, res.FirstByte != 0)
		}
		return res.Elapsed, nil
	}
}

// cacheDir mirrors internal/build.CacheDir without importing it.
func cacheDir() string {
	if dir := os.Getenv("VELOCITY_CACHE"); dir != "" {
		return dir
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(base, "velocity")
}

func verdictFile() string {
	dir := cacheDir()
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "accel.json")
}

func loadVerdict(file, binary string, now time.Time) (Verdict, bool) {
	if file == "" {
		return Verdict{}, false
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return Verdict{}, false
	}
	var v Verdict
	if json.Unmarshal(data, &v) != nil || v.Binary != binary || (v.Accel != "tcg" && v.Accel != "kvm") {
		return Verdict{}, false
	}
	if age := now.Sub(v.At); age < 0 || age > VerdictTTL {
		return Verdict{}, false
	}
	return v, true
}

// saveVerdict is best effort: without a cache the probe just runs again.
func saveVerdict(file string, v Verdict) {
	if file == "" {
		return
	}
	data, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return
	}
	if os.MkdirAll(filepath.Dir(file), 0o755) != nil {
		return
	}
	tmp := fmt.Sprintf("%s.%d.tmp", file, os.Getpid())
	if os.WriteFile(tmp, data, 0o644) == nil {
		os.Rename(tmp, file)
	}
}
