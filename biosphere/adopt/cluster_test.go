package adopt

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/biosphere/fetch"
	"github.com/velocityos/velocity/biosphere/gateway"
	"github.com/velocityos/velocity/biosphere/record"
	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/registry"
)

// clusterNode is a host-side stand-in for a Velocity node: a store, a
// gateway, and (once it has the module) a slot running Work.
type clusterNode struct {
	name  string
	store registry.Store
	log   *record.Log
	srv   *httptest.Server
	slot  *heal.Slot
}

func newClusterNode(t *testing.T, name string) *clusterNode {
	n := &clusterNode{name: name, store: registry.Synchronized(registry.NewMemStore())}
	n.log, _ = record.OpenLog("")
	n.start(t)
	return n
}

func (n *clusterNode) start(t *testing.T) {
	h := gateway.New(n.store)
	h.Records = n.log.List
	n.srv = httptest.NewServer(h)
	t.Cleanup(n.srv.Close)
}

// load makes a slot for Work from module c in the node's store and
// records some calls.
func (n *clusterNode) load(t *testing.T, c cid.Cid) {
	m, err := merkle.NewLoader(n.store).Module(c)
	if err != nil {
		t.Fatal(err)
	}
	n.slot, err = heal.NewSlot("Work", m.Exports["Work"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.slot.Close() })
	(&node{store: n.store, slot: n.slot}).work(t, 1)
	cl := heal.NewCaller()
	defer cl.Close()
	for i := 0; i < 200; i++ {
		cl.Call(n.slot, []interp.Value{uint64(20 + i%16)})
	}
}

func (n *clusterNode) work(t *testing.T, x uint64) uint64 {
	return (&node{store: n.store, slot: n.slot}).work(t, x)
}

func (n *clusterNode) importFrom(t *testing.T, c cid.Cid, log *syncBuf, peers ...string) *fetch.Client {
	fc, err := fetch.New(n.store, peers...)
	if err != nil {
		t.Fatal(err)
	}
	fc.Log, fc.HolderWait = log, time.Second
	if _, err := fc.Closure(context.Background(), c); err != nil {
		t.Fatalf("%s: import %s: %v", n.name, c, err)
	}
	n.load(t, c)
	return fc
}

// TestClusterScenario runs the multi-node scenario on the host
// (the QEMU version waits for in-kernel networking): A publishes; B
// imports by CID and computes what A computes; A stops and C imports from
// B; A heals and publishes a record, B and C adopt after their own
// validation; a tampering node is demoted while an import completes from
// an honest peer.
func TestClusterScenario(t *testing.T) {
	a, b, c := newClusterNode(t, "A"), newClusterNode(t, "B"), newClusterNode(t, "C")
	mod, _, err := registry.AddSource(a.store, "slow.vel", []byte(heal.DemoSource))
	if err != nil {
		t.Fatal(err)
	}
	a.load(t, mod)
	want := a.work(t, 500)
	log := &syncBuf{}

	b.importFrom(t, mod, log, a.srv.URL)
	if got := b.work(t, 500); got != want {
		t.Fatalf("B: Work(500) = %d, A computes %d", got, want)
	}
	a.srv.Close()
	c.importFrom(t, mod, log, a.srv.URL, b.srv.URL) // A is down: B serves
	if got := c.work(t, 500); got != want {
		t.Fatalf("C: Work(500) = %d, want %d", got, want)
	}

	a.start(t)
	(&node{store: a.store, slot: a.slot, log: a.log}).heal(t, key(1))
	healed := a.slot.Current().CID
	for _, n := range []*clusterNode{b, c} {
		ad := &Adopter{Store: n.store, Peers: []string{a.srv.URL}, Gate: gate, Slots: []*heal.Slot{n.slot}, Log: log}
		out := ad.Poll(context.Background())
		if len(out) != 1 || out[0].Kind != "adopted" || n.slot.Current().CID != healed {
			t.Fatalf("%s: %+v\n%s", n.name, out, log)
		}
		if got := n.work(t, 500); got != want {
			t.Fatalf("%s after adoption: Work(500) = %d, want %d", n.name, got, want)
		}
	}
	if strings.Count(log.String(), "[Biosphere] adopted "+healed) != 2 {
		t.Fatalf("log:\n%s", log)
	}

	// D claims every block and serves wrong bytes; E imports from D and B.
	d := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.Write([]byte("tampered"))
		}
	}))
	defer d.Close()
	// B answers HEAD late, so D (first to claim the blocks) is asked first.
	slowB := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			time.Sleep(200 * time.Millisecond)
		}
		b.srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer slowB.Close()
	e := newClusterNode(t, "E")
	fc := e.importFrom(t, mod, log, d.URL, slowB.URL)
	if got := e.work(t, 500); got != want {
		t.Fatalf("E: Work(500) = %d, want %d", got, want)
	}
	var dStats fetch.PeerStats
	for _, s := range fc.Stats() {
		if s.URL == d.URL {
			dStats = s
		}
	}
	if dStats.WrongData == 0 || dStats.Score >= 0 || !strings.Contains(log.String(), "[Biosphere] peer "+d.URL+" served wrong bytes") {
		t.Fatalf("tampering peer not demoted: %+v\n%s", dStats, log)
	}
	t.Logf("cluster log:\n%s", log)
}
