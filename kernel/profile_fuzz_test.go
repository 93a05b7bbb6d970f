package kernel

import (
	"encoding/binary"
	"testing"
)

// FuzzDecodeSamples: a corrupt sample stream from the kernel is refused
// with an error, never a panic, and every decoded sample is well formed.
func FuzzDecodeSamples(f *testing.F) {
	word := func(ws ...uint64) []byte {
		var b []byte
		for _, w := range ws {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
		return b
	}
	f.Add(word(2|1<<8|1<<16|7<<32, 0x401000, 0x402000))
	f.Add(word(0))
	f.Add(word(0xff, 1))
	f.Fuzz(func(t *testing.T, raw []byte) {
		w := make([]uint64, len(raw)/8)
		for i := range w {
			w[i] = binary.LittleEndian.Uint64(raw[8*i:])
		}
		got, err := decodeSamples(nil, w)
		for _, s := range got {
			if len(s.PCs) == 0 || s.Kernel > len(s.PCs) || s.CPU < 0 || s.CPU > 255 {
				t.Fatalf("malformed sample decoded: %+v (err %v)", s, err)
			}
		}
	})
}
