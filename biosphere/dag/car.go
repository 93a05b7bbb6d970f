package dag

import (
	"context"
	"errors"
	"fmt"
	"io"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
)

// CARContentType is the media type of the CARs Velocity writes.
const CARContentType = "application/vnd.ipld.car; version=1; order=dfs; dups=n"

// WriteCAR writes root and every block reachable from it to w as a CARv1
// in depth-first order without duplicates, streaming (nothing is
// buffered beyond one block). It returns the number of blocks written.
func WriteCAR(w io.Writer, g Getter, root cid.Cid) (int, error) {
	cw, err := storage.NewWritable(w, []cid.Cid{root}, car.WriteAsCarV1(true), car.AllowDuplicatePuts(false))
	if err != nil {
		return 0, err
	}
	n := 0
	err = Walk(g, root, func(c cid.Cid, data []byte) error {
		n++
		return cw.Put(context.Background(), c.KeyString(), data)
	})
	return n, err
}

// Block is a verified block read from a CAR.
type Block struct {
	CID  cid.Cid
	Data []byte
}

// ReadLimits bound what ReadCAR accepts.
type ReadLimits struct {
	MaxBlock int // per block (default MaxBlock)
	MaxTotal int // sum of block sizes (default 256 MiB)
	MaxCount int // number of blocks (default MaxBlocks)
}

// CARError reports a malformed or untrustworthy CAR.
type CARError struct {
	Block int // index of the offending block (-1: the header)
	Err   error
}

func (e *CARError) Error() string {
	if e.Block < 0 {
		return fmt.Sprintf("CAR header: %v", e.Err)
	}
	return fmt.Sprintf("CAR block %d: %v", e.Block, e.Err)
}

func (e *CARError) Unwrap() error { return e.Err }

// ErrWrongBytes is wrapped by a CARError for a block whose bytes do not
// hash to its CID.
var ErrWrongBytes = errors.New("bytes do not hash to the CID (corrupt or forged block)")

// ErrUnexpectedBlock is wrapped by a CARError for a block that no root
// and no earlier block links to.
var ErrUnexpectedBlock = errors.New("block is not linked from the CAR's roots or earlier blocks")

// ReadCAR reads a CAR (v1, or v2 with a v1 inside) and returns its roots
// and blocks, having checked every block before returning any: each
// block's bytes hash to its CID (c.Prefix().Sum), and each block is a
// root or is linked from a block before it (so a peer cannot slip
// unrelated blocks into a store). want, if defined, must be among the
// roots. The caller stores the blocks only when ReadCAR succeeded, so a
// bad CAR leaves a store unchanged.
func ReadCAR(r io.Reader, want cid.Cid, lim ReadLimits) ([]cid.Cid, []Block, error) {
	if lim.MaxBlock <= 0 {
		lim.MaxBlock = MaxBlock
	}
	if lim.MaxTotal <= 0 {
		lim.MaxTotal = 256 << 20
	}
	if lim.MaxCount <= 0 {
		lim.MaxCount = MaxBlocks
	}
	br, err := car.NewBlockReader(r,
		car.MaxAllowedHeaderSize(64<<10),
		car.MaxAllowedSectionSize(uint64(lim.MaxBlock)+128), // the block and its CID
		// Blocks are verified below (checkBlock), with an error that
		// names the forged block (ErrWrongBytes).
		car.WithTrustedCAR(true))
	if err != nil {
		return nil, nil, &CARError{Block: -1, Err: err}
	}
	if len(br.Roots) == 0 {
		return nil, nil, &CARError{Block: -1, Err: errors.New("no roots")}
	}
	expected := map[string]bool{}
	found := false
	for _, root := range br.Roots {
		expected[root.KeyString()] = true
		found = found || root.Equals(want)
	}
	if want.Defined() && !found {
		return nil, nil, &CARError{Block: -1, Err: fmt.Errorf("roots %v do not include %s", br.Roots, want)}
	}
	var out []Block
	total := 0
	for i := 0; ; i++ {
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, &CARError{Block: i, Err: err}
		}
		blk, err := checkBlock(b, lim.MaxBlock)
		if err != nil {
			return nil, nil, &CARError{Block: i, Err: err}
		}
		if !expected[blk.CID.KeyString()] {
			return nil, nil, &CARError{Block: i, Err: fmt.Errorf("%s: %w", blk.CID, ErrUnexpectedBlock)}
		}
		if len(out) >= lim.MaxCount {
			return nil, nil, &CARError{Block: i, Err: fmt.Errorf("more than %d blocks", lim.MaxCount)}
		}
		if total += len(blk.Data); total > lim.MaxTotal {
			return nil, nil, &CARError{Block: i, Err: fmt.Errorf("blocks exceed %d bytes in total", lim.MaxTotal)}
		}
		links, err := Links(blk.CID, blk.Data)
		if err != nil && !errors.Is(err, ErrCodec) {
			return nil, nil, &CARError{Block: i, Err: err}
		}
		for _, l := range links {
			expected[l.KeyString()] = true
		}
		out = append(out, blk)
	}
	return br.Roots, out, nil
}

// checkBlock verifies b's bytes against its CID.
func checkBlock(b blocks.Block, max int) (Block, error) {
	c, data := b.Cid(), b.RawData()
	if len(data) > max {
		return Block{}, fmt.Errorf("%s: %d bytes exceeds the %d-byte block limit", c, len(data), max)
	}
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return Block{}, fmt.Errorf("%s: %w", c, err)
	}
	if !got.Equals(c) {
		return Block{}, fmt.Errorf("%s: they hash to %s: %w", c, got, ErrWrongBytes)
	}
	return Block{CID: c, Data: data}, nil
}

// Missing returns the CIDs that blocks link to which are neither among
// blocks nor held (has reports what a store holds): a CAR that was cut
// short, or a DAG a peer served only in part.
func Missing(blocks []Block, has func(cid.Cid) bool) []cid.Cid {
	in := map[string]bool{}
	for _, b := range blocks {
		in[b.CID.KeyString()] = true
	}
	var out []cid.Cid
	for _, b := range blocks {
		links, _ := Links(b.CID, b.Data)
		for _, l := range links {
			if !in[l.KeyString()] && !IsIdentity(l) && !has(l) {
				in[l.KeyString()] = true
				out = append(out, l)
			}
		}
	}
	return out
}
