package kernel

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/google/pprof/profile"
)

// The sampling profiler's system calls (runtime/vk_prof.go). On Linux
// they fail with ENOSYS, which the functions below report as
// ErrNotVelocity: a host gets no profile rather than a fake one.
const (
	sysProfStart = 0x5603
	sysProfStop  = 0x5604
	sysProfRead  = 0x5605
	sysProfStats = 0x5606
)

// MaxProfileHz is the highest sampling rate the kernel accepts.
const MaxProfileHz = 10_000

// ErrProfiling is returned by StartCPUProfile while a profile is running.
var ErrProfiling = errors.New("kernel: a CPU profile is already running")

// ProfileSample is one sample of the kernel's profiler: the stack of the
// code a CPU was running when its timer interrupt took the sample.
type ProfileSample struct {
	CPU int
	TID int // kernel thread (the Go runtime's M)
	// Kernel counts the leading PCs that are kernel code: non-zero when
	// the sample interrupted the kernel (a thread spinning for the kernel
	// lock); the Go frames of the syscall or trap that entered it follow.
	Kernel int
	// PCs are return addresses, innermost first: the interrupted
	// instruction is stored plus one, as runtime.Callers would, so
	// runtime.CallersFrames symbolizes every PC the same way.
	PCs []uintptr
}

func profErr(errno syscall.Errno) error { return callErr(errno, ErrProfiling) }

// callErr turns the errno of a Velocity system call into an error: ENOSYS
// is ErrNotVelocity (not on Velocity), EBUSY is busy.
func callErr(errno syscall.Errno, busy error) error {
	switch errno {
	case 0:
		return nil
	case syscall.ENOSYS:
		return ErrNotVelocity
	case syscall.EBUSY:
		return busy
	}
	return errno
}

// StartCPUProfile makes every CPU take hz samples a second (1 to
// MaxProfileHz) until StopCPUProfile. Read the samples with
// ReadProfileSamples while it runs: each CPU's ring holds
// ProfileStats.RingSize samples and drops (counts as lost) the rest.
func StartCPUProfile(hz int) error {
	if hz < 1 || hz > MaxProfileHz {
		return fmt.Errorf("kernel: profile rate %d Hz out of range 1..%d", hz, MaxProfileHz)
	}
	_, _, errno := syscall.RawSyscall(sysProfStart, uintptr(hz), 0, 0)
	return profErr(errno)
}

// StopCPUProfile stops sampling; the samples not yet read stay readable.
func StopCPUProfile() error {
	_, _, errno := syscall.RawSyscall(sysProfStop, 0, 0, 0)
	return profErr(errno)
}

// profReadWords is the buffer ReadProfileSamples hands the kernel.
const profReadWords = 8192

// ReadProfileSamples appends the samples the kernel holds to dst and
// returns it; the kernel forgets them.
func ReadProfileSamples(dst []ProfileSample) ([]ProfileSample, error) {
	buf := make([]uint64, profReadWords)
	for {
		n, _, errno := syscall.Syscall(sysProfRead, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)*8), 0)
		if err := profErr(errno); err != nil {
			return dst, err
		}
		if n == 0 {
			return dst, nil
		}
		var err error
		if dst, err = decodeSamples(dst, buf[:n/8]); err != nil {
			return dst, err
		}
		if int(n) < len(buf)*8-8*32 {
			return dst, nil // the kernel had no more than this
		}
	}
}

// decodeSamples parses the kernel's sample stream: per sample a header
// word (PC count in bits 0-7, kernel PCs in 8-15, CPU in 16-23, thread
// id in 32-63), then the PCs.
func decodeSamples(dst []ProfileSample, w []uint64) ([]ProfileSample, error) {
	for len(w) > 0 {
		h := w[0]
		n, nk := int(h&0xFF), int(h>>8&0xFF)
		if n == 0 || nk > n || 1+n > len(w) {
			return dst, fmt.Errorf("kernel: malformed profile sample header %#x (%d words left)", h, len(w))
		}
		s := ProfileSample{CPU: int(h >> 16 & 0xFF), TID: int(h >> 32), Kernel: nk, PCs: make([]uintptr, n)}
		for i := range s.PCs {
			s.PCs[i] = uintptr(w[1+i])
		}
		dst = append(dst, s)
		w = w[1+n:]
	}
	return dst, nil
}

// rawProfStats mirrors vkProfStats in runtime/vk_prof.go.
type rawProfStats struct {
	Version, On, Hz, Session, StartNs, TSCHz, CPUs uint64
	Samples, Lost, Idle, Cycles, Unread            [64]uint64
	MaxPCs, RingSize                               uint64
}

// ProfileStats are the profiler's counters for the current (or last)
// session.
type ProfileStats struct {
	Running  bool
	Hz       int
	MaxPCs   int // deepest stack a sample keeps
	RingSize int // samples each CPU buffers between reads
	TSCHz    uint64
	PerCPU   []ProfileCPUStats
}

// ProfileCPUStats is one CPU's share.
type ProfileCPUStats struct {
	Samples uint64 // recorded
	Lost    uint64 // dropped: the ring was full
	Idle    uint64 // sample ticks that found the CPU idle (not recorded)
	Unread  uint64 // recorded, not read yet
	Cycles  uint64 // TSC cycles the interrupt handler spent recording
}

// Samples is the total recorded on every CPU.
func (s ProfileStats) Samples() (n uint64) {
	for _, c := range s.PerCPU {
		n += c.Samples
	}
	return n
}

// Lost is the total dropped on every CPU.
func (s ProfileStats) Lost() (n uint64) {
	for _, c := range s.PerCPU {
		n += c.Lost
	}
	return n
}

// SampleCost is the mean time the kernel spent recording one sample
// (walking the stack and filling the ring; not the interrupt itself).
func (s ProfileStats) SampleCost() time.Duration {
	var n, cyc uint64
	for _, c := range s.PerCPU {
		n += c.Samples
		cyc += c.Cycles
	}
	if n == 0 || s.TSCHz == 0 {
		return 0
	}
	return time.Duration(float64(cyc) / float64(n) / float64(s.TSCHz) * 1e9)
}

// ReadProfileStats returns the profiler's counters.
func ReadProfileStats() (ProfileStats, error) {
	var r rawProfStats
	_, _, errno := syscall.RawSyscall(sysProfStats, uintptr(unsafe.Pointer(&r)), unsafe.Sizeof(r), 0)
	if err := profErr(errno); err != nil {
		return ProfileStats{}, err
	}
	s := ProfileStats{Running: r.On != 0, Hz: int(r.Hz), MaxPCs: int(r.MaxPCs), RingSize: int(r.RingSize), TSCHz: r.TSCHz}
	n := min(int(r.CPUs), len(r.Samples))
	for i := 0; i < n; i++ {
		s.PerCPU = append(s.PerCPU, ProfileCPUStats{Samples: r.Samples[i], Lost: r.Lost[i], Idle: r.Idle[i], Unread: r.Unread[i], Cycles: r.Cycles[i]})
	}
	return s, nil
}

// CPUProfile is a finished sampling profile.
type CPUProfile struct {
	Hz       int
	Start    time.Time
	Duration time.Duration
	Samples  []ProfileSample
	Stats    ProfileStats // the counters when it stopped
}

// ProfileCPU samples every CPU at hz for d and returns the profile. It
// drains the kernel's rings while it waits, often enough that none fills.
func ProfileCPU(d time.Duration, hz int) (*CPUProfile, error) {
	if d <= 0 {
		return nil, fmt.Errorf("kernel: profile duration %v is not positive", d)
	}
	if err := StartCPUProfile(hz); err != nil {
		return nil, err
	}
	p := &CPUProfile{Hz: hz, Start: time.Now()}
	// A ring holds 256 samples: read when at most half of it is full.
	poll := min(50*time.Millisecond, 128*time.Second/time.Duration(hz))
	end := p.Start.Add(d)
	var err error
	for err == nil {
		left := time.Until(end)
		if left <= 0 {
			break
		}
		time.Sleep(min(poll, left))
		p.Samples, err = ReadProfileSamples(p.Samples)
	}
	stopErr := StopCPUProfile()
	p.Duration = time.Since(p.Start)
	if err == nil {
		p.Samples, err = ReadProfileSamples(p.Samples)
	}
	if err == nil {
		err = stopErr
	}
	if err == nil {
		p.Stats, err = ReadProfileStats()
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// frameInfo is one symbolized PC: its inline chain, innermost first.
type frameInfo struct {
	frames []runtime.Frame
}

// symbolizer names code the Go symbol table does not know (JIT code).
var symbolizer atomic.Pointer[func(pc uintptr) (string, bool)]

// SetSymbolizer installs f to name program counters outside the Go binary
// in CPU profiles, e.g. jit.FuncAt for module functions compiled by the
// JIT; nil removes it. Without one such samples are named ?0xADDRESS.
func SetSymbolizer(f func(pc uintptr) (string, bool)) {
	if f == nil {
		symbolizer.Store(nil)
		return
	}
	symbolizer.Store(&f)
}

// symbolize resolves pc (a return address) with the program's own symbol
// table; the kernel's code is in the same binary (package runtime). What
// that does not know goes to the SetSymbolizer function.
func symbolize(pc uintptr, cache map[uintptr]frameInfo) frameInfo {
	if fi, ok := cache[pc]; ok {
		return fi
	}
	var fi frameInfo
	frames := runtime.CallersFrames([]uintptr{pc})
	for {
		f, more := frames.Next()
		if f.Function == "" {
			f.Function = fmt.Sprintf("?%#x", pc)
			if s := symbolizer.Load(); s != nil {
				// pc is a return address, or the interrupted
				// instruction plus one (see vk_prof.go): the byte
				// before it lies in the function, as for
				// CallersFrames.
				if name, ok := (*s)(pc - 1); ok {
					f.Function = name
				}
			}
		}
		fi.frames = append(fi.frames, f)
		if !more {
			break
		}
	}
	cache[pc] = fi
	return fi
}

// IsKernelFunc reports whether a function name is kernel code: the
// kernel's files join package runtime with names starting with vk.
func IsKernelFunc(name string) bool { return strings.HasPrefix(name, "runtime.vk") }

// Profile converts p into a pprof profile: sample types samples/count and
// cpu/nanoseconds (one period per sample), functions and inlined lines
// from the program's symbol table, and labels cpu, thread and context
// (kernel when the sample interrupted kernel code, else user).
func (p *CPUProfile) Profile() *profile.Profile {
	period := int64(time.Second) / int64(max(p.Hz, 1))
	out := &profile.Profile{
		SampleType: []*profile.ValueType{
			{Type: "samples", Unit: "count"},
			{Type: "cpu", Unit: "nanoseconds"},
		},
		DefaultSampleType: "cpu",
		PeriodType:        &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:            period,
		TimeNanos:         p.Start.UnixNano(),
		DurationNanos:     int64(p.Duration),
		Comments:          []string{fmt.Sprintf("velocity kernel sampling profiler, %d Hz on every CPU", p.Hz)},
	}
	m := &profile.Mapping{ID: 1, Start: 0, Limit: ^uint64(0), File: "velocity",
		HasFunctions: true, HasFilenames: true, HasLineNumbers: true, HasInlineFrames: true}
	out.Mapping = []*profile.Mapping{m}
	cache := map[uintptr]frameInfo{}
	locs := map[uintptr]*profile.Location{}
	funcs := map[string]*profile.Function{}
	for _, s := range p.Samples {
		ps := &profile.Sample{
			Value: []int64{1, period},
			Label: map[string][]string{
				"cpu":     {fmt.Sprint(s.CPU)},
				"thread":  {fmt.Sprint(s.TID)},
				"context": {sampleContext(s)},
			},
		}
		for _, pc := range s.PCs {
			loc := locs[pc]
			if loc == nil {
				loc = &profile.Location{ID: uint64(len(out.Location) + 1), Mapping: m, Address: uint64(pc)}
				for _, f := range symbolize(pc, cache).frames {
					fn := funcs[f.Function]
					if fn == nil {
						fn = &profile.Function{ID: uint64(len(out.Function) + 1), Name: f.Function, SystemName: f.Function, Filename: f.File}
						if f.Func != nil {
							_, line := f.Func.FileLine(f.Entry)
							fn.StartLine = int64(line)
						}
						funcs[f.Function] = fn
						out.Function = append(out.Function, fn)
					}
					loc.Line = append(loc.Line, profile.Line{Function: fn, Line: int64(f.Line)})
				}
				locs[pc] = loc
				out.Location = append(out.Location, loc)
			}
			ps.Location = append(ps.Location, loc)
		}
		out.Sample = append(out.Sample, ps)
	}
	return out
}

func sampleContext(s ProfileSample) string {
	if s.Kernel > 0 {
		return "kernel"
	}
	return "user"
}

// Write writes p as a gzipped pprof profile (go tool pprof opens it).
func (p *CPUProfile) Write(w io.Writer) error { return p.Profile().Write(w) }

// FuncCount is one function's share of a profile.
type FuncCount struct {
	Name   string
	Flat   int  // samples in which it was the innermost function
	Cum    int  // samples in which it was on the stack
	Kernel bool // kernel code (IsKernelFunc)
}

// Top returns the n functions with the most flat samples (n <= 0: all),
// then by cumulative samples and name.
func (p *CPUProfile) Top(n int) []FuncCount {
	cache := map[uintptr]frameInfo{}
	idx := map[string]int{}
	var out []FuncCount
	get := func(name string) *FuncCount {
		i, ok := idx[name]
		if !ok {
			i = len(out)
			idx[name] = i
			out = append(out, FuncCount{Name: name, Kernel: IsKernelFunc(name)})
		}
		return &out[i]
	}
	for _, s := range p.Samples {
		seen := map[string]bool{}
		for i, pc := range s.PCs {
			for j, f := range symbolize(pc, cache).frames {
				fc := get(f.Function)
				if i == 0 && j == 0 {
					fc.Flat++
				}
				if !seen[f.Function] {
					seen[f.Function] = true
					fc.Cum++
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Flat != out[j].Flat {
			return out[i].Flat > out[j].Flat
		}
		if out[i].Cum != out[j].Cum {
			return out[i].Cum > out[j].Cum
		}
		return out[i].Name < out[j].Name
	})
	if n > 0 && n < len(out) {
		out = out[:n]
	}
	return out
}

// WriteTop prints the n functions with the most flat samples as a table
// (flat, flat%, cum, cum%, function; kernel functions are marked).
func (p *CPUProfile) WriteTop(w io.Writer, n int) error {
	total := len(p.Samples)
	if _, err := fmt.Fprintf(w, "%8s %6s %8s %6s  %s\n", "flat", "flat%", "cum", "cum%", "function"); err != nil {
		return err
	}
	pct := func(v int) float64 {
		if total == 0 {
			return 0
		}
		return 100 * float64(v) / float64(total)
	}
	for _, f := range p.Top(n) {
		mark := ""
		if f.Kernel {
			mark = "  [kernel]"
		}
		if _, err := fmt.Fprintf(w, "%8d %5.1f%% %8d %5.1f%%  %s%s\n", f.Flat, pct(f.Flat), f.Cum, pct(f.Cum), f.Name, mark); err != nil {
			return err
		}
	}
	return nil
}

// CPUs returns how many samples each CPU took, indexed by CPU.
func (p *CPUProfile) CPUs() []int {
	var out []int
	for _, s := range p.Samples {
		for len(out) <= s.CPU {
			out = append(out, 0)
		}
		out[s.CPU]++
	}
	return out
}
