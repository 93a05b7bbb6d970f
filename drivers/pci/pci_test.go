package pci

import (
	"encoding/binary"
	"testing"
)

// cfgSpace reads a fake 256-byte configuration space as the kernel
// would: little-endian, all ones past the end.
func cfgSpace(b []byte) func(off, width int) uint32 {
	return func(off, width int) uint32 {
		if off < 0 || off+width > len(b) {
			return 0xFFFFFFFF
		}
		switch width {
		case 1:
			return uint32(b[off])
		case 2:
			return uint32(binary.LittleEndian.Uint16(b[off:]))
		}
		return binary.LittleEndian.Uint32(b[off:])
	}
}

func TestWalkCaps(t *testing.T) {
	b := make([]byte, 256)
	b[6] = statusCaps
	b[capPointer] = 0x40
	b[0x40], b[0x41] = CapVendor, 0x50
	b[0x50], b[0x51] = CapMSIX, 0x00
	caps := walkCaps(cfgSpace(b))
	if len(caps) != 2 || caps[0] != (Capability{CapVendor, 0x40}) || caps[1] != (Capability{CapMSIX, 0x50}) {
		t.Errorf("caps %v", caps)
	}
	// A list that loops ends after the most a header can hold.
	b[0x51] = 0x40
	if caps := walkCaps(cfgSpace(b)); len(caps) != maxCapChain {
		t.Errorf("looping list gave %d entries", len(caps))
	}
	// No capabilities bit: no list, whatever the pointer says.
	b[6] = 0
	if caps := walkCaps(cfgSpace(b)); caps != nil {
		t.Errorf("without the status bit: %v", caps)
	}
}

// FuzzWalkCaps: whatever a device's configuration space holds, the walk
// ends, stays inside the 0x40-0xFF capability area at 4-byte-aligned
// offsets, and returns at most maxCapChain entries.
func FuzzWalkCaps(f *testing.F) {
	seed := make([]byte, 256)
	seed[6], seed[capPointer], seed[0x40], seed[0x41] = statusCaps, 0x40, CapMSIX, 0x40
	f.Add(seed)
	f.Add([]byte{0, 0, 0, 0, 0, 0, statusCaps})
	f.Fuzz(func(t *testing.T, b []byte) {
		caps := walkCaps(cfgSpace(b))
		if len(caps) > maxCapChain {
			t.Fatalf("%d capabilities", len(caps))
		}
		for _, c := range caps {
			if c.Off < 0x40 || c.Off > 0xFC || c.Off%4 != 0 {
				t.Fatalf("capability at %#x", c.Off)
			}
		}
	})
}
