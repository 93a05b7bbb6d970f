// Package cpio indexes the newc cpio archive that carries an image's
// files (appended to the kernel ELF by internal/build; served in place by
// runtime/vk_fs.go). It reads one header at a time and reports where the
// entry's name and data are, as offsets into the archive: the kernel keeps
// the archive where the boot loader put it and copies nothing.
//
// The same files are compiled twice, as kernel/gdbproto is: here, as an
// ordinary package with host tests and a fuzz target, and inside package
// runtime, where internal/build copies them into the overlay with the
// package clause rewritten. So the code keeps the kernel's rules: it
// imports nothing, never allocates, keeps no pointers in its types, and
// every top-level identifier starts with "cpio" so it cannot collide with
// the runtime's. Errors are constant strings, ready for vkFatal.
package cpio

// cpioHeaderSize is the size of a newc header: the magic "070701" and
// thirteen 8-digit hex fields.
const cpioHeaderSize = 110

// cpioEnt is one archive entry, as offsets into the archive.
type cpioEnt struct {
	nameOff int // the path, without leading '/' and without the NUL
	nameLen int // 0 for the root itself ("/" or "")
	mode    uint32
	size    int64
	dataOff int
	mtime   int64
}

// cpioAlign rounds an offset up to 4 bytes: newc pads names and data to
// 4 bytes from the start of the archive.
func cpioAlign(off int) int { return (off + 3) &^ 3 }

// cpioNext reads the entry whose header is at off in ar. It returns the
// entry and the offset of the next header; trailer reports the
// "TRAILER!!!" entry that ends the archive. Names longer than nameMax
// bytes (with the NUL) are errors, as are a bad magic, bad hex, an entry
// that runs past the end of ar, and an archive without a trailer. msg is
// "" when there is no error.
func cpioNext(ar []byte, off, nameMax int) (e cpioEnt, next int, trailer bool, msg string) {
	if off < 0 || off > len(ar) || len(ar)-off < cpioHeaderSize {
		return e, 0, false, "file system archive: no TRAILER!!! entry"
	}
	h := ar[off : off+cpioHeaderSize]
	if string(h[:6]) != "070701" {
		return e, 0, false, "file system archive: bad cpio header (not newc)"
	}
	mode, ok1 := cpioHex8(h[14:22])
	mtime, ok2 := cpioHex8(h[46:54])
	size, ok3 := cpioHex8(h[54:62])
	nameSize, ok4 := cpioHex8(h[94:102])
	if !(ok1 && ok2 && ok3 && ok4) || nameSize < 1 || nameSize > int64(nameMax) {
		return e, 0, false, "file system archive: bad cpio header field"
	}
	name := off + cpioHeaderSize
	data := cpioAlign(name + int(nameSize))
	if data > len(ar) || int64(len(ar)-data) < size {
		return e, 0, false, "file system archive: truncated"
	}
	nl := int(nameSize) - 1
	if string(ar[name:name+nl]) == "TRAILER!!!" {
		return e, 0, true, ""
	}
	for nl > 0 && ar[name] == '/' {
		name++
		nl--
	}
	e = cpioEnt{nameOff: name, nameLen: nl, mode: uint32(mode), size: size, dataOff: data, mtime: mtime}
	return e, cpioAlign(data + int(size)), false, ""
}

// cpioHex8 reads an 8-digit hex field.
func cpioHex8(b []byte) (int64, bool) {
	v := int64(0)
	for _, c := range b[:8] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
