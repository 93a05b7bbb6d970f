package jit

import (
	"testing"

	"github.com/velocityos/velocity/lang/interp"
)

const benchSrc = `module bench

func Fib(n int64) int64 {
	if n < 2 { return n }
	return Fib(n-1) + Fib(n-2)
}

func Sieve(n int64) int64 {
	comp := make([]bool, n)
	count := int64(0)
	for i := int64(2); i < n; i++ {
		if !comp[i] {
			count++
			for j := i * i; j < n; j += i { comp[j] = true }
		}
	}
	return count
}
`

// arrayBenchSrc measures calls returning arrays: n calls of Quad, each
// building a [4]int64 in the caller's destination.
const arrayBenchSrc = `module abench

func Quad(x int64) [4]int64 { return [4]int64{x, x + 1, x * 2, x * 3} }

func Arrays(n int64) int64 {
	s := int64(0)
	for i := int64(0); i < n; i++ {
		a := Quad(i)
		s += a[0] + a[3]
	}
	return s
}
`

func benchBoth(b *testing.B, fn string, arg int64) { benchSrcBoth(b, benchSrc, fn, arg) }

func benchSrcBoth(b *testing.B, src, fn string, arg int64) {
	mod := compileSrc(b, src)
	f := mod.Lookup(fn)
	args := []interp.Value{uint64(arg)}
	b.Run("interp", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := interp.New(1<<40).Call(f, args); err != nil {
				b.Fatal(err)
			}
		}
	})
	if !Supported() {
		return
	}
	p, err := CompileAndLoad(f)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	m := New(0)
	defer m.Close()
	b.Run("jit", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			m.Fuel = 1 << 40
			if _, err := m.Call(p, f, args); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkFib25(b *testing.B)      { benchBoth(b, "Fib", 25) }
func BenchmarkSieve10000(b *testing.B) { benchBoth(b, "Sieve", 10000) }

// BenchmarkArrayResult10000: 10,000 calls of a function returning [4]int64.
func BenchmarkArrayResult10000(b *testing.B) { benchSrcBoth(b, arrayBenchSrc, "Arrays", 10000) }

func BenchmarkCompile(b *testing.B) {
	mod := compileSrc(b, benchSrc)
	for i := 0; i < b.N; i++ {
		if _, err := Compile(mod.Funcs...); err != nil {
			b.Fatal(err)
		}
	}
}
