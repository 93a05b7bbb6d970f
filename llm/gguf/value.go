// Package gguf reads and writes GGUF files, the single-file model format of
// ggml and llama.cpp: a header, typed key/value metadata, a table of tensors
// and an aligned data section.
//
// Parse works on the whole file in memory (a mapped file on the host, the
// image's file system in the kernel) and returns tensor data as sub-slices,
// never copies. Every count and size in the file is checked against the bytes
// that are actually there before it is used, so a hostile or truncated file
// yields an error, never a panic or an allocation larger than the input.
package gguf

import (
	"fmt"
	"reflect"
)

// ValueType is the type tag of a metadata value.
type ValueType uint32

// GGUF metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var typeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// size is the encoded size of a scalar of type t (0 for string and array,
// whose size depends on their contents).
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// Value is one metadata value. Scalars hold the Go value of their type
// (uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64, float64); arrays hold a slice of it, or []Value for an array of
// arrays.
type Value struct {
	Type ValueType
	Elem ValueType // element type when Type is TypeArray
	V    any
}

var goTypes = map[reflect.Type]ValueType{
	reflect.TypeOf(uint8(0)): TypeUint8, reflect.TypeOf(int8(0)): TypeInt8,
	reflect.TypeOf(uint16(0)): TypeUint16, reflect.TypeOf(int16(0)): TypeInt16,
	reflect.TypeOf(uint32(0)): TypeUint32, reflect.TypeOf(int32(0)): TypeInt32,
	reflect.TypeOf(float32(0)): TypeFloat32, reflect.TypeOf(false): TypeBool,
	reflect.TypeOf(""): TypeString, reflect.TypeOf(uint64(0)): TypeUint64,
	reflect.TypeOf(int64(0)): TypeInt64, reflect.TypeOf(float64(0)): TypeFloat64,
}

// Of makes a Value from a Go value of one of the GGUF scalar types or a
// slice of one (an array), or a []Value (an array of arrays, all of whose
// elements must be arrays). It panics on any other type: values are built by
// the program, not read from input.
func Of(v any) Value {
	if vs, ok := v.([]Value); ok {
		for _, e := range vs {
			if e.Type != TypeArray {
				panic("gguf.Of: []Value elements must be arrays")
			}
		}
		return Value{Type: TypeArray, Elem: TypeArray, V: vs}
	}
	rt := reflect.TypeOf(v)
	if t, ok := goTypes[rt]; ok {
		return Value{Type: t, V: v}
	}
	if rt != nil && rt.Kind() == reflect.Slice {
		if t, ok := goTypes[rt.Elem()]; ok {
			return Value{Type: TypeArray, Elem: t, V: v}
		}
	}
	panic(fmt.Sprintf("gguf.Of: no GGUF type for %T", v))
}

// Len is the number of elements of an array value (0 for scalars).
func (v Value) Len() int {
	if v.Type != TypeArray {
		return 0
	}
	return reflect.ValueOf(v.V).Len()
}

// String returns a string value.
func (v Value) String() (string, bool) { s, ok := v.V.(string); return s, ok }

// Uint returns an integer value of any width that is not negative.
func (v Value) Uint() (uint64, bool) {
	switch x := v.V.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8, int16, int32, int64:
		i := reflect.ValueOf(x).Int()
		return uint64(i), i >= 0
	}
	return 0, false
}

// Float returns a float value, or an integer value as a float.
func (v Value) Float() (float64, bool) {
	switch x := v.V.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	if u, ok := v.Uint(); ok {
		return float64(u), true
	}
	return 0, false
}

// Strings returns an array of strings.
func (v Value) Strings() ([]string, bool) { s, ok := v.V.([]string); return s, ok }

// Ints returns an array of any integer type as int64s.
func (v Value) Ints() ([]int64, bool) {
	if v.Type != TypeArray || v.Elem.size() == 0 || v.Elem == TypeFloat32 || v.Elem == TypeFloat64 || v.Elem == TypeBool {
		return nil, false
	}
	rv := reflect.ValueOf(v.V)
	out := make([]int64, rv.Len())
	for i := range out {
		e := rv.Index(i)
		if e.CanInt() {
			out[i] = e.Int()
		} else {
			out[i] = int64(e.Uint())
		}
	}
	return out, true
}

// Floats returns an array of float32 or float64 as float32s.
func (v Value) Floats() ([]float32, bool) {
	switch x := v.V.(type) {
	case []float32:
		return x, true
	case []float64:
		out := make([]float32, len(x))
		for i, f := range x {
			out[i] = float32(f)
		}
		return out, true
	}
	return nil, false
}
