package patch

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// Len is the size of the patch range at a function's entry: one JMP rel32.
const Len = 5

// siteInfo is what decoding the code around a patch site established.
type siteInfo struct {
	// inner are the offsets in (0, Len) where an instruction starts: a
	// thread can be stopped there, between two instructions of the range.
	inner []int
	// first is the length of the instruction at the entry.
	first int
}

// analyze decodes code (the bytes of [lo, lo+len(code))) linearly from its
// start and checks that the entry at offset off is a site the patcher can
// rewrite safely:
//   - off is an instruction boundary;
//   - no direct branch anywhere in code targets bytes 1..4 of the range:
//     after the patch they hold the JMP's displacement, and a branch there
//     would execute it as opcodes.
//
// The range need not end on an instruction boundary: in a gc prologue the
// 2-byte JLS after the 4-byte CMPQ spans bytes 4 and 5. The JMP then leaves
// a torn tail (byte 5 on) that nothing executes, since no branch targets
// the inside of an instruction and no thread enters the range except at
// byte 0 once the placeholder is in. What remains is a thread stopped at an
// inner boundary (byte 4 there), recorded in inner for the caller: the
// kernel refuses while one is there, the host keeps that byte unchanged.
//
// Indirect branches cannot be checked; gc never makes one into a function's
// prologue (its jump tables serve switch bodies), and the JIT emits none.
// Code with bytes x86asm cannot decode is refused rather than guessed at.
func analyze(code []byte, lo uintptr, off int) (siteInfo, error) {
	var info siteInfo
	if off < 0 || off+Len > len(code) {
		return info, fmt.Errorf("patch: entry %#x: the code region [%#x, %#x) does not hold %d bytes from the entry", lo+uintptr(off), lo, lo+uintptr(len(code)), Len)
	}
	boundary := map[int]bool{}
	type branch struct{ from, to int }
	var branches []branch
	for pc := 0; pc < len(code); {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil {
			return info, fmt.Errorf("patch: cannot decode the instruction at %#x (+%#x from the region start): %v", lo+uintptr(pc), pc, err)
		}
		boundary[pc] = true
		if pc == off {
			info.first = inst.Len
		}
		for _, a := range inst.Args {
			if r, ok := a.(x86asm.Rel); ok {
				branches = append(branches, branch{pc, pc + inst.Len + int(r)})
			}
		}
		pc += inst.Len
	}
	boundary[len(code)] = true
	entry := lo + uintptr(off)
	if !boundary[off] {
		return info, fmt.Errorf("patch: entry %#x is not an instruction boundary of the decoded code", entry)
	}
	for i := 1; i < Len; i++ {
		if boundary[off+i] {
			info.inner = append(info.inner, i)
		}
	}
	for _, b := range branches {
		if b.to > off && b.to < off+Len {
			return info, fmt.Errorf("patch: entry %#x: the branch at %#x targets byte %d of the patch range, which would hold the JMP's displacement", entry, lo+uintptr(b.from), b.to-off)
		}
	}
	return info, nil
}

// jmpRel32 encodes JMP rel32 at from to to, or reports that it cannot
// reach (more than ±2 GiB away).
func jmpRel32(from, to uintptr) ([Len]byte, error) {
	d := int64(to) - int64(from+Len)
	if d != int64(int32(d)) {
		return [Len]byte{}, fmt.Errorf("patch: a JMP rel32 at %#x cannot reach %#x (%d bytes away)", from, to, d)
	}
	return [Len]byte{0xE9, byte(d), byte(d >> 8), byte(d >> 16), byte(d >> 24)}, nil
}

// jmpTarget decodes a JMP rel32 at from, returning its target.
func jmpTarget(from uintptr, b [Len]byte) (uintptr, bool) {
	if b[0] != 0xE9 {
		return 0, false
	}
	d := int32(uint32(b[1]) | uint32(b[2])<<8 | uint32(b[3])<<16 | uint32(b[4])<<24)
	return uintptr(int64(from+Len) + int64(d)), true
}
