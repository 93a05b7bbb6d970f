package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/velocityos/velocity/llm/quant"
)

// Writer builds a GGUF version 3 file: the project writes its own test and
// benchmark models with it.
type Writer struct {
	Alignment uint64 // 0 means general.alignment if set, else 32
	kv        []KV
	tensors   []Tensor
	keys      map[string]bool
}

// Set adds (or replaces) a metadata entry.
func (w *Writer) Set(key string, v Value) {
	if w.keys == nil {
		w.keys = map[string]bool{}
	}
	if w.keys[key] {
		for i := range w.kv {
			if w.kv[i].Key == key {
				w.kv[i].Value = v
			}
		}
		return
	}
	w.keys[key] = true
	w.kv = append(w.kv, KV{key, v})
}

// AddTensor adds a tensor whose data is already encoded as typ.
func (w *Writer) AddTensor(name string, typ quant.Type, dims []uint64, data []byte) error {
	if len(dims) == 0 || len(dims) > MaxDims {
		return fmt.Errorf("gguf: tensor %q: %d dimensions", name, len(dims))
	}
	n := uint64(1)
	for _, d := range dims {
		n *= d
	}
	size, err := typ.RowBytes(n)
	if err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	if dims[0]%uint64(typ.BlockLen()) != 0 {
		return fmt.Errorf("gguf: tensor %q: row of %d not a multiple of %s blocks", name, dims[0], typ)
	}
	if uint64(len(data)) != size {
		return fmt.Errorf("gguf: tensor %q: %d bytes of data, %s %v needs %d", name, len(data), typ, dims, size)
	}
	w.tensors = append(w.tensors, Tensor{Name: name, Dims: append([]uint64(nil), dims...), Type: typ, Size: size, Data: data})
	return nil
}

// WriteTo writes the file.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	align := w.Alignment
	for _, kv := range w.kv {
		if kv.Key == "general.alignment" {
			if a, ok := kv.Value.V.(uint32); ok && align == 0 {
				align = uint64(a)
			}
		}
	}
	if align == 0 {
		align = DefaultAlignment
	}
	cw := &countWriter{w: bufio.NewWriterSize(out, 1<<20)}
	cw.raw([]byte(Magic))
	cw.u32(3)
	cw.u64(uint64(len(w.tensors)))
	cw.u64(uint64(len(w.kv)))
	for _, kv := range w.kv {
		cw.str(kv.Key)
		cw.u32(uint32(kv.Value.Type))
		cw.value(kv.Value)
	}
	off := uint64(0)
	offs := make([]uint64, len(w.tensors))
	for i, t := range w.tensors {
		offs[i] = off
		cw.str(t.Name)
		cw.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			cw.u64(d)
		}
		cw.u32(uint32(t.Type))
		cw.u64(off)
		off = (off + t.Size + align - 1) / align * align
	}
	for i, t := range w.tensors {
		cw.pad(align)
		_ = offs[i]
		cw.raw(t.Data)
	}
	if cw.err == nil && len(w.tensors) > 0 {
		cw.pad(align)
	}
	if cw.err == nil {
		cw.err = cw.w.(*bufio.Writer).Flush()
	}
	return cw.n, cw.err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) raw(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *countWriter) pad(align uint64) {
	if r := uint64(c.n) % align; r != 0 {
		c.raw(make([]byte, align-r))
	}
}

func (c *countWriter) u32(v uint32) { c.raw(binary.LittleEndian.AppendUint32(nil, v)) }
func (c *countWriter) u64(v uint64) { c.raw(binary.LittleEndian.AppendUint64(nil, v)) }
func (c *countWriter) str(s string) { c.u64(uint64(len(s))); c.raw([]byte(s)) }

func (c *countWriter) value(v Value) {
	if v.Type == TypeArray {
		rv := reflect.ValueOf(v.V)
		c.u32(uint32(v.Elem))
		c.u64(uint64(rv.Len()))
		for i := 0; i < rv.Len(); i++ {
			e := rv.Index(i).Interface()
			if ev, ok := e.(Value); ok {
				c.value(ev)
				continue
			}
			c.value(Value{Type: v.Elem, V: e})
		}
		return
	}
	switch x := v.V.(type) {
	case uint8:
		c.raw([]byte{x})
	case int8:
		c.raw([]byte{byte(x)})
	case bool:
		b := byte(0)
		if x {
			b = 1
		}
		c.raw([]byte{b})
	case uint16:
		c.raw(binary.LittleEndian.AppendUint16(nil, x))
	case int16:
		c.raw(binary.LittleEndian.AppendUint16(nil, uint16(x)))
	case uint32:
		c.u32(x)
	case int32:
		c.u32(uint32(x))
	case float32:
		c.u32(math.Float32bits(x))
	case uint64:
		c.u64(x)
	case int64:
		c.u64(uint64(x))
	case float64:
		c.u64(math.Float64bits(x))
	case string:
		c.str(x)
	default:
		if c.err == nil {
			c.err = fmt.Errorf("gguf: cannot write %T as %s", v.V, v.Type)
		}
	}
}
