package cmdline

import (
	"strconv"
	"strings"
	"testing"
)

func split(t *testing.T, line string) (*clArgs, string) {
	t.Helper()
	a := new(clArgs)
	a.argv[0] = a.clPut("/velocity")
	a.nargv = 1
	msg, _ := a.clSplit([]byte(line))
	return a, msg
}

func words(a *clArgs, offs []int) []string {
	var out []string
	for _, o := range offs {
		out = append(out, string(a.clWord(o)))
	}
	return out
}

func TestSplit(t *testing.T) {
	a, msg := split(t, `GODEBUG=gctrace=1 quiet  reserve=2-3 "cwd=/a b" -- -v "two words" --`)
	if msg != "" {
		t.Fatal(msg)
	}
	if got := strings.Join(words(a, a.env[:a.nenv]), "|"); got != "GODEBUG=gctrace=1" {
		t.Errorf("env = %q", got)
	}
	if got := strings.Join(words(a, a.opts[:a.nopts]), "|"); got != "quiet|reserve=2-3|cwd=/a b" {
		t.Errorf("opts = %q", got)
	}
	if got := strings.Join(words(a, a.argv[:a.nargv]), "|"); got != "/velocity|-v|two words|--" {
		t.Errorf("argv = %q", got)
	}
	// Words are NUL-terminated in buf, in order, as the process stack wants.
	if !strings.HasPrefix(string(a.buf[:a.used]), "/velocity\x00GODEBUG=gctrace=1\x00quiet\x00") {
		t.Errorf("buf = %q", a.buf[:a.used])
	}
}

func TestSplitErrors(t *testing.T) {
	for line, want := range map[string]string{
		`a "b`:                                  "unterminated double quote",
		"-- " + strings.Repeat("x ", clMaxArgs): "too many arguments",
		strings.Repeat("K=v ", clMaxArgs+1):     "too many environment variables",
		strings.Repeat("opt ", clMaxArgs+1):     "too many kernel options",
		strings.Repeat("y", clBufSize):          "longer than the kernel's argument buffer",
	} {
		if _, msg := split(t, line); msg != want {
			t.Errorf("%.30q...: got %q, want %q", line, msg, want)
		}
	}
}

func TestEnvAssignment(t *testing.T) {
	for tok, want := range map[string]bool{
		"A=1": true, "GODEBUG=x=y": true, "_X=": true, "A1=2": true,
		"=x": false, "1A=2": false, "a=1": false, "A": false, "A-B=1": false, "": false,
	} {
		if got := clIsEnvAssignment([]byte(tok)); got != want {
			t.Errorf("%q: %v, want %v", tok, got, want)
		}
	}
}

func TestOption(t *testing.T) {
	for tok, want := range map[string]struct {
		kind int
		val  string
	}{
		"quiet": {clOptQuiet, ""}, "noxsave": {clOptNoXSave, ""}, "pagepoison": {clOptPagePoison, ""},
		"reserve=3": {clOptReserve, "3"}, "irqcpus=0-1": {clOptIRQCPUs, "0-1"},
		"exe=/bin/x": {clOptExe, "/bin/x"}, "cwd=/tmp": {clOptCwd, "/tmp"}, "spinsleep=0": {clOptSpinSleep, "0"}, "tlbrefresh=20": {clOptTLBRefresh, "20"},
		"ip=dhcp": {clOptPackage, "dhcp"}, "gw=": {clOptPackage, ""}, "peers=a:1": {clOptPackage, "a:1"},
		"exe=": {clOptUnknown, ""}, "reserve=": {clOptUnknown, ""}, "tlbrefresh=": {clOptUnknown, ""}, "quiet=1": {clOptUnknown, ""},
		"debug": {clOptUnknown, ""}, "ipx=1": {clOptUnknown, ""},
	} {
		kind, val := clOption([]byte(tok))
		if kind != want.kind || string(val) != want.val {
			t.Errorf("%q: (%d, %q), want (%d, %q)", tok, kind, val, want.kind, want.val)
		}
	}
}

func TestParseMicros(t *testing.T) {
	for s, want := range map[string]int{"0": 0, "5": 5, "100": 100, "0100": 100, "101": -1, "": -1, "+1": -1, "-1": -1, "1x": -1, "00005": -1} {
		got, ok := clParseMicros([]byte(s), 100)
		if ok != (want >= 0) || ok && got != want {
			t.Errorf("%q: (%d, %v), want %d", s, got, ok, want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for s, want := range map[string]uint64{
		"0": 1, "3": 8, "1,3": 10, "2-5": 0x3c, "0-1,4": 0x13, "63": 1 << 63, "0-63": ^uint64(0),
		"": 0, "64": 0, "3-2": 0, "1,": 0, ",1": 0, "1-": 0, "a": 0, "1;2": 0, "00001": 0,
	} {
		got, ok := clParseCPUList([]byte(s), 64)
		if ok != (want != 0) || got != want {
			t.Errorf("%q: (%#x, %v), want %#x", s, got, ok, want)
		}
	}
	if _, ok := clParseCPUList([]byte("4"), 4); ok {
		t.Error("CPU 4 accepted with max 4")
	}
}

// refCPUList is an independent reading of the CPU-list grammar.
func refCPUList(s string, max int) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var m uint64
	num := func(x string) (int, bool) {
		if x == "" || len(x) > 4 || strings.TrimLeft(x, "0123456789") != "" {
			return 0, false
		}
		v, err := strconv.Atoi(x)
		return v, err == nil && v < max
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		l, ok := num(lo)
		if !ok {
			return 0, false
		}
		h := l
		if isRange {
			if h, ok = num(hi); !ok || h < l {
				return 0, false
			}
		}
		for i := l; i <= h; i++ {
			m |= 1 << i
		}
	}
	return m, true
}

// FuzzCmdline splits arbitrary command lines: it must never panic or
// write past its buffer, every word must be where its offset says, and a
// line without quotes must split exactly as strings.FieldsFunc does. Every
// option's CPU list must parse as the reference grammar does.
func FuzzCmdline(f *testing.F) {
	f.Add([]byte(`GODEBUG=gctrace=1 quiet reserve=2-3 -- -test.v "a b"`))
	f.Add([]byte(`spinsleep=5 spinsleep=0100 spinsleep=+1 spinsleep=101`))
	f.Fuzz(func(t *testing.T, line []byte) {
		a := new(clArgs)
		msg, bad := a.clSplit(line)
		if a.used > len(a.buf) || bad >= a.used {
			t.Fatalf("used %d, bad %d", a.used, bad)
		}
		var all []string
		for _, list := range [][]int{a.env[:a.nenv], a.opts[:a.nopts], a.argv[:a.nargv]} {
			for _, o := range list {
				if o < 0 || o >= a.used || (o > 0 && a.buf[o-1] != 0) {
					t.Fatalf("offset %d is not the start of a word", o)
				}
				all = append(all, string(a.clWord(o)))
			}
		}
		for _, o := range a.opts[:a.nopts] {
			kind, val := clOption(a.clWord(o))
			if kind == clOptSpinSleep {
				got, ok := clParseMicros(val, 100)
				v, err := strconv.Atoi(string(val))
				wok := err == nil && len(val) <= 4 && v <= 100 && !strings.ContainsAny(string(val), "+-")
				if ok != wok || ok && got != v {
					t.Fatalf("%q: (%d, %v), reference (%d, %v)", val, got, ok, v, wok)
				}
			}
			if kind == clOptReserve || kind == clOptIRQCPUs {
				got, ok := clParseCPUList(val, 64)
				want, wok := refCPUList(string(val), 64)
				if ok != (wok && want != 0) || ok && got != want {
					t.Fatalf("%q: (%#x, %v), reference (%#x, %v)", val, got, ok, want, wok)
				}
			}
		}
		if msg != "" || strings.ContainsAny(string(line), "\"\x00") {
			return
		}
		fields := strings.FieldsFunc(string(line), func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
		if got := len(all); got != countWords(fields) {
			t.Fatalf("%q: %d words, FieldsFunc finds %d (%q)", line, got, countWords(fields), all)
		}
		for _, w := range all {
			if !contains(fields, w) {
				t.Fatalf("%q: word %q not among %q", line, w, fields)
			}
		}
	})
}

// countWords is how many of fields are kept: all but the first "--".
func countWords(fields []string) int {
	for _, w := range fields {
		if w == "--" {
			return len(fields) - 1
		}
	}
	return len(fields)
}

func contains(ws []string, s string) bool {
	for _, w := range ws {
		if w == s {
			return true
		}
	}
	return false
}
