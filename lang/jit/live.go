package jit

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/velocityos/velocity/telemetry"
)

// The loaded programs and the counting machines.
//
// A live patcher can send a call that entered one program into another
// program's code (package patch redirects a function's entry pad). Two
// things must then still work without knowing which body ran:
//
//   - a trap names its function: the trap record carries the code id of
//     the blob that trapped, and ids are unique among loaded programs
//     (the loader writes the id into the trap stubs), so Machine.Call
//     finds the program that trapped here;
//   - telemetry counts for the body that ran: each instrumented program
//     has its own counter mapping, whose address is baked into its code,
//     with one shard per counting machine (probe.go). A machine gets a
//     shard number when it first counts; its shard is zeroed then in
//     every loaded program, and a program loaded later zeroes the shards
//     of the machines that exist, so a machine's counters always start
//     from its first call.
var live struct {
	mu     sync.Mutex
	progs  map[uint32]*liveProg // by code id
	nextID uint32
	shards [maxShards + 1]bool // shard numbers in use (0 is never used)
}

// liveProg is what the registry keeps of a loaded program: not the
// Program itself, whose finalizer must still run when it is dropped.
type liveProg struct {
	code     *Code
	counters []byte // nil for code without telemetry
	base     uint64 // load address, set once mapped (0 before)
}

// maxCodeID bounds code ids: a trap record is id<<16 | function index in
// a sign-extended 32-bit immediate.
const maxCodeID = 0x7fff

// register gives p a code id unique among loaded programs and, for
// instrumented code, its counter mapping (all shards of the machines that
// count zeroed).
func register(p *Program) error {
	var counters []byte
	if p.code.instr {
		var err error
		if counters, err = mapRW(counterBytes(len(p.code.Funcs)), 0); err != nil {
			return err
		}
	}
	live.mu.Lock()
	defer live.mu.Unlock()
	if live.progs == nil {
		live.progs = map[uint32]*liveProg{}
	}
	if len(live.progs) >= maxCodeID {
		if counters != nil {
			unmap(counters)
		}
		return fmt.Errorf("jit: %d programs are loaded, the most trap records can name", maxCodeID)
	}
	for {
		live.nextID = live.nextID%maxCodeID + 1
		if live.progs[live.nextID] == nil {
			break
		}
	}
	p.id = live.nextID
	live.progs[p.id] = &liveProg{code: p.code, counters: counters}
	if counters != nil {
		p.counters = counters
		for s := 1; s <= maxShards; s++ {
			if live.shards[s] {
				resetShard(counters, len(p.code.Funcs), s)
			}
		}
		// The counters outlive Close: a Profile may still read them (a
		// telemetry snapshot racing with the retirement of a version).
		// They go when nothing references the Program any more.
		runtime.AddCleanup(p, func(b []byte) { unmap(b) }, counters)
	}
	return nil
}

// unregister frees p's code id (at Close).
func unregister(p *Program) {
	live.mu.Lock()
	delete(live.progs, p.id)
	live.mu.Unlock()
}

// setBase records where p's code was mapped, for FuncAt.
func setBase(p *Program) {
	live.mu.Lock()
	if lp := live.progs[p.id]; lp != nil {
		lp.base = p.base
	}
	live.mu.Unlock()
}

// FuncAt names the JIT function whose machine code holds pc, among the
// loaded programs: "jit:NAME" for a function body, "jit:NAME (entry
// thunk)" for the thunk Machine.Call enters it through. Profilers use it
// for addresses that the Go symbol table does not know (kernel.SetSymbolizer).
func FuncAt(pc uintptr) (string, bool) {
	a := uint64(pc)
	live.mu.Lock()
	defer live.mu.Unlock()
	for _, lp := range live.progs {
		c := lp.code
		if lp.base == 0 || a < lp.base || a >= lp.base+uint64(len(c.code)) {
			continue
		}
		off := int(a - lp.base)
		for i, r := range c.ranges {
			if off < r.Start || off >= r.End {
				continue
			}
			if i < len(c.Funcs) {
				return "jit:" + c.Funcs[i].Name, true
			}
			if k := i - len(c.Funcs); k < len(c.Funcs) {
				return "jit:" + c.Funcs[k].Name + " (entry thunk)", true
			}
		}
		return "", false
	}
	return "", false
}

// liveFuncName names function fi of the loaded program with code id id.
func liveFuncName(id uint32, fi int) string {
	live.mu.Lock()
	defer live.mu.Unlock()
	if lp := live.progs[id]; lp != nil && fi < len(lp.code.Funcs) {
		return lp.code.Funcs[fi].Name
	}
	return ""
}

// ensureShard gives m a counter shard if it has none: its counters in
// every loaded instrumented program are zeroed.
func (m *Machine) ensureShard() error {
	if m.shard != 0 {
		return nil
	}
	live.mu.Lock()
	defer live.mu.Unlock()
	s := 1
	for s <= maxShards && live.shards[s] {
		s++
	}
	if s > maxShards {
		return fmt.Errorf("jit: %d machines already count telemetry; close some", maxShards)
	}
	live.shards[s] = true
	for _, lp := range live.progs {
		if lp.counters != nil {
			resetShard(lp.counters, len(lp.code.Funcs), s)
		}
	}
	m.shard = s
	if !m.finalizer {
		m.finalizer = true
		runtime.SetFinalizer(m, (*Machine).Close)
	}
	return nil
}

// releaseShard returns m's shard number (at Close).
func (m *Machine) releaseShard() {
	if m.shard == 0 {
		return
	}
	live.mu.Lock()
	live.shards[m.shard] = false
	live.mu.Unlock()
	m.shard = 0
}

func resetShard(counters []byte, funcs, s int) {
	for fi := 0; fi < funcs; fi++ {
		shardAt(counters, fi, s).Reset()
	}
}

// shardAt is machine shard s's counter for function fi.
func shardAt(counters []byte, fi, s int) *telemetry.Counter {
	off := (fi*maxShards + s - 1) * shardBytes
	return (*telemetry.Counter)(unsafe.Pointer(&counters[off]))
}

// shard is function fi's counter of machine shard s in p (nil if s is 0).
func (p *Program) shard(fi, s int) *telemetry.Counter {
	if s == 0 || p.counters == nil {
		return nil
	}
	return shardAt(p.counters, fi, s)
}

var errClosed = errors.New("jit: program is closed")
