package dagcbor

import (
	"bytes"
	"encoding/hex"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func testCID(t testing.TB) cid.Cid {
	c, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVectors(t *testing.T) {
	cases := []struct {
		v   any
		hex string
	}{
		{uint64(0), "00"},
		{uint64(23), "17"},
		{uint64(24), "1818"},
		{uint64(1000), "1903e8"},
		{int64(-1), "20"},
		{int64(-1000), "3903e7"},
		{"a", "6161"},
		{[]byte{1, 2}, "420102"},
		{[]any{uint64(1), []any{}}, "820180"},
		{map[string]any{"bb": uint64(1), "a": uint64(2), "c": nil}, "a3616102 6163f6 626262 01"},
		{true, "f5"},
		{1.0, "fb3ff0000000000000"},
		{-2.5, "fbc004000000000000"},
		{0.0, "fb0000000000000000"},
		{int64(math.MinInt64), "3b7fffffffffffffff"},
		{minCBOR(), "3bffffffffffffffff"}, // -2^64, CBOR's least integer
		{new(big.Int).Sub(big.NewInt(math.MinInt64), big.NewInt(1)), "3b8000000000000000"},
		{big.NewInt(5), "05"},
		{new(big.Int).SetUint64(math.MaxUint64), "1bffffffffffffffff"},
	}
	for _, c := range cases {
		want := strings.ReplaceAll(c.hex, " ", "")
		got, err := Encode(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != want {
			t.Errorf("Encode(%v) = %x, want %s", c.v, got, want)
		}
	}
}

// minCBOR is -2^64, the least integer CBOR encodes.
func minCBOR() *big.Int { return new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 64)) }

// TestForeignValues decodes what other IPFS software writes and Velocity
// never does: floats and the negative integers below int64's range.
func TestForeignValues(t *testing.T) {
	cases := []struct {
		hex  string
		want any
	}{
		{"fb400921fb54442d18", math.Pi},
		{"fb8000000000000000", math.Copysign(0, -1)},
		{"3bffffffffffffffff", minCBOR()},
		{"3b8000000000000000", new(big.Int).Sub(big.NewInt(math.MinInt64), big.NewInt(1))},
		{"3b7fffffffffffffff", int64(math.MinInt64)},
		{"a16166fb3ff8000000000000", map[string]any{"f": 1.5}},
	}
	for _, c := range cases {
		b, _ := hex.DecodeString(c.hex)
		v, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", c.hex, err)
		}
		if !reflect.DeepEqual(v, c.want) {
			if x, ok := v.(*big.Int); !ok || x.Cmp(c.want.(*big.Int)) != 0 {
				t.Fatalf("%s: decoded %#v, want %#v", c.hex, v, c.want)
			}
		}
		if f, ok := v.(float64); ok && math.Signbit(f) != math.Signbit(c.want.(float64)) {
			t.Fatalf("%s: sign of zero lost", c.hex)
		}
		out, err := Encode(v)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("%s: re-encodes as %x, %v", c.hex, out, err)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), math.Inf(-1), new(big.Int).Sub(minCBOR(), big.NewInt(1)), new(big.Int).Lsh(big.NewInt(1), 64)} {
		if _, err := Encode(bad); err == nil {
			t.Errorf("Encode(%v) succeeded", bad)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	v := map[string]any{
		"kind":  "func",
		"n":     int64(-5),
		"big":   uint64(1) << 63,
		"link":  testCID(t),
		"list":  []any{uint64(1), "two", []byte("three"), nil, false},
		"inner": map[string]any{"z": uint64(0), "aa": []any{}},
	}
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, v) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", d, v)
	}
	b2, _ := Encode(d)
	if !bytes.Equal(b, b2) {
		t.Fatal("re-encoding differs")
	}
	if l := Links(d); len(l) != 1 || !l[0].Equals(testCID(t)) {
		t.Fatalf("links %v", l)
	}
}

func TestRejectsNonCanonical(t *testing.T) {
	cases := map[string]string{
		"1817":               "non-minimal",     // 23 in two bytes
		"190017":             "non-minimal",     // 23 in three bytes
		"9f01ff":             "indefinite",      // indefinite array
		"a2616201616101":     "canonical order", // keys b, a
		"a2616101616101":     "canonical order", // duplicate key
		"a1 01 01":           "map key",
		"f93c00":             "64-bit",       // 1.0 as a half float
		"fa3f800000":         "64-bit",       // 1.0 as a single float
		"fb7ff8000000000000": "NaN",          // NaN
		"fb7ff0000000000000": "infinities",   // +Inf
		"f7":                 "simple value", // undefined
		"c1 01":              "unsupported tag",
		"0000":               "trailing",
		"62 61":              "exceeds",
		"d82a 4101":          "tag 42",
		"61 ff":              "UTF-8",
		"9a ffffffff":        "exceeds remaining",
		"a1 6161 01 ff":      "trailing",
	}
	for h, want := range cases {
		b, _ := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		_, err := Decode(b)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", h, err, want)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	b := bytes.Repeat([]byte{0x81}, MaxDepth+10)
	b = append(b, 0)
	if _, err := Decode(b); err == nil {
		t.Fatal("deep nesting accepted")
	}
}

// FuzzDecode checks that decoding never panics and that whatever decodes
// re-encodes to exactly the same bytes (the canonical form is unique).
func FuzzDecode(f *testing.F) {
	seed, _ := Encode(map[string]any{"a": []any{uint64(1), int64(-2), "x", []byte{3}, nil, true}})
	f.Add(seed)
	f.Add([]byte{0xd8, 0x2a, 0x58, 0x25, 0x00, 0x01, 0x71, 0x12, 0x20})
	f.Add([]byte{0x9f, 0xff})
	f.Add([]byte{0xa1, 0x61, 0x61, 0x80})
	f.Add([]byte{0xfb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18})
	f.Add([]byte{0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xba, 0x00, 0x0f, 0xff, 0xf0, 0x61, 0x61, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			return
		}
		out, err := Encode(v)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("not canonical: %x re-encodes as %x", data, out)
		}
	})
}
