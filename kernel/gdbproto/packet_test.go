package gdbproto

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// frame wraps payload as gdb sends it, with a correct checksum.
func frame(payload string) string {
	var sum uint8
	for i := 0; i < len(payload); i++ {
		sum += payload[i]
	}
	return fmt.Sprintf("$%s#%02x", payload, sum)
}

type event struct {
	kind int
	data string
}

func feedAll(r *gdbReader, s string) []event {
	var evs []event
	for i := 0; i < len(s); i++ {
		if e := r.gdbFeed(s[i]); e != gdbNone {
			d := ""
			if e == gdbPacket {
				d = string(r.gdbData())
			}
			evs = append(evs, event{e, d})
		}
	}
	return evs
}

func TestFeedGoodPackets(t *testing.T) {
	var r gdbReader
	evs := feedAll(&r, "+"+frame("qSupported:multiprocess+;swbreak+")+"\x03-"+frame("g"))
	want := []event{{gdbAck, ""}, {gdbPacket, "qSupported:multiprocess+;swbreak+"}, {gdbInterrupt, ""}, {gdbNak, ""}, {gdbPacket, "g"}}
	if fmt.Sprint(evs) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", evs, want)
	}
}

func TestFeedChecksumCase(t *testing.T) {
	var r gdbReader
	// Upper-case checksum digits are accepted too.
	evs := feedAll(&r, frame("m1000,4")[:9]+strings.ToUpper(frame("m1000,4")[9:]))
	if len(evs) != 1 || evs[0].kind != gdbPacket || evs[0].data != "m1000,4" {
		t.Fatalf("got %v", evs)
	}
}

func TestFeedBadChecksum(t *testing.T) {
	var r gdbReader
	evs := feedAll(&r, "$g#00"+frame("?"))
	want := []event{{gdbBad, ""}, {gdbPacket, "?"}}
	if fmt.Sprint(evs) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", evs, want)
	}
	evs = feedAll(&r, "$g#zz")
	if len(evs) != 1 || evs[0].kind != gdbBad {
		t.Fatalf("non-hex checksum: %v", evs)
	}
}

func TestFeedMissingHash(t *testing.T) {
	var r gdbReader
	// The first packet never ends: the next '$' starts over.
	evs := feedAll(&r, "$m1000,4"+frame("c"))
	if len(evs) != 1 || evs[0].data != "c" {
		t.Fatalf("got %v", evs)
	}
	// A packet that never ends and never restarts overflows, then NAKs.
	r.gdbReset()
	evs = feedAll(&r, "$"+strings.Repeat("a", 3*gdbPacketSize)+"#00")
	if len(evs) != 1 || evs[0].kind != gdbBad {
		t.Fatalf("overlong packet: %v", evs)
	}
	evs = feedAll(&r, frame("k"))
	if len(evs) != 1 || evs[0].data != "k" {
		t.Fatalf("after overflow: %v", evs)
	}
}

func TestFeedEscapesAndRunLength(t *testing.T) {
	var r gdbReader
	// X with binary data: '#' '$' '}' '*' escaped, and a 0x03 inside a
	// packet is data, not an interrupt.
	payload := "X100,6:" + "}\x03}\x04}]}\x0a\x03\x00"
	evs := feedAll(&r, frame(payload))
	if len(evs) != 1 || evs[0].data != "X100,6:#$}*\x03\x00" {
		t.Fatalf("escapes: %+q", fmt.Sprint(evs))
	}
	// "0*#" would be '#'; gdb uses e.g. "0* " = '0' and 3 more, "1*!" '1' and 4 more.
	evs = feedAll(&r, frame("0* 1*!"))
	if len(evs) != 1 || evs[0].data != "000011111" {
		t.Fatalf("run length: %+q", fmt.Sprint(evs))
	}
	// A run with nothing before it is damage.
	evs = feedAll(&r, frame("* "))
	if len(evs) != 1 || evs[0].kind != gdbBad {
		t.Fatalf("run without a byte: %v", evs)
	}
}

func TestFeedBinaryJunkAndNoise(t *testing.T) {
	var r gdbReader
	rng := rand.New(rand.NewSource(1))
	noise := make([]byte, 64<<10)
	rng.Read(noise)
	for i := range noise {
		if noise[i] == '$' { // keep packets out of the noise so the result is known
			noise[i] = 'x'
		}
	}
	for _, c := range noise {
		r.gdbFeed(c)
	}
	// Whatever state the noise left, a new packet is read correctly.
	evs := feedAll(&r, frame("?"))
	if len(evs) == 0 || evs[len(evs)-1].kind != gdbPacket || evs[len(evs)-1].data != "?" {
		t.Fatalf("after noise: %v", evs)
	}
	// Noise with '$' in it never panics and never yields an over-long packet.
	rng.Read(noise)
	for _, c := range noise {
		if r.gdbFeed(c) == gdbPacket && len(r.gdbData()) > gdbPacketSize {
			t.Fatal("packet longer than the buffer")
		}
	}
}

func TestWriterEscapesAndChecksum(t *testing.T) {
	var w gdbWriter
	w.gdbStart()
	w.gdbBytes([]byte("a$b#c}d*e"))
	got := string(w.gdbFinish())
	// Feeding our own output back must give the original payload.
	var r gdbReader
	evs := feedAll(&r, got)
	if len(evs) != 1 || evs[0].data != "a$b#c}d*e" {
		t.Fatalf("round trip of %q: %v", got, evs)
	}
	if strings.Count(got, "$") != 1 || strings.Count(got, "#") != 1 {
		t.Errorf("unescaped framing bytes in %q", got)
	}
	w.gdbStart()
	w.gdbString("OK")
	if got := string(w.gdbFinish()); got != "$OK#9a" {
		t.Errorf("OK packet is %q, want $OK#9a", got)
	}
}

func TestWriterOverflow(t *testing.T) {
	var w gdbWriter
	w.gdbStart()
	for i := 0; i < 3*gdbPacketSize; i++ {
		w.gdbByte('}')
	}
	if got := string(w.gdbFinish()); got != frame("E01") {
		t.Errorf("overflowing reply is %q, want E01", got)
	}
}

func TestWriterNumbers(t *testing.T) {
	var w gdbWriter
	w.gdbStart()
	w.gdbNum(0)
	w.gdbByte(',')
	w.gdbNum(0x1f)
	w.gdbByte(',')
	w.gdbLE(0x1122334455667788, 8)
	w.gdbByte(',')
	w.gdbHexString("CPU 0")
	if got := string(w.gdbFinish()); !strings.HasPrefix(got, "$0,1f,8877665544332211,4350552030#") {
		t.Errorf("got %q", got)
	}
}

func TestParsers(t *testing.T) {
	if v, rest, ok := gdbParseHex([]byte("ffffffffffffffff,1")); !ok || v != ^uint64(0) || string(rest) != ",1" {
		t.Errorf("gdbParseHex max: %x %q %v", v, rest, ok)
	}
	if _, _, ok := gdbParseHex([]byte("10000000000000000")); ok {
		t.Error("gdbParseHex accepted 17 digits")
	}
	if _, _, ok := gdbParseHex([]byte(",")); ok {
		t.Error("gdbParseHex accepted no digits")
	}
	if a, n, rest, ok := gdbParseAddrLen([]byte("ffff800000001000,10:abc"), 0x800); !ok || a != 0xffff800000001000 || n != 16 || string(rest) != ":abc" {
		t.Errorf("gdbParseAddrLen: %x %d %q %v", a, n, rest, ok)
	}
	for _, bad := range []string{"", "1000", "1000,", ",4", "1000,801", "x,4"} {
		if _, _, _, ok := gdbParseAddrLen([]byte(bad), 0x800); ok {
			t.Errorf("gdbParseAddrLen accepted %q", bad)
		}
	}
	if typ, addr, kind, ok := gdbParseBreak([]byte("0,1001234,1")); !ok || typ != 0 || addr != 0x1001234 || kind != 1 {
		t.Errorf("gdbParseBreak: %d %x %d %v", typ, addr, kind, ok)
	}
	if _, _, _, ok := gdbParseBreak([]byte("2,1000,8;X1,0")); !ok {
		t.Error("gdbParseBreak rejected a condition list")
	}
	for _, bad := range []string{"", "5,1000,1", "0,1000", "0,,1", "0,1000,1x"} {
		if _, _, _, ok := gdbParseBreak([]byte(bad)); ok {
			t.Errorf("gdbParseBreak accepted %q", bad)
		}
	}
	if id, _, ok := gdbParseThread([]byte("-1")); !ok || id != -1 {
		t.Errorf("thread -1: %d %v", id, ok)
	}
	if id, _, ok := gdbParseThread([]byte("2")); !ok || id != 2 {
		t.Errorf("thread 2: %d %v", id, ok)
	}
	var dst [4]byte
	if n, ok := gdbDecodeHex(dst[:], []byte("0aFf")); !ok || n != 2 || dst[0] != 0x0a || dst[1] != 0xff {
		t.Errorf("gdbDecodeHex: %d %v %x", n, ok, dst)
	}
	if _, ok := gdbDecodeHex(dst[:], []byte("0g")); ok {
		t.Error("gdbDecodeHex accepted a bad digit")
	}
	if _, ok := gdbDecodeHex(dst[:], []byte("abc")); ok {
		t.Error("gdbDecodeHex accepted an odd length")
	}
}

func TestRegisters(t *testing.T) {
	var r gdbRegs
	for i := range r.gpr {
		r.gpr[i] = uint64(i+1) * 0x0101010101010101
	}
	r.seg = [7]uint64{0x246, 8, 0x10, 0x10, 0x10, 0, 0}
	r.fsBase, r.gsBase = 0xc000, 0xd000
	r.fx[4] = 0x01 // st0 valid
	var w gdbWriter
	w.gdbStart()
	w.gdbPutRegs(&r)
	pkt := w.gdbFinish()
	hex := pkt[1 : len(pkt)-3]
	total := 0
	for n := 0; n < gdbNumRegs; n++ {
		total += gdbRegSize(n)
	}
	if total != 17*8+7*4+8*10+8*4+16*16+4+2*8 || len(hex) != 2*total {
		t.Fatalf("g reply has %d hex digits for %d bytes", len(hex), total)
	}
	if !bytes.HasPrefix(hex, []byte("0101010101010101")) {
		t.Errorf("rax not first: %.32s", hex)
	}
	if got := string(hex[2*17*8 : 2*17*8+8]); got != "46020000" {
		t.Errorf("eflags is %s", got)
	}
	var back gdbRegs
	if !back.gdbSetRegs(hex) {
		t.Fatal("gdbSetRegs rejected our own g reply")
	}
	if back.gpr != r.gpr || back.seg != r.seg || back.fsBase != r.fsBase || back.gsBase != r.gsBase || back.fx[4] != 1 {
		t.Errorf("round trip: %+v", back)
	}
	if !back.gdbSetReg([]byte("10=efbeadde00000000")) || back.gpr[gdbRegRIP] != 0xdeadbeef {
		t.Errorf("P rip: %x", back.gpr[gdbRegRIP])
	}
	if back.gdbSetReg([]byte("10=efbe")) || back.gdbSetReg([]byte("99=00")) || back.gdbSetReg([]byte("=00")) {
		t.Error("gdbSetReg accepted a bad packet")
	}
	if back.gdbSetRegs([]byte("0102")) {
		t.Error("gdbSetRegs accepted a partial register")
	}
	w.gdbStart()
	if !w.gdbPutReg(&r, gdbRegFSBase) {
		t.Fatal("no fs_base")
	}
	if got := string(w.gdbFinish()); !strings.HasPrefix(got, "$00c0000000000000#") {
		t.Errorf("p fs_base: %s", got)
	}
	if w.gdbPutReg(&r, gdbNumRegs) {
		t.Error("register past the end exists")
	}
}

func TestTargetXML(t *testing.T) {
	if strings.ContainsAny(gdbTargetXML, "$#}*") {
		t.Log("target.xml has bytes that need escaping; the writer escapes them")
	}
	regs := strings.Count(gdbTargetXML, "<reg ")
	if regs != gdbNumRegs {
		t.Errorf("target.xml describes %d registers, gdbRegs has %d", regs, gdbNumRegs)
	}
	// Read it in pieces as gdb does and check the reassembly.
	var got strings.Builder
	for off := uint64(0); ; off += 100 {
		var w gdbWriter
		w.gdbStart()
		w.gdbXfer(gdbTargetXML, off, 100)
		pkt := w.gdbFinish()
		var r gdbReader
		evs := feedAll(&r, string(pkt))
		if len(evs) != 1 {
			t.Fatalf("xfer at %d: %v", off, evs)
		}
		got.WriteString(evs[0].data[1:])
		if evs[0].data[0] == 'l' {
			break
		}
	}
	if got.String() != gdbTargetXML {
		t.Error("target.xml does not reassemble")
	}
}

func TestNoAllocations(t *testing.T) {
	var r gdbReader
	var w gdbWriter
	var regs gdbRegs
	in := frame("X1000,4:}\x03ab*\"") + "\x03+-"
	n := testing.AllocsPerRun(100, func() {
		for i := 0; i < len(in); i++ {
			r.gdbFeed(in[i])
		}
		w.gdbStart()
		w.gdbPutRegs(&regs)
		w.gdbXfer(gdbTargetXML, 0, 512)
		w.gdbFinish()
		gdbParseAddrLen([]byte("1000,4"), 100)
	})
	if n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}

// FuzzFeed throws arbitrary bytes at the reader: it must never panic,
// never report a packet longer than its buffer, and always recover to
// read a good packet afterwards.
func FuzzFeed(f *testing.F) {
	f.Add([]byte(frame("qSupported")))
	f.Add([]byte("$m0,1#00$}"))
	f.Add([]byte("$a*\x1f#00\x03"))
	f.Add([]byte(frame("X0,2:}\x03}\x04")))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r gdbReader
		for _, c := range data {
			if r.gdbFeed(c) == gdbPacket {
				d := r.gdbData()
				if len(d) > gdbPacketSize {
					t.Fatal("packet longer than the buffer")
				}
				var regs gdbRegs
				regs.gdbSetRegs(d)
				regs.gdbSetReg(d)
				gdbParseBreak(d)
				gdbParseAddrLen(d, gdbPacketSize)
			}
		}
		evs := feedAll(&r, frame("?"))
		if len(evs) == 0 || evs[len(evs)-1].data != "?" {
			t.Fatalf("no recovery after %q: %v", data, evs)
		}
	})
}
