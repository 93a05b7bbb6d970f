package patch

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The host protocol (docs/patch.md): the INT3 of text_poke_bp would raise
// SIGTRAP, which the Go runtime treats as a crash, so the placeholder that
// holds arriving threads is a two-byte self-loop, JMP -2 (EB FE), written
// with one store. Each step is followed by a sync that serialises every
// core running a thread of the process, as text_poke_bp's IPIs do.

const (
	sysMembarrier = 324 // amd64

	mbCmdQuery                            = 0
	mbCmdPrivateExpedited                 = 1 << 3
	mbCmdRegisterPrivateExpedited         = 1 << 4
	mbCmdPrivateExpeditedSyncCore         = 1 << 5
	mbCmdRegisterPrivateExpeditedSyncCore = 1 << 6

	pageSize = 4096
)

// How the host serialises the other cores after each write.
const (
	// SyncCore: membarrier(PRIVATE_EXPEDITED_SYNC_CORE) guarantees every
	// thread of the process executes a core-serialising instruction
	// before it runs user code again: what Intel requires of the other
	// processors in cross-modifying code.
	SyncCore = "membarrier-sync-core"
	// SyncExpedited: membarrier(PRIVATE_EXPEDITED) IPIs every CPU running a
	// thread of the process. It promises a memory barrier only; on x86 the
	// interrupt's IRET also serialises, but that is an implementation fact,
	// not the system call's contract.
	SyncExpedited = "membarrier-expedited"
	// SyncMprotect: no membarrier. Downgrading the page from RWX to RX
	// makes Linux shoot down the TLB of every CPU in the process's mm
	// with an IPI, which serialises them the same way; weaker still,
	// since it relies on how Linux flushes TLBs.
	SyncMprotect = "mprotect-shootdown"
)

func membarrier(cmd int) (uintptr, syscall.Errno) {
	r, _, e := syscall.RawSyscall(sysMembarrier, uintptr(cmd), 0, 0)
	return r, e
}

// hostSyncMode registers for the strongest membarrier the kernel offers.
var hostSyncMode = sync.OnceValue(func() string {
	mask, e := membarrier(mbCmdQuery)
	if e != 0 {
		return SyncMprotect
	}
	if mask&mbCmdPrivateExpeditedSyncCore != 0 {
		if _, e := membarrier(mbCmdRegisterPrivateExpeditedSyncCore); e == 0 {
			return SyncCore
		}
	}
	if mask&mbCmdPrivateExpedited != 0 {
		if _, e := membarrier(mbCmdRegisterPrivateExpedited); e == 0 {
			return SyncExpedited
		}
	}
	return SyncMprotect
})

// SyncMode names how cores are serialised: in the kernel "ipi", on a
// host one of SyncCore, SyncExpedited, SyncMprotect.
func SyncMode() string {
	if onVelocity() {
		return "ipi"
	}
	return hostSyncMode()
}

func mprotect(lo, hi uintptr, prot int) error {
	_, _, e := syscall.RawSyscall(syscall.SYS_MPROTECT, lo, hi-lo, uintptr(prot))
	if e != 0 {
		return fmt.Errorf("patch: mprotect [%#x, %#x): %w", lo, hi, e)
	}
	return nil
}

const (
	protRX  = syscall.PROT_READ | syscall.PROT_EXEC
	protRWX = syscall.PROT_READ | syscall.PROT_WRITE | syscall.PROT_EXEC
)

// hostPoke rewrites [entry, entry+5) with b while other threads may be
// executing it:
//
//  1. EB FE (JMP to itself) over bytes 0-1, one store; sync. Threads that
//     arrive now spin at the entry; none starts the old first instruction.
//  2. bytes 2-4; sync. No thread executes them: arrivals spin at byte 0,
//     and no thread can be stopped at byte 2, 3 or 4 (see hostEncode).
//  3. b[0], b[1] over the self-loop, one store; sync. Spinning threads
//     fall through into the new instruction.
//
// The three steps run in one assembly function (host_amd64.s) with raw
// system calls: the patching goroutine must not be stopped between steps
// 1 and 3, or a stop-the-world would wait for the spinning goroutines
// (which cannot be preempted at the entry) while they wait for it.
func hostPoke(entry uintptr, b [Len]byte) error {
	if read5(entry) == b {
		return nil
	}
	lo, hi := entry&^(pageSize-1), (entry+Len+pageSize-1)&^(pageSize-1)
	if err := mprotect(lo, hi, protRWX); err != nil {
		return err
	}
	mode := 0
	switch hostSyncMode() {
	case SyncExpedited:
		mode = 1
	case SyncMprotect:
		mode = 2
	}
	held := time.Now()
	if e := hostPokeSeq(entry, &b, mode, lo, hi-lo); e != 0 {
		mprotect(lo, hi, protRX)
		return fmt.Errorf("patch: serialising the cores: %w", syscall.Errno(e))
	}
	hostPause.Add(int64(time.Since(held)))
	hostPokes.Add(1)
	return mprotect(lo, hi, protRX)
}

// The host's pause: time from the self-loop going in to the last sync,
// while arriving threads spin at the entry.
var hostPause, hostPokes atomic.Int64

// hostPokeSeq is steps 1-3 of hostPoke with their syncs (host_amd64.s).
//
//go:noescape
func hostPokeSeq(entry uintptr, b *[Len]byte, mode int, lo, n uintptr) (errno uintptr)

// HostPause returns how many host rewrites were made and the total time
// threads arriving at a site were held in its self-loop.
func HostPause() (pokes int64, held time.Duration) {
	return hostPokes.Load(), time.Duration(hostPause.Load())
}

// hostEncode returns the bytes that make s jump to target on a host.
//
// The hazard the kernel checks for and a host cannot: a thread the OS
// preempted at an instruction boundary inside the range (gc prologues
// begin with the 4-byte CMPQ SP, 16(R14), so byte 4 is one) would resume
// in the middle of the JMP. Linux does not let a process see a preempted
// thread's registers, so the host encodes the JMP so that it does not
// change byte 4: a JMP rel32 whose displacement's top byte equals the
// original byte 4 lands in a 16 MiB window, where a trampoline page jumps
// on to the target. A thread resuming at byte 4 then executes the original
// instruction there (and after it), that is, the original body. Other
// boundaries inside the range are refused.
func hostEncode(s *site, target uintptr) ([Len]byte, error) {
	switch {
	case len(s.info.inner) == 0:
		return jmpRel32(s.entry, target)
	case len(s.info.inner) == 1 && s.info.inner[0] == 4:
		if s.stub == 0 {
			stub, err := newStub(s)
			if err != nil {
				return [Len]byte{}, err
			}
			s.stub = stub
		}
		if err := setStubTarget(s.stub, target); err != nil {
			return [Len]byte{}, err
		}
		b, err := jmpRel32(s.entry, s.stub)
		if err == nil && b[4] != s.orig[4] {
			err = fmt.Errorf("patch: %s: internal error: trampoline JMP changes byte 4", s.name)
		}
		return b, err
	}
	return [Len]byte{}, fmt.Errorf("patch: %s: instructions start at bytes %v of the patch range; a thread preempted there would resume inside the JMP, and a host cannot see preempted threads", s.name, s.info.inner)
}

// Trampoline layout: JMP [RIP+2]; two INT3; the 8-byte target. The target
// is data, so it can change with one aligned store while threads run it.
const stubTargetOff = 8

func newStub(s *site) (uintptr, error) {
	from := int64(s.entry + Len)
	base := from + int64(int32(uint32(s.orig[4])<<24)) // smallest address whose displacement has that top byte
	first := (base + pageSize - 1) &^ (pageSize - 1)
	const window = 1 << 24
	for k := int64(0); k < 64; k++ {
		a := first + k*(window/64)
		if a+pageSize > base+window || a < 1<<16 || a >= 1<<47 {
			continue
		}
		const mapFixedNoreplace = 0x100000
		r, _, e := syscall.RawSyscall6(syscall.SYS_MMAP, uintptr(a), pageSize, syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|mapFixedNoreplace, ^uintptr(0), 0)
		if e != 0 {
			continue
		}
		if r != uintptr(a) { // an old kernel took the address as a hint only
			syscall.RawSyscall(syscall.SYS_MUNMAP, r, pageSize, 0)
			continue
		}
		code := (*[16]byte)(ptr(r))
		copy(code[:], []byte{0xFF, 0x25, 0x02, 0x00, 0x00, 0x00, 0xCC, 0xCC})
		if err := mprotect(r, r+pageSize, protRX); err != nil {
			return 0, err
		}
		return r, nil
	}
	return 0, fmt.Errorf("patch: %s: no free page for a trampoline within the 16 MiB window at %#x", s.name, base)
}

// setStubTarget points the trampoline at target. Threads still jumping
// through it for an earlier patch of the same function reach the new
// variant instead: both are valid bodies.
func setStubTarget(stub, target uintptr) error {
	w := (*uint64)(ptr(stub + stubTargetOff))
	if atomic.LoadUint64(w) == uint64(target) {
		return nil
	}
	if err := mprotect(stub, stub+pageSize, protRWX); err != nil {
		return err
	}
	atomic.StoreUint64(w, uint64(target))
	return mprotect(stub, stub+pageSize, protRX)
}
