package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/velocityos/velocity/llm/quant"
)

// sample builds a file with every metadata type and a few tensors.
func sample(t testing.TB, align uint32) []byte {
	var w Writer
	w.Set("general.architecture", Of("qwen2"))
	if align != 0 {
		w.Set("general.alignment", Of(align))
	}
	w.Set("u8", Of(uint8(200)))
	w.Set("i8", Of(int8(-5)))
	w.Set("u16", Of(uint16(60000)))
	w.Set("i16", Of(int16(-30000)))
	w.Set("u32", Of(uint32(4000000000)))
	w.Set("i32", Of(int32(-2000000000)))
	w.Set("f32", Of(float32(1.5)))
	w.Set("bool", Of(true))
	w.Set("u64", Of(uint64(1)<<60))
	w.Set("i64", Of(int64(-1)<<60))
	w.Set("f64", Of(2.25))
	w.Set("strs", Of([]string{"a", "", "ünï"}))
	w.Set("i32s", Of([]int32{1, -2, 3}))
	w.Set("f32s", Of([]float32{0.5, -1}))
	w.Set("bools", Of([]bool{true, false}))
	w.Set("nested", Of([]Value{Of([]uint8{1, 2}), Of([]string{"x"})}))
	w.Set("empty", Of([]string{}))
	x := make([]float32, 64)
	for i := range x {
		x[i] = float32(i) - 30
	}
	for _, typ := range []quant.Type{quant.F32, quant.Q8_0, quant.F16} {
		b, err := quant.Quantize(typ, x)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor("t."+typ.String(), typ, []uint64{32, 2}, b); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, align := range []uint32{0, 64, 1} {
		data := sample(t, align)
		f, err := Parse(data)
		if err != nil {
			t.Fatalf("align %d: %v", align, err)
		}
		want := uint64(align)
		if align == 0 {
			want = 32
		}
		if f.Alignment != want || f.DataOffset%want != 0 {
			t.Errorf("alignment %d, data at %d; want %d", f.Alignment, f.DataOffset, want)
		}
		checks := map[string]any{"u8": uint8(200), "i8": int8(-5), "u16": uint16(60000), "i16": int16(-30000),
			"u32": uint32(4000000000), "i32": int32(-2000000000), "f32": float32(1.5), "bool": true,
			"u64": uint64(1) << 60, "i64": int64(-1) << 60, "f64": 2.25, "strs": []string{"a", "", "ünï"},
			"i32s": []int32{1, -2, 3}, "f32s": []float32{0.5, -1}, "bools": []bool{true, false}, "empty": []string{}}
		for k, v := range checks {
			got, ok := f.Get(k)
			if !ok || !reflect.DeepEqual(got.V, v) {
				t.Errorf("%s = %#v, want %#v", k, got.V, v)
			}
		}
		n, _ := f.Get("nested")
		if n.Elem != TypeArray || n.Len() != 2 || !reflect.DeepEqual(n.V.([]Value)[1].V, []string{"x"}) {
			t.Errorf("nested = %#v", n)
		}
		tq, ok := f.Tensor("t.Q8_0")
		if !ok || tq.Type != quant.Q8_0 || tq.Size != 68 || !reflect.DeepEqual(tq.Dims, []uint64{32, 2}) {
			t.Fatalf("tensor = %+v", tq)
		}
		y := make([]float32, 64)
		if err := quant.Dequantize(tq.Type, tq.Data, y); err != nil || y[63] < 32.9 || y[63] > 33.1 {
			t.Errorf("dequantized tensor: %v, %v", y[63], err)
		}
		// Rewriting the parsed file gives the same bytes.
		var w Writer
		w.Alignment = f.Alignment
		for _, kv := range f.KV {
			w.Set(kv.Key, kv.Value)
		}
		for _, tn := range f.Tensors {
			if err := w.AddTensor(tn.Name, tn.Type, tn.Dims, tn.Data); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		w.WriteTo(&buf)
		if !bytes.Equal(buf.Bytes(), data) {
			t.Errorf("align %d: rewrite differs", align)
		}
	}
}

func TestVersion2(t *testing.T) {
	data := sample(t, 0)
	binary.LittleEndian.PutUint32(data[4:], 2)
	if f, err := Parse(data); err != nil || f.Version != 2 {
		t.Fatalf("v2: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	good := sample(t, 0)
	f, _ := Parse(good)
	tensorEnd := int(f.DataOffset)
	set := func(off int, v uint64, size int) []byte {
		b := append([]byte(nil), good...)
		if size == 4 {
			binary.LittleEndian.PutUint32(b[off:], uint32(v))
		} else {
			binary.LittleEndian.PutUint64(b[off:], v)
		}
		return b
	}
	// Offsets of fields of the last tensor info (t.F16): ... type u32, offset u64, then padding.
	lastInfo := bytes.LastIndex(good[:tensorEnd], []byte("t.F16")) + len("t.F16")
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":          {nil, "magic"},
		"wrong magic":    {append([]byte("GGML"), good[4:]...), "bad magic"},
		"version 1":      {set(4, 1, 4), "version 1"},
		"big-endian":     {set(4, 3<<24, 4), "big-endian"},
		"truncated":      {good[:len(good)-10], "beyond the file"},
		"truncated meta": {good[:100], "truncated"},
		"huge kv count":  {set(16, 1<<62, 8), "truncated"},
		"huge tensors":   {set(8, 1<<40, 8), ""},
		"unknown type":   {set(lastInfo+4+16, 99, 4), "unknown quantization type 99"},
		"dims":           {set(lastInfo+4, 1<<40, 8), ""},
		"offset beyond":  {set(lastInfo+4+16+4, 1<<20, 8), "beyond the file"},
		"unaligned":      {set(lastInfo+4+16+4, 3, 8), "not aligned"},
		"bad dims count": {set(lastInfo, 7, 4), "dimensions"},
	}
	for name, c := range cases {
		_, err := Parse(c.data)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want %q", name, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample(f, 0))
	f.Add(sample(f, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error without ErrFormat: %v", err)
			}
			return
		}
		// What parses can be rewritten, and reparses the same.
		var w Writer
		w.Alignment = g.Alignment
		for _, kv := range g.KV {
			w.Set(kv.Key, kv.Value)
		}
		for _, tn := range g.Tensors {
			if err := w.AddTensor(tn.Name, tn.Type, tn.Dims, tn.Data); err != nil {
				t.Fatalf("rewrite: %v", err)
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		h, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if len(h.KV) != len(g.KV) || len(h.Tensors) != len(g.Tensors) {
			t.Fatalf("reparse lost entries")
		}
		for i := range g.Tensors {
			if !bytes.Equal(g.Tensors[i].Data, h.Tensors[i].Data) {
				t.Fatalf("tensor %q data changed", g.Tensors[i].Name)
			}
		}
	})
}
