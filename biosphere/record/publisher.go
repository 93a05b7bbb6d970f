package record

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/registry"
)

// Publisher publishes a record for every variant a node's healer proves:
// set Healer.OnHealed to its Healed method. Peers polling the node's
// gateway then find the record in its list (gateway.RecordsPath) and
// validate the variant themselves (biosphere/adopt).
type Publisher struct {
	Store registry.Store // receives the variant's blocks and the record
	Log   *Log           // the node's record log
	Key   ed25519.PrivateKey
	Out   io.Writer // [Biosphere] lines (nil: none)

	mu        sync.Mutex
	published []cid.Cid
}

// Healed signs and publishes a record for h. A variant that cannot be
// published (a store error, a field out of a record's bounds) is logged;
// the healer's swap stands either way.
func (p *Publisher) Healed(h heal.Healed) {
	c, r, err := p.publish(h)
	if err != nil {
		p.logf("no record for slot %s (%s): %v", h.Slot, h.To.CID, err)
		return
	}
	p.mu.Lock()
	p.published = append(p.published, c)
	p.mu.Unlock()
	p.logf("published record %s: %s replaces %s in slot %s (advisor %s, passes [%s]; gate: %d inputs equal, A/B speedup %.2fx; %.2fx on live traffic), key %s",
		c, r.To, r.From, h.Slot, r.Advisor, strings.Join(r.Passes, " "), r.Gate.Inputs, r.Gate.Speedup, r.Speedup, hex.EncodeToString(r.Key[:8]))
}

func (p *Publisher) publish(h heal.Healed) (cid.Cid, *Record, error) {
	if h.To == nil || h.To.Func == nil {
		return cid.Undef, nil, fmt.Errorf("no variant")
	}
	from, err := cid.Decode(h.From)
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("replaced version: %v", err)
	}
	r := &Record{
		From: from, Passes: h.Passes, Advisor: h.Advisor,
		Gate:    GateSummary{Inputs: int64(h.Gate.Inputs), Cycles: h.Gate.Cycles, Speedup: h.Gate.Speedup},
		Speedup: h.Speedup,
	}
	c, err := Publish(p.Store, p.Log, h.To.Func, r, p.Key)
	return c, r, err
}

// Published returns the CIDs of the records published so far.
func (p *Publisher) Published() []cid.Cid {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]cid.Cid(nil), p.published...)
}

func (p *Publisher) logf(format string, args ...any) {
	if p.Out != nil {
		fmt.Fprintf(p.Out, "[Biosphere] "+format+"\n", args...)
	}
}
