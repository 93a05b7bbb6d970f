package gdbproto

// The amd64 register file in the order of gdbTargetXML, which is gdb's
// own amd64 order: the general registers and rip, eflags and the segment
// selectors, the x87 state, the SSE registers and mxcsr, and the fs/gs
// bases. Registers 0-16 are 8 bytes, 17-23 and the x87 control words 4,
// st0-st7 10, xmm0-xmm15 16.
const (
	gdbRegRIP    = 16
	gdbRegEflags = 17
	gdbRegCS     = 18
	gdbRegSS     = 19
	gdbRegDS     = 20
	gdbRegES     = 21
	gdbRegFS     = 22
	gdbRegGS     = 23
	gdbRegST0    = 24
	gdbRegFctrl  = 32
	gdbRegFop    = 39
	gdbRegXMM0   = 40
	gdbRegMXCSR  = 56
	gdbRegFSBase = 57
	gdbRegGSBase = 58
	gdbNumRegs   = 59
)

// gdbRegs is one CPU's registers as gdb sees them. gpr holds rax, rbx,
// rcx, rdx, rsi, rdi, rbp, rsp, r8-r15 and rip (gdb's order, not the
// hardware's); fx is an FXSAVE image holding the x87 and SSE state.
type gdbRegs struct {
	gpr    [17]uint64
	seg    [7]uint64 // eflags, cs, ss, ds, es, fs, gs
	fx     [512]byte
	fsBase uint64
	gsBase uint64
}

// gdbRegSize is the size of register n in bytes, 0 if there is none.
func gdbRegSize(n int) int {
	switch {
	case n < 0 || n >= gdbNumRegs:
		return 0
	case n <= gdbRegRIP:
		return 8
	case n <= gdbRegGS:
		return 4
	case n < gdbRegFctrl:
		return 10
	case n <= gdbRegFop:
		return 4
	case n < gdbRegMXCSR:
		return 16
	case n == gdbRegMXCSR:
		return 4
	}
	return 8
}

func gdbLE16(b []byte) uint64 { return uint64(b[0]) | uint64(b[1])<<8 }
func gdbLE32(b []byte) uint64 { return gdbLE16(b) | gdbLE16(b[2:])<<16 }

func gdbPutLE(b []byte, v uint64, n int) {
	for i := 0; i < n; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

// gdbFxWord maps the x87 control registers (fctrl..fop) to their FXSAVE
// offset and width.
func gdbFxWord(n int) (off, size int) {
	switch n - gdbRegFctrl {
	case 0:
		return 0, 2 // FCW
	case 1:
		return 2, 2 // FSW
	case 2:
		return 4, 1 // FTW, abridged: see gdbRegGet
	case 3:
		return 12, 2 // FCS
	case 4:
		return 8, 4 // FIP
	case 5:
		return 20, 2 // FDS
	case 6:
		return 16, 4 // FDP
	}
	return 6, 2 // FOP
}

// gdbRegGet writes register n's bytes (target byte order) into out and
// returns how many; 0 for an unknown register.
func (r *gdbRegs) gdbRegGet(n int, out []byte) int {
	size := gdbRegSize(n)
	if size == 0 || len(out) < size {
		return 0
	}
	for i := 0; i < size; i++ {
		out[i] = 0
	}
	switch {
	case n <= gdbRegRIP:
		gdbPutLE(out, r.gpr[n], 8)
	case n <= gdbRegGS:
		gdbPutLE(out, r.seg[n-gdbRegEflags], 4)
	case n < gdbRegFctrl:
		copy(out[:10], r.fx[32+16*(n-gdbRegST0):])
	case n <= gdbRegFop:
		off, sz := gdbFxWord(n)
		v := gdbLE16(r.fx[off:])
		if sz == 4 {
			v = gdbLE32(r.fx[off:])
		}
		switch n - gdbRegFctrl {
		case 2:
			// The abridged tag has a bit per register, set when valid;
			// gdb wants the full tag word: 11 for empty, 00 for valid.
			v = 0
			for i := 0; i < 8; i++ {
				if r.fx[4]&(1<<i) == 0 {
					v |= 3 << (2 * i)
				}
			}
		case 7:
			v &= 0x7FF
		}
		gdbPutLE(out, v, 4)
	case n < gdbRegMXCSR:
		copy(out[:16], r.fx[160+16*(n-gdbRegXMM0):])
	case n == gdbRegMXCSR:
		copy(out[:4], r.fx[24:28])
	case n == gdbRegFSBase:
		gdbPutLE(out, r.fsBase, 8)
	default:
		gdbPutLE(out, r.gsBase, 8)
	}
	return size
}

// gdbRegSet stores register n from its bytes in in (target byte order)
// and reports whether n exists and in was long enough.
func (r *gdbRegs) gdbRegSet(n int, in []byte) bool {
	size := gdbRegSize(n)
	if size == 0 || len(in) < size {
		return false
	}
	var v uint64
	if size <= 8 {
		for i := size - 1; i >= 0; i-- {
			v = v<<8 | uint64(in[i])
		}
	}
	switch {
	case n <= gdbRegRIP:
		r.gpr[n] = v
	case n <= gdbRegGS:
		r.seg[n-gdbRegEflags] = v
	case n < gdbRegFctrl:
		copy(r.fx[32+16*(n-gdbRegST0):], in[:10])
	case n <= gdbRegFop:
		off, sz := gdbFxWord(n)
		if n-gdbRegFctrl == 2 {
			var tag byte
			for i := 0; i < 8; i++ {
				if v>>(2*i)&3 != 3 {
					tag |= 1 << i
				}
			}
			r.fx[4] = tag
			break
		}
		gdbPutLE(r.fx[off:], v, sz)
	case n < gdbRegMXCSR:
		copy(r.fx[160+16*(n-gdbRegXMM0):], in[:16])
	case n == gdbRegMXCSR:
		copy(r.fx[24:28], in[:4])
	case n == gdbRegFSBase:
		r.fsBase = v
	default:
		r.gsBase = v
	}
	return true
}

// gdbPutRegs appends the whole register file in hex (the 'g' reply).
func (w *gdbWriter) gdbPutRegs(r *gdbRegs) {
	var tmp [16]byte
	for n := 0; n < gdbNumRegs; n++ {
		k := r.gdbRegGet(n, tmp[:])
		w.gdbHex(tmp[:k])
	}
}

// gdbPutReg appends register n in hex (the 'p' reply); false if n does
// not exist.
func (w *gdbWriter) gdbPutReg(r *gdbRegs, n int) bool {
	var tmp [16]byte
	k := r.gdbRegGet(n, tmp[:])
	w.gdbHex(tmp[:k])
	return k > 0
}

// gdbSetRegs stores registers from a 'G' packet's hex; a shorter packet
// sets the registers it covers. It reports false on bad hex or a partial
// register.
func (r *gdbRegs) gdbSetRegs(hex []byte) bool {
	var tmp [16]byte
	for n := 0; n < gdbNumRegs && len(hex) > 0; n++ {
		size := gdbRegSize(n)
		if len(hex) < 2*size {
			return false
		}
		if _, ok := gdbDecodeHex(tmp[:size], hex[:2*size]); !ok {
			return false
		}
		r.gdbRegSet(n, tmp[:size])
		hex = hex[2*size:]
	}
	return len(hex) == 0
}

// gdbSetReg handles a 'P' packet's "N=VALUE" (after the letter).
func (r *gdbRegs) gdbSetReg(b []byte) bool {
	n, rest, ok := gdbParseHex(b)
	if !ok || len(rest) == 0 || rest[0] != '=' || n >= gdbNumRegs {
		return false
	}
	size := gdbRegSize(int(n))
	var tmp [16]byte
	if len(rest)-1 != 2*size {
		return false
	}
	if _, ok := gdbDecodeHex(tmp[:size], rest[1:]); !ok {
		return false
	}
	return r.gdbRegSet(int(n), tmp[:size])
}
