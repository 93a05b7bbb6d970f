// Package dag walks the import closure of a module (or any DAG of blocks
// in a registry store) in depth-first order and reads and writes it as a
// CARv1 file, the archive format of IPFS, with github.com/ipld/go-car/v2.
//
// The Biosphere's gateway serves a module with its whole closure as one
// CAR, the fetch client and `velocity mod import` read CARs from peers and
// from IPFS, and all three must agree on which blocks belong to a DAG:
// that is what Links defines.
package dag

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	dagpb "github.com/ipld/go-codec-dagpb"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/velocityos/velocity/lang/dagcbor"
)

// MaxBlock is the largest block the Biosphere moves: the trustless
// gateway's usual 2 MiB (boxo's client refuses larger blocks too).
const MaxBlock = 2 << 20

// MaxBlocks bounds a walk, so that a DAG with a forged fan-out cannot make
// a walk's bookkeeping grow without bound.
const MaxBlocks = 1 << 20

// Getter reads verified blocks (registry.Store has this method).
type Getter interface {
	Get(c cid.Cid) ([]byte, error)
}

// ErrCodec is wrapped by Links for a codec whose links are unknown.
var ErrCodec = errors.New("codec not supported for traversal")

// Traversable reports whether Links understands c's codec.
func Traversable(c cid.Cid) bool {
	switch c.Type() {
	case cid.Raw, cid.DagCBOR, cid.DagProtobuf:
		return true
	}
	return false
}

// IsIdentity reports whether c is an identity CID, whose "block" is the
// digest inside the CID itself (such blocks are never stored or sent).
func IsIdentity(c cid.Cid) bool { return c.Prefix().MhType == mh.IDENTITY }

// IdentityData returns the data an identity CID carries.
func IdentityData(c cid.Cid) ([]byte, error) {
	d, err := mh.Decode(c.Hash())
	if err != nil {
		return nil, err
	}
	if d.Code != mh.IDENTITY {
		return nil, fmt.Errorf("%s is not an identity CID", c)
	}
	return d.Digest, nil
}

// Links returns the CIDs that block c (with bytes data) links to, in the
// order a depth-first traversal visits them: encounter order for
// DAG-CBOR (Velocity's module, function and record blocks), the Links
// list for dag-pb (files added to IPFS), none for raw blocks.
func Links(c cid.Cid, data []byte) ([]cid.Cid, error) {
	switch c.Type() {
	case cid.Raw:
		return nil, nil
	case cid.DagCBOR:
		v, err := dagcbor.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", c, err)
		}
		return dagcbor.Links(v), nil
	case cid.DagProtobuf:
		nb := dagpb.Type.PBNode.NewBuilder()
		if err := dagpb.DecodeBytes(nb, data); err != nil {
			return nil, fmt.Errorf("block %s: dag-pb: %w", c, err)
		}
		n, ok := nb.Build().(dagpb.PBNode)
		if !ok {
			return nil, fmt.Errorf("block %s: dag-pb: unexpected node type", c)
		}
		var out []cid.Cid
		for it := n.FieldLinks().Iterator(); !it.Done(); {
			_, l := it.Next()
			cl, ok := l.FieldHash().Link().(cidlink.Link)
			if !ok {
				return nil, fmt.Errorf("block %s: dag-pb link is not a CID", c)
			}
			out = append(out, cl.Cid)
		}
		return out, nil
	}
	return nil, fmt.Errorf("block %s: %w: 0x%x", c, ErrCodec, c.Type())
}

// Walk visits every block reachable from root, each once, in depth-first
// pre-order (a block before the blocks it links to, links in Links
// order): the order=dfs, dups=n order of a CAR. Identity CIDs are
// skipped (their data is in the CID). visit gets the verified bytes; an
// error from g (a missing block) or from visit ends the walk.
func Walk(g Getter, root cid.Cid, visit func(c cid.Cid, data []byte) error) error {
	seen := map[string]bool{}
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[c.KeyString()] || IsIdentity(c) {
			continue
		}
		if len(seen) >= MaxBlocks {
			return fmt.Errorf("DAG under %s has more than %d blocks", root, MaxBlocks)
		}
		seen[c.KeyString()] = true
		data, err := g.Get(c)
		if err != nil {
			return err
		}
		links, err := Links(c, data)
		if err != nil {
			return err
		}
		if err := visit(c, data); err != nil {
			return err
		}
		for i := len(links) - 1; i >= 0; i-- {
			if !seen[links[i].KeyString()] {
				stack = append(stack, links[i])
			}
		}
	}
	return nil
}
