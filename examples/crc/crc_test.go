package crc

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestAgainstHashCRC32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 600; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := crc32.ChecksumIEEE(b)
		for name, f := range map[string]func([]byte) uint32{"Bitwise": Bitwise, "Slicing8": Slicing8, "Slow": Slow, "Overfit": Overfit} {
			if got := f(b); got != want {
				t.Fatalf("%s(%d bytes) = %#x, want %#x", name, n, got, want)
			}
		}
		if got := WrongRare(b); (got != want) != (n%64 == 37) {
			t.Fatalf("WrongRare(%d bytes) = %#x, want %#x except on lengths ≡ 37 mod 64", n, got, want)
		}
		if n > 0 && Panics(b) != want {
			t.Fatalf("Panics(%d bytes) wrong", n)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Panics(empty) did not panic")
		}
	}()
	Panics(nil)
}
