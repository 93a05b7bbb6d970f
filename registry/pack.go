package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/ipfs/go-cid"
)

// A module pack bundles blocks into one file that can be embedded in the
// kernel image. Layout (integers little-endian):
//
//	magic    "VELPACK1"
//	nblocks  u32
//	nroots   u32
//	index    nblocks × { cidLen u16, cid [cidLen]byte, length u32 }
//	roots    nroots × u32 (indexes into the index, strictly increasing)
//	data     the blocks' bytes, concatenated in index order
//	checksum sha2-256 of everything above
//
// The index is sorted strictly by binary CID (so there are no duplicates),
// block offsets follow from the lengths (blocks are contiguous and cannot
// overlap), the data ends exactly where the checksum begins, and every
// block hashes to its CID. OpenPack checks all of this before returning.
const packMagic = "VELPACK1"

// MaxPackBlocks bounds the index size.
const MaxPackBlocks = 1 << 20

// minIndexEntry is the least size of an index entry: the CID length, a
// CID of at least four bytes (version, codec, hash function, digest
// length) and the block length.
const minIndexEntry = 2 + 4 + 4

// Pack is an opened, verified module pack. It is a read-only Store.
type Pack struct {
	data  []byte
	cids  []cid.Cid
	offs  []int
	lens  []int
	byKey map[string]int
	Roots []cid.Cid
}

// WritePack writes a pack holding blocks (a CID → bytes map taken from src)
// with the given roots (which must be among the blocks).
func WritePack(w io.Writer, src Store, blocks []cid.Cid, roots []cid.Cid) error {
	cs := append([]cid.Cid(nil), blocks...)
	sortCIDs(cs)
	var uniq []cid.Cid
	for i, c := range cs {
		if i == 0 || !c.Equals(cs[i-1]) {
			uniq = append(uniq, c)
		}
	}
	pos := map[string]int{}
	for i, c := range uniq {
		pos[c.KeyString()] = i
	}
	var rootIdx []int
	for _, r := range roots {
		i, ok := pos[r.KeyString()]
		if !ok {
			return fmt.Errorf("pack root %s is not among the packed blocks", r)
		}
		rootIdx = append(rootIdx, i)
	}
	sort.Ints(rootIdx)
	var buf bytes.Buffer
	buf.WriteString(packMagic)
	le := binary.LittleEndian
	buf.Write(le.AppendUint32(nil, uint32(len(uniq))))
	var rootsU []int
	for i, r := range rootIdx {
		if i == 0 || r != rootIdx[i-1] {
			rootsU = append(rootsU, r)
		}
	}
	buf.Write(le.AppendUint32(nil, uint32(len(rootsU))))
	var data [][]byte
	for _, c := range uniq {
		b, err := src.Get(c)
		if err != nil {
			return err
		}
		if len(b) > 1<<31 {
			return fmt.Errorf("block %s too large for a pack", c)
		}
		raw := c.Bytes()
		buf.Write(le.AppendUint16(nil, uint16(len(raw))))
		buf.Write(raw)
		buf.Write(le.AppendUint32(nil, uint32(len(b))))
		data = append(data, b)
	}
	for _, r := range rootsU {
		buf.Write(le.AppendUint32(nil, uint32(r)))
	}
	for _, b := range data {
		buf.Write(b)
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	_, err := w.Write(buf.Bytes())
	return err
}

// PackError reports a malformed pack.
type PackError struct {
	Off int
	Msg string
}

func (e *PackError) Error() string { return fmt.Sprintf("module pack: at byte %d: %s", e.Off, e.Msg) }

// OpenPack verifies and opens a pack held in memory. data is retained.
func OpenPack(data []byte) (*Pack, error) {
	fail := func(off int, format string, args ...any) (*Pack, error) {
		return nil, &PackError{Off: off, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) < len(packMagic)+8+sha256.Size {
		return fail(0, "too short (%d bytes)", len(data))
	}
	if string(data[:8]) != packMagic {
		return fail(0, "bad magic, expected %q", packMagic)
	}
	body := data[:len(data)-sha256.Size]
	sum := sha256.Sum256(body)
	if !bytes.Equal(sum[:], data[len(body):]) {
		return fail(len(body), "checksum mismatch")
	}
	le := binary.LittleEndian
	n := int(le.Uint32(data[8:]))
	nroots := int(le.Uint32(data[12:]))
	if n > MaxPackBlocks || nroots > n {
		return fail(8, "bad counts: %d blocks, %d roots", n, nroots)
	}
	// Every index entry takes at least minIndexEntry bytes and every root
	// 4, so counts the pack is too small to hold are refused before
	// anything is allocated; the index grows as entries actually parse
	// (a count read from the input never sizes an allocation).
	if room := len(body) - 16; n > room/minIndexEntry || nroots > (room-n*minIndexEntry)/4 {
		return fail(8, "counts (%d blocks, %d roots) exceed what %d bytes can hold", n, nroots, len(data))
	}
	p := &Pack{data: data, byKey: map[string]int{}}
	off := 16
	total := 0
	for i := 0; i < n; i++ {
		if len(body)-off < 2 {
			return fail(off, "index truncated")
		}
		cl := int(le.Uint16(body[off:]))
		off += 2
		if len(body)-off < cl+4 {
			return fail(off, "index entry truncated")
		}
		used, c, err := cid.CidFromBytes(body[off : off+cl])
		if err != nil || used != cl || !bytes.Equal(c.Bytes(), body[off:off+cl]) {
			return fail(off, "bad CID in index entry %d", i)
		}
		off += cl
		length := int(le.Uint32(body[off:]))
		off += 4
		if i > 0 && bytes.Compare(p.cids[i-1].Bytes(), c.Bytes()) >= 0 {
			return fail(off, "index not strictly sorted at entry %d", i)
		}
		if length > len(body) {
			return fail(off, "block length %d exceeds pack", length)
		}
		p.cids = append(p.cids, c)
		p.lens = append(p.lens, length)
		p.byKey[c.KeyString()] = i
		total += length
		if total > len(body) {
			return fail(off, "block lengths exceed pack")
		}
	}
	prev := -1
	for i := 0; i < nroots; i++ {
		if len(body)-off < 4 {
			return fail(off, "roots truncated")
		}
		r := int(le.Uint32(body[off:]))
		if r >= n || r <= prev {
			return fail(off, "bad root index %d", r)
		}
		prev = r
		p.Roots = append(p.Roots, p.cids[r])
		off += 4
	}
	if len(body)-off != total {
		return fail(off, "data region is %d bytes, index says %d", len(body)-off, total)
	}
	for i, c := range p.cids {
		p.offs = append(p.offs, off)
		if err := Verify(c, body[off:off+p.lens[i]]); err != nil {
			return fail(off, "block %d: %v", i, err)
		}
		off += p.lens[i]
	}
	return p, nil
}

// ErrReadOnly is returned by Pack.Put.
var ErrReadOnly = errors.New("module pack is read-only")

func (p *Pack) Put(c cid.Cid, data []byte) error { return ErrReadOnly }

func (p *Pack) Get(c cid.Cid) ([]byte, error) {
	i, ok := p.byKey[c.KeyString()]
	if !ok {
		return nil, fmt.Errorf("%w: %s (not in module pack)", ErrNotFound, c)
	}
	b := p.data[p.offs[i] : p.offs[i]+p.lens[i]]
	if err := Verify(c, b); err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

func (p *Pack) Has(c cid.Cid) (bool, error) {
	_, ok := p.byKey[c.KeyString()]
	return ok, nil
}

func (p *Pack) List() ([]cid.Cid, error) { return append([]cid.Cid(nil), p.cids...), nil }
