// Package gdbproto is the packet layer of the GDB Remote Serial Protocol
// used by Velocity's in-kernel gdb stub (runtime/vk_gdb.go): framing,
// checksums, escapes, run-length decoding, hex helpers, the amd64 register
// file in gdb's order and the target description.
//
// The same files are compiled twice: here, as an ordinary package with
// host tests and a fuzz target, and inside package runtime, where
// internal/build copies them into the overlay with the package clause
// rewritten. So the code obeys the kernel's rules: it imports nothing,
// never allocates, keeps no pointers in its types, and every top-level
// identifier starts with "gdb" so it cannot collide with the runtime's.
package gdbproto

// gdbPacketSize is the largest packet payload the stub accepts and sends;
// it is advertised to gdb in qSupported (in hex).
const gdbPacketSize = 4096

// Events returned by gdbReader.gdbFeed.
const (
	gdbNone      = iota // byte consumed, nothing complete yet
	gdbPacket           // a packet with a good checksum is in gdbData(); acknowledge with '+'
	gdbBad              // a packet was damaged (checksum, overflow, bad hex): answer '-'
	gdbInterrupt        // Ctrl-C (0x03) outside a packet
	gdbAck              // '+' outside a packet
	gdbNak              // '-' outside a packet: retransmit the last reply
)

// Reader states.
const (
	gdbStIdle = iota
	gdbStData
	gdbStEscape
	gdbStRun
	gdbStSum1
	gdbStSum2
)

// gdbReader reassembles packets from a byte stream: "$data#cs". Inside
// data, "}x" stands for x^0x20 and "c*n" repeats c n-29 more times. Noise
// outside packets is ignored; a '$' inside a packet starts over, so a
// packet whose '#' was lost is dropped when the next one begins.
type gdbReader struct {
	buf      [gdbPacketSize]byte
	n        int
	state    int
	sum      uint8 // running checksum of the raw bytes
	want     uint8 // checksum sent by the peer
	overflow bool
	badHex   bool
}

// gdbReset forgets any partial packet.
func (r *gdbReader) gdbReset() {
	r.n, r.state, r.sum, r.want, r.overflow, r.badHex = 0, gdbStIdle, 0, 0, false, false
}

// gdbData is the payload of the packet gdbFeed just reported.
func (r *gdbReader) gdbData() []byte { return r.buf[:r.n] }

func (r *gdbReader) gdbPut(c byte) {
	if r.n == len(r.buf) {
		r.overflow = true
		return
	}
	r.buf[r.n] = c
	r.n++
}

// gdbFeed consumes one byte from the wire and reports what it completed.
func (r *gdbReader) gdbFeed(c byte) int {
	switch r.state {
	case gdbStIdle:
		switch c {
		case '$':
			r.gdbReset()
			r.state = gdbStData
		case 0x03:
			return gdbInterrupt
		case '+':
			return gdbAck
		case '-':
			return gdbNak
		}
		return gdbNone
	case gdbStSum1, gdbStSum2:
		if c == '$' {
			// Never a checksum digit: the packet lost its checksum.
			r.gdbReset()
			r.state = gdbStData
			return gdbNone
		}
		v, ok := gdbHexDigit(c)
		if !ok {
			r.badHex = true
		}
		r.want = r.want<<4 | v
		if r.state == gdbStSum1 {
			r.state = gdbStSum2
			return gdbNone
		}
		r.state = gdbStIdle
		if r.badHex || r.overflow || r.want != r.sum {
			r.n = 0
			return gdbBad
		}
		return gdbPacket
	}
	// Inside the payload.
	if c == '$' {
		// A new packet: the previous one lost its end.
		r.gdbReset()
		r.state = gdbStData
		return gdbNone
	}
	if c == '#' && r.state != gdbStEscape && r.state != gdbStRun {
		r.state = gdbStSum1
		return gdbNone
	}
	r.sum += c
	switch r.state {
	case gdbStEscape:
		r.gdbPut(c ^ 0x20)
		r.state = gdbStData
	case gdbStRun:
		r.state = gdbStData
		if c < 29+3 || c > 126 || r.n == 0 {
			r.badHex = true // not a valid repeat count (gdb avoids '#' and '$')
			return gdbNone
		}
		prev := r.buf[r.n-1]
		for i := 0; i < int(c)-29; i++ {
			r.gdbPut(prev)
		}
	default:
		switch c {
		case '}':
			r.state = gdbStEscape
		case '*':
			r.state = gdbStRun
		default:
			r.gdbPut(c)
		}
	}
	return gdbNone
}

// gdbWriter builds one outgoing packet "$payload#cs" in a fixed buffer.
// The payload is escaped as binary data needs ('$', '#', '}', '*'), which
// is harmless for text replies. A reply that does not fit is cut to an
// empty payload and gdbFull is set; callers check it.
type gdbWriter struct {
	buf  [2*gdbPacketSize + 8]byte
	n    int
	raw  int // payload bytes before escaping
	full bool
}

// gdbStart begins a packet.
func (w *gdbWriter) gdbStart() {
	w.buf[0] = '$'
	w.n, w.raw, w.full = 1, 0, false
}

// gdbByte appends one payload byte.
func (w *gdbWriter) gdbByte(c byte) {
	if w.raw >= gdbPacketSize || w.n+2 > len(w.buf)-3 {
		w.full = true
		return
	}
	w.raw++
	switch c {
	case '$', '#', '}', '*':
		w.buf[w.n] = '}'
		w.buf[w.n+1] = c ^ 0x20
		w.n += 2
	default:
		w.buf[w.n] = c
		w.n++
	}
}

// gdbString appends text.
func (w *gdbWriter) gdbString(s string) {
	for i := 0; i < len(s); i++ {
		w.gdbByte(s[i])
	}
}

// gdbBytes appends raw bytes (binary replies such as qXfer).
func (w *gdbWriter) gdbBytes(b []byte) {
	for _, c := range b {
		w.gdbByte(c)
	}
}

// gdbHex appends b as hex, two digits a byte.
func (w *gdbWriter) gdbHex(b []byte) {
	for _, c := range b {
		w.gdbByte(gdbDigits[c>>4])
		w.gdbByte(gdbDigits[c&15])
	}
}

// gdbHexString appends the hex encoding of s (qThreadExtraInfo, qRcmd).
func (w *gdbWriter) gdbHexString(s string) {
	for i := 0; i < len(s); i++ {
		w.gdbByte(gdbDigits[s[i]>>4])
		w.gdbByte(gdbDigits[s[i]&15])
	}
}

// gdbNum appends v in hex without leading zeros (thread ids, addresses).
func (w *gdbWriter) gdbNum(v uint64) {
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = gdbDigits[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	for ; i < len(tmp); i++ {
		w.gdbByte(tmp[i])
	}
}

// gdbLE appends the n low bytes of v, little endian, in hex (register values).
func (w *gdbWriter) gdbLE(v uint64, n int) {
	for i := 0; i < n; i++ {
		c := byte(v >> (8 * i))
		w.gdbByte(gdbDigits[c>>4])
		w.gdbByte(gdbDigits[c&15])
	}
}

// gdbFinish appends "#cs" and returns the wire bytes. A reply that
// overflowed is replaced by an error reply, which gdb reports.
func (w *gdbWriter) gdbFinish() []byte {
	if w.full {
		w.gdbStart()
		w.gdbString("E01")
	}
	var sum uint8
	for _, c := range w.buf[1:w.n] {
		sum += c
	}
	w.buf[w.n] = '#'
	w.buf[w.n+1] = gdbDigits[sum>>4]
	w.buf[w.n+2] = gdbDigits[sum&15]
	w.n += 3
	return w.buf[:w.n]
}

const gdbDigits = "0123456789abcdef"

// gdbHexDigit decodes one hex digit.
func gdbHexDigit(c byte) (uint8, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// gdbParseHex reads a hex number (at most 16 digits) from the front of b
// and returns it with the rest of b. ok is false if there is no digit or
// the number does not fit in 64 bits.
func gdbParseHex(b []byte) (v uint64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b); i++ {
		d, isHex := gdbHexDigit(b[i])
		if !isHex {
			break
		}
		if i == 16 {
			return 0, b, false
		}
		v = v<<4 | uint64(d)
	}
	return v, b[i:], i > 0
}

// gdbParseThread reads a thread id: hex, or "-1" for all threads (returned
// as -1). "p" multiprocess prefixes are not supported.
func gdbParseThread(b []byte) (id int64, rest []byte, ok bool) {
	if len(b) >= 2 && b[0] == '-' && b[1] == '1' {
		return -1, b[2:], true
	}
	v, rest, ok := gdbParseHex(b)
	if !ok || v > 1<<31 {
		return 0, b, false
	}
	return int64(v), rest, true
}

// gdbDecodeHex decodes hex pairs from src into dst and returns the number
// of bytes written; ok is false on an odd length or a bad digit.
func gdbDecodeHex(dst, src []byte) (int, bool) {
	if len(src)%2 != 0 {
		return 0, false
	}
	n := 0
	for i := 0; i+1 < len(src) && n < len(dst); i += 2 {
		hi, ok1 := gdbHexDigit(src[i])
		lo, ok2 := gdbHexDigit(src[i+1])
		if !ok1 || !ok2 {
			return n, false
		}
		dst[n] = hi<<4 | lo
		n++
	}
	return n, true
}

// gdbHasPrefix reports whether b starts with s.
func gdbHasPrefix(b []byte, s string) bool {
	if len(b) < len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b[i] != s[i] {
			return false
		}
	}
	return true
}

// gdbEqual reports whether b is s.
func gdbEqual(b []byte, s string) bool { return len(b) == len(s) && gdbHasPrefix(b, s) }

// gdbParseAddrLen parses "ADDR,LEN" (m, M, X after the letter) and returns
// what follows: ":data" for M and X. LEN may not exceed max.
func gdbParseAddrLen(b []byte, max uint64) (addr, n uint64, rest []byte, ok bool) {
	addr, b, ok = gdbParseHex(b)
	if !ok || len(b) == 0 || b[0] != ',' {
		return 0, 0, nil, false
	}
	n, b, ok = gdbParseHex(b[1:])
	if !ok || n > max {
		return 0, 0, nil, false
	}
	return addr, n, b, true
}

// gdbParseBreak parses "TYPE,ADDR,KIND" of Z and z packets (after the
// letter). Conditions and commands after ';' are ignored.
func gdbParseBreak(b []byte) (typ, addr, kind uint64, ok bool) {
	typ, b, ok = gdbParseHex(b)
	if !ok || typ > 4 || len(b) == 0 || b[0] != ',' {
		return 0, 0, 0, false
	}
	addr, b, ok = gdbParseHex(b[1:])
	if !ok || len(b) == 0 || b[0] != ',' {
		return 0, 0, 0, false
	}
	kind, b, ok = gdbParseHex(b[1:])
	if !ok || len(b) > 0 && b[0] != ';' {
		return 0, 0, 0, false
	}
	return typ, addr, kind, true
}
