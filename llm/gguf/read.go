package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/velocityos/velocity/llm/quant"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// MaxDims is ggml's limit on tensor dimensions.
const MaxDims = 4

// maxNesting bounds arrays of arrays, so that a file cannot recurse deeply.
const maxNesting = 8

// KV is one metadata entry.
type KV struct {
	Key   string
	Value Value
}

// Tensor describes one tensor: Dims[0] is the row length (ggml's ne0).
type Tensor struct {
	Name   string
	Dims   []uint64
	Type   quant.Type
	Offset uint64 // within the data section
	Size   uint64 // bytes
	Data   []byte // the tensor's bytes within the file
}

// Elements is the number of values in the tensor.
func (t *Tensor) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file.
type File struct {
	Version    uint32
	KV         []KV
	Tensors    []Tensor
	Alignment  uint64
	DataOffset uint64 // file offset of the data section

	kv      map[string]int
	tensors map[string]int
}

// Get returns the metadata value under key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.kv[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// Tensor returns the tensor named name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	i, ok := f.tensors[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// ErrFormat wraps every error about malformed input.
var ErrFormat = errors.New("gguf: malformed file")

type reader struct {
	b   []byte
	off int
}

func (r *reader) fail(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrFormat, r.off, fmt.Sprintf(format, args...))
}

func (r *reader) need(n uint64, what string) error {
	if n > uint64(len(r.b)-r.off) {
		return r.fail("%s needs %d bytes, %d left (truncated?)", what, n, len(r.b)-r.off)
	}
	return nil
}

func (r *reader) u32(what string) (uint32, error) {
	if err := r.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

func (r *reader) u64(what string) (uint64, error) {
	if err := r.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v, nil
}

func (r *reader) str(what string) (string, error) {
	n, err := r.u64(what + " length")
	if err != nil {
		return "", err
	}
	if err := r.need(n, what); err != nil {
		return "", err
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

// scalar decodes one value of scalar type t (which has a fixed size).
func (r *reader) scalar(t ValueType) any {
	b := r.b[r.off:]
	r.off += t.size()
	switch t {
	case TypeUint8:
		return b[0]
	case TypeInt8:
		return int8(b[0])
	case TypeBool:
		return b[0] != 0
	case TypeUint16:
		return binary.LittleEndian.Uint16(b)
	case TypeInt16:
		return int16(binary.LittleEndian.Uint16(b))
	case TypeUint32:
		return binary.LittleEndian.Uint32(b)
	case TypeInt32:
		return int32(binary.LittleEndian.Uint32(b))
	case TypeFloat32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	case TypeUint64:
		return binary.LittleEndian.Uint64(b)
	case TypeInt64:
		return int64(binary.LittleEndian.Uint64(b))
	case TypeFloat64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	panic("unreachable")
}

func (r *reader) value(t ValueType, depth int) (Value, error) {
	switch {
	case t == TypeString:
		s, err := r.str("string value")
		return Value{Type: t, V: s}, err
	case t == TypeArray:
		return r.array(depth)
	case t.size() > 0:
		if err := r.need(uint64(t.size()), t.String()+" value"); err != nil {
			return Value{}, err
		}
		return Value{Type: t, V: r.scalar(t)}, nil
	}
	return Value{}, r.fail("unknown metadata value type %d", uint32(t))
}

func (r *reader) array(depth int) (Value, error) {
	if depth >= maxNesting {
		return Value{}, r.fail("arrays nested more than %d deep", maxNesting)
	}
	et, err := r.u32("array element type")
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(et)
	n, err := r.u64("array length")
	if err != nil {
		return Value{}, err
	}
	v := Value{Type: TypeArray, Elem: elem}
	if sz := elem.size(); sz > 0 {
		// Fixed-size elements: the whole array must be present before the
		// slice is made, so its size is bounded by the input.
		if n > uint64(len(r.b)) {
			return Value{}, r.need(n, "array")
		}
		if err := r.need(n*uint64(sz), fmt.Sprintf("array of %d %s", n, elem)); err != nil {
			return Value{}, err
		}
		v.V = r.fixedArray(elem, int(n))
		return v, nil
	}
	switch elem {
	case TypeString:
		var ss []string // grows with what is read, never from n
		for i := uint64(0); i < n; i++ {
			s, err := r.str(fmt.Sprintf("string %d of %d", i, n))
			if err != nil {
				return Value{}, err
			}
			ss = append(ss, s)
		}
		if ss == nil {
			ss = []string{}
		}
		v.V = ss
	case TypeArray:
		var vs []Value
		for i := uint64(0); i < n; i++ {
			e, err := r.array(depth + 1)
			if err != nil {
				return Value{}, err
			}
			vs = append(vs, e)
		}
		if vs == nil {
			vs = []Value{}
		}
		v.V = vs
	default:
		return Value{}, r.fail("unknown array element type %d", et)
	}
	return v, nil
}

func (r *reader) fixedArray(t ValueType, n int) any {
	b := r.b[r.off:]
	r.off += n * t.size()
	switch t {
	case TypeUint8:
		return append([]uint8(nil), b[:n]...)
	case TypeInt8:
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(b[i])
		}
		return out
	case TypeBool:
		out := make([]bool, n)
		for i := range out {
			out[i] = b[i] != 0
		}
		return out
	case TypeUint16:
		out := make([]uint16, n)
		for i := range out {
			out[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return out
	case TypeInt16:
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out
	case TypeUint32:
		out := make([]uint32, n)
		for i := range out {
			out[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
		return out
	case TypeInt32:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	case TypeFloat32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	case TypeUint64:
		out := make([]uint64, n)
		for i := range out {
			out[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
		return out
	case TypeInt64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return out
	case TypeFloat64:
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return out
	}
	panic("unreachable")
}

// Parse reads a GGUF file of version 2 or 3 held in data. The returned
// tensors' Data slices alias data.
func Parse(data []byte) (*File, error) {
	r := &reader{b: data}
	if err := r.need(4, "magic"); err != nil {
		return nil, err
	}
	if string(data[:4]) != Magic {
		return nil, fmt.Errorf("%w: bad magic %q (not a GGUF file)", ErrFormat, data[:4])
	}
	r.off = 4
	ver, err := r.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case ver == 2 || ver == 3:
	case ver&0xffff == 0 && ver != 0:
		return nil, fmt.Errorf("%w: version %#x looks byte-swapped: big-endian GGUF is not supported", ErrFormat, ver)
	default:
		return nil, fmt.Errorf("%w: version %d not supported (only 2 and 3)", ErrFormat, ver)
	}
	nt, err := r.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nkv, err := r.u64("metadata count")
	if err != nil {
		return nil, err
	}
	f := &File{Version: ver, Alignment: DefaultAlignment, kv: map[string]int{}, tensors: map[string]int{}}
	// The loops below grow with what they read; each entry consumes bytes,
	// so a huge count runs out of input rather than memory.
	for i := uint64(0); i < nkv; i++ {
		key, err := r.str(fmt.Sprintf("key %d", i))
		if err != nil {
			return nil, err
		}
		t, err := r.u32("type of " + key)
		if err != nil {
			return nil, err
		}
		v, err := r.value(ValueType(t), 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if _, dup := f.kv[key]; dup {
			return nil, r.fail("duplicate key %q", key)
		}
		f.kv[key] = len(f.KV)
		f.KV = append(f.KV, KV{key, v})
	}
	if v, ok := f.Get("general.alignment"); ok {
		a, isU32 := v.V.(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("%w: general.alignment must be a uint32 power of two, have %s %v", ErrFormat, v.Type, v.V)
		}
		f.Alignment = uint64(a)
	}
	for i := uint64(0); i < nt; i++ {
		t, err := r.tensorInfo(i)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tensors[t.Name]; dup {
			return nil, r.fail("duplicate tensor %q", t.Name)
		}
		f.tensors[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	start := (uint64(r.off) + f.Alignment - 1) / f.Alignment * f.Alignment
	f.DataOffset = start
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset%f.Alignment != 0 {
			return nil, fmt.Errorf("%w: tensor %q: offset %d not aligned to %d", ErrFormat, t.Name, t.Offset, f.Alignment)
		}
		if start > uint64(len(data)) || t.Offset > uint64(len(data))-start || t.Size > uint64(len(data))-start-t.Offset {
			return nil, fmt.Errorf("%w: tensor %q: bytes %d..%d of the data section lie beyond the file (%d bytes, data at %d; truncated?)",
				ErrFormat, t.Name, t.Offset, t.Offset+t.Size, len(data), start)
		}
		t.Data = data[start+t.Offset : start+t.Offset+t.Size : start+t.Offset+t.Size]
	}
	return f, nil
}

func (r *reader) tensorInfo(i uint64) (Tensor, error) {
	name, err := r.str(fmt.Sprintf("tensor %d name", i))
	if err != nil {
		return Tensor{}, err
	}
	nd, err := r.u32("dimension count of " + name)
	if err != nil {
		return Tensor{}, err
	}
	if nd == 0 || nd > MaxDims {
		return Tensor{}, r.fail("tensor %q has %d dimensions (1..%d allowed)", name, nd, MaxDims)
	}
	t := Tensor{Name: name, Dims: make([]uint64, nd)}
	n := uint64(1)
	for d := range t.Dims {
		if t.Dims[d], err = r.u64("dimension of " + name); err != nil {
			return Tensor{}, err
		}
		if t.Dims[d] == 0 || t.Dims[d] > math.MaxInt64/n {
			return Tensor{}, r.fail("tensor %q: dimensions %v are zero or overflow", name, t.Dims[:d+1])
		}
		n *= t.Dims[d]
	}
	typ, err := r.u32("type of " + name)
	if err != nil {
		return Tensor{}, err
	}
	t.Type = quant.Type(typ)
	if !t.Type.Known() {
		return Tensor{}, r.fail("tensor %q: unknown quantization type %d", name, typ)
	}
	if t.Dims[0]%uint64(t.Type.BlockLen()) != 0 {
		return Tensor{}, r.fail("tensor %q: row length %d is not a multiple of %s's block of %d", name, t.Dims[0], t.Type, t.Type.BlockLen())
	}
	if t.Size, err = t.Type.RowBytes(n); err != nil {
		return Tensor{}, r.fail("tensor %q: %v", name, err)
	}
	if t.Offset, err = r.u64("offset of " + name); err != nil {
		return Tensor{}, err
	}
	if strings.ContainsRune(name, 0) {
		return Tensor{}, r.fail("tensor name %q contains NUL", name)
	}
	return t, nil
}
