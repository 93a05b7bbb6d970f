package adopt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/biosphere/gateway"
	"github.com/velocityos/velocity/biosphere/record"
	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/registry"
	"github.com/velocityos/velocity/telemetry"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// node is a store running heal.DemoSource's Work in a slot, with
// recorded calls.
type node struct {
	store registry.Store
	slot  *heal.Slot
	log   *record.Log
}

func newNode(t *testing.T) *node {
	if !jit.Supported() {
		t.Skip("no JIT on this platform")
	}
	s := registry.Synchronized(registry.NewMemStore())
	_, m, err := registry.AddSource(s, "slow.vel", []byte(heal.DemoSource))
	if err != nil {
		t.Fatal(err)
	}
	slot, err := heal.NewSlot("Work", m.Lookup("Work"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slot.Close() })
	c := heal.NewCaller()
	defer c.Close()
	for i := 0; i < 200; i++ {
		if _, err := c.Call(slot, []interp.Value{uint64(20 + i%16)}); err != nil {
			t.Fatal(err)
		}
	}
	l, _ := record.OpenLog("")
	return &node{s, slot, l}
}

func (n *node) work(t *testing.T, x uint64) uint64 {
	c := heal.NewCaller()
	defer c.Close()
	v, err := c.Call(n.slot, []interp.Value{x})
	if err != nil {
		t.Fatal(err)
	}
	return v.(uint64)
}

func (n *node) serve(t *testing.T) string {
	h := gateway.New(n.store)
	h.Records = n.log.List
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

var gate = heal.Gate{Random: 50, Fuel: 1e7, MinSpeedup: 1.1, Seed: 1}

// heal makes node a heal its slot with the optimizer, through its own
// gate, and publish the record signed with priv.
func (n *node) heal(t *testing.T, priv ed25519.PrivateKey) cid.Cid {
	cur := n.slot.Current()
	rec := n.slot.Recorded()
	cands := heal.OptimizerAdvisor{}.ProposeProfiled(cur.Func, telemetry.Alert{}, rec)
	if len(cands) == 0 {
		t.Fatal("optimizer proposed nothing")
	}
	g := gate
	g.Blocks = n.store
	v, rep, err := g.Check(cur, cands[0], rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.slot.Swap(v, time.Second); err != nil {
		t.Fatal(err)
	}
	r := &record.Record{
		From: cur.Func.CID, Passes: cands[0].Passes, Advisor: "optimizer",
		Gate:    record.GateSummary{Inputs: int64(rep.Inputs), Cycles: rep.Cycles, Speedup: rep.Speedup},
		Speedup: rep.Speedup,
	}
	rc, err := record.Publish(n.store, n.log, v.Func, r, priv)
	if err != nil {
		t.Fatal(err)
	}
	if r.To.String() != v.CID {
		t.Fatalf("record names %s, the slot runs %s", r.To, v.CID)
	}
	return rc
}

func key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func adopter(b *node, log *syncBuf, peers ...string) *Adopter {
	return &Adopter{Store: b.store, Peers: peers, Gate: gate, Slots: []*heal.Slot{b.slot}, Log: log}
}

func TestAdoptAfterLocalValidation(t *testing.T) {
	a, b := newNode(t), newNode(t)
	rc := a.heal(t, key(1))
	url := a.serve(t)
	want := b.work(t, 1000)
	before := b.slot.Current().CID
	log := &syncBuf{}
	ad := adopter(b, log, url)
	out := ad.Poll(context.Background())
	if len(out) != 1 || out[0].Kind != "adopted" || !out[0].Record.Equals(rc) {
		t.Fatalf("outcomes %+v\nlog:\n%s", out, log)
	}
	if b.slot.Current().CID != a.slot.Current().CID || b.slot.Current().CID == before {
		t.Fatalf("B runs %s, A runs %s", b.slot.Current().CID, a.slot.Current().CID)
	}
	if got := b.work(t, 1000); got != want {
		t.Fatalf("after adoption Work(1000) = %d, want %d", got, want)
	}
	if out[0].Report.Inputs == 0 || out[0].Report.Speedup < 1.1 {
		t.Fatalf("local report %+v", out[0].Report)
	}
	t.Log(strings.TrimSpace(log.String()))
	if !strings.Contains(log.String(), "[Biosphere] adopted "+a.slot.Current().CID+" for slot Work") {
		t.Fatalf("log:\n%s", log)
	}
	// The variant's blocks are in B's store now.
	if ok, _ := b.store.Has(out[0].Rec.To); !ok {
		t.Fatal("adopted variant not stored")
	}
	// A second poll considers nothing new.
	if out := ad.Poll(context.Background()); len(out) != 0 {
		t.Fatalf("second poll: %+v", out)
	}
}

func storeSnapshot(t *testing.T, s registry.Store) int {
	l, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	return len(l)
}

func TestRejectBadSignature(t *testing.T) {
	a, b := newNode(t), newNode(t)
	rc := a.heal(t, key(1))
	// Re-sign nothing: flip the signature and publish the forged record
	// as a valid block under its own CID.
	data, _ := a.store.Get(rc)
	r, err := record.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	r.Speedup = 50 // an inflated claim under the old signature
	fc, fdata, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	a.store.Put(fc, fdata)
	bad, _ := record.OpenLog("")
	bad.Add(fc)
	a.log = bad
	url := a.serve(t)
	before, n := b.slot.Current().CID, storeSnapshot(t, b.store)
	log := &syncBuf{}
	out := adopter(b, log, url).Poll(context.Background())
	if len(out) != 1 || out[0].Kind != "rejected" || !strings.Contains(out[0].Reason, "bad signature") {
		t.Fatalf("outcomes %+v", out)
	}
	if !strings.Contains(log.String(), "[Biosphere] rejected record "+fc.String()) || !strings.Contains(log.String(), "bad signature") {
		t.Fatalf("log:\n%s", log)
	}
	if b.slot.Current().CID != before || storeSnapshot(t, b.store) != n {
		t.Fatal("a rejected record changed the node")
	}
}

// TestRejectFailedValidation: a correctly signed record whose variant is
// not equivalent is refused by the local gate.
func TestRejectFailedValidation(t *testing.T) {
	a, b := newNode(t), newNode(t)
	wrong := strings.Replace(heal.DemoSource, "s += i * 8", "s += i * 9", 1)
	st := registry.NewMemStore()
	_, m, err := registry.AddSource(st, "wrong.vel", []byte(wrong))
	if err != nil {
		t.Fatal(err)
	}
	r := &record.Record{
		From: a.slot.Current().Func.CID, Passes: []string{"hand-written"}, Advisor: "mallory",
		Gate: record.GateSummary{Inputs: 1, Cycles: [2]uint64{2, 1}, Speedup: 2}, Speedup: 2,
	}
	rc, err := record.Publish(a.store, a.log, m.Lookup("Work"), r, key(3))
	if err != nil {
		t.Fatal(err)
	}
	url := a.serve(t)
	before, n := b.slot.Current().CID, storeSnapshot(t, b.store)
	log := &syncBuf{}
	out := adopter(b, log, url).Poll(context.Background())
	if len(out) != 1 || out[0].Kind != "rejected" || !strings.Contains(out[0].Reason, "local validation") || !strings.Contains(out[0].Reason, "equivalence") {
		t.Fatalf("outcomes %+v", out)
	}
	if !strings.Contains(log.String(), "[Biosphere] rejected record "+rc.String()) {
		t.Fatalf("log:\n%s", log)
	}
	if b.slot.Current().CID != before || storeSnapshot(t, b.store) != n {
		t.Fatal("a rejected variant changed the node")
	}
}

func TestSkipsAndUntrusted(t *testing.T) {
	a, b := newNode(t), newNode(t)
	a.heal(t, key(1))
	url := a.serve(t)
	log := &syncBuf{}
	ad := adopter(b, log, url)
	ad.Trust = func(k ed25519.PublicKey) bool { return false }
	if out := ad.Poll(context.Background()); len(out) != 1 || out[0].Kind != "skipped" || !strings.Contains(out[0].Reason, "not trusted") {
		t.Fatalf("untrusted: %+v", out)
	}
	// A node without the function skips the record.
	ad = adopter(b, log, url)
	ad.Slots = nil
	if out := ad.Poll(context.Background()); len(out) != 1 || out[0].Kind != "skipped" || !strings.Contains(out[0].Reason, "no slot") {
		t.Fatalf("no slot: %+v", out)
	}
	// An unreachable peer is logged.
	ad = adopter(b, log, "http://127.0.0.1:1")
	if out := ad.Poll(context.Background()); len(out) != 0 || !strings.Contains(log.String(), "[Biosphere] records of http://127.0.0.1:1") {
		t.Fatalf("unreachable: %+v\n%s", out, log)
	}
}

// TestRetryAfterFetchFailure: a record whose variant cannot be fetched
// (the peer lost the blocks) is rejected for now and considered again by
// the next poll, which adopts it once the blocks are back.
func TestRetryAfterFetchFailure(t *testing.T) {
	a, b := newNode(t), newNode(t)
	rc := a.heal(t, key(1))
	data, _ := a.store.Get(rc)
	r, _ := record.Decode(data)
	// Serve A's record from a store that lacks the variant's blocks.
	partial := registry.Synchronized(registry.NewMemStore())
	partial.Put(rc, data)
	h := gateway.New(partial)
	h.Records = a.log.List
	srv := httptest.NewServer(h)
	defer srv.Close()
	log := &syncBuf{}
	ad := adopter(b, log, srv.URL)
	out := ad.Poll(context.Background())
	if len(out) != 1 || out[0].Kind != "rejected" || !out[0].Retry || !strings.Contains(out[0].Reason, "cannot fetch variant") {
		t.Fatalf("first poll: %+v", out)
	}
	variant, _ := registry.Closure(a.store, r.To)
	for _, c := range variant {
		d, _ := a.store.Get(c)
		partial.Put(c, d)
	}
	out = ad.Poll(context.Background())
	if len(out) != 1 || out[0].Kind != "adopted" {
		t.Fatalf("second poll: %+v\n%s", out, log)
	}
}
