// Package dagcbor is a small, strict implementation of the deterministic
// subset of CBOR that IPLD calls DAG-CBOR: minimal-length integers, definite
// lengths, map keys that are text sorted length-first then bytewise, no
// duplicate keys, links as tag 42 over a 0x00-prefixed binary CID, and no
// other tags. Floats are always 64-bit (the only form the DAG-CBOR spec
// allows), and NaN and the infinities are refused, so that every value has
// exactly one encoding and a block decoded here re-encodes to the same
// bytes (and so the same CID). Velocity's own blocks use no floats; they
// are decoded so that blocks written by other IPFS software can be read.
//
// Values are: nil, bool, int64 (negative numbers down to -2^63), *big.Int
// (negative numbers from -2^64 to below -2^63: CBOR's major type 1 reaches
// -2^64, which int64 cannot hold), uint64, int (encoded as an integer),
// float64, string, []byte, []any, map[string]any and cid.Cid.
//
// Decode never sizes an allocation from a count read from its input:
// arrays and maps grow as their items actually decode, so what a hostile
// block makes the decoder allocate is bounded by the block's size.
package dagcbor

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

const (
	majUint  = 0
	majNeg   = 1
	majBytes = 2
	majText  = 3
	majArray = 4
	majMap   = 5
	majTag   = 6
	majOther = 7
	tagCID   = 42
)

// MaxDepth bounds nesting on both encode and decode.
const MaxDepth = 512

// Encode encodes v canonically.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := encode(&buf, v, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func head(b *bytes.Buffer, major byte, n uint64) {
	m := major << 5
	switch {
	case n < 24:
		b.WriteByte(m | byte(n))
	case n <= math.MaxUint8:
		b.WriteByte(m | 24)
		b.WriteByte(byte(n))
	case n <= math.MaxUint16:
		b.WriteByte(m | 25)
		b.Write([]byte{byte(n >> 8), byte(n)})
	case n <= math.MaxUint32:
		b.WriteByte(m | 26)
		b.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	default:
		b.WriteByte(m | 27)
		for i := 7; i >= 0; i-- {
			b.WriteByte(byte(n >> (8 * i)))
		}
	}
}

// keyLess is the DAG-CBOR map key order: shorter first, then bytewise.
func keyLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func encode(b *bytes.Buffer, v any, depth int) error {
	if depth > MaxDepth {
		return errors.New("dagcbor: value nested too deeply")
	}
	switch v := v.(type) {
	case nil:
		b.WriteByte(0xf6)
	case bool:
		if v {
			b.WriteByte(0xf5)
		} else {
			b.WriteByte(0xf4)
		}
	case uint64:
		head(b, majUint, v)
	case int:
		return encode(b, int64(v), depth)
	case int64:
		if v >= 0 {
			head(b, majUint, uint64(v))
		} else {
			head(b, majNeg, uint64(-(v + 1)))
		}
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("dagcbor: cannot encode %v (DAG-CBOR has no NaN or infinities)", v)
		}
		b.WriteByte(majOther<<5 | 27)
		bits := math.Float64bits(v)
		for i := 7; i >= 0; i-- {
			b.WriteByte(byte(bits >> (8 * i)))
		}
	case *big.Int:
		if v == nil {
			return errors.New("dagcbor: nil *big.Int")
		}
		switch {
		case v.Sign() >= 0 && v.IsUint64():
			head(b, majUint, v.Uint64())
		case v.Sign() < 0:
			// -1 - v is CBOR's argument for a negative integer.
			n := new(big.Int).Neg(v)
			n.Sub(n, big.NewInt(1))
			if !n.IsUint64() {
				return fmt.Errorf("dagcbor: integer %s is below CBOR's range (-2^64)", v)
			}
			head(b, majNeg, n.Uint64())
		default:
			return fmt.Errorf("dagcbor: integer %s is above CBOR's range (2^64-1)", v)
		}
	case string:
		if !utf8.ValidString(v) {
			return errors.New("dagcbor: text is not valid UTF-8")
		}
		head(b, majText, uint64(len(v)))
		b.WriteString(v)
	case []byte:
		head(b, majBytes, uint64(len(v)))
		b.Write(v)
	case []any:
		head(b, majArray, uint64(len(v)))
		for _, e := range v {
			if err := encode(b, e, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
		head(b, majMap, uint64(len(v)))
		for _, k := range keys {
			if err := encode(b, k, depth+1); err != nil {
				return err
			}
			if err := encode(b, v[k], depth+1); err != nil {
				return err
			}
		}
	case cid.Cid:
		if !v.Defined() {
			return errors.New("dagcbor: undefined CID")
		}
		head(b, majTag, tagCID)
		raw := v.Bytes()
		head(b, majBytes, uint64(len(raw)+1))
		b.WriteByte(0)
		b.Write(raw)
	default:
		return fmt.Errorf("dagcbor: cannot encode %T", v)
	}
	return nil
}

// Decode decodes exactly one canonical value from data. Any deviation from
// the canonical form (and trailing bytes) is an error, so Encode(Decode(b))
// reproduces b exactly.
func Decode(data []byte) (any, error) {
	d := &decoder{data: data}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.off != len(data) {
		return nil, fmt.Errorf("dagcbor: %d trailing bytes at offset %d", len(data)-d.off, d.off)
	}
	return v, nil
}

type decoder struct {
	data []byte
	off  int
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("dagcbor: at offset %d: %s", d.off, fmt.Sprintf(format, args...))
}

func (d *decoder) head() (major byte, info byte, n uint64, err error) {
	if d.off >= len(d.data) {
		return 0, 0, 0, d.errorf("unexpected end of data")
	}
	c := d.data[d.off]
	d.off++
	major, info = c>>5, c&31
	switch {
	case info < 24:
		return major, info, uint64(info), nil
	case info <= 27:
		size := 1 << (info - 24)
		if len(d.data)-d.off < size {
			return 0, 0, 0, d.errorf("truncated integer")
		}
		for i := 0; i < size; i++ {
			n = n<<8 | uint64(d.data[d.off+i])
		}
		d.off += size
		if major == majOther {
			return major, info, n, nil
		}
		// Minimal encoding.
		var min uint64
		switch info {
		case 24:
			min = 24
		case 25:
			min = 1 << 8
		case 26:
			min = 1 << 16
		case 27:
			min = 1 << 32
		}
		if n < min {
			return 0, 0, 0, d.errorf("non-minimal integer encoding")
		}
		return major, info, n, nil
	}
	return 0, 0, 0, d.errorf("indefinite length or reserved additional info %d", info)
}

func (d *decoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.data)-d.off) {
		return nil, d.errorf("length %d exceeds remaining %d bytes", n, len(d.data)-d.off)
	}
	b := d.data[d.off : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

func (d *decoder) value(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, d.errorf("nested too deeply")
	}
	start := d.off
	major, info, n, err := d.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case majUint:
		return n, nil
	case majNeg:
		if n > math.MaxInt64 {
			// Below -2^63: -1 - n as a big integer.
			v := new(big.Int).SetUint64(n)
			return v.Neg(v).Sub(v, big.NewInt(1)), nil
		}
		return -int64(n) - 1, nil
	case majBytes:
		b, err := d.take(n)
		if err != nil {
			return nil, err
		}
		return append([]byte(nil), b...), nil
	case majText:
		b, err := d.take(n)
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(b) {
			return nil, d.errorf("text is not valid UTF-8")
		}
		return string(b), nil
	case majArray:
		// Each item takes at least one byte, so a longer count cannot
		// be honest. The count never sizes the slice: it grows with the
		// items that actually decode.
		if n > uint64(len(d.data)-d.off) {
			return nil, d.errorf("array length %d exceeds remaining data", n)
		}
		out := make([]any, 0, min(n, 64))
		for i := uint64(0); i < n; i++ {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if len(out) == cap(out) {
				// Double (append grows large slices by 1.25x, which
				// allocates five times the final size in total),
				// never beyond the count.
				grown := make([]any, len(out), min(n, 2*uint64(cap(out))))
				copy(grown, out)
				out = grown
			}
			out = append(out, v)
		}
		return out, nil
	case majMap:
		if n > uint64(len(d.data)-d.off)/2 {
			return nil, d.errorf("map length %d exceeds remaining data", n)
		}
		out := map[string]any{} // not presized from n (see the array case)
		prev := ""
		for i := uint64(0); i < n; i++ {
			k, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, d.errorf("map key is %T, expected text", k)
			}
			if i > 0 && !keyLess(prev, ks) {
				return nil, d.errorf("map keys not in canonical order or duplicated (%q after %q)", ks, prev)
			}
			prev = ks
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out[ks] = v
		}
		return out, nil
	case majTag:
		if n != tagCID {
			return nil, d.errorf("unsupported tag %d (only 42, CID, is allowed)", n)
		}
		inner, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		b, ok := inner.([]byte)
		if !ok || len(b) < 2 || b[0] != 0 {
			return nil, d.errorf("tag 42 must wrap bytes 0x00 followed by a binary CID")
		}
		used, c, err := cid.CidFromBytes(b[1:])
		if err != nil {
			return nil, d.errorf("bad CID in link: %v", err)
		}
		if used != len(b)-1 {
			return nil, d.errorf("trailing bytes after CID in link")
		}
		if !bytes.Equal(c.Bytes(), b[1:]) {
			return nil, d.errorf("non-canonical CID bytes in link")
		}
		return c, nil
	case majOther:
		switch {
		case info == 20:
			return false, nil
		case info == 21:
			return true, nil
		case info == 22:
			return nil, nil
		case info == 27:
			f := math.Float64frombits(n)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				d.off = start
				return nil, d.errorf("float %v is not allowed in DAG-CBOR (no NaN or infinities)", f)
			}
			return f, nil
		case info == 25 || info == 26:
			d.off = start
			return nil, d.errorf("%d-bit float: DAG-CBOR floats must be 64-bit", 8<<(info-24))
		}
		d.off = start
		return nil, d.errorf("unsupported simple value (additional info %d)", info)
	}
	return nil, d.errorf("unknown major type %d", major)
}

// Links returns every CID linked from v, in encounter order.
func Links(v any) []cid.Cid {
	var out []cid.Cid
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case cid.Cid:
			out = append(out, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
			for _, k := range keys {
				walk(v[k])
			}
		}
	}
	walk(v)
	return out
}
