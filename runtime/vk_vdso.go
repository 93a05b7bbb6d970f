//go:build velocity

// Velocity kernel: a vDSO, so the Go runtime reads the clock without a
// system call.
//
// The runtime finds __vdso_clock_gettime through the auxiliary vector
// (AT_SYSINFO_EHDR), exactly as on Linux. The "shared object" is a minimal
// ELF image the kernel writes at boot: headers, a dynamic section, a hash
// table, one versioned symbol. The symbol points at vkVDSOClockGettime, an
// assembly function in the kernel image that reads the TSC and scales it
// with the boot-time calibration: everything runs at CPL 0 in one address
// space, so no page needs mapping.

package runtime

import "unsafe"

// Read by vkVDSOClockGettime (vk_entry_amd64.s).
var (
	vkVDSOMult    uint64 // = vkClock.tscMult
	vkVDSOWallOff int64  // realtime - monotonic, in ns
)

func vkVDSOClockGettimePC() uintptr

var vkVDSOImage struct {
	_ [0]uint64 // 8-byte alignment
	b [1024]byte
}

// vkVDSOBuild writes the image and returns its address for AT_SYSINFO_EHDR.
func vkVDSOBuild() uintptr {
	vkVDSOMult = vkClock.tscMult
	vkVDSOWallOff = vkClock.rtcUnixNs - vkClock.rtcMonoNs
	b := vkVDSOImage.b[:]
	base := uintptr(unsafe.Pointer(&b[0]))
	const (
		phoff   = 64
		dynOff  = phoff + 2*56
		hashOff = dynOff + 8*16
		symOff  = hashOff + 16
		strOff  = symOff + 2*24
		verOff  = strOff + 64 // versym: 2 × u16
		vdefOff = verOff + 8  // two verdefs (20 bytes) each with one verdaux (8 bytes)
		size    = vdefOff + 2*28
	)
	// Strings: "\0__vdso_clock_gettime\0LINUX_2.6\0velocity\0"
	strs := "\x00__vdso_clock_gettime\x00LINUX_2.6\x00velocity\x00"
	const nameSym, nameVer, nameBase = 1, 22, 32
	copy(b[strOff:], strs)

	// ELF header: 64-bit, little endian, ET_DYN, x86-64.
	copy(b[0:], "\x7fELF\x02\x01\x01")
	vkPut16(b, 16, 3)
	vkPut16(b, 18, 62)
	vkPut32(b, 20, 1)
	vkPut64(b, 32, phoff)
	vkPut16(b, 52, 64)
	vkPut16(b, 54, 56)
	vkPut16(b, 56, 2)
	// PT_LOAD covering the image, PT_DYNAMIC.
	vkPut32(b, phoff, 1)
	vkPut32(b, phoff+4, 5)
	vkPut64(b, phoff+32, size)
	vkPut64(b, phoff+40, size)
	vkPut32(b, phoff+56, 2)
	vkPut64(b, phoff+56+8, dynOff)
	vkPut64(b, phoff+56+16, dynOff)
	vkPut64(b, phoff+56+32, 8*16)
	// Dynamic section.
	dyn := [...]uint64{
		4, hashOff, // DT_HASH
		5, strOff, // DT_STRTAB
		6, symOff, // DT_SYMTAB
		10, uint64(len(strs)), // DT_STRSZ
		11, 24, // DT_SYMENT
		0x6ffffff0, verOff, // DT_VERSYM
		0x6ffffffc, vdefOff, // DT_VERDEF
		0x6ffffffd, 2, // DT_VERDEFNUM
	}
	for i, v := range dyn {
		vkPut64(b, dynOff+i*8, v)
	}
	// Hash table: one bucket holding symbol 1.
	vkPut32(b, hashOff, 1)
	vkPut32(b, hashOff+4, 2)
	vkPut32(b, hashOff+8, 1)
	// Symbol 1: global function, defined, value relative to the load address.
	s := symOff + 24
	vkPut32(b, s, nameSym)
	b[s+4] = 1<<4 | 2 // STB_GLOBAL, STT_FUNC
	vkPut16(b, s+6, 1)
	vkPut64(b, s+8, uint64(vkVDSOClockGettimePC()-base))
	// Versions: symbol 1 is LINUX_2.6 (index 2).
	vkPut16(b, verOff+2, 2)
	for i, v := range [2]struct {
		flags, ndx uint16
		hash       uint32
		name       uint32
	}{{1, 1, 0, nameBase}, {0, 2, 0x3ae75f6, nameVer}} {
		d := vdefOff + i*28
		vkPut16(b, d, 1)
		vkPut16(b, d+2, v.flags)
		vkPut16(b, d+4, v.ndx)
		vkPut16(b, d+6, 1)
		vkPut32(b, d+8, v.hash)
		vkPut32(b, d+12, 20)
		if i == 0 {
			vkPut32(b, d+16, 28)
		}
		vkPut32(b, d+20, v.name)
	}
	return base
}
