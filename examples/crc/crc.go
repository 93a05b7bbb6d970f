// Package crc holds interchangeable implementations of CRC-32 (IEEE,
// reflected polynomial 0xEDB88320): a kernel-style Go function and the
// variants the self-healing loop may patch in at its entry (heal.GoFunc,
// docs/heal.md), including deliberately bad ones that the loop must
// reject or roll back. heal's tests and images/heal share them.
//
// Every function is //go:noinline, because a call site that inlined one
// would never reach a patched entry, and //go:norace: they only read their
// argument and an immutable table, and with -race every table load would
// be a call into the detector, which makes slicing-by-8 no faster than
// the bitwise loop. No variant calls Bitwise: once Bitwise's entry jumps
// to a variant, such a call would be a call to itself.
package crc

// Bitwise is the function being healed: one bit at a time.
//
//go:noinline
//go:norace
func Bitwise(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for k := 0; k < 8; k++ {
			c = c>>1 ^ 0xEDB88320&-(c&1)
		}
	}
	return ^c
}

var tab = func() (t [8][256]uint32) {
	for i := range 256 {
		c := uint32(i)
		for k := 0; k < 8; k++ {
			c = c>>1 ^ 0xEDB88320&-(c&1)
		}
		t[0][i] = c
	}
	for k := 1; k < 8; k++ {
		for i := range 256 {
			t[k][i] = t[k-1][i]>>8 ^ t[0][byte(t[k-1][i])]
		}
	}
	return t
}()

// Slicing8 computes the same CRC eight bytes per step with eight tables.
//
//go:noinline
//go:norace
func Slicing8(b []byte) uint32 {
	t := &tab
	c := ^uint32(0)
	for len(b) >= 8 {
		c ^= uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		c = t[7][byte(c)] ^ t[6][byte(c>>8)] ^ t[5][byte(c>>16)] ^ t[4][c>>24] ^
			t[3][b[4]] ^ t[2][b[5]] ^ t[1][b[6]] ^ t[0][b[7]]
		b = b[8:]
	}
	for _, x := range b {
		c = t[0][byte(c)^x] ^ c>>8
	}
	return ^c
}

// WrongRare is slicing-by-8 with a bug on lengths ≡ 37 (mod 64), which
// traffic of whole kilobytes never has and a differential test's inputs
// do.
//
//go:noinline
//go:norace
func WrongRare(b []byte) uint32 {
	c := Slicing8(b)
	if len(b)%64 == 37 {
		c ^= 1
	}
	return c
}

// Panics faults (index out of range) on an empty buffer.
//
//go:noinline
//go:norace
func Panics(b []byte) uint32 {
	if len(b) == 0 {
		return uint32(b[0])
	}
	return Slicing8(b)
}

// Slow is right and about twice as slow as Bitwise: it runs the bitwise
// loop twice.
//
//go:noinline
//go:norace
func Slow(b []byte) uint32 {
	var c [2]uint32
	for r := range c {
		c[r] = ^uint32(0)
		for _, x := range b {
			c[r] ^= uint32(x)
			for k := 0; k < 8; k++ {
				c[r] = c[r]>>1 ^ 0xEDB88320&-(c[r]&1)
			}
		}
	}
	if c[0] != c[1] {
		return 0
	}
	return ^c[1]
}

// Overfit is fast on short buffers (up to 256 bytes, what a differential
// test tends to use) and twice as slow as Bitwise on longer ones.
//
//go:noinline
//go:norace
func Overfit(b []byte) uint32 {
	if len(b) <= 256 {
		return Slicing8(b)
	}
	return Slow(b)
}
