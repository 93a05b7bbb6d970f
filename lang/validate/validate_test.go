package validate

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

const base = 0x7f0000000000

func hx(s string) []byte {
	var out []byte
	for _, f := range strings.Fields(s) {
		var b byte
		for _, c := range f {
			b <<= 4
			switch {
			case c >= '0' && c <= '9':
				b |= byte(c - '0')
			case c >= 'a' && c <= 'f':
				b |= byte(c - 'a' + 10)
			default:
				panic("bad hex " + f)
			}
		}
		out = append(out, b)
	}
	return out
}

// one is a single-function blob: code, then an 8-byte constant pool at 0x40
// and a one-slot call table at 0x48 pointing at the function.
func one(code string) ([]byte, *Meta) {
	c := hx(code)
	blob := make([]byte, 0x50)
	if len(c) > 0x40 {
		panic("code too long")
	}
	copy(blob, c)
	binary.LittleEndian.PutUint64(blob[0x48:], base)
	return blob, &Meta{Base: base, Funcs: []Range{{0, len(c)}}, Pool: Range{0x40, 0x48}, CallTable: Range{0x48, 0x50}}
}

// rip returns the little-endian disp32 from the end of an instruction at
// off of length n to target.
func rip(off, n, target int) string {
	d := uint32(int32(target - (off + n)))
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], d)
	return strings.TrimSpace(strings.Join([]string{hex2(b[0]), hex2(b[1]), hex2(b[2]), hex2(b[3])}, " "))
}

func hex2(b byte) string {
	const h = "0123456789abcdef"
	return string([]byte{h[b>>4], h[b&15]})
}

func TestAccept(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		edit       func(*Meta)
	}{
		{"ret", "c3", nil},
		{"arith", "48 01 d8 48 29 c8 48 0f af c1 48 99 48 f7 f9 48 f7 d8 c3", nil},
		{"stack frame", "55 48 89 e5 48 83 ec 20 48 89 45 f8 48 8b 45 f8 48 89 ec 5d c3", nil},
		{"forward jmp to boundary", "eb 01 90 c3", nil},
		{"backward jcc", "48 ff c8 75 fb c3", nil},
		{"call through table", "ff 15 " + rip(0, 6, 0x48) + " c3", nil},
		{"movsd from pool", "f2 0f 10 05 " + rip(0, 8, 0x40) + " c3", nil},
		{"ucomisd with pool", "66 0f 2e 05 " + rip(0, 8, 0x40) + " c3", nil},
		{"sse arith", "66 48 0f 6e c0 66 48 0f 6e cb f2 0f 58 c1 f2 48 0f 2c c0 66 48 0f 7e c0 c3", nil},
		{"rep movsq", "f3 48 a5 f3 48 ab c3", nil},
		{"setcc movzx", "48 39 d8 0f 9c c0 48 0f b6 c0 c3", nil},
		{"rdtsc allowed", "0f 31 0f ae e8 0f 01 f9 c3", func(m *Meta) { m.AllowTiming = true }},
		{"ud2 at trap site", "48 85 c0 0f 0b", func(m *Meta) { m.TrapSites = []int{3} }},
		{"ends with jmp", "90 eb fd", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob, m := one(tc.code)
			if tc.edit != nil {
				tc.edit(m)
			}
			if err := Validate(blob, m); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReject(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		rule       string
		edit       func([]byte, *Meta)
	}{
		{"garbage", "ff ff c3", RuleDecode, nil},
		{"invalid opcode", "0f 04 c3", RuleDecode, nil},
		{"truncated", "48 8b", RuleDecode, nil},
		{"straddles end", "48 8b 45", RuleDecode, nil},
		{"in", "ec c3", RuleForbidden, nil},
		{"in imm", "e4 60 c3", RuleForbidden, nil},
		{"out", "ee c3", RuleForbidden, nil},
		{"insb", "6c c3", RuleForbidden, nil},
		{"outsb", "6e c3", RuleForbidden, nil},
		{"cli", "fa c3", RuleForbidden, nil},
		{"sti", "fb c3", RuleForbidden, nil},
		{"hlt", "f4 c3", RuleForbidden, nil},
		{"rdmsr", "0f 32 c3", RuleForbidden, nil},
		{"wrmsr", "0f 30 c3", RuleForbidden, nil},
		{"rdpmc", "0f 33 c3", RuleForbidden, nil},
		{"syscall", "0f 05 c3", RuleForbidden, nil},
		{"sysenter", "0f 34 c3", RuleForbidden, nil},
		{"sysexit", "0f 35 c3", RuleForbidden, nil},
		{"sysret", "0f 07 c3", RuleForbidden, nil},
		{"int 0x80", "cd 80 c3", RuleForbidden, nil},
		{"int3", "cc c3", RuleForbidden, nil},
		{"int1", "f1 c3", RuleForbidden, nil},
		{"iretq", "48 cf", RuleForbidden, nil},
		{"lgdt", "0f 01 10 c3", RuleForbidden, nil},
		{"lidt", "0f 01 18 c3", RuleForbidden, nil},
		{"lldt", "0f 00 d0 c3", RuleForbidden, nil},
		{"ltr", "0f 00 d8 c3", RuleForbidden, nil},
		{"sgdt", "0f 01 00 c3", RuleForbidden, nil},
		{"sidt", "0f 01 08 c3", RuleForbidden, nil},
		{"smsw", "0f 01 e0 c3", RuleForbidden, nil},
		{"clts", "0f 06 c3", RuleForbidden, nil},
		{"mov to cr0", "0f 22 c0 c3", RuleForbidden, nil},
		{"mov from cr3", "0f 20 d8 c3", RuleForbidden, nil},
		{"mov to dr7", "0f 23 f8 c3", RuleForbidden, nil},
		{"mov from dr0", "0f 21 c0 c3", RuleForbidden, nil},
		{"invlpg", "0f 01 38 c3", RuleForbidden, nil},
		{"wbinvd", "0f 09 c3", RuleForbidden, nil},
		{"invd", "0f 08 c3", RuleForbidden, nil},
		{"swapgs", "0f 01 f8 c3", RuleForbidden, nil},
		{"wrfsbase", "f3 48 0f ae d0 c3", RuleForbidden, nil},
		{"rdtsc without flag", "0f 31 c3", RuleForbidden, nil},
		{"rdtscp without flag", "0f 01 f9 c3", RuleForbidden, nil},
		{"lfence without flag", "0f ae e8 c3", RuleForbidden, nil},
		{"cpuid", "0f a2 c3", RuleForbidden, nil},
		{"xsave", "0f ae 20 c3", RuleForbidden, nil},
		{"xrstor", "0f ae 28 c3", RuleForbidden, nil},
		{"xsetbv", "0f 01 d1 c3", RuleForbidden, nil},
		{"fxsave", "0f ae 00 c3", RuleForbidden, nil},
		{"ldmxcsr", "0f ae 10 c3", RuleForbidden, nil},
		{"far jmp", "ff 28 c3", RuleForbidden, nil},
		{"far call", "ff 18 c3", RuleForbidden, nil},
		{"far ret", "cb", RuleForbidden, nil},
		{"mov to ds", "8e d8 c3", RuleForbidden, nil},
		{"mov to ss", "8e d0 c3", RuleForbidden, nil},
		{"mov from fs", "8c e0 c3", RuleForbidden, nil},
		{"pop fs", "0f a1 c3", RuleForbidden, nil},
		{"push gs", "0f a8 c3", RuleForbidden, nil},
		{"lss", "48 0f b2 00 c3", RuleForbidden, nil},
		{"pushfq", "9c c3", RuleForbidden, nil},
		{"popfq", "9d c3", RuleForbidden, nil},
		{"std", "fd c3", RuleForbidden, nil},
		{"ud2 without trap site", "0f 0b", RuleTrap, nil},
		{"trap site not ud2", "90 c3", RuleTrap, func(_ []byte, m *Meta) { m.TrapSites = []int{0} }},
		{"loop", "e2 fe c3", RuleForbidden, nil},
		{"not allowlisted (aesenc)", "66 0f 38 dc c1 c3", RuleNotAllowed, nil},
		{"not allowlisted (x87)", "d9 e8 c3", RuleNotAllowed, nil},
		{"vex", "c5 f8 77 c3", RuleNotAllowed, nil},
		{"lock prefix", "f0 48 01 18 c3", RulePrefix, nil},
		{"fs override", "64 48 8b 00 c3", RulePrefix, nil},
		{"gs override", "65 48 8b 00 c3", RulePrefix, nil},
		{"jmp to non-boundary", "eb 01 48 01 d8 c3", RuleBranch, nil},
		{"jmp into data", "e9 " + rip(0, 5, 0x40) + " c3", RuleBranch, nil},
		{"jcc before function", "0f 84 " + rip(0, 6, -2) + " c3", RuleBranch, nil},
		{"direct call out of blob", "e8 00 00 00 10 c3", RuleBranch, nil},
		{"jmp rax", "ff e0", RuleIndirect, nil},
		{"call rax", "ff d0 c3", RuleIndirect, nil},
		{"call [rax]", "ff 10 c3", RuleIndirect, nil},
		{"jmp through table", "ff 25 " + rip(0, 6, 0x48), RuleIndirect, nil},
		{"call via pool, not table", "ff 15 " + rip(0, 6, 0x40) + " c3", RuleIndirect, nil},
		{"call misaligned slot", "ff 15 " + rip(0, 6, 0x49) + " c3", RuleIndirect, nil},
		{"call via r11 table", "41 ff 13 c3", RuleIndirect, nil},
		{"rip load from code", "48 8b 05 " + rip(0, 7, 0) + " c3", RuleRIP, nil},
		{"rip load from call table", "48 8b 05 " + rip(0, 7, 0x48) + " c3", RuleRIP, nil},
		{"rip load straddles pool end", "48 8b 05 " + rip(0, 7, 0x44) + " c3", RuleRIP, nil},
		{"rip store past blob", "48 89 05 " + rip(0, 7, 0x1000) + " c3", RuleRIP, nil},
		{"lea of code", "48 8d 05 " + rip(0, 7, 0) + " c3", RuleRIP, nil},
		{"absolute address", "48 8b 04 25 00 10 00 00 c3", RuleAbsolute, nil},
		{"32-bit addressing", "67 48 8b 00 c3", RulePrefix, nil},
		{"falls through", "48 01 d8", RuleFallThrough, nil},
		{"table slot forged", "c3", RuleCallTable, func(b []byte, m *Meta) { binary.LittleEndian.PutUint64(b[0x48:], base+1) }},
		{"table slot to gadget", "c3", RuleCallTable, func(b []byte, m *Meta) { binary.LittleEndian.PutUint64(b[0x48:], 0xdeadbeef) }},
		{"table overlaps code", "c3", RuleLayout, func(b []byte, m *Meta) { m.CallTable = Range{0, 8} }},
		{"pool overlaps table", "c3", RuleLayout, func(b []byte, m *Meta) { m.Pool = Range{0x40, 0x50} }},
		{"no functions", "c3", RuleLayout, func(b []byte, m *Meta) { m.Funcs = nil }},
		{"gap between functions", "c3 c3 c3", RuleLayout, func(b []byte, m *Meta) { m.Funcs = []Range{{0, 1}, {2, 3}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob, m := one(tc.code)
			if tc.edit != nil {
				tc.edit(blob, m)
			}
			err := Validate(blob, m)
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("accepted (err %v)", err)
			}
			if ve.Rule != tc.rule {
				t.Fatalf("rule %q, want %q: %v", ve.Rule, tc.rule, err)
			}
		})
	}
}

// TestCrossFunctionBranch: a jump from one function into the next is
// rejected even though it lands on an instruction boundary.
func TestCrossFunctionBranch(t *testing.T) {
	blob := hx("eb 01 c3 c3")
	m := &Meta{Funcs: []Range{{0, 3}, {3, 4}}}
	var ve *Error
	if err := Validate(blob, m); !errors.As(err, &ve) || ve.Rule != RuleBranch || !strings.Contains(err.Error(), "outside the function") {
		t.Fatalf("got %v", err)
	}
	blob = hx("eb 00 c3 c3") // lands on its own ret
	if err := Validate(blob, m); err != nil {
		t.Fatal(err)
	}
	// Calls from the second function through a table slot for the first.
	blob = make([]byte, 24)
	copy(blob, hx("c3 ff 15 "+rip(1, 6, 16)+" c3"))
	binary.LittleEndian.PutUint64(blob[16:], base)
	m = &Meta{Base: base, Funcs: []Range{{0, 1}, {1, 8}}, CallTable: Range{16, 24}}
	if err := Validate(blob, m); err != nil {
		t.Fatal(err)
	}
}

func TestErrorMessage(t *testing.T) {
	blob, m := one("90 0f 05 c3")
	err := Validate(blob, m)
	if err == nil || !strings.Contains(err.Error(), "offset 0x1: forbidden instruction") || !strings.Contains(err.Error(), "system call") {
		t.Fatalf("got %v", err)
	}
}

func TestRedundantPrefix(t *testing.T) {
	for _, code := range []string{"66 66 48 01 d8 c3", "2e 48 01 d8 c3", "3e 48 8b 00 c3"} {
		blob, m := one(code)
		var ve *Error
		if err := Validate(blob, m); !errors.As(err, &ve) || ve.Rule != RulePrefix {
			t.Errorf("%s: %v", code, err)
		}
	}
}
