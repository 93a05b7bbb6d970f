// Package validate checks x86-64 machine code before it may become
// executable. The JIT (lang/jit) runs every blob it produces through
// Validate; a blob that fails is never mapped executable.
//
// A blob is laid out as [code][padding][constant pool][call table]. The
// code region is a sequence of functions that tile it exactly. The
// validator decodes every instruction of every function linearly with
// golang.org/x/arch/x86/x86asm and enforces:
//
//   - every byte of code decodes, and no instruction straddles a function end;
//   - only an allowlist of unprivileged general-purpose and scalar SSE2
//     instructions appears; privileged, system, I/O, segment, flag-image,
//     far-transfer and state-save instructions are named in the error;
//   - RDTSC, RDTSCP and LFENCE only with Meta.AllowTiming; UD2 only at
//     the offsets listed in Meta.TrapSites;
//   - no segment-override, ignored or invalid prefixes;
//   - every direct branch (jmp, jcc, call rel32) lands on an instruction
//     boundary inside the function that contains it;
//   - the only indirect control transfer is CALL [RIP+disp32] that reads an
//     8-byte-aligned slot of the call table, and every call-table slot holds
//     Meta.Base plus the start offset of one of the blob's functions;
//   - every other RIP-relative operand lies entirely inside the constant
//     pool; absolute (no base, no index) memory operands are rejected;
//   - each function ends with an unconditional transfer (RET, JMP or a
//     trap-site UD2), so execution can never fall off into the next
//     function or into data.
package validate

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// Range is a half-open byte range [Start, End) of the blob.
type Range struct{ Start, End int }

func (r Range) contains(off, n int) bool { return off >= r.Start && n >= 0 && off+n <= r.End }

// Meta describes a blob.
type Meta struct {
	// Base is the address the blob executes at; call-table slots hold
	// absolute addresses Base+function start.
	Base uint64
	// Funcs are the function boundaries, in order, tiling [0, code end).
	Funcs []Range
	// Pool is the constant pool (may be empty).
	Pool Range
	// CallTable holds 8-byte absolute function addresses (may be empty).
	CallTable Range
	// Imports are the entry addresses of functions of other blobs,
	// already validated and mapped, that call-table slots may also hold
	// (a module calling into the modules it imports).
	Imports []uint64
	// TrapSites are offsets where UD2 is allowed.
	TrapSites []int
	// AllowTiming allows RDTSC, RDTSCP and LFENCE (telemetry).
	AllowTiming bool
}

// Error is a rejected blob: the offset of the offending instruction, the
// rule it breaks and a description.
type Error struct {
	Off  int
	Rule string
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("validate: offset %#x: %s: %s", e.Off, e.Rule, e.Msg)
}

// Rule names, for tests and callers that classify failures.
const (
	RuleLayout      = "layout"
	RuleDecode      = "undecodable"
	RuleForbidden   = "forbidden instruction"
	RuleNotAllowed  = "instruction not allowed"
	RulePrefix      = "prefix"
	RuleBranch      = "branch target"
	RuleIndirect    = "indirect branch"
	RuleRIP         = "rip-relative operand"
	RuleAbsolute    = "absolute memory operand"
	RuleFallThrough = "fall-through"
	RuleCallTable   = "call table"
	RuleTrap        = "trap site"
)

// forbidden names why an instruction is never allowed.
var forbidden = map[x86asm.Op]string{}

func init() {
	add := func(why string, ops ...x86asm.Op) {
		for _, o := range ops {
			forbidden[o] = why
		}
	}
	add("port I/O", x86asm.IN, x86asm.OUT, x86asm.INSB, x86asm.INSW, x86asm.INSD, x86asm.OUTSB, x86asm.OUTSW, x86asm.OUTSD)
	add("interrupt flag", x86asm.CLI, x86asm.STI)
	add("halts the CPU", x86asm.HLT, x86asm.MWAIT, x86asm.MONITOR, x86asm.PAUSE)
	add("model-specific register", x86asm.RDMSR, x86asm.WRMSR, x86asm.RDPMC)
	add("system call", x86asm.SYSCALL, x86asm.SYSENTER, x86asm.SYSEXIT, x86asm.SYSRET)
	add("software interrupt", x86asm.INT, x86asm.INTO, x86asm.ICEBP, x86asm.IRET, x86asm.IRETD, x86asm.IRETQ, x86asm.RSM)
	add("descriptor table", x86asm.LGDT, x86asm.LIDT, x86asm.LLDT, x86asm.LTR, x86asm.SGDT, x86asm.SIDT, x86asm.SLDT, x86asm.STR,
		x86asm.LMSW, x86asm.SMSW, x86asm.CLTS, x86asm.LAR, x86asm.LSL, x86asm.VERR, x86asm.VERW, x86asm.ARPL)
	add("cache/TLB control", x86asm.INVLPG, x86asm.INVPCID, x86asm.INVD, x86asm.WBINVD, x86asm.CLFLUSH)
	add("swaps the GS base", x86asm.SWAPGS)
	add("segment base", x86asm.RDFSBASE, x86asm.RDGSBASE, x86asm.WRFSBASE, x86asm.WRGSBASE)
	add("CPU identification", x86asm.CPUID)
	add("extended state save/restore", x86asm.XSAVE, x86asm.XSAVE64, x86asm.XSAVEC, x86asm.XSAVEC64, x86asm.XSAVEOPT, x86asm.XSAVEOPT64,
		x86asm.XSAVES, x86asm.XSAVES64, x86asm.XRSTOR, x86asm.XRSTOR64, x86asm.XRSTORS, x86asm.XRSTORS64, x86asm.XSETBV, x86asm.XGETBV,
		x86asm.FXSAVE, x86asm.FXSAVE64, x86asm.FXRSTOR, x86asm.FXRSTOR64, x86asm.LDMXCSR, x86asm.FNSAVE, x86asm.FRSTOR, x86asm.FLDENV)
	add("far transfer", x86asm.LJMP, x86asm.LCALL, x86asm.LRET)
	add("segment register load", x86asm.LDS, x86asm.LES, x86asm.LFS, x86asm.LGS, x86asm.LSS)
	add("flags image", x86asm.PUSHF, x86asm.PUSHFD, x86asm.PUSHFQ, x86asm.POPF, x86asm.POPFD, x86asm.POPFQ, x86asm.SAHF, x86asm.LAHF,
		x86asm.STD, x86asm.CLD)
	add("transactional memory", x86asm.XBEGIN, x86asm.XEND, x86asm.XABORT, x86asm.XTEST)
	add("undefined instruction", x86asm.UD0, x86asm.UD1)
	add("loop instruction", x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE, x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ)
}

// allowed is the instruction allowlist: what a JIT for a small language
// needs, nothing more.
var allowed = map[x86asm.Op]bool{}

var timing = map[x86asm.Op]bool{x86asm.RDTSC: true, x86asm.RDTSCP: true, x86asm.LFENCE: true}

var condJumps = map[x86asm.Op]bool{}

func init() {
	for _, o := range []x86asm.Op{
		x86asm.MOV, x86asm.MOVZX, x86asm.MOVSX, x86asm.MOVSXD, x86asm.LEA, x86asm.XCHG,
		x86asm.ADD, x86asm.SUB, x86asm.ADC, x86asm.SBB, x86asm.IMUL, x86asm.MUL, x86asm.IDIV, x86asm.DIV,
		x86asm.AND, x86asm.OR, x86asm.XOR, x86asm.NOT, x86asm.NEG, x86asm.INC, x86asm.DEC,
		x86asm.SHL, x86asm.SHR, x86asm.SAR, x86asm.ROL, x86asm.ROR, x86asm.BSR, x86asm.BT, x86asm.BTC, x86asm.BTS, x86asm.BTR,
		x86asm.CMP, x86asm.TEST, x86asm.JMP, x86asm.CALL, x86asm.RET, x86asm.PUSH, x86asm.POP, x86asm.NOP,
		x86asm.CQO, x86asm.CDQ, x86asm.CDQE, x86asm.MOVSQ, x86asm.STOSQ,
		x86asm.MOVQ, x86asm.MOVSD_XMM, x86asm.ADDSD, x86asm.SUBSD, x86asm.MULSD, x86asm.DIVSD, x86asm.SQRTSD,
		x86asm.UCOMISD, x86asm.COMISD, x86asm.CVTSI2SD, x86asm.CVTTSD2SI, x86asm.XORPD, x86asm.ANDPD, x86asm.ROUNDSD,
		x86asm.UD2,
		x86asm.SETA, x86asm.SETAE, x86asm.SETB, x86asm.SETBE, x86asm.SETE, x86asm.SETG, x86asm.SETGE, x86asm.SETL,
		x86asm.SETLE, x86asm.SETNE, x86asm.SETNO, x86asm.SETNP, x86asm.SETNS, x86asm.SETO, x86asm.SETP, x86asm.SETS,
		x86asm.CMOVA, x86asm.CMOVAE, x86asm.CMOVB, x86asm.CMOVBE, x86asm.CMOVE, x86asm.CMOVG, x86asm.CMOVGE, x86asm.CMOVL,
		x86asm.CMOVLE, x86asm.CMOVNE, x86asm.CMOVNO, x86asm.CMOVNP, x86asm.CMOVNS, x86asm.CMOVO, x86asm.CMOVP, x86asm.CMOVS,
	} {
		allowed[o] = true
	}
	for _, o := range []x86asm.Op{x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JG, x86asm.JGE, x86asm.JL,
		x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP, x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JS} {
		allowed[o] = true
		condJumps[o] = true
	}
}

// Validate checks blob against m. It never panics, whatever the input.
func Validate(blob []byte, m *Meta) error {
	if err := checkLayout(blob, m); err != nil {
		return err
	}
	traps := map[int]bool{}
	for _, t := range m.TrapSites {
		traps[t] = true
	}
	usedTraps := map[int]bool{}
	type branch struct {
		from, target int
		fn           Range
	}
	var branches []branch
	boundary := map[int]bool{}
	for _, fn := range m.Funcs {
		var last x86asm.Inst
		for off := fn.Start; off < fn.End; {
			inst, err := x86asm.Decode(blob[off:fn.End], 64)
			if err != nil || inst.Op == 0 || inst.Len == 0 {
				msg := "bytes do not decode as an instruction"
				if err != nil {
					msg = err.Error()
				}
				return &Error{off, RuleDecode, fmt.Sprintf("% x: %s", blob[off:min(off+8, fn.End)], msg)}
			}
			boundary[off] = true
			if err := checkInst(blob, m, off, inst, traps, usedTraps); err != nil {
				return err
			}
			if inst.Op == x86asm.JMP || inst.Op == x86asm.CALL || condJumps[inst.Op] {
				if rel, ok := inst.Args[0].(x86asm.Rel); ok {
					branches = append(branches, branch{off, off + inst.Len + int(rel), fn})
				}
			}
			last = inst
			off += inst.Len
		}
		if !(last.Op == x86asm.RET || last.Op == x86asm.JMP || last.Op == x86asm.UD2) {
			return &Error{fn.End, RuleFallThrough, fmt.Sprintf("function [%#x,%#x) ends with %v, not ret, jmp or a trap", fn.Start, fn.End, last)}
		}
	}
	for _, b := range branches {
		if b.target < b.fn.Start || b.target >= b.fn.End {
			return &Error{b.from, RuleBranch, fmt.Sprintf("target %#x is outside the function [%#x,%#x)", b.target, b.fn.Start, b.fn.End)}
		}
		if !boundary[b.target] {
			return &Error{b.from, RuleBranch, fmt.Sprintf("target %#x is not an instruction boundary", b.target)}
		}
	}
	for _, t := range m.TrapSites {
		if !usedTraps[t] {
			return &Error{t, RuleTrap, "declared trap site is not a UD2 instruction"}
		}
	}
	return nil
}

func checkLayout(blob []byte, m *Meta) error {
	if m == nil || len(m.Funcs) == 0 {
		return &Error{0, RuleLayout, "no functions"}
	}
	end := 0
	for i, f := range m.Funcs {
		if f.Start != end || f.End <= f.Start || f.End > len(blob) {
			return &Error{f.Start, RuleLayout, fmt.Sprintf("function %d [%#x,%#x) does not continue the code region at %#x within %d bytes", i, f.Start, f.End, end, len(blob))}
		}
		end = f.End
	}
	for _, r := range []struct {
		name string
		r    Range
	}{{"constant pool", m.Pool}, {"call table", m.CallTable}} {
		if r.r.Start == r.r.End {
			continue
		}
		if r.r.Start < end || r.r.End < r.r.Start || r.r.End > len(blob) {
			return &Error{r.r.Start, RuleLayout, fmt.Sprintf("%s [%#x,%#x) overlaps code [0,%#x) or leaves the %d-byte blob", r.name, r.r.Start, r.r.End, end, len(blob))}
		}
	}
	p, t := m.Pool, m.CallTable
	if p.Start < p.End && t.Start < t.End && p.Start < t.End && t.Start < p.End {
		return &Error{t.Start, RuleLayout, "constant pool and call table overlap"}
	}
	if t.Start < t.End {
		if (t.End-t.Start)%8 != 0 {
			return &Error{t.Start, RuleCallTable, "call table size is not a multiple of 8"}
		}
		starts := map[uint64]bool{}
		for _, f := range m.Funcs {
			starts[m.Base+uint64(f.Start)] = true
		}
		for _, a := range m.Imports {
			if a >= m.Base && a < m.Base+uint64(len(blob)) {
				return &Error{t.Start, RuleCallTable, fmt.Sprintf("imported address %#x lies inside this blob", a)}
			}
			starts[a] = true
		}
		for off := t.Start; off < t.End; off += 8 {
			if a := binary.LittleEndian.Uint64(blob[off:]); !starts[a] {
				return &Error{off, RuleCallTable, fmt.Sprintf("slot holds %#x, not the address of a function of this blob or an import", a)}
			}
		}
	}
	for _, ts := range m.TrapSites {
		if ts < 0 || ts >= end {
			return &Error{ts, RuleTrap, "trap site outside the code"}
		}
	}
	return nil
}

func checkInst(blob []byte, m *Meta, off int, inst x86asm.Inst, traps, usedTraps map[int]bool) error {
	fail := func(rule, format string, args ...any) error {
		return &Error{off, rule, fmt.Sprintf("%v: ", inst) + fmt.Sprintf(format, args...)}
	}
	if why, ok := forbidden[inst.Op]; ok {
		return fail(RuleForbidden, "%s", why)
	}
	if timing[inst.Op] {
		if !m.AllowTiming {
			return fail(RuleForbidden, "timing instruction without AllowTiming")
		}
	} else if !allowed[inst.Op] {
		return fail(RuleNotAllowed, "not in the JIT instruction allowlist")
	}
	if inst.Op == x86asm.UD2 {
		if !traps[off] {
			return fail(RuleTrap, "ud2 outside a designated trap site")
		}
		usedTraps[off] = true
	}
	for _, p := range inst.Prefix {
		if p == 0 {
			break
		}
		// A mandatory prefix (SSE's 66/F2/F3) is marked implicit; a prefix
		// that is merely ignored is a decoder/CPU disagreement risk.
		if p&x86asm.PrefixInvalid != 0 || p&x86asm.PrefixIgnored != 0 && p&x86asm.PrefixImplicit == 0 {
			return fail(RulePrefix, "ignored or invalid prefix %v", p)
		}
		switch p &^ x86asm.PrefixImplicit {
		case x86asm.PrefixES, x86asm.PrefixCS, x86asm.PrefixSS, x86asm.PrefixDS, x86asm.PrefixFS, x86asm.PrefixGS:
			return fail(RulePrefix, "segment override")
		case x86asm.PrefixLOCK:
			return fail(RulePrefix, "lock prefix")
		}
		if p.IsVEX() || p.IsEVEX() {
			return fail(RulePrefix, "VEX/EVEX encoding")
		}
	}
	for _, a := range inst.Args {
		if a == nil {
			break
		}
		if r, ok := a.(x86asm.Reg); ok {
			switch {
			case r >= x86asm.ES && r <= x86asm.GS:
				if inst.Op == x86asm.POP || inst.Op == x86asm.MOV && inst.Args[0] == a {
					return fail(RuleForbidden, "segment register write")
				}
				return fail(RuleForbidden, "segment register access")
			case r >= x86asm.CR0 && r <= x86asm.CR15:
				return fail(RuleForbidden, "control register access")
			case r >= x86asm.DR0 && r <= x86asm.DR15:
				return fail(RuleForbidden, "debug register access")
			case r >= x86asm.TR0 && r <= x86asm.TR7:
				return fail(RuleForbidden, "test register access")
			}
		}
	}
	indirect := false
	switch inst.Op {
	case x86asm.JMP, x86asm.CALL:
		_, isRel := inst.Args[0].(x86asm.Rel)
		indirect = !isRel
	}
	if indirect {
		mem, ok := inst.Args[0].(x86asm.Mem)
		if inst.Op != x86asm.CALL || !ok || mem.Base != x86asm.RIP || mem.Index != 0 || inst.MemBytes != 8 {
			return fail(RuleIndirect, "only CALL [RIP+disp32] through the call table is allowed")
		}
		target := off + inst.Len + int(mem.Disp)
		if !m.CallTable.contains(target, 8) || (target-m.CallTable.Start)%8 != 0 {
			return fail(RuleIndirect, "reads %#x, not a call-table slot in [%#x,%#x)", target, m.CallTable.Start, m.CallTable.End)
		}
		return nil
	}
	for _, a := range inst.Args {
		mem, ok := a.(x86asm.Mem)
		if !ok {
			continue
		}
		if mem.Segment == x86asm.FS || mem.Segment == x86asm.GS {
			return fail(RulePrefix, "segment override")
		}
		if mem.Base == x86asm.RIP {
			target := off + inst.Len + int(mem.Disp)
			size := inst.MemBytes
			if inst.Op == x86asm.LEA {
				size = 1
			}
			if size <= 0 {
				size = 1
			}
			if !m.Pool.contains(target, size) {
				return fail(RuleRIP, "%d bytes at %#x are outside the constant pool [%#x,%#x)", size, target, m.Pool.Start, m.Pool.End)
			}
			continue
		}
		if mem.Base == 0 && mem.Index == 0 {
			return fail(RuleAbsolute, "absolute address %#x", mem.Disp)
		}
		if mem.Base == x86asm.EIP || inst.AddrSize != 64 {
			return fail(RulePrefix, "32-bit addressing")
		}
	}
	return nil
}
