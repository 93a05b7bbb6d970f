package ksyms

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

type sym struct {
	name        string
	typ         elf.SymType
	value, size uint64
}

// buildELF writes a minimal ELF64 image: a header, then a string table,
// a symbol table holding syms (after the null symbol), and the section
// headers (null, .strtab, .symtab).
func buildELF(syms []sym) []byte {
	var str bytes.Buffer
	str.WriteByte(0)
	nameOff := make([]uint32, len(syms))
	for i, s := range syms {
		nameOff[i] = uint32(str.Len())
		str.WriteString(s.name)
		str.WriteByte(0)
	}
	var tab bytes.Buffer
	tab.Write(make([]byte, 24)) // the null symbol
	for i, s := range syms {
		binary.Write(&tab, binary.LittleEndian, elf.Sym64{
			Name: nameOff[i], Info: elf.ST_INFO(elf.STB_LOCAL, s.typ), Shndx: 1, Value: s.value, Size: s.size})
	}
	strOff := uint64(64)
	symOff := strOff + uint64(str.Len())
	shOff := symOff + uint64(tab.Len())
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, elf.Header64{
		Ident:     [16]byte{0x7f, 'E', 'L', 'F', 2, 1, 1},
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(elf.EM_X86_64),
		Version:   1,
		Shoff:     shOff,
		Ehsize:    64,
		Shentsize: 64,
		Shnum:     3,
	})
	out.Write(str.Bytes())
	out.Write(tab.Bytes())
	binary.Write(&out, binary.LittleEndian, elf.Section64{})
	binary.Write(&out, binary.LittleEndian, elf.Section64{Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(str.Len())})
	binary.Write(&out, binary.LittleEndian, elf.Section64{Type: uint32(elf.SHT_SYMTAB), Off: symOff, Size: uint64(tab.Len()), Link: 1, Entsize: 24})
	return out.Bytes()
}

// reference computes ksObjects's answer with debug/elf and sort.
func reference(image []byte, prefix string) ([]ksRange, bool) {
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return nil, false
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, false
	}
	var rs []ksRange
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_OBJECT && s.Size > 0 && strings.HasPrefix(s.Name, prefix) {
			rs = append(rs, ksRange{uintptr(s.Value), uintptr(s.Value + s.Size)})
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	var merged []ksRange
	for _, r := range rs {
		if k := len(merged) - 1; k >= 0 && r.start <= merged[k].end {
			merged[k].end = max(merged[k].end, r.end)
			continue
		}
		merged = append(merged, r)
	}
	return merged, true
}

func TestObjects(t *testing.T) {
	image := buildELF([]sym{
		{"runtime.vkNet", elf.STT_OBJECT, 0x3000, 0x100},
		{"runtime.vkFS", elf.STT_OBJECT, 0x1000, 0x800},
		{"runtime.vkTmp", elf.STT_OBJECT, 0x1800, 0x10},   // touches vkFS: merged
		{"runtime.vkTmp2", elf.STT_OBJECT, 0x1804, 0x4},   // inside: merged
		{"runtime.mheap_", elf.STT_OBJECT, 0x2000, 0x800}, // not the kernel's
		{"runtime.vkEntry", elf.STT_FUNC, 0x5000, 0x40},   // code, not data
		{"runtime.vkEmpty", elf.STT_OBJECT, 0x6000, 0},    // no bytes
		{"runtime.vk", elf.STT_OBJECT, 0x7000, 8},
		{"runtime.v", elf.STT_OBJECT, 0x8000, 8}, // shorter than the prefix
	})
	out := make([]ksRange, 8)
	n, err := ksObjects(image, "runtime.vk", out)
	if err != "" {
		t.Fatal(err)
	}
	want := []ksRange{{0x1000, 0x1810}, {0x3000, 0x3100}, {0x7000, 0x7008}}
	if got := out[:n]; !slices.Equal(got, want) {
		t.Fatalf("ksObjects = %x, want %x", got, want)
	}
	for _, tc := range []struct {
		start, end uintptr
		want       bool
	}{
		{0x0fff, 0x1000, false}, // ends where vkFS starts
		{0x0fff, 0x1001, true},  // its last byte is vkFS's first
		{0x1810, 0x2000, false}, // right after the merged range
		{0x180f, 0x1810, true},
		{0x2000, 0x3000, false}, // mheap_
		{0x2fff, 0x7001, true},  // spans several
		{0x3100, 0x7000, false}, // between
		{0x1000, 0x1000, false}, // empty
		{0x7007, 0x9000, true},
	} {
		if got := ksFind(out, n, tc.start, tc.end); got != tc.want {
			t.Errorf("ksFind(%#x, %#x) = %v, want %v", tc.start, tc.end, got, tc.want)
		}
	}
	// Too small a result array is an error, not a truncated guard.
	if _, err := ksObjects(image, "runtime.vk", make([]ksRange, 2)); err == "" {
		t.Errorf("3 ranges fit in 2 slots")
	}
}

func TestBadImages(t *testing.T) {
	good := buildELF([]sym{{"runtime.vkA", elf.STT_OBJECT, 0x1000, 8}})
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	le := binary.LittleEndian
	shoff := le.Uint64(good[0x28:])
	symtab := shoff + 2*64
	for _, tc := range []struct {
		name  string
		image []byte
		want  string
	}{
		{"empty", nil, "not an ELF image"},
		{"truncated header", good[:40], "not an ELF image"},
		{"32-bit", mutate(func(b []byte) []byte { b[4] = 1; return b }), "not a 64-bit little-endian ELF image"},
		{"big-endian", mutate(func(b []byte) []byte { b[5] = 2; return b }), "not a 64-bit little-endian ELF image"},
		{"no section headers (stripped of them)", mutate(func(b []byte) []byte { le.PutUint16(b[0x3c:], 0); return b }), "the ELF image has no section headers"},
		{"section headers past the end", mutate(func(b []byte) []byte { le.PutUint64(b[0x28:], 1<<62); return b }), "the ELF section headers lie outside the image"},
		{"small section header entries", mutate(func(b []byte) []byte { le.PutUint16(b[0x3a:], 40); return b }), "the ELF section headers lie outside the image"},
		{"truncated section headers", good[:len(good)-10], "the ELF section headers lie outside the image"},
		{"symbol table past the end", mutate(func(b []byte) []byte { le.PutUint64(b[symtab+0x20:], 1<<63); return b }), "the ELF symbol table lies outside the image"},
		{"symbol table size overflows", mutate(func(b []byte) []byte { le.PutUint64(b[symtab+0x18:], ^uint64(0)-8); return b }), "the ELF symbol table lies outside the image"},
		{"small symbol entries", mutate(func(b []byte) []byte { le.PutUint64(b[symtab+0x38:], 16); return b }), "the ELF symbol table lies outside the image"},
		{"string table link out of range", mutate(func(b []byte) []byte { le.PutUint32(b[symtab+0x28:], 3); return b }), "the ELF symbol table names no string table"},
		{"string table past the end", mutate(func(b []byte) []byte { le.PutUint64(b[shoff+64+0x18:], uint64(len(b))); return b }), "the ELF string table lies outside the image"},
		{"no symbol table", mutate(func(b []byte) []byte { le.PutUint32(b[symtab+4:], uint32(elf.SHT_PROGBITS)); return b }), "the ELF image has no symbol table (linked with -s?)"},
	} {
		n, err := ksObjects(tc.image, "runtime.vk", make([]ksRange, 4))
		if err != tc.want || n != 0 {
			t.Errorf("%s: %d ranges, %q; want %q", tc.name, n, err, tc.want)
		}
	}
	// A wrapping symbol.
	wrap := buildELF([]sym{{"runtime.vkA", elf.STT_OBJECT, ^uint64(0) - 4, 8}})
	if _, err := ksObjects(wrap, "runtime.vk", make([]ksRange, 4)); err == "" {
		t.Errorf("a symbol wrapping around the address space was accepted")
	}
	// A name running off the end of the string table is skipped.
	off := mutate(func(b []byte) []byte { le.PutUint32(b[le.Uint64(b[symtab+0x18:])+24:], 1<<20); return b })
	if n, err := ksObjects(off, "runtime.vk", make([]ksRange, 4)); err != "" || n != 0 {
		t.Errorf("a name outside the string table: %d ranges, %q", n, err)
	}
}

// TestGoBinary: on a real Go program built with the host's toolchain
// (linked with its symbol table, as velocity build links kernels), the
// ranges of package runtime's objects are debug/elf's. (The test binary
// itself will not do: go test links it with -s.)
func TestGoBinary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build a program to read: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hello")
	cmd := exec.Command(goTool, "build", "-o", bin, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	image, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	want, ok := reference(image, "runtime.")
	if !ok {
		t.Fatal("debug/elf cannot read the program's symbols")
	}
	out := make([]ksRange, 4096)
	n, msg := ksObjects(image, "runtime.", out)
	if msg != "" {
		t.Fatal(msg)
	}
	if !slices.Equal(out[:n], want) {
		t.Fatalf("%d ranges, want %d (%x...)", n, len(want), want[:min(len(want), 4)])
	}
	if n < 10 {
		t.Fatalf("only %d ranges of runtime objects in a Go program", n)
	}
	t.Logf("%d ranges of runtime objects", n)
}

// FuzzObjects: any image gives a clear error or sorted, disjoint,
// non-touching ranges; where debug/elf reads the same single symbol
// table, the ranges are its objects'. ksFind agrees with a linear scan.
func FuzzObjects(f *testing.F) {
	f.Add(buildELF([]sym{{"runtime.vkA", elf.STT_OBJECT, 0x1000, 8}, {"runtime.vkB", elf.STT_OBJECT, 0x1008, 8}}), uint64(0x1004))
	f.Add(buildELF([]sym{{"runtime.vkA", elf.STT_OBJECT, 0x3000, 0x10}, {"runtime.x", elf.STT_OBJECT, 0x1000, 8}, {"runtime.vkC", elf.STT_FUNC, 0x5000, 8}}), uint64(0x2ff8))
	f.Add([]byte("\x7fELF"), uint64(0))
	f.Fuzz(func(t *testing.T, image []byte, probe uint64) {
		out := make([]ksRange, 16)
		n, msg := ksObjects(image, "runtime.vk", out)
		if msg != "" {
			if n != 0 {
				t.Fatalf("error %q with %d ranges", msg, n)
			}
			return
		}
		for i := 0; i < n; i++ {
			if out[i].end <= out[i].start || i > 0 && out[i].start <= out[i-1].end {
				t.Fatalf("ranges not sorted, disjoint and apart: %x", out[:n])
			}
		}
		p := uintptr(probe)
		linear := false
		for _, r := range out[:n] {
			if r.start < p+16 && p < r.end && p+16 > p {
				linear = true
			}
		}
		if got := ksFind(out, n, p, p+16); p+16 > p && got != linear {
			t.Fatalf("ksFind(%#x, +16) = %v, a scan says %v", p, got, linear)
		}
		// Compare with debug/elf only where both read one symbol table of
		// plain 24-byte entries (debug/elf takes the first and ignores
		// sh_entsize).
		if len(image) < 64 {
			return
		}
		le := binary.LittleEndian
		shoff, shentsize, shnum := le.Uint64(image[0x28:]), uint64(le.Uint16(image[0x3a:])), uint64(le.Uint16(image[0x3c:]))
		if shentsize != 64 {
			return
		}
		tables := 0
		for i := uint64(0); i < shnum; i++ {
			sh := image[shoff+i*64:]
			if le.Uint32(sh[4:]) == uint32(elf.SHT_SYMTAB) {
				tables++
				if le.Uint64(sh[0x38:]) != 24 || le.Uint64(sh[0x20:])%24 != 0 {
					return
				}
			}
		}
		if tables != 1 {
			return
		}
		want, ok := reference(image, "runtime.vk")
		if ok && len(want) <= len(out) && !slices.Equal(out[:n], want) {
			t.Fatalf("ksObjects = %x, debug/elf gives %x", out[:n], want)
		}
	})
}
