package validate

import (
	"encoding/binary"
	"testing"
)

// FuzzValidate feeds arbitrary blobs and layouts to Validate: it must
// never panic, and an accepted blob must satisfy the layout it claimed.
func FuzzValidate(f *testing.F) {
	f.Add([]byte{0xc3}, uint16(1), uint16(0), uint16(0), uint16(0), uint16(0), false)
	f.Add([]byte{0x48, 0x01, 0xd8, 0xeb, 0xfb, 0xc3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint16(6), uint16(3), uint16(8), uint16(16), uint16(0), true)
	f.Add([]byte{0xff, 0x15, 2, 0, 0, 0, 0xc3, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint16(7), uint16(7), uint16(8), uint16(8), uint16(16), false)
	f.Add([]byte{0x0f, 0x0b, 0x0f, 0x05}, uint16(2), uint16(2), uint16(0), uint16(0), uint16(0), false)
	f.Fuzz(func(t *testing.T, blob []byte, codeEnd, split, poolStart, poolEnd, tableEnd uint16, timing bool) {
		m := &Meta{Base: 0x1000, AllowTiming: timing}
		ce, sp := int(codeEnd), int(split)
		if sp > 0 && sp < ce {
			m.Funcs = []Range{{0, sp}, {sp, ce}}
		} else {
			m.Funcs = []Range{{0, ce}}
		}
		m.Pool = Range{int(poolStart), int(poolEnd)}
		m.CallTable = Range{int(poolEnd), int(tableEnd)}
		if sp < ce {
			m.TrapSites = []int{sp}
		}
		err := Validate(blob, m)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if ce > len(blob) || ce == 0 {
			t.Fatalf("accepted code end %d for a %d-byte blob", ce, len(blob))
		}
		for off := m.CallTable.Start; off+8 <= m.CallTable.End; off += 8 {
			a := binary.LittleEndian.Uint64(blob[off:])
			if a != m.Base && (len(m.Funcs) == 1 || a != m.Base+uint64(sp)) {
				t.Fatalf("accepted table slot %#x", a)
			}
		}
	})
}
