package build

// Profile-guided optimization of the kernel's network code.
//
// Under QEMU's TCG every return and every call through a register or an
// interface leaves the chained translated blocks for a hash lookup
// (docs/net.md, "Figures"), so the network stack's many small calls cost
// more than they would on hardware. Go's -pgo inlines the call sites a
// CPU profile finds hot and devirtualizes hot interface calls, so a
// kernel that links the stack is built with a profile of the stack at
// work: kernel.pgo, the kernel's own CPU profile under bench/netbench
// (build/netbench-runner -profile), cut down by KernelProfile to the
// frames of the stack's packages (gVisor, netstack, drivers). Every call
// edge left in it has both ends in those packages, so the profile changes
// how the kernel's network code is compiled and nothing of the program's
// own: the program is compiled as it would be for Linux, which keeps the
// comparison with the Linux guest one of kernels.
//
// A profile the user gives (-pgo=FILE, or default.pgo beside the one main
// package with -pgo=auto, go build's default) is merged with it, each
// scaled to the same total weight, so the program keeps its own
// optimization; -pgo=off turns both off, and VELOCITY_KERNELPGO=0 in the
// environment of velocity build, run or test builds without kernel.pgo
// (VELOCITY_KERNELPGO=FILE: with that profile in its place).

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/pprof/profile"
)

//go:embed kernel.pgo
var kernelPGO []byte

// kernelFuncPrefixes are the function-name prefixes of the stack's
// packages in a network kernel, whose GOROOT vendors them into the
// standard library (netroot.go).
var kernelFuncPrefixes = []string{
	"vendor/gvisor.dev/",
	"vendor/github.com/velocityos/velocity/",
}

func isKernelFunc(name string) bool {
	for _, p := range kernelFuncPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// KernelProfile returns the part of CPU profile p that may guide the
// compilation of the kernel's network code, and nothing else. PGO weighs
// the edges between a sample's consecutive frames, inlined ones included:
// a hot edge makes its call site hot in the caller's compilation, and its
// callee a hot callee, which the compiler then inlines more readily at
// other call sites too (a first version that kept the runtime function a
// kernel frame called, such as internal/abi.TypeOf, changed a generic
// function compiled in internal/poll). So of each sample's frames it keeps
// the first run of the stack's functions from the leaf end, and drops
// samples with none: every edge left has a caller and a callee in the
// stack's packages. Each frame kept becomes a location of its own (an
// inlined call and a real one look the same to PGO), shared by the
// samples that have it.
func KernelProfile(p *profile.Profile) *profile.Profile {
	type site struct {
		fn   uint64
		line int64
	}
	locs := map[site]*profile.Location{}
	nextID := uint64(1)
	for _, l := range p.Location {
		nextID = max(nextID, l.ID+1)
	}
	var newLocs []*profile.Location
	kept := p.Sample[:0]
	for _, s := range p.Sample {
		var frames []profile.Line // leaf first, as pprof orders locations and their lines
		for _, loc := range s.Location {
			frames = append(frames, loc.Line...)
		}
		kernel := func(i int) bool { return frames[i].Function != nil && isKernelFunc(frames[i].Function.Name) }
		k := 0
		for k < len(frames) && !kernel(k) {
			k++
		}
		if k == len(frames) {
			continue
		}
		end := k
		for end < len(frames) && kernel(end) {
			end++
		}
		s.Location = s.Location[:0]
		for _, f := range frames[k:end] {
			key := site{f.Function.ID, f.Line}
			loc := locs[key]
			if loc == nil {
				loc = &profile.Location{ID: nextID, Line: []profile.Line{f}}
				nextID++
				locs[key] = loc
				newLocs = append(newLocs, loc)
			}
			s.Location = append(s.Location, loc)
		}
		kept = append(kept, s)
	}
	p.Sample = kept
	p.Location = newLocs
	p.Mapping = nil
	return p.Compact()
}

// pgoFlag finds a -pgo flag in go build arguments: its index, the index
// of its value (the same for -pgo=V), and the value; i is -1 without one.
func pgoFlag(args []string) (i, vi int, value string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-args" || a == "--args" {
			break
		}
		name, v, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "pgo" {
			continue
		}
		if hasValue {
			return i, i, v
		}
		if i+1 < len(args) {
			return i, i + 1, args[i+1]
		}
		return i, i, ""
	}
	return -1, -1, ""
}

// withKernelPGO returns the go build arguments rest with the -pgo flag a
// network kernel is built with (see the top of this file). dirs are the
// directories whose default.pgo -pgo=auto would use: the main packages'
// (for go test, the test binary's, which is the tested package's
// directory). With more than one default.pgo among them, one flag cannot
// carry them all, and -pgo=auto is left to go build.
func withKernelPGO(rest, dirs []string) ([]string, error) {
	env := os.Getenv("VELOCITY_KERNELPGO")
	if env == "0" {
		return rest, nil
	}
	kernel := kernelPGO
	if env != "" {
		// Another kernel profile in place of the embedded one, so that a
		// refreshed profile can be measured against the one it would
		// replace (bench/netbench -against-kernel-pgo).
		data, err := os.ReadFile(env)
		if err != nil {
			return nil, fmt.Errorf("VELOCITY_KERNELPGO: %w", err)
		}
		if _, err := profile.ParseData(data); err != nil {
			return nil, fmt.Errorf("VELOCITY_KERNELPGO: %s: %w", env, err)
		}
		kernel = data
	}
	i, vi, value := pgoFlag(rest)
	user := ""
	switch value {
	case "off":
		return rest, nil
	case "", "auto":
		var found []string
		for _, d := range dirs {
			if f := filepath.Join(d, "default.pgo"); fileExists(f) {
				found = append(found, f)
			}
		}
		if len(found) > 1 {
			return rest, nil
		}
		if len(found) == 1 {
			user = found[0]
		}
	default:
		user = value
	}
	data := kernel
	if user != "" {
		var err error
		if data, err = mergeProfiles(kernel, user); err != nil {
			return nil, err
		}
	}
	path, err := cachedProfile(data)
	if err != nil {
		return nil, err
	}
	out := append([]string{}, rest[:max(i, 0)]...)
	out = append(out, "-pgo="+path)
	if i >= 0 {
		out = append(out, rest[vi+1:]...)
	} else {
		out = append(out, rest...)
	}
	return out, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// mergeProfiles merges the kernel's profile with the user's profile file,
// the kernel's scaled to the user's total weight so that neither's hot
// edges crowd out the other's.
func mergeProfiles(kernel []byte, userFile string) ([]byte, error) {
	k, err := profile.ParseData(kernel)
	if err != nil {
		return nil, fmt.Errorf("kernel.pgo: %w", err)
	}
	data, err := os.ReadFile(userFile)
	if err != nil {
		return nil, fmt.Errorf("-pgo: %w", err)
	}
	u, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("-pgo: %s: %w", userFile, err)
	}
	kt, ut := totalWeight(k), totalWeight(u)
	if kt > 0 && ut > 0 {
		k.Scale(float64(ut) / float64(kt))
	}
	m, err := profile.Merge([]*profile.Profile{u, k})
	if err != nil {
		// Profiles of other tools may carry other sample types: keep the
		// ones both have, as pprof does when asked to compare them.
		if profile.CompatibilizeSampleTypes([]*profile.Profile{u, k}) == nil {
			m, err = profile.Merge([]*profile.Profile{u, k})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("-pgo: %s cannot be merged with the kernel's profile (-pgo=off builds without either): %w", userFile, err)
	}
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// totalWeight sums a profile's last sample value (CPU time in Go's CPU
// profiles), the one PGO weighs edges by.
func totalWeight(p *profile.Profile) int64 {
	var t int64
	for _, s := range p.Sample {
		if n := len(s.Value); n > 0 {
			t += s.Value[n-1]
		}
	}
	return t
}

// cachedProfile writes data to the cache, named by its content, and
// returns the path.
func cachedProfile(data []byte) (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	path := filepath.Join(dir, "pgo", hex.EncodeToString(sum[:16])+".pgo")
	if fileExists(path) {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "pgo-*")
	if err != nil {
		return "", err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}
