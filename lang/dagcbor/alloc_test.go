package dagcbor

import (
	"bytes"
	"runtime"
	"testing"
)

// allocated returns the bytes f allocates (MemStats.TotalAlloc delta).
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// hostileHeader returns a 1 MiB input: head (whose count claims about a
// million items) followed by one valid item and then bytes that fail.
func hostileHeader(head []byte, item []byte) []byte {
	const size = 1 << 20
	b := append([]byte(nil), head...)
	b = append(b, item...)
	b = append(b, 0xff) // a break code: invalid in DAG-CBOR
	return append(b, make([]byte, size-len(b))...)
}

// TestDecodeAllocationBoundedByInput is the regression test for counts
// read from the input presizing allocations: a 1 MiB block whose map or
// array header claims ~a million entries made Decode allocate 80 MiB
// before failing. What Decode allocates must follow what it actually
// decodes.
func TestDecodeAllocationBoundedByInput(t *testing.T) {
	cases := map[string][]byte{
		"map":   hostileHeader([]byte{0xba, 0x00, 0x0f, 0xff, 0xf0}, []byte{0x61, 'a', 0x01}),
		"array": hostileHeader([]byte{0x9a, 0x00, 0x0f, 0xff, 0xf0}, []byte{0x01}),
		// Nested arrays each claiming the remaining length: without a
		// bound every level presized 16 bytes per remaining byte.
		"nested": hostileHeader(bytes.Repeat([]byte{0x9a, 0x00, 0x0f, 0x00, 0x00}, 8), nil),
	}
	for name, in := range cases {
		var err error
		n := allocated(func() { _, err = Decode(in) })
		if err == nil {
			t.Fatalf("%s: hostile input decoded", name)
		}
		t.Logf("%s: a failing %d-byte input: %d bytes allocated", name, len(in), n)
		if n > 64<<10 {
			t.Errorf("%s: decoding a failing %d-byte input allocated %d bytes (want < 64 KiB)", name, len(in), n)
		}
	}
}

// TestDecodeAllocationValidInput bounds the allocation for valid input: a
// 1 MiB array of small integers decodes into a []any of 16-byte
// interfaces, which with append's growth may cost up to ~40 bytes per
// input byte, never more.
func TestDecodeAllocationValidInput(t *testing.T) {
	n := 1<<20 - 5
	in := append([]byte{0x9a, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, make([]byte, n)...)
	var err error
	got := allocated(func() { _, err = Decode(in) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a valid %d-byte array: %d bytes allocated (%.1f per input byte)", len(in), got, float64(got)/float64(len(in)))
	if got > 40*uint64(len(in)) {
		t.Errorf("decoding a valid %d-byte array allocated %d bytes (> 40 per input byte)", len(in), got)
	}
}
