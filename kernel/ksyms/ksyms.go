// Package ksyms finds where the kernel's own variables lie, from the
// kernel ELF's symbol table, so that system calls can refuse user
// pointers into them (runtime/vk_guard.go).
//
// Velocity's kernel is package runtime's vk* code, linked into the
// program: its tables (threads, files, /tmp, sockets, timers) are Go
// globals in the same image and the same address space as the program's
// own globals. A system call handed a pointer into one of them, by a bug
// or on purpose, would read or overwrite kernel state on the program's
// behalf: read(fd, &vkNet, n) with a stray pointer used to corrupt the
// socket table, and the machine with it. Linux keeps its data above the
// user half, so the same call there fails with EFAULT; with the ranges
// this package finds, so does Velocity's.
//
// The same files are compiled twice: here, as an ordinary package with
// host tests and a fuzz target, and inside package runtime, where
// internal/build copies them into the overlay with the package clause
// rewritten (as for kernel/pathwalk). So the code obeys the kernel's
// boot-time rules: it imports nothing, never allocates (the caller passes
// the array for the result), keeps no pointers in its types, and every
// top-level identifier starts with "ks" so it cannot collide with the
// runtime's. The ELF is input like any other: every offset and size read
// from it is checked against the image before use, and a bad table is an
// error, never a fault.
package ksyms

// ksRange is the address range [start, end).
type ksRange struct {
	start, end uintptr
}

// ELF constants used here.
const (
	ksEhdrSize   = 64 // ELF64 header
	ksShdrSize   = 64 // ELF64 section header
	ksSymSize    = 24 // ELF64 symbol
	ksSHTSymtab  = 2
	ksSTTObject  = 1
	ksClass64    = 2
	ksDataLittle = 1
)

func ksU16(b []byte, off uint64) uint64 {
	return uint64(b[off]) | uint64(b[off+1])<<8
}

func ksU32(b []byte, off uint64) uint64 {
	return ksU16(b, off) | ksU16(b, off+2)<<16
}

func ksU64(b []byte, off uint64) uint64 {
	return ksU32(b, off) | ksU32(b, off+4)<<32
}

// ksInside reports whether [off, off+n) lies within a buffer of size
// total, without overflowing.
func ksInside(off, n, total uint64) bool {
	return off <= total && n <= total-off
}

// ksObjects reads the symbol table of the ELF64 little-endian image elf
// and stores in out the address ranges of its data objects (STT_OBJECT,
// size > 0) whose names start with prefix: sorted by address, with ranges
// that overlap or touch merged into one. It returns how many ranges it
// stored, and an error message, "" when it succeeded. An image without a
// symbol table (linked with -s) is an error: the caller says that its
// kernel runs unguarded.
func ksObjects(elf []byte, prefix string, out []ksRange) (int, string) {
	size := uint64(len(elf))
	if size < ksEhdrSize || elf[0] != 0x7f || elf[1] != 'E' || elf[2] != 'L' || elf[3] != 'F' {
		return 0, "not an ELF image"
	}
	if elf[4] != ksClass64 || elf[5] != ksDataLittle {
		return 0, "not a 64-bit little-endian ELF image"
	}
	shoff, shentsize, shnum := ksU64(elf, 0x28), ksU16(elf, 0x3a), ksU16(elf, 0x3c)
	if shoff == 0 || shnum == 0 {
		return 0, "the ELF image has no section headers"
	}
	if shentsize < ksShdrSize || !ksInside(shoff, shnum*shentsize, size) {
		return 0, "the ELF section headers lie outside the image"
	}
	found := false
	n := 0
	for i := uint64(0); i < shnum; i++ {
		sh := shoff + i*shentsize
		if ksU32(elf, sh+4) != ksSHTSymtab {
			continue
		}
		found = true
		symOff, symSize, link, entsize := ksU64(elf, sh+0x18), ksU64(elf, sh+0x20), ksU32(elf, sh+0x28), ksU64(elf, sh+0x38)
		if entsize < ksSymSize || !ksInside(symOff, symSize, size) {
			return 0, "the ELF symbol table lies outside the image"
		}
		if link >= shnum {
			return 0, "the ELF symbol table names no string table"
		}
		str := shoff + link*shentsize
		strOff, strSize := ksU64(elf, str+0x18), ksU64(elf, str+0x20)
		if !ksInside(strOff, strSize, size) {
			return 0, "the ELF string table lies outside the image"
		}
		// Entry 0 is the reserved undefined symbol.
		for s := symOff + entsize; s+ksSymSize <= symOff+symSize; s += entsize {
			value, length := ksU64(elf, s+8), ksU64(elf, s+16)
			if elf[s+4]&0xf != ksSTTObject || length == 0 {
				continue
			}
			name := ksU32(elf, s)
			if !ksInside(name, uint64(len(prefix)), strSize) || !ksNamed(elf[strOff+name:strOff+strSize], prefix) {
				continue
			}
			if value+length < value || uint64(uintptr(value+length)) != value+length {
				return 0, "an ELF symbol's range wraps around the address space"
			}
			var ok bool
			if n, ok = ksInsert(out, n, ksRange{uintptr(value), uintptr(value + length)}); !ok {
				return 0, "the ELF image has more kernel objects than the guard holds"
			}
		}
	}
	if !found {
		return 0, "the ELF image has no symbol table (linked with -s?)"
	}
	return n, ""
}

// ksNamed reports whether the NUL-terminated name at the start of b
// begins with prefix. A name that runs off the end of its string table
// (no NUL) names nothing.
func ksNamed(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if b[i] != prefix[i] {
			return false
		}
	}
	for _, c := range b[len(prefix):] {
		if c == 0 {
			return true
		}
	}
	return false
}

// ksInsert adds r to the n sorted, disjoint, non-touching ranges in out,
// merging it with those it overlaps or touches, and returns the new count;
// false when a new slot was needed and out is full.
func ksInsert(out []ksRange, n int, r ksRange) (int, bool) {
	// i: the first range that ends at or after r's start (it may merge).
	i := 0
	for i < n && out[i].end < r.start {
		i++
	}
	// j: one past the last range that starts at or before r's end.
	j := i
	for j < n && out[j].start <= r.end {
		if out[j].start < r.start {
			r.start = out[j].start
		}
		if out[j].end > r.end {
			r.end = out[j].end
		}
		j++
	}
	if j == i { // nothing to merge: a new slot at i
		if n == len(out) {
			return n, false
		}
		copy(out[i+1:n+1], out[i:n])
		out[i] = r
		return n + 1, true
	}
	// out[i:j] become the single range r.
	out[i] = r
	copy(out[i+1:], out[j:n])
	return n - (j - i - 1), true
}

// ksFind reports whether [start, end) overlaps one of the n sorted,
// disjoint ranges in r (a binary search: it runs on every user pointer a
// system call checks).
func ksFind(r []ksRange, n int, start, end uintptr) bool {
	if end <= start {
		return false
	}
	lo, hi := 0, n // the first range with end > start is in [lo, hi]
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r[m].end <= start {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < n && r[lo].start < end
}
