// Package quant knows ggml's tensor element formats: their block layouts, how
// to turn them back into float32 (dequantize), how to make them from float32
// (quantize, used to write test and benchmark models), and how to take the
// dot product of a quantized weight row with an activation vector without
// dequantizing the row first, which is where a language model spends its time.
//
// The dot products follow llama.cpp's CPU backend on purpose: the activation
// is first quantized to the format ggml pairs with the weight type (Q8_0 for
// Q8_0/Q4_0/Q5_0, Q8_K for the K-quants, F16/BF16 for half-precision weights),
// and the sum is taken over integers. That is both the fast way and the way to
// agree with llama.cpp's logits to within rounding.
package quant

import "fmt"

// Type is a ggml tensor element type, numbered as in GGUF files.
type Type uint32

// The ggml type ids. Only the types with a layout in this package can be
// dequantized or used in dot products; the rest are known by size only, so
// that a GGUF file holding them can still be read and listed.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q4_1 Type = 3
	Q5_0 Type = 6
	Q5_1 Type = 7
	Q8_0 Type = 8
	Q8_1 Type = 9
	Q2_K Type = 10
	Q3_K Type = 11
	Q4_K Type = 12
	Q5_K Type = 13
	Q6_K Type = 14
	Q8_K Type = 15
	I8   Type = 24
	I16  Type = 25
	I32  Type = 26
	I64  Type = 27
	F64  Type = 28
	BF16 Type = 30
)

// QK is the block length of the 32-value formats; QKK that of the K-quants.
const (
	QK  = 32
	QKK = 256
)

type typeInfo struct {
	name       string
	blockLen   int // values per block
	blockBytes int // bytes per block
	supported  bool
}

var types = map[Type]typeInfo{
	F32:  {"F32", 1, 4, true},
	F16:  {"F16", 1, 2, true},
	BF16: {"BF16", 1, 2, true},
	Q4_0: {"Q4_0", QK, 18, true},
	Q4_1: {"Q4_1", QK, 20, false},
	Q5_0: {"Q5_0", QK, 22, true},
	Q5_1: {"Q5_1", QK, 24, false},
	Q8_0: {"Q8_0", QK, 34, true},
	Q8_1: {"Q8_1", QK, 36, false},
	Q2_K: {"Q2_K", QKK, 84, false},
	Q3_K: {"Q3_K", QKK, 110, false},
	Q4_K: {"Q4_K", QKK, 144, true},
	Q5_K: {"Q5_K", QKK, 176, false},
	Q6_K: {"Q6_K", QKK, 210, true},
	Q8_K: {"Q8_K", QKK, 292, false},
	I8:   {"I8", 1, 1, false},
	I16:  {"I16", 1, 2, false},
	I32:  {"I32", 1, 4, false},
	I64:  {"I64", 1, 8, false},
	F64:  {"F64", 1, 8, false},
}

// typeArr is types as an array, for the lookups on the hot path (a map
// lookup per matrix-vector call showed in profiles).
var typeArr = func() (a [32]typeInfo) {
	for t, i := range types {
		a[t] = i
	}
	return a
}()

func info(t Type) typeInfo {
	if t < Type(len(typeArr)) {
		return typeArr[t]
	}
	return typeInfo{}
}

// Supported lists the types this package can dequantize, quantize and use
// in dot products, in a stable order (tests iterate over it).
var Supported = []Type{F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q6_K}

func (t Type) String() string {
	if i := info(t); i.blockLen > 0 {
		return i.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Known reports whether t's block layout size is known (the file can be read).
func (t Type) Known() bool { return info(t).blockLen > 0 }

// Supported reports whether t can be dequantized and multiplied here.
func (t Type) Supported() bool { return info(t).supported }

// BlockLen is the number of values in one block of t (1 for plain types).
func (t Type) BlockLen() int { return info(t).blockLen }

// BlockBytes is the size in bytes of one block of t.
func (t Type) BlockBytes() int { return info(t).blockBytes }

// RowBytes returns the size in bytes of n values of type t, or an error if t
// is unknown or n is not a whole number of blocks. The result is checked for
// overflow so that sizes read from a file cannot wrap.
func (t Type) RowBytes(n uint64) (uint64, error) {
	i := info(t)
	if i.blockLen == 0 {
		return 0, fmt.Errorf("unknown ggml type %d", uint32(t))
	}
	if n%uint64(i.blockLen) != 0 {
		return 0, fmt.Errorf("%s: %d values is not a multiple of the block length %d", i.name, n, i.blockLen)
	}
	blocks := n / uint64(i.blockLen)
	if blocks > (1<<63)/uint64(i.blockBytes) {
		return 0, fmt.Errorf("%s: %d values overflow a size", i.name, n)
	}
	return blocks * uint64(i.blockBytes), nil
}

// ParseType returns the type named s (case-sensitive, as String prints it).
func ParseType(s string) (Type, error) {
	for t, i := range types {
		if i.name == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown ggml type %q", s)
}
