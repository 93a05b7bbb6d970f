package node

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/biosphere/fetch"
	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/lang/jit"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestCmdlinePeers(t *testing.T) {
	got, err := CmdlinePeers("ip=10.0.5.2/24 peers=10.0.5.1:80,10.0.5.4:8080 quiet -- -peers=1.2.3.4:5")
	if err != nil || strings.Join(got, " ") != "http://10.0.5.1:80 http://10.0.5.4:8080" {
		t.Fatalf("%q %v", got, err)
	}
	if got, err := CmdlinePeers("quiet -- peers=1.2.3.4:5"); err != nil || len(got) != 0 {
		t.Fatalf("peers= after -- is the program's: %q %v", got, err)
	}
	for _, bad := range []string{"peers=10.0.5.1", "peers=10.0.5.1:0", "peers=:80", "peers=a:b", "peers=x/y:80", "peers=u@h:80"} {
		if _, err := CmdlinePeers(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestParseCall(t *testing.T) {
	c, err := ParseCall("Choose(10, 3)")
	if err != nil || c.String() != "Choose(10,3)" {
		t.Fatalf("%v %v", c, err)
	}
	for _, bad := range []string{"Choose", "(1)", "F(x)", "F(1"} {
		if _, err := ParseCall(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func newNode(t *testing.T, name string, out *syncBuf, peers ...string) (*Node, string) {
	n, err := New(name, out, peers)
	if err != nil {
		t.Fatal(err)
	}
	n.Gate.Seed = 1
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		for _, s := range n.slots {
			s.Close()
		}
	})
	return n, srv.URL
}

func reference(t *testing.T, n *Node, roots []cid.Cid, fn string, inputs []int64) (*heal.Slot, func(int64) uint64) {
	s, err := n.Slot(roots, fn)
	if err != nil {
		t.Fatal(err)
	}
	return s, func(x int64) uint64 { return uint64(8 * x * (x - 1) / 2) }
}

// TestHealPublishAdoptTamper: the node-level scenario on the host. A
// heals Work under load and its healer publishes the proven variant as a
// signed record by itself (Healer.OnHealed); B, which imported the module
// from A, adopts it after its own gate passed it on B's own inputs; C
// imports through a tampering D listed first, which is demoted.
func TestHealPublishAdoptTamper(t *testing.T) {
	if !jit.Supported() {
		t.Skip("no JIT here")
	}
	// The default rule fires above 1.5 M cycles a call, and Work on these
	// inputs costs about 1.1 M on an idle host: the test healed only when
	// the host was busy enough to slow it. A rule well below that fires
	// on any host, and the healed Work (a few thousand cycles) stays under it.
	t.Setenv("TELEMETRY_RULE", "mean=200000,calls=10,windows=1")
	out := &syncBuf{}
	a, aURL := newNode(t, "A", out)
	mod, err := a.AddSource("slow.vel", []byte(heal.DemoSource))
	if err != nil {
		t.Fatal(err)
	}
	roots := []cid.Cid{mod}
	ctx := context.Background()
	want, err := a.Run(roots, Call{"Work", []int64{500}})
	if err != nil {
		t.Fatal(err)
	}

	b, bURL := newNode(t, "B", out, aURL)
	if err := b.Import(ctx, roots, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	bs, bwant := reference(t, b, roots, "Work", nil)
	stop := make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() { close(stop) })
	if _, wrong := Load(bs, 1, []int64{300, 301, 302, 333}, bwant, stop); wrong != 0 {
		t.Fatalf("%d wrong", wrong)
	}

	inputs := make([]int64, 32)
	for i := range inputs {
		inputs[i] = 2000 + int64(i)
	}
	as, awant := reference(t, a, roots, "Work", inputs)
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rec, err := a.Heal(hctx, as, 2, inputs, awant)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if l := a.Records.List(); len(l) != 1 || !l[0].Equals(rec) {
		t.Fatalf("record log %v, published %s", l, rec)
	}
	healed := as.Current().CID
	if !strings.Contains(out.String(), "[Biosphere] published record "+rec.String()+": "+healed+" replaces ") {
		t.Fatalf("no publish line:\n%s", out)
	}

	actx, cancel2 := context.WithTimeout(ctx, time.Minute)
	defer cancel2()
	got := b.Adopt(actx, []*heal.Slot{bs}, 100*time.Millisecond)
	if len(got) != 1 || bs.Current().CID != healed {
		t.Fatalf("B adopted %+v, runs %s, want %s\n%s", got, bs.Current().CID, healed, out)
	}
	if v, err := b.Run(roots, Call{"Work", []int64{500}}); err != nil || v != want {
		t.Fatalf("B after adoption: Work(500) = %d, %v; A computed %d", v, err, want)
	}

	d, dURL := newNode(t, "D", out, bURL)
	if err := d.Import(ctx, roots, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	d.Tamper = true
	dsrv := httptest.NewServer(d.Handler())
	defer dsrv.Close()
	_ = dURL
	c, _ := newNode(t, "C", out, dsrv.URL, bURL)
	if err := c.Import(ctx, roots, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Run(roots, Call{"Work", []int64{500}}); err != nil || v != want {
		t.Fatalf("C: Work(500) = %d, %v; want %d", v, err, want)
	}
	for _, w := range []string{"[Biosphere] peer " + dsrv.URL + " served wrong bytes for ", "BIO C peer " + dsrv.URL + ": score -"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("no %q:\n%s", w, out)
		}
	}

	// D publishes a record with a bad signature and a signed one whose
	// variant is wrong; C rejects both, keeps running the original and
	// stores nothing of them.
	cs, cwant := reference(t, c, roots, "Work", nil)
	stop2 := make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() { close(stop2) })
	Load(cs, 1, []int64{100, 200}, cwant, stop2)
	origCID, _ := cid.Decode(cs.Current().CID)
	badSig, wrong, err := d.PublishBadRecords(origCID)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := c.Store.List()
	c.Peers = []string{dsrv.URL}
	pctx, cancel3 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel3()
	if got := c.Adopt(pctx, []*heal.Slot{cs}, 200*time.Millisecond); len(got) != 0 || cs.Current().CID != origCID.String() {
		t.Fatalf("C adopted %+v from a bad peer\n%s", got, out)
	}
	if after, _ := c.Store.List(); len(after) != len(before) {
		t.Errorf("C's store went from %d to %d blocks", len(before), len(after))
	}
	for _, w := range []string{
		"[Biosphere] rejected record " + badSig.String() + " from " + dsrv.URL + ": record: bad signature (key " + d.KeyID() + ")",
		"[Biosphere] rejected record " + wrong.String() + " from " + dsrv.URL + ": local validation of ",
		"failed: candidate from biosphere " + d.KeyID() + " rejected at equivalence: on input ",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("no %q:\n%s", w, out)
		}
	}
	t.Logf("\n%s", out)
}

// FuzzCmdlinePeers: any command line gives peers that are http://HOST:PORT
// URLs the fetch client accepts, or an error; never a panic.
func FuzzCmdlinePeers(f *testing.F) {
	for _, s := range []string{"peers=10.0.5.1:80,10.0.5.4:8080", "quiet peers=[::1]:80 -- x", "peers=,,", "peers=a:0", "peers=h:99999", "peers=@:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := CmdlinePeers(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if _, err := fetch.ParsePeer(p); err != nil {
				t.Fatalf("%q gave peer %q the client refuses: %v", s, p, err)
			}
		}
	})
}

// FuzzParseCall: a call parses or is refused, and a parsed call prints
// back to a string that parses to the same call.
func FuzzParseCall(f *testing.F) {
	for _, s := range []string{"Choose(10,3)", "Work(500)", "F()", "F(0x10, -1)", "F(", "(1)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCall(s)
		if err != nil {
			return
		}
		c2, err := ParseCall(c.String())
		if err != nil || c2.String() != c.String() {
			t.Fatalf("%q -> %q -> %q, %v", s, c, c2, err)
		}
	})
}
