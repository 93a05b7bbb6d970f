package qemu

import (
	"debug/elf"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// KVMError reports that KVM stopped the guest with an internal error.
// QEMU prints the error and the vCPU's registers, then leaves the machine
// paused for ever, so without this the run only ended at its timeout,
// reported as a guest that hung. Run kills QEMU as soon as the register
// dump is complete and returns this instead.
//
// Seen on a host whose KVM (a kvm_pvm module, nested) emulates guest
// instructions while the guest's state is one it cannot run directly:
// its emulator does not know SSE, and stopped at the kernel's first Go
// instruction, an XORPS that zeroes X15 (runtime.vkBoot's ABI wrapper).
// A Linux guest booted with that KVM stalled too. The accelerator probe
// (accel.go) then keeps TCG.
type KVMError struct {
	Reason string // "emulation failure", or "suberror N"
	RIP    uint64 // the guest's instruction pointer in QEMU's dump; 0 if none
	Symbol string // the kernel function at RIP, if Symbolize found one
	Stderr string
}

func (e *KVMError) Error() string {
	at := ""
	if e.RIP != 0 {
		at = fmt.Sprintf(" at RIP %#x", e.RIP)
		if e.Symbol != "" {
			at += " (" + e.Symbol + ")"
		}
	}
	return fmt.Sprintf("qemu: KVM stopped the guest with an internal error (%s%s), and velocity killed QEMU, which waits paused after one: this host's KVM cannot run the kernel; boot with -accel tcg%s",
		e.Reason, at, stderrSuffix(e.Stderr))
}

// Symbolize names the function of the ELF file kernel that holds e.RIP.
// Errors (an ISO, no symbols) leave Symbol empty: the address is still
// reported.
func (e *KVMError) Symbolize(kernel string) {
	if e.RIP == 0 {
		return
	}
	f, err := elf.Open(kernel)
	if err != nil {
		return
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return
	}
	e.Symbol = symbolAt(syms, e.RIP)
}

// symbolAt is the function symbol that contains pc, as name+0xoff. A
// symbol without a size (assembly) counts up to the next symbol.
func symbolAt(syms []elf.Symbol, pc uint64) string {
	var funcs []elf.Symbol
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			funcs = append(funcs, s)
		}
	}
	sort.Slice(funcs, func(i, j int) bool { return funcs[i].Value < funcs[j].Value })
	i := sort.Search(len(funcs), func(i int) bool { return funcs[i].Value > pc }) - 1
	if i < 0 {
		return ""
	}
	s := funcs[i]
	if s.Size != 0 && pc >= s.Value+s.Size {
		return ""
	}
	return fmt.Sprintf("%s+%#x", s.Name, pc-s.Value)
}

// kvmMarker starts QEMU's report (kvm_cpu_exec: "KVM internal error.
// Suberror: %d"), and kvmDumpEnd is the last line of the register dump
// that follows it ("Code=...", the bytes around RIP).
const (
	kvmMarker  = "KVM internal error."
	kvmDumpEnd = "\nCode="
)

var (
	kvmSuberror = regexp.MustCompile(`KVM internal error\. Suberror: (\d+)`)
	kvmRIP      = regexp.MustCompile(`(?m)^RIP=([0-9a-fA-F]+)`)
)

// parseKVMError reads QEMU's report from its error output; ok is false if
// there is none.
func parseKVMError(stderr string) (e *KVMError, ok bool) {
	m := kvmSuberror.FindStringSubmatch(stderr)
	if m == nil {
		return nil, false
	}
	e = &KVMError{Reason: "suberror " + m[1], Stderr: stderr}
	if m[1] == "1" || strings.Contains(stderr, "\nemulation failure") {
		e.Reason = "emulation failure" // KVM_INTERNAL_ERROR_EMULATION
	}
	if r := kvmRIP.FindStringSubmatch(stderr); r != nil {
		e.RIP, _ = strconv.ParseUint(r[1], 16, 64)
	}
	return e, true
}

// kvmWatch is QEMU's error output as it comes: seen is closed once the
// report has begun, done once its register dump is complete.
type kvmWatch struct {
	mu         sync.Mutex
	buf        strings.Builder
	seen, done chan struct{}
}

func newKVMWatch() *kvmWatch {
	return &kvmWatch{seen: make(chan struct{}), done: make(chan struct{})}
}

func (w *kvmWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.done:
		return len(p), nil
	default:
	}
	// Keep only what could start or end the report: QEMU's output is
	// small, but a guest that never fails should not grow this.
	w.buf.Write(p)
	s := w.buf.String()
	i := strings.Index(s, kvmMarker)
	if i < 0 {
		if len(s) > 64<<10 {
			w.buf.Reset()
			w.buf.WriteString(s[len(s)-len(kvmMarker):])
		}
		return len(p), nil
	}
	select {
	case <-w.seen:
	default:
		close(w.seen)
	}
	if j := strings.Index(s[i:], kvmDumpEnd); j >= 0 && strings.Contains(s[i+j+1:], "\n") {
		close(w.done)
	}
	return len(p), nil
}
