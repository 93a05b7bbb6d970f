// Package gcref holds the eight benchmark kernels of bench/jitbench
// written in plain Go and compiled by gc: the reference the JIT's code is
// measured against (issue 4's target: JIT within 1.5x of gc). Each
// function has exactly the semantics of its module-language twin in
// examples/bench/kernels.vel, including wrap-around arithmetic, so a
// benchmark compares the same work. They are //go:noinline so gc cannot
// specialise them for a call site's constant inputs, which the JIT cannot
// do either.
package gcref

// MatMul sets c = a×b for n×n row-major matrices and returns the sum of
// the elements of c.
//
//go:noinline
func MatMul(a, b, c []int64, n int64) int64 {
	var sum int64
	for i := int64(0); i < n; i++ {
		for j := int64(0); j < n; j++ {
			var s int64
			for k := int64(0); k < n; k++ {
				s += a[i*n+k] * b[k*n+j]
			}
			c[i*n+j] = s
			sum += s
		}
	}
	return sum
}

// CRC32 is the IEEE CRC-32 (reflected, polynomial 0xEDB88320), computed
// bit by bit without a table.
//
//go:noinline
func CRC32(data []byte) uint64 {
	crc := uint64(0xffffffff)
	for i := 0; i < len(data); i++ {
		crc ^= uint64(data[i])
		for k := 0; k < 8; k++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xedb88320
			} else {
				crc >>= 1
			}
		}
	}
	return crc ^ 0xffffffff
}

// Adler32 is the Adler-32 checksum (RFC 1950), reducing mod 65521 on
// every byte.
//
//go:noinline
func Adler32(data []byte) uint64 {
	a, b := uint64(1), uint64(0)
	for i := 0; i < len(data); i++ {
		a = (a + uint64(data[i])) % 65521
		b = (b + a) % 65521
	}
	return b<<16 | a
}

// Find is naive substring search: the first index of needle in hay, or
// -1. An empty needle is found at 0.
//
//go:noinline
func Find(hay, needle []byte) int64 {
	n, m := int64(len(hay)), int64(len(needle))
	for i := int64(0); i+m <= n; i++ {
		j := int64(0)
		for j < m && hay[i+j] == needle[j] {
			j++
		}
		if j == m {
			return i
		}
	}
	return -1
}

// Sieve returns the number of primes below n (sieve of Eratosthenes).
//
//go:noinline
func Sieve(n int64) int64 {
	if n < 2 {
		return 0
	}
	comp := make([]bool, n)
	var count int64
	for i := int64(2); i < n; i++ {
		if !comp[i] {
			count++
			for j := i * i; j < n; j += i {
				comp[j] = true
			}
		}
	}
	return count
}

// FIR filters x with taps h into y: y[i] = Σ_k h[k]*x[i-k] over k with
// i-k ≥ 0, for i < len(y) (len(y) ≤ len(x)); it returns the sum of y.
//
//go:noinline
func FIR(x, h, y []int64) int64 {
	var sum int64
	for i := int64(0); i < int64(len(y)); i++ {
		var acc int64
		for k := int64(0); k < int64(len(h)) && k <= i; k++ {
			acc += h[k] * x[i-k]
		}
		y[i] = acc
		sum += acc
	}
	return sum
}

// PopCount returns the total number of set bits in data (Kernighan's
// loop: clear the lowest set bit until none is left).
//
//go:noinline
func PopCount(data []int64) int64 {
	var n int64
	for i := 0; i < len(data); i++ {
		v := uint64(data[i])
		for v != 0 {
			v &= v - 1
			n++
		}
	}
	return n
}

// InsertionSort sorts a in place (ascending) and returns Σ a[i]*(i+1)
// after sorting.
//
//go:noinline
func InsertionSort(a []int64) int64 {
	for i := 1; i < len(a); i++ {
		v := a[i]
		j := i - 1
		for j >= 0 && a[j] > v {
			a[j+1] = a[j]
			j--
		}
		a[j+1] = v
	}
	var s int64
	for i := 0; i < len(a); i++ {
		s += a[i] * int64(i+1)
	}
	return s
}
