package cmsg

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

// hdr is a struct cmsghdr with cmsg_len l.
func hdr(l uint64, level, typ int32) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, l)
	binary.LittleEndian.PutUint32(b[8:], uint32(level))
	binary.LittleEndian.PutUint32(b[12:], uint32(typ))
	return b
}

// msg is a well-formed message with data, padded to CMSG_SPACE.
func msg(level, typ int32, data []byte) []byte {
	b := append(hdr(uint64(16+len(data)), level, typ), data...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

func fds(n int) []byte {
	b := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(i+3))
	}
	return b
}

func ucred(pid int32, uid, gid uint32) []byte {
	b := make([]byte, 12)
	binary.LittleEndian.PutUint32(b, uint32(pid))
	binary.LittleEndian.PutUint32(b[4:], uid)
	binary.LittleEndian.PutUint32(b[8:], gid)
	return b
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// walk runs cmNext over buf as the kernel does and returns the messages,
// the descriptors and the errno.
func walk(t *testing.T, buf []byte) ([]cmMsg, []int32, int) {
	t.Helper()
	var ms []cmMsg
	var fs []int32
	for off := 0; ; {
		m, e := cmNext(buf, off, len(fs))
		if e != 0 {
			return ms, fs, e
		}
		if m.kind == cmEnd {
			return ms, fs, 0
		}
		for j := 0; j < m.fds; j++ {
			fs = append(fs, cmFD(buf, m, j))
		}
		ms = append(ms, m)
		if m.next <= off {
			t.Fatalf("no progress at %d", off)
		}
		off = m.next
	}
}

func TestWalk(t *testing.T) {
	for _, tc := range []struct {
		name  string
		buf   []byte
		kinds []int
		nfds  int
		errno int
	}{
		{"empty", nil, nil, 0, 0},
		{"shorter than a header", make([]byte, 15), nil, 0, 0},
		{"one fd", msg(1, 1, fds(1)), []int{cmFDs}, 1, 0},
		{"one fd unpadded", msg(1, 1, fds(1))[:20], []int{cmFDs}, 1, 0},
		{"no fds", msg(1, 1, nil), []int{cmFDs}, 0, 0},
		{"fd count rounds down", cat(hdr(16+7, 1, 1), fds(2)), []int{cmFDs}, 1, 0},
		{"253 fds", msg(1, 1, fds(253)), []int{cmFDs}, 253, 0},
		{"254 fds", msg(1, 1, fds(254)), nil, 0, cmEINVAL},
		{"253 fds in two", cat(msg(1, 1, fds(200)), msg(1, 1, fds(53))), []int{cmFDs, cmFDs}, 253, 0},
		{"254 fds in two", cat(msg(1, 1, fds(200)), msg(1, 1, fds(54))), []int{cmFDs}, 200, cmEINVAL},
		{"credentials", msg(1, 2, ucred(1, 0, 0)), []int{cmCred}, 0, 0},
		{"credentials short", msg(1, 2, ucred(1, 0, 0)[:8]), nil, 0, cmEINVAL},
		{"credentials long", msg(1, 2, append(ucred(1, 0, 0), 0, 0, 0, 0)), nil, 0, cmEINVAL},
		{"unknown SOL_SOCKET type", msg(1, 3, fds(1)), nil, 0, cmEINVAL},
		{"other level skipped", msg(0, 99, []byte{1, 2, 3}), []int{cmOther}, 0, 0},
		{"other level then fds", cat(msg(41, 50, fds(1)), msg(1, 1, fds(2))), []int{cmOther, cmFDs}, 2, 0},
		{"cmsg_len below header", hdr(15, 1, 1), nil, 0, cmEINVAL},
		{"cmsg_len 0", hdr(0, 0, 0), nil, 0, cmEINVAL},
		{"cmsg_len past buffer", hdr(17, 1, 1), nil, 0, cmEINVAL},
		{"cmsg_len huge", hdr(1<<63, 0, 0), nil, 0, cmEINVAL},
		{"other level checked too", hdr(8, 0, 0), nil, 0, cmEINVAL},
		{"bad second message", cat(msg(1, 1, fds(1)), hdr(4, 1, 1)), []int{cmFDs}, 1, cmEINVAL},
		{"short tail ignored", cat(msg(1, 1, fds(1)), make([]byte, 15)), []int{cmFDs}, 1, 0},
		{"zero tail is a bad header", cat(msg(1, 1, fds(1)), make([]byte, 16)), []int{cmFDs}, 1, cmEINVAL},
	} {
		ms, fs, e := walk(t, tc.buf)
		var kinds []int
		for _, m := range ms {
			kinds = append(kinds, m.kind)
		}
		if e != tc.errno || len(fs) != tc.nfds || !slices.Equal(kinds, tc.kinds) {
			t.Errorf("%s: kinds %v, %d fds, errno %d; want %v, %d, %d", tc.name, kinds, len(fs), e, tc.kinds, tc.nfds, tc.errno)
		}
		for i, fd := range fs {
			if want := int32(i%253 + 3); tc.name != "253 fds in two" && fd != want {
				t.Errorf("%s: fd %d is %d, want %d", tc.name, i, fd, want)
			}
		}
	}
}

func TestFields(t *testing.T) {
	buf := cat(msg(1, 1, fds(3)), msg(1, 2, ucred(-5, 1000, 0xfffffffe)))
	m, e := cmNext(buf, 0, 0)
	if e != 0 || m.kind != cmFDs || m.level != 1 || m.typ != 1 || m.data != 16 || m.n != 12 || m.fds != 3 || m.next != 32 {
		t.Fatalf("first message %+v errno %d", m, e)
	}
	if cmFD(buf, m, 0) != 3 || cmFD(buf, m, 2) != 5 {
		t.Errorf("fds %d %d", cmFD(buf, m, 0), cmFD(buf, m, 2))
	}
	m, e = cmNext(buf, m.next, 3)
	if e != 0 || m.kind != cmCred || m.data != 48 || m.n != 12 || m.next != 64 {
		t.Fatalf("second message %+v errno %d", m, e)
	}
	if pid, uid, gid := cmUcred(buf, m); pid != -5 || uid != 1000 || gid != 0xfffffffe {
		t.Errorf("ucred %d %d %d", pid, uid, gid)
	}
	if m, e = cmNext(buf, m.next, 3); e != 0 || m.kind != cmEnd {
		t.Errorf("after the last message: %+v errno %d", m, e)
	}
	// An offset out of range ends the walk rather than reading past it.
	for _, off := range []int{-1, len(buf) + 1, 1 << 40} {
		if m, e := cmNext(buf, off, 0); e != 0 || m.kind != cmEnd {
			t.Errorf("cmNext at %d: %+v errno %d", off, m, e)
		}
	}
}

// TestRightsOut checks recvmsg's layout against Linux's scm_detach_fds:
// a 20-byte buffer (CMSG_LEN(4)) holds one fd and is used in full,
// CMSG_SPACE(4) = 24 likewise, CMSG_LEN(8) = 24 holds two, and 16 bytes
// or fewer hold none.
func TestRightsOut(t *testing.T) {
	for _, tc := range []struct{ space, max int }{{0, 0}, {16, 0}, {17, 0}, {19, 0}, {20, 1}, {24, 2}, {27, 2}, {28, 3}, {1 << 20, (1<<20 - 16) / 4}} {
		if got := cmRightsMax(tc.space); got != tc.max {
			t.Errorf("cmRightsMax(%d) = %d, want %d", tc.space, got, tc.max)
		}
	}
	for _, tc := range []struct{ k, space, clen, used int }{
		{1, 20, 20, 20}, {1, 24, 20, 24}, {1, 100, 20, 24}, {2, 24, 24, 24}, {3, 28, 28, 28}, {3, 64, 28, 32},
	} {
		if clen, used := cmRightsFit(tc.k, tc.space); clen != tc.clen || used != tc.used {
			t.Errorf("cmRightsFit(%d, %d) = %d %d, want %d %d", tc.k, tc.space, clen, used, tc.clen, tc.used)
		}
	}
	b := make([]byte, 24)
	cmPutHdr(b, 20, 1, 1)
	if want := hdr(20, 1, 1); !bytes.Equal(b[:16], want) {
		t.Errorf("cmPutHdr wrote % x, want % x", b[:16], want)
	}
}

func TestNoAllocation(t *testing.T) {
	buf := cat(msg(1, 1, fds(3)), msg(0, 7, nil), msg(1, 2, ucred(1, 0, 0)))
	n := testing.AllocsPerRun(100, func() {
		for off, have := 0, 0; ; {
			m, e := cmNext(buf, off, have)
			if e != 0 || m.kind == cmEnd {
				break
			}
			for j := 0; j < m.fds; j++ {
				have += int(cmFD(buf, m, j)) & 0
				have++
			}
			if m.kind == cmCred {
				cmUcred(buf, m)
			}
			off = m.next
		}
		l, _ := cmRightsFit(1, cmRightsMax(len(buf)))
		cmPutHdr(buf[64:], l, 1, 1)
	})
	if n != 0 {
		t.Errorf("the walk allocates %v times", n)
	}
}

type refMsg struct {
	level, typ int32
	data       []byte
}

// refWalk is __scm_send's loop transcribed with the CMSG macros of
// Linux's include/linux/socket.h, over a copy of the buffer, for the
// fuzz target to compare against.
func refWalk(ctl []byte) (msgs []refMsg, fds []int32, errno int) {
	size := uint64(len(ctl))
	const hdrSize = 16
	align := func(l uint64) uint64 { return (l + 7) &^ 7 }
	if size < hdrSize { // CMSG_FIRSTHDR
		return nil, nil, 0
	}
	for cm := uint64(0); ; {
		l := binary.LittleEndian.Uint64(ctl[cm:])
		level := int32(binary.LittleEndian.Uint32(ctl[cm+8:]))
		typ := int32(binary.LittleEndian.Uint32(ctl[cm+12:]))
		if !(size >= hdrSize && l >= hdrSize && l <= size-cm) { // CMSG_OK
			return msgs, fds, 22
		}
		data := ctl[cm+hdrSize : cm+l]
		if level == 1 {
			switch typ {
			case 1: // scm_fp_copy
				num := int((l - hdrSize) / 4)
				if num > 0 {
					if num > 253 || len(fds)+num > 253 {
						return msgs, fds, 22
					}
					for i := 0; i < num; i++ {
						fds = append(fds, int32(binary.LittleEndian.Uint32(data[4*i:])))
					}
				}
			case 2:
				if l != hdrSize+12 {
					return msgs, fds, 22
				}
			default:
				return msgs, fds, 22
			}
		}
		msgs = append(msgs, refMsg{level, typ, data})
		// CMSG_NXTHDR
		next := cm + align(l)
		if next+hdrSize > size {
			return msgs, fds, 0
		}
		cm = next
	}
}

// FuzzNext walks buf with cmNext and checks every message is inside the
// buffer, the walk moves forward on 8-byte boundaries, and the messages,
// descriptors and errno are refWalk's. space and k exercise recvmsg's
// layout: what cmRightsFit lays out fits, and cmNext reads it back.
func FuzzNext(f *testing.F) {
	f.Add(cat(msg(1, 1, fds(2)), msg(1, 2, ucred(1, 0, 0))), 24, 1)
	f.Add(cat(msg(0, 1, []byte("x")), msg(1, 1, fds(1))[:20]), 20, 1)
	f.Add(hdr(15, 1, 1), 16, 0)
	f.Add(msg(1, 1, fds(254)), 1100, 253)
	f.Fuzz(func(t *testing.T, buf []byte, space, k int) {
		var ms []refMsg
		var fs []int32
		e := 0
		for off := 0; ; {
			m, err := cmNext(buf, off, len(fs))
			if err != 0 {
				if err != cmEINVAL || m != (cmMsg{}) {
					t.Fatalf("at %d: errno %d with %+v", off, err, m)
				}
				e = err
				break
			}
			if m.kind == cmEnd {
				if len(buf)-off >= cmHdrLen {
					t.Fatalf("walk ended at %d with %d bytes left", off, len(buf)-off)
				}
				break
			}
			if m.data != off+cmHdrLen || m.n < 0 || m.data+m.n > len(buf) ||
				m.next <= off || m.next > len(buf) || m.next != len(buf) && m.next%8 != 0 ||
				m.fds < 0 || 4*m.fds > m.n || len(fs)+m.fds > cmSCMMaxFD {
				t.Fatalf("message at %d out of bounds: %+v, buffer %d bytes", off, m, len(buf))
			}
			if (m.kind == cmFDs) != (m.level == 1 && m.typ == 1) || (m.kind == cmCred) != (m.level == 1 && m.typ == 2) ||
				m.kind == cmCred && m.n != 12 || m.kind != cmFDs && m.fds != 0 {
				t.Fatalf("message at %d misclassified: %+v", off, m)
			}
			for j := 0; j < m.fds; j++ {
				fs = append(fs, cmFD(buf, m, j))
			}
			if m.kind == cmCred {
				cmUcred(buf, m)
			}
			ms = append(ms, refMsg{m.level, m.typ, buf[m.data : m.data+m.n]})
			off = m.next
		}
		wm, wf, we := refWalk(buf)
		if e != we || len(ms) != len(wm) || len(fs) != len(wf) {
			t.Fatalf("%d messages, %d fds, errno %d; reference %d, %d, %d", len(ms), len(fs), e, len(wm), len(wf), we)
		}
		for i := range ms {
			if ms[i].level != wm[i].level || ms[i].typ != wm[i].typ || !bytes.Equal(ms[i].data, wm[i].data) {
				t.Fatalf("message %d: %+v, reference %+v", i, ms[i], wm[i])
			}
		}
		for i := range fs {
			if fs[i] != wf[i] {
				t.Fatalf("fd %d: %d, reference %d", i, fs[i], wf[i])
			}
		}

		// recvmsg's side: k descriptors into space bytes.
		if space < 0 || space > 1<<16 {
			space &= 1<<16 - 1
		}
		max := cmRightsMax(space)
		if max < 0 || max > 0 && cmHdrLen+4*max > space {
			t.Fatalf("cmRightsMax(%d) = %d", space, max)
		}
		if k < 1 || k > max || k > cmSCMMaxFD {
			return
		}
		clen, used := cmRightsFit(k, space)
		if clen != cmHdrLen+4*k || used < clen || used > space || used != space && used%8 != 0 {
			t.Fatalf("cmRightsFit(%d, %d) = %d %d", k, space, clen, used)
		}
		out := make([]byte, space)
		cmPutHdr(out, clen, 1, 1)
		copy(out[16:], fds(k))
		m, err := cmNext(out[:used], 0, 0)
		if err != 0 || m.kind != cmFDs || m.fds != k || cmFD(out, m, k-1) != int32(k+2) {
			t.Fatalf("the layout of %d fds in %d bytes reads back as %+v errno %d", k, space, m, err)
		}
	})
}
