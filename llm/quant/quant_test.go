package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randVec(r *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * scale
	}
	return x
}

func TestF16RoundTrip(t *testing.T) {
	// Every finite half survives f16 → f32 → f16 unchanged.
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN payloads are not preserved
		}
		if got := F32ToF16(F16ToF32(uint16(h))); got != uint16(h) {
			t.Fatalf("half %#04x → %v → %#04x", h, F16ToF32(uint16(h)), got)
		}
	}
	cases := []struct {
		f    float32
		want uint16
	}{{1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65520, 0x7c00}, {1e-8, 0}, {5.96e-8, 1},
		{1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02}, {float32(math.Inf(-1)), 0xfc00}}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.want {
			t.Errorf("F32ToF16(%v) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	if F32ToBF16(1) != 0x3f80 || BF16ToF32(0x3f80) != 1 || F32ToBF16(float32(math.NaN()))&0x7f80 != 0x7f80 {
		t.Error("bf16 conversions wrong")
	}
}

// maxRelErr: the round-trip error allowed per type, relative to the block's
// largest magnitude.
var maxRelErr = map[Type]float64{F32: 0, F16: 1e-3, BF16: 8e-3, Q8_0: 1.0 / 127, Q4_0: 1.0 / 8, Q5_0: 1.0 / 16, Q4_K: 0.2, Q6_K: 1.0 / 24}

func TestQuantizeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, typ := range Supported {
		x := randVec(r, 4*QKK, 1)
		b, err := Quantize(typ, x)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		if err := Dequantize(typ, b, y); err != nil {
			t.Fatal(err)
		}
		var amax, emax float64
		for i := range x {
			amax = max(amax, math.Abs(float64(x[i])))
			emax = max(emax, math.Abs(float64(x[i]-y[i])))
		}
		if emax > maxRelErr[typ]*amax {
			t.Errorf("%s: max round-trip error %g of max %g (allowed %g)", typ, emax, amax, maxRelErr[typ]*amax)
		}
		if typ.BlockLen() > 1 && emax == 0 {
			t.Errorf("%s: lossless on random data: quantizer did nothing", typ)
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	if _, err := Quantize(Q8_0, make([]float32, 33)); err == nil {
		t.Error("Q8_0 of 33 values accepted")
	}
	if _, err := Quantize(Q4_1, make([]float32, 32)); err == nil {
		t.Error("unsupported Q4_1 accepted")
	}
	if err := Dequantize(Q8_0, make([]byte, 33), make([]float32, 32)); err == nil {
		t.Error("short Q8_0 source accepted")
	}
	if _, err := Type(99).RowBytes(32); err == nil {
		t.Error("type 99 has a size")
	}
	if _, err := Q8_0.RowBytes(1 << 63); err == nil {
		t.Error("overflowing size accepted")
	}
}

// The dot product of a quantized row with a prepared activation equals the
// float dot product of the dequantized row with the activation as ggml
// rounds it (computed here independently from Act's fields).
func TestDotMatchesDequantized(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, typ := range Supported {
		for _, n := range []int{QKK, 3 * QKK} {
			w := randVec(r, n, 0.5)
			x := randVec(r, n, 2)
			x[5] = 0
			row, _ := Quantize(typ, w)
			wd := make([]float32, n)
			Dequantize(typ, row, wd)
			var a Act
			a.Set(x)
			a.Prepare(typ)
			xd := make([]float64, n)
			switch DotType(typ) {
			case Q8_0:
				for i := range x {
					xd[i] = float64(a.d8[i/QK]) * float64(a.q8[i])
				}
			case Q8_K:
				for i := range x {
					xd[i] = float64(a.dk[i/QKK]) * float64(a.qk[i])
				}
			case F16:
				for i := range x {
					xd[i] = float64(F16ToF32(a.half[i]))
				}
			case BF16:
				for i := range x {
					xd[i] = float64(BF16ToF32(a.half[i]))
				}
			default:
				for i := range x {
					xd[i] = float64(x[i])
				}
			}
			var want, mag, exact float64
			for i := range x {
				want += float64(wd[i]) * xd[i]
				mag += math.Abs(float64(wd[i]) * xd[i])
				exact += float64(w[i]) * float64(x[i])
			}
			got, err := Dot(typ, row, &a)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(float64(got) - want); d > 1e-5*mag+1e-5 {
				t.Errorf("%s n=%d: dot %g, dequantized %g (diff %g, magnitude %g)", typ, n, got, want, d, mag)
			}
			// And it approximates the exact product.
			if d := math.Abs(float64(got) - exact); d > 0.1*mag {
				t.Errorf("%s n=%d: dot %g far from exact %g", typ, n, got, exact)
			}
		}
	}
}

func TestDotAVX2MatchesGo(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA on this CPU: only the pure-Go kernels run")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range Supported {
		for _, n := range []int{32, 64, 96, 896, 4864} {
			if n%typ.BlockLen() != 0 {
				continue
			}
			w := randVec(r, n, 1)
			row, _ := Quantize(typ, w)
			var a Act
			a.Set(randVec(r, n, 3))
			a.Prepare(typ)
			useAVX2 = true
			fast := dotRow(typ, row, &a)
			useAVX2 = false
			slow := dotRow(typ, row, &a)
			useAVX2 = hasAVX2
			if d := math.Abs(float64(fast - slow)); d > 1e-4*math.Abs(float64(slow))+1e-3 {
				t.Errorf("%s n=%d: AVX2 %g, Go %g", typ, n, fast, slow)
			}
		}
	}
}

func TestDotErrors(t *testing.T) {
	var a Act
	a.Set(make([]float32, 64))
	if _, err := Dot(Q8_0, make([]byte, 68), &a); err == nil {
		t.Error("unprepared activation accepted")
	}
	a.Prepare(Q8_0)
	if _, err := Dot(Q8_0, make([]byte, 34), &a); err == nil {
		t.Error("short row accepted")
	}
}

func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, typ := range Supported {
		row, _ := Quantize(typ, randVec(r, 4864, 1))
		var a Act
		a.Set(randVec(r, 4864, 1))
		a.Prepare(typ)
		for _, avx := range []bool{false, true} {
			if avx && !hasAVX2 {
				continue
			}
			name := typ.String() + map[bool]string{false: "/go", true: "/avx2"}[avx]
			b.Run(name, func(b *testing.B) {
				useAVX2 = avx
				defer func() { useAVX2 = hasAVX2 }()
				b.SetBytes(int64(len(row)))
				for range b.N {
					dotRow(typ, row, &a)
				}
			})
		}
	}
}

// MatMul's batched kernel gives exactly MatVec's results.
func TestMatMulMatchesMatVec(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, typ := range Supported {
		const rows, cols = 7, 512
		w, _ := Quantize(typ, randVec(r, rows*cols, 1))
		for _, n := range []int{1, 4, 5, 9} {
			acts := make([]Act, n)
			got := make([][]float32, n)
			for i := range acts {
				acts[i].Set(randVec(r, cols, 2))
				acts[i].Prepare(typ)
				got[i] = make([]float32, rows-1)
			}
			MatMul(typ, w, cols, acts, got, 1, rows)
			for i := range acts {
				want := make([]float32, rows-1)
				MatVec(typ, w, cols, &acts[i], want, 1, rows)
				for j := range want {
					if got[i][j] != want[j] {
						t.Fatalf("%s n=%d: act %d row %d: MatMul %g, MatVec %g", typ, n, i, j+1, got[i][j], want[j])
					}
				}
			}
		}
	}
}

func BenchmarkMatMulQ8_0(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const rows, cols, n = 64, 896, 16
	w, _ := Quantize(Q8_0, randVec(r, rows*cols, 1))
	acts := make([]Act, n)
	out := make([][]float32, n)
	for i := range acts {
		acts[i].Set(randVec(r, cols, 1))
		acts[i].Prepare(Q8_0)
		out[i] = make([]float32, rows)
	}
	b.Run("matvec", func(b *testing.B) {
		for range b.N {
			for i := range acts {
				MatVec(Q8_0, w, cols, &acts[i], out[i], 0, rows)
			}
		}
	})
	b.Run("matmul", func(b *testing.B) {
		for range b.N {
			MatMul(Q8_0, w, cols, acts, out, 0, rows)
		}
	})
}

// BenchmarkMatVecLarge streams a 62 MB Q8_0 matrix (out of every cache),
// as decoding does: bytes/s here is the weight bandwidth of one thread.
func BenchmarkMatVecLarge(b *testing.B) {
	const rows, cols = 65536, 896
	r := rand.New(rand.NewPCG(1, 1))
	row, _ := Quantize(Q8_0, randVec(r, cols, 1))
	w := make([]byte, 0, len(row)*rows)
	for range rows {
		w = append(w, row...)
	}
	var a Act
	a.Set(randVec(r, cols, 1))
	a.Prepare(Q8_0)
	out := make([]float32, rows)
	b.SetBytes(int64(len(w)))
	for range b.N {
		MatVec(Q8_0, w, cols, &a, out, 0, rows)
	}
}
