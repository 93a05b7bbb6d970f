// Package adopt lets a node take up the healed variants its peers
// publish, never on their word: it polls each peer's record list
// (gateway.RecordsPath), fetches each new record through the trustless
// gateway (so its bytes are verified against its CID), checks the
// record's structure and ed25519 signature, and, if one of its own slots
// runs the record's "from" function, fetches the variant and runs it
// through its own heal.Gate: equivalence under fuel on the slot's own
// recorded inputs (plus edge and random ones), and A/B timing on its own
// CPU. Only a variant that passes is swapped in. Every rejection is a
// [Biosphere] log line with the reason.
//
// A variant's blocks are fetched into a staging store and reach the
// node's store only when the variant is adopted, so a record that fails
// leaves the store as it was.
package adopt

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/biosphere/fetch"
	"github.com/velocityos/velocity/biosphere/gateway"
	"github.com/velocityos/velocity/biosphere/record"
	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/registry"
)

// Outcome is what became of one record.
type Outcome struct {
	Record cid.Cid
	Peer   string
	Kind   string // "adopted", "rejected", "skipped"
	Reason string
	Slot   string
	Report heal.Report // the local gate's report (adopted)
	Rec    *record.Record
	// Retry marks a rejection for a reason that may pass (the record or
	// the variant could not be fetched): the next Poll considers the
	// record again.
	Retry bool
}

// Adopter polls peers and adopts validated variants into its slots.
type Adopter struct {
	// Store is the node's store (safe for concurrent use).
	Store registry.Store
	// Peers are the gateways polled (base URLs).
	Peers []string
	// Gate validates variants; Gate.Blocks is set to a view of the store
	// and the staged variant.
	Gate heal.Gate
	// Slots are the functions this node runs that variants may replace.
	Slots []*heal.Slot
	// Trust, if set, decides whose records are considered at all (by
	// public key); a trusted record is still validated locally.
	Trust func(ed25519.PublicKey) bool
	// Timeout bounds each request (default 10s); SwapTimeout bounds the
	// wait for the replaced version to quiesce (default 1s).
	Timeout, SwapTimeout time.Duration
	// Log receives the [Biosphere] lines.
	Log io.Writer

	mu   sync.Mutex
	seen map[string]bool   // records considered (adopted or not)
	down map[string]string // peers whose list failed at the last poll, with the error
}

func (a *Adopter) logf(format string, args ...any) {
	if a.Log != nil {
		fmt.Fprintf(a.Log, "[Biosphere] "+format+"\n", args...)
	}
}

func (a *Adopter) timeout() time.Duration {
	if a.Timeout <= 0 {
		return 10 * time.Second
	}
	return a.Timeout
}

// Poll reads every peer's record list and considers each record not seen
// before. A peer that cannot be read is logged and skipped.
func (a *Adopter) Poll(ctx context.Context) []Outcome {
	var out []Outcome
	for _, peer := range a.Peers {
		list, err := a.list(ctx, peer)
		a.mu.Lock()
		if a.down == nil {
			a.down = map[string]string{}
		}
		// A peer that stays unreachable is logged once, not at every
		// poll, and again when it answers.
		was, msg := a.down[peer], ""
		if err != nil {
			msg = err.Error()
			a.down[peer] = msg
		} else {
			delete(a.down, peer)
		}
		a.mu.Unlock()
		if err != nil {
			if msg != was {
				a.logf("records of %s: %v", peer, err)
			}
			continue
		}
		if was != "" {
			a.logf("records of %s: reachable again", peer)
		}
		for _, c := range list {
			a.mu.Lock()
			if a.seen == nil {
				a.seen = map[string]bool{}
			}
			seen := a.seen[c.KeyString()]
			a.seen[c.KeyString()] = true
			a.mu.Unlock()
			if seen {
				continue
			}
			o := a.Consider(ctx, peer, c)
			if o.Retry {
				a.mu.Lock()
				delete(a.seen, c.KeyString())
				a.mu.Unlock()
			}
			out = append(out, o)
		}
	}
	return out
}

// list GETs a peer's record list: JSON {"records": [cid, ...]}.
func (a *Adopter) list(ctx context.Context, peer string) ([]cid.Cid, error) {
	p, err := fetch.ParsePeer(peer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+gateway.RecordsPath, nil)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(body) > 1<<20 {
		return nil, errors.New("record list exceeds 1 MiB")
	}
	var l struct {
		Records []string `json:"records"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("malformed record list: %v", err)
	}
	if len(l.Records) > record.MaxLog {
		return nil, fmt.Errorf("record list has %d entries (limit %d)", len(l.Records), record.MaxLog)
	}
	var out []cid.Cid
	for _, s := range l.Records {
		c, err := cid.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("malformed record list: %q: %v", s, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// staged is the node's store with a staging layer: reads see both, writes
// go to the staging layer only.
type staged struct {
	base, stage registry.Store
}

func (s staged) Put(c cid.Cid, d []byte) error { return s.stage.Put(c, d) }
func (s staged) Get(c cid.Cid) ([]byte, error) {
	if ok, _ := s.stage.Has(c); ok {
		return s.stage.Get(c)
	}
	return s.base.Get(c)
}
func (s staged) Has(c cid.Cid) (bool, error) {
	if ok, err := s.stage.Has(c); ok || err != nil {
		return ok, err
	}
	return s.base.Has(c)
}
func (s staged) List() ([]cid.Cid, error) { return s.stage.List() }

// Consider fetches record rc from peer and adopts its variant if the
// local gate accepts it.
func (a *Adopter) Consider(ctx context.Context, peer string, rc cid.Cid) Outcome {
	o := Outcome{Record: rc, Peer: peer}
	reject := func(format string, args ...any) Outcome {
		o.Kind, o.Reason = "rejected", fmt.Sprintf(format, args...)
		a.logf("rejected record %s from %s: %s", rc, peer, o.Reason)
		return o
	}
	skip := func(format string, args ...any) Outcome {
		o.Kind, o.Reason = "skipped", fmt.Sprintf(format, args...)
		a.logf("record %s from %s: %s", rc, peer, o.Reason)
		return o
	}
	stage := registry.Synchronized(registry.NewMemStore())
	view := staged{a.Store, stage}
	fc, err := fetch.New(view, peer)
	if err != nil {
		return reject("%v", err)
	}
	fc.Timeout, fc.Log = a.timeout(), a.Log
	data, err := fc.Block(ctx, rc)
	if err != nil {
		o.Retry = true
		return reject("cannot fetch the record (will retry): %v", err)
	}
	r, err := record.Decode(data)
	if err != nil {
		return reject("malformed: %v", err)
	}
	o.Rec = r
	if err := r.Verify(); err != nil {
		return reject("%v (key %s)", err, keyHex(r.Key))
	}
	if a.Trust != nil && !a.Trust(r.Key) {
		return skip("key %s is not trusted", keyHex(r.Key))
	}
	var slot *heal.Slot
	for _, s := range a.Slots {
		cur := s.Current()
		if cur.CID == r.To.String() {
			return skip("slot %s already runs %s", s.Name, r.To)
		}
		if cur.CID == r.From.String() {
			slot = s
		}
	}
	if slot == nil {
		return skip("no slot here runs %s", r.From)
	}
	o.Slot = slot.Name
	if _, err := fc.Closure(ctx, r.To); err != nil {
		o.Retry = true
		return reject("cannot fetch variant %s (will retry): %v", r.To, err)
	}
	f, err := merkle.NewLoader(view).Func(r.To)
	if err != nil {
		return reject("variant %s does not load: %v", r.To, err)
	}
	g := a.Gate
	g.Blocks = view
	v, rep, err := g.Check(slot.Current(), heal.Candidate{From: "biosphere " + keyHex(r.Key), Passes: r.Passes, Func: f}, slot.Recorded())
	if err != nil {
		return reject("local validation of %s for slot %s failed: %v", r.To, slot.Name, err)
	}
	if v.CID != r.To.String() {
		return reject("the gate's canonical form of the variant is %s, not %s", v.CID, r.To)
	}
	// Adopted: the staged blocks join the node's store, then the swap.
	blocks, _ := stage.List()
	for _, b := range blocks {
		d, err := stage.Get(b)
		if err == nil {
			err = a.Store.Put(b, d)
		}
		if err != nil {
			return reject("storing the variant: %v", err)
		}
	}
	st := a.SwapTimeout
	if st <= 0 {
		st = time.Second
	}
	if _, err := slot.Swap(v, st); err != nil {
		return reject("swap into slot %s: %v", slot.Name, err)
	}
	o.Kind, o.Report = "adopted", rep
	a.logf("adopted %s for slot %s (replacing %s; record %s from %s, key %s, passes %v): local gate: %d inputs equal, speedup %.2fx here (publisher measured %.2fx)",
		r.To, slot.Name, r.From, rc, peer, keyHex(r.Key), r.Passes, rep.Inputs, rep.Speedup, r.Speedup)
	return o
}

func keyHex(k ed25519.PublicKey) string {
	if len(k) < 8 {
		return hex.EncodeToString(k)
	}
	return hex.EncodeToString(k[:8])
}
