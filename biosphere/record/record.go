// Package record is the provenance record of a healed variant: when a
// node's healer replaces a function with a faster equivalent, the node
// publishes a signed record saying which function it replaced (from),
// with what (to), how the variant was produced, what its gate measured,
// and which node says so (an ed25519 public key).
//
// A record is a DAG-CBOR block, so it has a CID, travels through the
// trustless gateway like any block, and its canonical encoding is unique:
// Decode accepts only the exact bytes Encode produces. The signature
// covers the record's encoding without the "sig" field, under a domain
// prefix, so a record signature cannot be replayed as anything else.
//
// A record is a claim, not a proof. Peers adopt the variant only after
// their own gate has validated it (biosphere/adopt); the signature tells
// them who made the claim, so a peer can follow, ignore or rate a node.
package record

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/lang/dagcbor"
	"github.com/velocityos/velocity/lang/merkle"
)

// Format is the record's format string.
const Format = "velocity-biosphere/record/1"

// signDomain prefixes the signed bytes.
const signDomain = "velocity-biosphere record v1\x00"

// Bounds on a record's fields, checked by Decode (and by Encode, so a
// node cannot publish what its peers would refuse).
const (
	MaxPasses  = 64
	MaxText    = 256
	MaxRecord  = 64 << 10
	maxSpeedup = 1e6
)

// GateSummary is what the publisher's gate reported (heal.Report).
type GateSummary struct {
	Inputs  int64     // inputs on which both versions agreed
	Cycles  [2]uint64 // A/B cycles: current, candidate
	Speedup float64   // A/B speedup on the publisher's recorded inputs
}

// Record is a signed claim that To is a faster equivalent of From.
type Record struct {
	From    cid.Cid  // the function replaced
	To      cid.Cid  // the variant
	Passes  []string // how it was produced (optimizer passes)
	Advisor string   // who proposed it ("optimizer", an advisor's name)
	Gate    GateSummary
	Speedup float64           // measured after the swap (or the A/B figure)
	Key     ed25519.PublicKey // the publishing node
	Sig     []byte            // ed25519 over signDomain + the encoding without sig
}

// Error reports a malformed record.
type Error struct{ Msg string }

func (e *Error) Error() string { return "record: " + e.Msg }

func errorf(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// ErrSignature is returned by Verify for a signature that does not verify.
var ErrSignature = errors.New("record: bad signature")

func (r *Record) check() error {
	if !r.From.Defined() || !r.To.Defined() {
		return errorf("from and to must be CIDs")
	}
	if r.From.Equals(r.To) {
		return errorf("from and to are the same function %s", r.From)
	}
	if len(r.Passes) > MaxPasses {
		return errorf("%d passes (limit %d)", len(r.Passes), MaxPasses)
	}
	for _, p := range append([]string{r.Advisor}, r.Passes...) {
		if len(p) > MaxText || !utf8.ValidString(p) {
			return errorf("text field longer than %d bytes or not UTF-8", MaxText)
		}
	}
	for _, f := range []float64{r.Speedup, r.Gate.Speedup} {
		if math.IsNaN(f) || f <= 0 || f > maxSpeedup {
			return errorf("speedup %v out of range", f)
		}
	}
	if r.Gate.Inputs < 0 {
		return errorf("negative input count")
	}
	if len(r.Key) != ed25519.PublicKeySize {
		return errorf("public key is %d bytes, want %d", len(r.Key), ed25519.PublicKeySize)
	}
	return nil
}

func (r *Record) value(withSig bool) map[string]any {
	passes := make([]any, len(r.Passes))
	for i, p := range r.Passes {
		passes[i] = p
	}
	m := map[string]any{
		"format":  Format,
		"from":    r.From,
		"to":      r.To,
		"passes":  passes,
		"advisor": r.Advisor,
		"gate": map[string]any{
			"inputs":  r.Gate.Inputs,
			"cycles":  []any{r.Gate.Cycles[0], r.Gate.Cycles[1]},
			"speedup": r.Gate.Speedup,
		},
		"speedup": r.Speedup,
		"key":     []byte(r.Key),
	}
	if withSig {
		m["sig"] = r.Sig
	}
	return m
}

func (r *Record) signedBytes() ([]byte, error) {
	b, err := dagcbor.Encode(r.value(false))
	if err != nil {
		return nil, err
	}
	return append([]byte(signDomain), b...), nil
}

// Sign sets Key and Sig with priv.
func (r *Record) Sign(priv ed25519.PrivateKey) error {
	r.Key = priv.Public().(ed25519.PublicKey)
	if err := r.check(); err != nil {
		return err
	}
	msg, err := r.signedBytes()
	if err != nil {
		return err
	}
	r.Sig = ed25519.Sign(priv, msg)
	return nil
}

// Verify checks the signature against Key.
func (r *Record) Verify() error {
	if err := r.check(); err != nil {
		return err
	}
	if len(r.Sig) != ed25519.SignatureSize {
		return ErrSignature
	}
	msg, err := r.signedBytes()
	if err != nil {
		return err
	}
	if !ed25519.Verify(r.Key, msg, r.Sig) {
		return ErrSignature
	}
	return nil
}

// Encode returns the record's block and its CID (DAG-CBOR, sha2-256, the
// prefix of every Velocity block).
func (r *Record) Encode() (cid.Cid, []byte, error) {
	if err := r.check(); err != nil {
		return cid.Undef, nil, err
	}
	if len(r.Sig) != ed25519.SignatureSize {
		return cid.Undef, nil, errorf("unsigned record")
	}
	b, err := dagcbor.Encode(r.value(true))
	if err != nil {
		return cid.Undef, nil, err
	}
	c, err := merkle.Sum(b)
	return c, b, err
}

// Decode parses a record block. It checks the structure exactly (every
// field present with its type, nothing else) and the bounds, not the
// signature: call Verify.
func Decode(data []byte) (*Record, error) {
	if len(data) > MaxRecord {
		return nil, errorf("%d bytes (limit %d)", len(data), MaxRecord)
	}
	v, err := dagcbor.Decode(data)
	if err != nil {
		return nil, errorf("%v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf("not a map")
	}
	keys := []string{"format", "from", "to", "passes", "advisor", "gate", "speedup", "key", "sig"}
	if len(m) != len(keys) {
		return nil, errorf("%d fields, want %d (%v)", len(m), len(keys), keys)
	}
	if m["format"] != Format {
		return nil, errorf("format %v, want %q", m["format"], Format)
	}
	r := &Record{}
	var okAll = true
	get := func(k string, dst any) {
		x, present := m[k]
		if !present {
			okAll = false
			return
		}
		switch d := dst.(type) {
		case *cid.Cid:
			*d, ok = x.(cid.Cid)
		case *string:
			*d, ok = x.(string)
		case *float64:
			*d, ok = x.(float64)
		case *[]byte:
			*d, ok = x.([]byte)
		}
		okAll = okAll && ok
	}
	get("from", &r.From)
	get("to", &r.To)
	get("advisor", &r.Advisor)
	get("speedup", &r.Speedup)
	var key []byte
	get("key", &key)
	get("sig", &r.Sig)
	r.Key = key
	if !okAll {
		return nil, errorf("a field is missing or has the wrong type")
	}
	if len(r.Sig) != ed25519.SignatureSize {
		return nil, errorf("signature is %d bytes, want %d", len(r.Sig), ed25519.SignatureSize)
	}
	passes, ok := m["passes"].([]any)
	if !ok || len(passes) > MaxPasses {
		return nil, errorf("passes must be a list of at most %d strings", MaxPasses)
	}
	for _, p := range passes {
		s, ok := p.(string)
		if !ok {
			return nil, errorf("passes must be strings")
		}
		r.Passes = append(r.Passes, s)
	}
	g, ok := m["gate"].(map[string]any)
	if !ok || len(g) != 3 {
		return nil, errorf("gate must be {inputs, cycles, speedup}")
	}
	switch n := g["inputs"].(type) {
	case uint64:
		if n > math.MaxInt64 {
			return nil, errorf("gate inputs out of range")
		}
		r.Gate.Inputs = int64(n)
	default:
		return nil, errorf("gate inputs must be a non-negative integer")
	}
	cy, ok := g["cycles"].([]any)
	if !ok || len(cy) != 2 {
		return nil, errorf("gate cycles must be two integers")
	}
	for i := range cy {
		if r.Gate.Cycles[i], ok = cy[i].(uint64); !ok {
			return nil, errorf("gate cycles must be two integers")
		}
	}
	if r.Gate.Speedup, ok = g["speedup"].(float64); !ok {
		return nil, errorf("gate speedup must be a float")
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}
