package jit

import "encoding/binary"

// A minimal x86-64 encoder: exactly the instruction forms the code
// generator uses. All branches are rel32; memory operands are [base+disp],
// [base+index*scale+disp] or [rip+disp32] to a pool or call-table slot.

type reg byte

const (
	rax reg = iota
	rcx
	rdx
	rbx
	rsp
	rbp
	rsi
	rdi
	r8
	r9
	r10
	r11
	r12
	r13
	r14
	r15
)

const noIndex reg = 0xff

// mem is a memory operand.
type mem struct {
	base  reg
	index reg // noIndex for none
	scale byte
	disp  int32
	rip   int // >= 0: a rip-relative reference to data offset rip (patched at link time)
}

func m(base reg, disp int32) mem { return mem{base: base, index: noIndex, disp: disp, rip: -1} }

func mi(base, index reg, scale byte, disp int32) mem {
	return mem{base: base, index: index, scale: scale, disp: disp, rip: -1}
}

// label is a position in the code, bound once.
type label struct {
	pos  int
	refs []int // offsets of rel32 fields to patch
}

type ripRef struct {
	field  int // offset of the disp32 field
	end    int // offset of the end of the instruction
	target int // data offset (relative to the data base)
}

type asm struct {
	b    []byte
	rips []ripRef
	// Link-time fields of the program a blob is loaded as (link.go):
	// counter addresses (MOVABS imm64) and trap-record tags (imm32).
	counterRefs []counterRef
	tagRefs     []int
}

// counterRef is a MOVABS whose imm64 becomes the address of function fi's
// telemetry counters in the loaded program (probe.go).
type counterRef struct {
	field int // offset of the imm64
	fi    int
}

// movAbs emits MOVABS r, imm64 (always the 10-byte form, so the field
// can hold any address) and returns the offset of the immediate.
func (a *asm) movAbs(r reg, v uint64) int {
	a.byte1(rex(true, 0, noIndex, r), 0xb8|byte(r&7))
	field := a.pos()
	a.b = binary.LittleEndian.AppendUint64(a.b, v)
	return field
}

func (a *asm) byte1(bs ...byte) { a.b = append(a.b, bs...) }
func (a *asm) u32(v uint32)     { a.b = binary.LittleEndian.AppendUint32(a.b, v) }
func (a *asm) pos() int         { return len(a.b) }

func rex(w bool, r, x, b reg) byte {
	v := byte(0x40)
	if w {
		v |= 8
	}
	if r&8 != 0 {
		v |= 4
	}
	if x != noIndex && x&8 != 0 {
		v |= 2
	}
	if b&8 != 0 {
		v |= 1
	}
	return v
}

// opRR emits [prefix] REX op modrm(reg=r, rm=b) for register operands.
func (a *asm) opRR(prefix byte, w bool, op []byte, r, b reg) {
	if prefix != 0 {
		a.byte1(prefix)
	}
	if x := rex(w, r, noIndex, b); x != 0x40 {
		a.byte1(x)
	}
	a.byte1(op...)
	a.byte1(0xc0 | byte(r&7)<<3 | byte(b&7))
}

// opRM emits [prefix] REX op modrm(reg=r) with a memory operand; extra
// immediate bytes follow (they count for the rip-relative fixup).
func (a *asm) opRM(prefix byte, w bool, op []byte, r reg, mm mem, imm ...byte) {
	if prefix != 0 {
		a.byte1(prefix)
	}
	idx := noIndex
	base := mm.base
	if mm.rip >= 0 {
		base = 0
	} else {
		idx = mm.index
	}
	if x := rex(w, r, idx, base); x != 0x40 {
		a.byte1(x)
	}
	a.byte1(op...)
	rr := byte(r&7) << 3
	if mm.rip >= 0 {
		a.byte1(0x05 | rr)
		field := a.pos()
		a.u32(0)
		a.byte1(imm...)
		a.rips = append(a.rips, ripRef{field: field, end: a.pos(), target: mm.rip})
		return
	}
	var mod byte
	switch {
	case mm.disp == 0 && base&7 != 5:
		mod = 0
	case mm.disp >= -128 && mm.disp <= 127:
		mod = 1
	default:
		mod = 2
	}
	if idx != noIndex || base&7 == 4 {
		a.byte1(mod<<6 | rr | 4)
		ss := map[byte]byte{1: 0, 2: 1, 4: 2, 8: 3}[mm.scale]
		ix := byte(4) // none
		if idx != noIndex {
			ix = byte(idx & 7)
		}
		a.byte1(ss<<6 | ix<<3 | byte(base&7))
	} else {
		a.byte1(mod<<6 | rr | byte(base&7))
	}
	switch mod {
	case 1:
		a.byte1(byte(int8(mm.disp)))
	case 2:
		a.u32(uint32(mm.disp))
	}
	a.byte1(imm...)
}

func (a *asm) movRR(dst, src reg)       { a.opRR(0, true, []byte{0x89}, src, dst) }
func (a *asm) load(dst reg, mm mem)     { a.opRM(0, true, []byte{0x8b}, dst, mm) }
func (a *asm) store(mm mem, src reg)    { a.opRM(0, true, []byte{0x89}, src, mm) }
func (a *asm) lea(dst reg, mm mem)      { a.opRM(0, true, []byte{0x8d}, dst, mm) }
func (a *asm) movzxB(dst, src reg)      { a.opRR(0, false, []byte{0x0f, 0xb6}, dst, src) } // movzx r32, r8 (src al..bl)
func (a *asm) testRR(x, y reg)          { a.opRR(0, true, []byte{0x85}, y, x) }
func (a *asm) imulRR(dst, src reg)      { a.opRR(0, true, []byte{0x0f, 0xaf}, dst, src) }
func (a *asm) cmovRR(cc byte, d, s reg) { a.opRR(0, true, []byte{0x0f, 0x40 | cc}, d, s) }

// alu ops: the /digit of the 0x81 group and the r/m,r opcode.
type aluOp byte

const (
	aluAdd aluOp = 0
	aluOr  aluOp = 1
	aluAnd aluOp = 4
	aluSub aluOp = 5
	aluXor aluOp = 6
	aluCmp aluOp = 7
)

func (a *asm) aluRR(op aluOp, dst, src reg) { a.opRR(0, true, []byte{byte(op)<<3 | 1}, src, dst) }

func (a *asm) aluRI(op aluOp, dst reg, imm int32) {
	if imm >= -128 && imm <= 127 {
		a.opRR(0, true, []byte{0x83}, reg(op), dst)
		a.byte1(byte(int8(imm)))
		return
	}
	a.opRR(0, true, []byte{0x81}, reg(op), dst)
	a.u32(uint32(imm))
}

func (a *asm) aluMI(op aluOp, mm mem, imm int32) {
	if imm >= -128 && imm <= 127 {
		a.opRM(0, true, []byte{0x83}, reg(op), mm, byte(int8(imm)))
		return
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(imm))
	a.opRM(0, true, []byte{0x81}, reg(op), mm, b[:]...)
}

func (a *asm) aluRM(op aluOp, dst reg, mm mem) { a.opRM(0, true, []byte{byte(op)<<3 | 3}, dst, mm) }

// unary group 0xF7: 2 not, 3 neg, 4 mul, 6 div, 7 idiv.
func (a *asm) grp3(ext byte, r reg) { a.opRR(0, true, []byte{0xf7}, reg(ext), r) }

// shifts by cl: 4 shl, 5 shr, 7 sar.
func (a *asm) shiftCL(ext byte, r reg) { a.opRR(0, true, []byte{0xd3}, reg(ext), r) }

// PatchPad is the 5-byte NOP (nop dword [rax+rax*1+0]) every compiled
// function starts with, like Linux ftrace's patchable function entry. A
// live patcher redirects a function by overwriting exactly this one
// instruction with a JMP rel32 (also 5 bytes): since it is a single
// instruction, a CPU executing the entry sees either the old NOP or the
// whole new JMP, never a torn mix, provided nothing branches into bytes
// 1..4 of the pad (the code generator never does: branches target only
// labels bound after it, and the validator requires every branch to land
// on an instruction boundary). Program.FuncAddr returns the pad address.
var PatchPad = [5]byte{0x0f, 0x1f, 0x44, 0x00, 0x00}

func (a *asm) patchPad() { a.byte1(PatchPad[:]...) }

func (a *asm) cqo()        { a.byte1(0x48, 0x99) }
func (a *asm) ret()        { a.byte1(0xc3) }
func (a *asm) repStosq()   { a.byte1(0xf3, 0x48, 0xab) }
func (a *asm) repMovsq()   { a.byte1(0xf3, 0x48, 0xa5) }
func (a *asm) incM(mm mem) { a.opRM(0, true, []byte{0xff}, 0, mm) }
func (a *asm) decM(mm mem) { a.opRM(0, true, []byte{0xff}, 1, mm) }
func (a *asm) btcRI(r reg, bit byte) {
	a.opRR(0, true, []byte{0x0f, 0xba}, 7, r)
	a.byte1(bit)
}

func (a *asm) push(r reg) {
	if r&8 != 0 {
		a.byte1(0x41)
	}
	a.byte1(0x50 | byte(r&7))
}

func (a *asm) pop(r reg) {
	if r&8 != 0 {
		a.byte1(0x41)
	}
	a.byte1(0x58 | byte(r&7))
}

// movImm loads a 64-bit constant with the shortest encoding.
func (a *asm) movImm(r reg, v uint64) {
	switch {
	case v == 0:
		a.opRR(0, false, []byte{0x31}, r, r) // xor r32, r32
	case v <= 0xffffffff:
		if r&8 != 0 {
			a.byte1(0x41)
		}
		a.byte1(0xb8 | byte(r&7))
		a.u32(uint32(v))
	case int64(v) >= -1<<31 && int64(v) < 1<<31:
		a.opRR(0, true, []byte{0xc7}, 0, r)
		a.u32(uint32(v))
	default:
		a.byte1(rex(true, 0, noIndex, r), 0xb8|byte(r&7))
		a.b = binary.LittleEndian.AppendUint64(a.b, v)
	}
}

// setcc sets the low byte of r (al..bl only) from condition cc.
func (a *asm) setcc(cc byte, r reg) { a.opRR(0, false, []byte{0x0f, 0x90 | cc}, 0, r) }

// Condition codes.
const (
	ccO  = 0x0
	ccB  = 0x2
	ccAE = 0x3
	ccE  = 0x4
	ccNE = 0x5
	ccBE = 0x6
	ccA  = 0x7
	ccS  = 0x8
	ccP  = 0xa
	ccNP = 0xb
	ccL  = 0xc
	ccGE = 0xd
	ccLE = 0xe
	ccG  = 0xf
)

func (a *asm) jmp(l *label) {
	a.byte1(0xe9)
	a.ref(l)
}

func (a *asm) jcc(cc byte, l *label) {
	a.byte1(0x0f, 0x80|cc)
	a.ref(l)
}

func (a *asm) ref(l *label) {
	l.refs = append(l.refs, a.pos())
	a.u32(0)
}

func (a *asm) bind(l *label) { l.pos = a.pos() }

// resolve patches every reference to l (after binding).
func (a *asm) resolve(l *label) {
	for _, r := range l.refs {
		binary.LittleEndian.PutUint32(a.b[r:], uint32(int32(l.pos-(r+4))))
	}
	l.refs = nil
}

// callSlot emits CALL [rip+disp32] to call-table slot k (data offset).
func (a *asm) callData(dataOff int) {
	a.byte1(0xff, 0x15)
	field := a.pos()
	a.u32(0)
	a.rips = append(a.rips, ripRef{field: field, end: a.pos(), target: dataOff})
}

// SSE2 scalar double.
func (a *asm) movqXR(x, r reg) { a.opRR(0x66, true, []byte{0x0f, 0x6e}, x, r) } // movq xmm, r64
func (a *asm) movqRX(r, x reg) { a.opRR(0x66, true, []byte{0x0f, 0x7e}, x, r) } // movq r64, xmm
func (a *asm) sseRR(prefix, op byte, dst, src reg) {
	a.opRR(prefix, false, []byte{0x0f, op}, dst, src)
}
func (a *asm) ucomisdRM(x reg, mm mem) { a.opRM(0x66, false, []byte{0x0f, 0x2e}, x, mm) }
func (a *asm) subsdRM(x reg, mm mem)   { a.opRM(0xf2, false, []byte{0x0f, 0x5c}, x, mm) }
func (a *asm) cvtsi2sd(x, r reg)       { a.opRR(0xf2, true, []byte{0x0f, 0x2a}, x, r) }
func (a *asm) cvttsd2si(r, x reg)      { a.opRR(0xf2, true, []byte{0x0f, 0x2c}, r, x) }

const (
	sseAdd  = 0x58
	sseMul  = 0x59
	sseSub  = 0x5c
	sseDiv  = 0x5e
	sseUcom = 0x2e // with prefix 0x66
)
