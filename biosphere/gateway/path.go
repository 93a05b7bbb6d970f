package gateway

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
)

// MaxCIDString bounds the CID text a request may carry (real CIDs are
// under 100 characters; identity CIDs carrying data are refused above).
const MaxCIDString = 256

// ParsePath parses a trustless-gateway block path, "/ipfs/{cid}", and
// returns the CID. Anything else is an error: a sub-path (the trustless
// gateway serves blocks and CARs by CID only), a malformed CID, dot
// segments, empty segments or escaped slashes. The CID is re-encoded, not
// the path, to name a block in the store, so no request text ever
// reaches a file name.
func ParsePath(p string) (cid.Cid, error) {
	rest, ok := strings.CutPrefix(p, "/ipfs/")
	if !ok {
		return cid.Undef, errors.New("path must be /ipfs/{cid}")
	}
	if rest == "" {
		return cid.Undef, errors.New("missing CID in /ipfs/{cid}")
	}
	if strings.ContainsAny(rest, "/\\%") {
		return cid.Undef, fmt.Errorf("unsupported path after /ipfs/: only a bare CID is served (no sub-paths)")
	}
	if len(rest) > MaxCIDString {
		return cid.Undef, fmt.Errorf("CID is %d characters (limit %d)", len(rest), MaxCIDString)
	}
	c, err := cid.Decode(rest)
	if err != nil {
		return cid.Undef, fmt.Errorf("malformed CID %q: %v", rest, err)
	}
	return c, nil
}
