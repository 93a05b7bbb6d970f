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

func benchBoth(b *testing.B, fn string, arg int64) {
	mod := compileSrc(b, benchSrc)
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

func BenchmarkCompile(b *testing.B) {
	mod := compileSrc(b, benchSrc)
	for i := 0; i < b.N; i++ {
		if _, err := Compile(mod.Funcs...); err != nil {
			b.Fatal(err)
		}
	}
}
