package patch

import "testing"

// FuzzAnalyze: arbitrary bytes as a patch site's code region are either
// accepted with a consistent description or refused with an error, never
// a panic; an accepted entry is an instruction boundary and no decoded
// branch lands inside the five patched bytes.
func FuzzAnalyze(f *testing.F) {
	f.Add([]byte{0x0f, 0x1f, 0x44, 0x00, 0x00, 0x55, 0xc3}, 0)             // JIT patch pad
	f.Add([]byte{0x49, 0x3b, 0x66, 0x10, 0x76, 0x02, 0x90, 0xc3, 0xcc}, 0) // gc prologue
	f.Add([]byte{0xeb, 0x01, 0x90, 0x90, 0x90, 0x90, 0xc3}, 0)             // branch into the range
	f.Add([]byte{0x0f, 0xff}, 0)
	f.Fuzz(func(t *testing.T, code []byte, off int) {
		const lo = 0x400000
		info, err := analyze(code, lo, off)
		if err != nil {
			return
		}
		if info.first <= 0 || off < 0 || off+Len > len(code) {
			t.Fatalf("accepted entry %d of %d bytes with first instruction %d", off, len(code), info.first)
		}
		for _, i := range info.inner {
			if i <= 0 || i >= Len {
				t.Fatalf("inner boundary %d outside the patch range", i)
			}
		}
	})
}
