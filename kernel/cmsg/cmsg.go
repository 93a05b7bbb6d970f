// Package cmsg reads and lays out the control messages of sendmsg and
// recvmsg (msg_control) for Velocity's kernel (runtime/vk_netrights.go),
// in Linux's x86-64 layout: a 16-byte struct cmsghdr (cmsg_len as a
// 64-bit length that counts the header, then cmsg_level and cmsg_type)
// followed by the data, each message starting on an 8-byte boundary.
//
// cmNext walks a sendmsg buffer as Linux's __scm_send does, with
// CMSG_FIRSTHDR and CMSG_NXTHDR: a header that does not fit in what is
// left ends the walk, a cmsg_len shorter than the header or past the end
// of the buffer is EINVAL (CMSG_OK), messages of levels other than
// SOL_SOCKET are skipped, and of SOL_SOCKET's types only SCM_RIGHTS and
// SCM_CREDENTIALS are accepted (EINVAL otherwise, also for an
// SCM_CREDENTIALS of the wrong length or SCM_RIGHTS past SCM_MAX_FD
// descriptors in all). Taking the descriptors and checking the
// credentials is the kernel's. cmRightsFit and cmPutHdr lay out the
// SCM_RIGHTS message of recvmsg as Linux's scm_detach_fds does.
//
// The same files are compiled twice: here, as an ordinary package with
// host tests and a fuzz target, and inside package runtime, where
// internal/build copies them into the overlay with the package clause
// rewritten (as for kernel/pathwalk). So the code obeys the kernel's
// trap-context rules: it imports nothing, never allocates, keeps no
// pointers in its types, and every top-level identifier starts with "cm"
// so it cannot collide with the runtime's. The kernel hands it the
// caller's buffer as a slice over user memory it has checked.
package cmsg

// Linux's values.
const (
	cmHdrLen      = 16  // sizeof(struct cmsghdr), CMSG_LEN(0)
	cmAlign       = 8   // CMSG_ALIGN: sizeof(long)
	cmUcredLen    = 12  // sizeof(struct ucred): pid, uid, gid
	cmSCMMaxFD    = 253 // SCM_MAX_FD: descriptors in one sendmsg
	cmSolSocket   = 1   // SOL_SOCKET
	cmRights      = 1   // SCM_RIGHTS
	cmCredentials = 2   // SCM_CREDENTIALS
	cmEINVAL      = 22
)

// What a message is, as cmNext reports it.
const (
	cmEnd   = iota // no more messages
	cmOther        // a level other than SOL_SOCKET: Linux ignores it
	cmFDs          // SCM_RIGHTS: fds descriptors at data
	cmCred         // SCM_CREDENTIALS: a struct ucred at data
)

// cmMsg is one control message of a sendmsg buffer. Offsets are into the
// buffer cmNext read; data+n and next never pass its end.
type cmMsg struct {
	kind  int
	level int32
	typ   int32
	data  int // offset of the data (CMSG_DATA)
	n     int // length of the data: cmsg_len less the header
	fds   int // for cmFDs: how many descriptors, (cmsg_len-16)/4
	next  int // offset of the next header (CMSG_NXTHDR), at most len(buf)
}

// cmU32 and cmU64 read little-endian values at off, which must be in b.
func cmU32(b []byte, off int) uint32 {
	return uint32(b[off]) | uint32(b[off+1])<<8 | uint32(b[off+2])<<16 | uint32(b[off+3])<<24
}

func cmU64(b []byte, off int) uint64 {
	return uint64(cmU32(b, off)) | uint64(cmU32(b, off+4))<<32
}

// cmNext reads the message whose header is at off in buf (0 for
// CMSG_FIRSTHDR, then the previous message's next), with have
// descriptors taken by the SCM_RIGHTS messages before it. It returns the
// message, kind cmEnd once no header fits at off, or an errno (EINVAL).
// buf is read once per field, so a buffer that changes under the walk
// (another thread's memory) cannot take it past the end.
func cmNext(buf []byte, off, have int) (cmMsg, int) {
	if off < 0 || off > len(buf) || len(buf)-off < cmHdrLen {
		return cmMsg{kind: cmEnd, next: len(buf)}, 0
	}
	l := cmU64(buf, off)
	if l < cmHdrLen || l > uint64(len(buf)-off) { // CMSG_OK
		return cmMsg{}, cmEINVAL
	}
	n := int(l) - cmHdrLen
	m := cmMsg{
		kind:  cmOther,
		level: int32(cmU32(buf, off+8)),
		typ:   int32(cmU32(buf, off+12)),
		data:  off + cmHdrLen,
		n:     n,
	}
	// CMSG_NXTHDR: the next header starts at the aligned end; past the
	// buffer the walk ends there.
	m.next = len(buf)
	if a := (int(l) + cmAlign - 1) &^ (cmAlign - 1); a <= len(buf)-off {
		m.next = off + a
	}
	if m.level != cmSolSocket {
		return m, 0
	}
	switch m.typ {
	case cmRights: // scm_fp_copy
		m.kind, m.fds = cmFDs, n/4
		if m.fds > cmSCMMaxFD || have+m.fds > cmSCMMaxFD {
			return cmMsg{}, cmEINVAL
		}
	case cmCredentials:
		if n != cmUcredLen { // CMSG_LEN(sizeof(struct ucred))
			return cmMsg{}, cmEINVAL
		}
		m.kind = cmCred
	default:
		return cmMsg{}, cmEINVAL
	}
	return m, 0
}

// cmFD returns descriptor j (below m.fds) of an SCM_RIGHTS message.
func cmFD(buf []byte, m cmMsg, j int) int32 {
	return int32(cmU32(buf, m.data+4*j))
}

// cmUcred returns the struct ucred of an SCM_CREDENTIALS message.
func cmUcred(buf []byte, m cmMsg) (pid int32, uid, gid uint32) {
	return int32(cmU32(buf, m.data)), cmU32(buf, m.data+4), cmU32(buf, m.data+8)
}

// cmRightsMax is how many descriptors recvmsg can put in a control
// buffer of space bytes (Linux's scm_max_fds): none unless there is room
// past a header.
func cmRightsMax(space int) int {
	if space <= cmHdrLen {
		return 0
	}
	return (space - cmHdrLen) / 4
}

// cmRightsFit lays out recvmsg's SCM_RIGHTS message of k descriptors (at
// most cmRightsMax(space)) in space bytes, as scm_detach_fds: its
// cmsg_len (CMSG_LEN) and how much of the buffer it uses (CMSG_SPACE, or
// all there is if that is less).
func cmRightsFit(k, space int) (clen, used int) {
	clen = cmHdrLen + 4*k
	used = (clen + cmAlign - 1) &^ (cmAlign - 1)
	if used > space {
		used = space
	}
	return clen, used
}

// cmPutHdr writes a struct cmsghdr at the start of b, which must hold
// cmHdrLen bytes.
func cmPutHdr(b []byte, clen int, level, typ int32) {
	_ = b[cmHdrLen-1]
	for i := 0; i < 8; i++ {
		b[i] = byte(uint64(clen) >> (8 * i))
	}
	for i := 0; i < 4; i++ {
		b[8+i] = byte(uint32(level) >> (8 * i))
		b[12+i] = byte(uint32(typ) >> (8 * i))
	}
}
