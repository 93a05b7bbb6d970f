package record

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/lang/dagcbor"
	"github.com/velocityos/velocity/lang/merkle"
)

func key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func fn(t testing.TB, s string) cid.Cid {
	c, err := merkle.Sum([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sample(t testing.TB) *Record {
	r := &Record{
		From: fn(t, "from"), To: fn(t, "to"),
		Passes: []string{"constprop", "dce"}, Advisor: "optimizer",
		Gate:    GateSummary{Inputs: 274, Cycles: [2]uint64{90000, 30000}, Speedup: 3.0},
		Speedup: 2.75,
	}
	if err := r.Sign(key(1)); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundTripAndSignature(t *testing.T) {
	r := sample(t)
	c, data, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if c.Type() != cid.DagCBOR {
		t.Fatalf("record CID %s is not dag-cbor", c)
	}
	d, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(); err != nil {
		t.Fatal(err)
	}
	c2, data2, _ := d.Encode()
	if !c2.Equals(c) || !bytes.Equal(data, data2) {
		t.Fatal("decoded record re-encodes differently")
	}
	if !d.From.Equals(r.From) || !d.To.Equals(r.To) || d.Gate != r.Gate || d.Speedup != r.Speedup || d.Advisor != "optimizer" || strings.Join(d.Passes, ",") != "constprop,dce" {
		t.Fatalf("decoded %+v", d)
	}
	// Any change to a signed field breaks the signature.
	for name, mutate := range map[string]func(*Record){
		"speedup": func(r *Record) { r.Speedup = 9.0 },
		"to":      func(r *Record) { r.To = fn(t, "other") },
		"passes":  func(r *Record) { r.Passes = nil },
		"gate":    func(r *Record) { r.Gate.Inputs++ },
		"key":     func(r *Record) { r.Key = key(2).Public().(ed25519.PublicKey) },
		"sig":     func(r *Record) { r.Sig = append([]byte(nil), r.Sig...); r.Sig[0] ^= 1 },
	} {
		x, _ := Decode(data)
		mutate(x)
		if err := x.Verify(); !errors.Is(err, ErrSignature) {
			t.Errorf("%s changed: Verify = %v", name, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	r := sample(t)
	good := r.value(true)
	enc := func(m map[string]any) []byte {
		b, err := dagcbor.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return enc(m)
	}
	cases := map[string][]byte{
		"not a map":    enc(map[string]any{}),
		"extra field":  with("extra", "x"),
		"missing sig":  with("sig", nil),
		"format":       with("format", "other/1"),
		"from type":    with("from", "bafy..."),
		"speedup int":  with("speedup", uint64(2)),
		"speedup zero": with("speedup", 0.0),
		"key size":     with("key", []byte{1, 2, 3}),
		"passes type":  with("passes", []any{uint64(1)}),
		"too many":     with("passes", make([]any, MaxPasses+1)),
		"gate shape":   with("gate", map[string]any{"inputs": uint64(1)}),
		"cycles":       with("gate", map[string]any{"inputs": uint64(1), "cycles": []any{uint64(1)}, "speedup": 1.0}),
		"same from/to": with("to", r.From),
		"advisor long": with("advisor", strings.Repeat("a", MaxText+1)),
		"garbage":      []byte{0xff, 0x00},
		"trailing":     append(enc(good), 0),
		"huge":         make([]byte, MaxRecord+1),
	}
	for name, data := range cases {
		if _, err := Decode(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLogPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), LogFile)
	l, err := OpenLog(path)
	if err != nil || len(l.List()) != 0 {
		t.Fatalf("%v %v", l.List(), err)
	}
	a, b := fn(t, "a"), fn(t, "b")
	for _, c := range []cid.Cid{a, b, a} {
		if err := l.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	l2, err := OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.List(); len(got) != 2 || !got[0].Equals(a) || !got[1].Equals(b) {
		t.Fatalf("reopened log %v", got)
	}
}

func FuzzDecode(f *testing.F) {
	_, data, err := sample(f).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes (one encoding per
		// record, so one CID), whether or not it is signed correctly.
		_, out, err := r.Encode()
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("record %x re-encodes as %x", data, out)
		}
		r.Verify()
	})
}
