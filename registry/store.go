// Package registry stores content-addressed blocks (modules and functions
// of the Velocity language) and resolves module import graphs.
//
// Blocks are immutable: a block is named by the CID of its bytes, every Put
// and every Get checks that the bytes hash to the CID, and a stored block is
// never overwritten with different bytes.
package registry

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Store is a block store keyed by CID.
type Store interface {
	// Put stores data under c after checking that data hashes to c.
	Put(c cid.Cid, data []byte) error
	// Get returns the block c, verified against its hash.
	Get(c cid.Cid) ([]byte, error)
	// Has reports whether c is stored.
	Has(c cid.Cid) (bool, error)
	// List returns every stored CID, sorted by binary form.
	List() ([]cid.Cid, error)
}

// ErrNotFound is returned (wrapped) by Get for an absent block.
var ErrNotFound = errors.New("block not found")

// MismatchError reports bytes that do not hash to the CID they were
// stored or requested under.
type MismatchError struct {
	Want cid.Cid // the CID asked for
	Got  cid.Cid // the CID the bytes actually hash to
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("hash mismatch: block %s has content that hashes to %s (corrupt or forged block)", e.Want, e.Got)
}

// Verify checks that data hashes to c. Only sha2-256 multihashes are
// accepted (an identity hash would verify nothing).
func Verify(c cid.Cid, data []byte) error {
	if !c.Defined() {
		return errors.New("undefined CID")
	}
	p := c.Prefix()
	if p.MhType != mh.SHA2_256 {
		return fmt.Errorf("block %s: unsupported multihash 0x%x, expected sha2-256", c, p.MhType)
	}
	got, err := p.Sum(data)
	if err != nil {
		return err
	}
	if !got.Equals(c) {
		return &MismatchError{Want: c, Got: got}
	}
	return nil
}

func sortCIDs(cs []cid.Cid) {
	sort.Slice(cs, func(i, j int) bool { return bytes.Compare(cs[i].Bytes(), cs[j].Bytes()) < 0 })
}

// MemStore is an in-memory Store. It is safe for one goroutine at a time.
type MemStore struct {
	blocks map[string][]byte
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore { return &MemStore{blocks: map[string][]byte{}} }

func (m *MemStore) Put(c cid.Cid, data []byte) error {
	if err := Verify(c, data); err != nil {
		return err
	}
	if _, ok := m.blocks[c.KeyString()]; !ok {
		m.blocks[c.KeyString()] = append([]byte(nil), data...)
	}
	return nil
}

func (m *MemStore) Get(c cid.Cid) ([]byte, error) {
	b, ok := m.blocks[c.KeyString()]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, c)
	}
	if err := Verify(c, b); err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

func (m *MemStore) Has(c cid.Cid) (bool, error) {
	_, ok := m.blocks[c.KeyString()]
	return ok, nil
}

func (m *MemStore) List() ([]cid.Cid, error) {
	out := make([]cid.Cid, 0, len(m.blocks))
	for k := range m.blocks {
		c, err := cid.Cast([]byte(k))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sortCIDs(out)
	return out, nil
}

// corrupt replaces a block's bytes without verification (tests only).
func (m *MemStore) corrupt(c cid.Cid, data []byte) { m.blocks[c.KeyString()] = data }
