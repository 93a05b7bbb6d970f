package isnhash

import "testing"

// The paper's example (Appendix A: key 00..0f, the 15 bytes 00..0e) and
// the first entries of the reference test vectors (the same key, the
// messages 00..i-1), read as little-endian 64-bit numbers.
func TestSipHash24Vectors(t *testing.T) {
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	msg := make([]byte, 16)
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, c := range []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{1, 0x74f839c593dc67fd},
		{7, 0xab0200f58b01d137},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5},
	} {
		if got := velocitySipHash24(key, msg[:c.n]); got != c.want {
			t.Errorf("SipHash-2-4 of %d bytes = %#016x, want %#016x", c.n, got, c.want)
		}
	}
}

// A different key, or one byte more or changed, gives a different hash.
func TestSipHash24Keyed(t *testing.T) {
	a, b := [16]byte{1}, [16]byte{2}
	msg := []byte("10.0.2.15 10.0.2.2 80 40000")
	if velocitySipHash24(a, msg) == velocitySipHash24(b, msg) {
		t.Error("two keys gave one hash")
	}
	other := append([]byte(nil), msg...)
	other[len(other)-1]++
	if velocitySipHash24(a, msg) == velocitySipHash24(a, other) {
		t.Error("two messages gave one hash")
	}
}

func BenchmarkSipHash24(b *testing.B) {
	var key [16]byte
	msg := make([]byte, 12) // two IPv4 addresses and two ports
	for b.Loop() {
		velocitySipHash24(key, msg)
	}
}
