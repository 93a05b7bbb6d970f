package gcref

import (
	"bytes"
	"hash/adler32"
	"hash/crc32"
	"math/bits"
	"math/rand"
	"slices"
	"testing"
)

// Each kernel against an independent computation on random inputs.

func randBytes(r *rand.Rand, n int, alpha int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Intn(alpha))
	}
	return b
}

func TestCRC32Adler32(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for it := 0; it < 200; it++ {
		b := randBytes(r, r.Intn(3000), 256)
		if got, want := CRC32(b), uint64(crc32.ChecksumIEEE(b)); got != want {
			t.Fatalf("CRC32(len %d) = %#x, want %#x", len(b), got, want)
		}
		if got, want := Adler32(b), uint64(adler32.Checksum(b)); got != want {
			t.Fatalf("Adler32(len %d) = %#x, want %#x", len(b), got, want)
		}
	}
}

func TestFind(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for it := 0; it < 2000; it++ {
		hay := randBytes(r, r.Intn(200), 3)
		needle := randBytes(r, r.Intn(6), 3)
		if r.Intn(4) == 0 && len(hay) > 0 { // a needle that surely occurs
			i := r.Intn(len(hay))
			needle = slices.Clone(hay[i : i+r.Intn(len(hay)-i+1)])
		}
		if got, want := Find(hay, needle), int64(bytes.Index(hay, needle)); got != want {
			t.Fatalf("Find(%v, %v) = %d, want %d", hay, needle, got, want)
		}
	}
}

func TestSieve(t *testing.T) {
	isPrime := func(k int64) bool {
		if k < 2 {
			return false
		}
		for d := int64(2); d*d <= k; d++ {
			if k%d == 0 {
				return false
			}
		}
		return true
	}
	var want int64
	for n := int64(0); n <= 3000; n++ {
		if got := Sieve(n); got != want {
			t.Fatalf("Sieve(%d) = %d, want %d", n, got, want)
		}
		if isPrime(n) {
			want++
		}
	}
}

func TestMatMul(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for it := 0; it < 50; it++ {
		n := int64(r.Intn(12))
		a, b, c := make([]int64, n*n), make([]int64, n*n), make([]int64, n*n)
		for i := range a {
			a[i], b[i] = r.Int63n(2001)-1000, r.Int63n(2001)-1000
		}
		// Independent: accumulate outer products row by row.
		want := make([]int64, n*n)
		for k := int64(0); k < n; k++ {
			for i := int64(0); i < n; i++ {
				for j := int64(0); j < n; j++ {
					want[i*n+j] += a[i*n+k] * b[k*n+j]
				}
			}
		}
		var ws int64
		for _, v := range want {
			ws += v
		}
		if got := MatMul(a, b, c, n); got != ws || !slices.Equal(c, want) {
			t.Fatalf("MatMul n=%d: sum %d want %d", n, got, ws)
		}
	}
}

func TestFIR(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for it := 0; it < 100; it++ {
		x := make([]int64, r.Intn(300))
		h := make([]int64, r.Intn(20))
		for i := range x {
			x[i] = r.Int63n(1<<20) - 1<<19
		}
		for i := range h {
			h[i] = r.Int63n(1<<10) - 1<<9
		}
		y := make([]int64, r.Intn(len(x)+1))
		// Independent: scatter each input sample into the outputs it feeds.
		want := make([]int64, len(y))
		for j := range x {
			for k := range h {
				if j+k < len(want) {
					want[j+k] += h[k] * x[j]
				}
			}
		}
		var ws int64
		for _, v := range want {
			ws += v
		}
		if got := FIR(x, h, y); got != ws || !slices.Equal(y, want) {
			t.Fatalf("FIR: sum %d want %d", got, ws)
		}
	}
}

func TestPopCount(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for it := 0; it < 100; it++ {
		d := make([]int64, r.Intn(500))
		var want int64
		for i := range d {
			d[i] = int64(r.Uint64() >> uint(r.Intn(64)))
			want += int64(bits.OnesCount64(uint64(d[i])))
		}
		if got := PopCount(d); got != want {
			t.Fatalf("PopCount = %d, want %d", got, want)
		}
	}
}

func TestInsertionSort(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for it := 0; it < 100; it++ {
		a := make([]int64, r.Intn(400))
		for i := range a {
			a[i] = r.Int63n(1000) - 500
		}
		want := slices.Clone(a)
		slices.Sort(want)
		var ws int64
		for i, v := range want {
			ws += v * int64(i+1)
		}
		if got := InsertionSort(a); got != ws || !slices.Equal(a, want) {
			t.Fatalf("InsertionSort: %d want %d", got, ws)
		}
	}
}
