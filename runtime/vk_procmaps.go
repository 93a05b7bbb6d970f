//go:build velocity

// Velocity kernel: /proc/self/maps, the program's mappings in Linux's
// format. runtime/pprof reads it to name the executable's text mapping
// in every profile it writes (its tests fail without it), and debuggers
// and tools read it to learn the address space.
//
// The text is generated from the mapping list when the file is opened,
// into one kernel buffer that the file's entry points at, so an fd
// opened earlier reads the newest snapshot (Linux regenerates the text
// on every read; it also changes under a reader). Adjacent anonymous
// mappings with the same permissions are merged into one line, as Linux
// merges such VMAs. The kernel image's PT_LOAD segments are named by the
// program's path (exe=, /proc/self/exe) with their file offsets, so
// pprof can match addresses to the binary. A list longer than the
// buffer is cut at a line boundary and the cut is logged once.
//
// Trap context with the kernel lock held (openat): no allocation, no
// write barriers.

package runtime

import "unsafe"

var vkProcMaps struct {
	buf    [32 << 10]byte
	n      int
	ent    int // index in vkFS.ents, -1 when the archive has its own
	logged bool
}

// vkFSAddProcMaps adds /proc/self/maps to the read-only file system at
// boot, empty until its first open.
func vkFSAddProcMaps() {
	const name = "proc/self/maps"
	vkProcMaps.ent = -1
	if vkLookup(unsafe.Slice(unsafe.StringData(name), len(name))) >= 0 || vkFS.n >= vkMaxFSEnts {
		return
	}
	vkProcMaps.ent = vkFS.n
	vkFS.ents[vkFS.n] = vkFSEnt{
		name:    uintptr(unsafe.Pointer(unsafe.StringData(name))),
		nameLen: len(name),
		mode:    sIFREG | 0o444,
		data:    uintptr(unsafe.Pointer(&vkProcMaps.buf[0])),
	}
	vkFS.n++
}

// vkProcMapsOpened regenerates the text if idx is /proc/self/maps.
func vkProcMapsOpened(idx int) {
	m := &vkProcMaps
	if idx < 0 || idx != m.ent {
		return
	}
	vkAssertHeld(&vkBKL)
	m.n = 0
	var run vkMapsRun
	for i := 0; i < vkVM.n; i++ {
		v := &vkVM.vmas[i]
		prot := v.prot & (protRead | protWrite | protExec)
		if seg := vkImageSegment(v.start, v.end); seg >= 0 {
			run.flush()
			vkProcMapsLine(v.start, v.end, prot, vkImage.segs[seg].off, true)
			continue
		}
		if run.end == v.start && run.prot == prot {
			run.end = v.end
			continue
		}
		run.flush()
		run = vkMapsRun{v.start, v.end, prot}
	}
	run.flush()
	vkFS.ents[m.ent].size = int64(m.n)
}

// vkMapsRun is a run of adjacent anonymous mappings with one protection.
type vkMapsRun struct {
	start, end uintptr
	prot       uint32
}

func (r *vkMapsRun) flush() {
	if r.end > r.start {
		vkProcMapsLine(r.start, r.end, r.prot, 0, false)
	}
	*r = vkMapsRun{}
}

// vkImageSegment returns the image segment spanning exactly [start, end),
// or -1.
func vkImageSegment(start, end uintptr) int {
	for i := 0; i < vkImage.n; i++ {
		if s := &vkImage.segs[i]; s.start == start && s.end == end {
			return i
		}
	}
	return -1
}

// vkProcMapsLine appends one line: "start-end perms offset dev inode path".
func vkProcMapsLine(start, end uintptr, prot uint32, off uintptr, image bool) {
	var line [96]byte
	n := vkPutHex(line[:], 0, uint64(start), 8)
	line[n] = '-'
	n = vkPutHex(line[:], n+1, uint64(end), 8)
	line[n] = ' '
	n++
	for _, p := range [3]struct {
		bit uint32
		c   byte
	}{{protRead, 'r'}, {protWrite, 'w'}, {protExec, 'x'}} {
		line[n] = '-'
		if prot&p.bit != 0 {
			line[n] = p.c
		}
		n++
	}
	line[n], line[n+1] = 'p', ' '
	n = vkPutHex(line[:], n+2, uint64(off), 8)
	var path []byte
	ino := uint64(0)
	if image {
		path = vkProcMapsExe()
		// The same device and inode fstat gives the program's file
		// (vkFSAddExe puts it in the archive's file system).
		if len(path) > 1 {
			if idx := vkLookup(path[1:]); idx >= 0 {
				ino = uint64(idx + 3)
			}
		}
		n += copy(line[n:], " 56:01 ")
	} else {
		n += copy(line[n:], " 00:00 ")
	}
	n = vkPutDec(line[:], n, ino)
	m := &vkProcMaps
	// Linux pads a named line so the path starts in column 74.
	pad := 0
	if path != nil {
		pad = 1
		if n < 73 {
			pad = 73 - n
		}
	}
	need := n + pad + len(path) + 1
	if m.n+need > len(m.buf) {
		if !m.logged {
			m.logged = true
			vkPrint("velocity: /proc/self/maps: more mappings than its 32 KiB buffer holds; the list is cut\n")
		}
		return
	}
	m.n += copy(m.buf[m.n:], line[:n])
	for ; pad > 0; pad-- {
		m.buf[m.n] = ' '
		m.n++
	}
	m.n += copy(m.buf[m.n:], path)
	m.buf[m.n] = '\n'
	m.n++
}

// vkProcMapsExe is the program's path: exe= when velocity passed it (as
// /proc/self/exe and os.Args[0] say), else os.Args[0]'s default.
func vkProcMapsExe() []byte {
	if vkArgs.exe != 0 {
		exe := vkArgs.buf[vkArgs.exe:]
		return exe[:vkCStringLen(exe)]
	}
	const def = "/velocity"
	return unsafe.Slice(unsafe.StringData(def), len(def))
}

// vkPutHex writes v in lower-case hex, at least min digits, at b[i:], and
// returns the index after it.
func vkPutHex(b []byte, i int, v uint64, min int) int {
	var tmp [16]byte
	k := len(tmp)
	for v != 0 || len(tmp)-k < min {
		k--
		tmp[k] = "0123456789abcdef"[v&15]
		v >>= 4
	}
	return i + copy(b[i:], tmp[k:])
}

// vkPutDec writes v in decimal at b[i:] and returns the index after.
func vkPutDec(b []byte, i int, v uint64) int {
	var tmp [20]byte
	k := len(tmp)
	for {
		k--
		tmp[k] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return i + copy(b[i:], tmp[k:])
}
