// Package node is one whole Biosphere node, as images/biosphere runs it
// inside the unikernel (and tests run it on the host): a block store
// served as a trustless gateway with the node's record list, imports by
// CID from the peers named on the kernel command line, module functions
// run with the JIT, a healer whose proven variants are published as
// signed records, and an adopter that polls its peers' records and takes
// a variant only after its own gate has validated it.
//
// Everything a node does that a test or an operator checks is a line on
// its output: "BIO ..." lines for the node's own steps, "[Biosphere]"
// lines from the client, the publisher and the adopter, and
// "[Self-Evolution]" lines from the healer.
package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/biosphere/adopt"
	"github.com/velocityos/velocity/biosphere/fetch"
	"github.com/velocityos/velocity/biosphere/gateway"
	"github.com/velocityos/velocity/biosphere/record"
	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/registry"
)

// Node is a Biosphere node. Set Name, Out and Peers, then call New's
// result's methods; the zero value is not usable.
type Node struct {
	Name    string
	Store   registry.Store // safe for concurrent use
	Records *record.Log
	Key     ed25519.PrivateKey
	Peers   []string  // gateway base URLs
	Out     io.Writer // serial
	// Gate validates variants, both the node's own (healing) and its
	// peers' (adoption); Gate.Blocks is set per use.
	Gate heal.Gate
	// Tamper makes the node a bad peer, for tests of the others: its
	// gateway claims the blocks it imported and serves them with one
	// byte flipped. What it publishes itself (PublishBadRecords) it
	// serves as it is, so that its peers judge the records, not a
	// transfer error.
	Tamper bool
	// HolderWait is the fetch client's: how long HEAD answers are still
	// collected after the first holder answered (0: the client's 50 ms).
	HolderWait time.Duration
	own        sync.Map // CIDs the node published itself

	outMu sync.Mutex
	mu    sync.Mutex
	slots map[string]*heal.Slot
}

// New returns a node with an empty in-memory store, an in-memory record
// log and a fresh ed25519 key.
func New(name string, out io.Writer, peers []string) (*Node, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	l, _ := record.OpenLog("")
	n := &Node{
		Name: name, Store: registry.Synchronized(registry.NewMemStore()), Records: l, Key: priv,
		Peers: peers, Out: out,
		Gate:  heal.Gate{Random: 100, Fuel: 1e7, MinSpeedup: 1.1},
		slots: map[string]*heal.Slot{},
	}
	return n, nil
}

// KeyID is the first 8 bytes of the node's public key, in hex (as
// [Biosphere] lines name keys).
func (n *Node) KeyID() string {
	return hex.EncodeToString(n.Key.Public().(ed25519.PublicKey)[:8])
}

// Write makes the node's output safe for the goroutines that log to it.
func (n *Node) Write(p []byte) (int, error) {
	n.outMu.Lock()
	defer n.outMu.Unlock()
	return n.Out.Write(p)
}

func (n *Node) printf(format string, args ...any) {
	fmt.Fprintf(n, "BIO %s "+format+"\n", append([]any{n.Name}, args...)...)
}

// ParsePeers parses the value of the kernel option peers=HOST:PORT,...
// into gateway base URLs.
func ParsePeers(v string) ([]string, error) {
	var out []string
	for _, hp := range strings.Split(v, ",") {
		if hp == "" {
			continue
		}
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("peers=: %q: want HOST:PORT", hp)
		}
		// Digits only: strconv.Atoi also takes a sign ("+1"), which a
		// URL's port may not carry.
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || strings.Trim(port, "0123456789") != "" || !validHost(host) {
			return nil, fmt.Errorf("peers=: %q: want HOST:PORT (an IP address or a host name, a port in 1-65535)", hp)
		}
		out = append(out, "http://"+net.JoinHostPort(host, port))
	}
	return out, nil
}

// validHost accepts an IP address or a DNS name (letters, digits, dots
// and hyphens), nothing a URL would read differently.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// CmdlinePeers returns the peers named by peers= on a kernel command
// line (the words before "--"); none if there is no peers= word.
func CmdlinePeers(cmdline string) ([]string, error) {
	var out []string
	for _, w := range strings.Fields(cmdline) {
		if w == "--" {
			break
		}
		if v, ok := strings.CutPrefix(w, "peers="); ok {
			ps, err := ParsePeers(v)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		}
	}
	return out, nil
}

// KernelPeers reads peers= from /proc/cmdline, where the kernel publishes
// its command line. On a host without a Velocity kernel that file holds
// Linux's command line, which has no peers= word.
func KernelPeers() ([]string, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return CmdlinePeers(string(b))
}

// Handler is the node's gateway: its store and record list, or, for a
// tampering node, wrong bytes.
func (n *Node) Handler() http.Handler {
	if n.Tamper {
		return http.HandlerFunc(n.tamper)
	}
	h := gateway.New(n.Store)
	h.Records = n.Records.List
	h.Log = n
	return h
}

// tamper claims every block the node holds and serves it with its last
// byte flipped.
func (n *Node) tamper(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == gateway.RecordsPath {
		var list []string
		for _, c := range n.Records.List() {
			list = append(list, c.String())
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string][]string{"records": list})
		return
	}
	c, err := gateway.ParsePath(r.URL.Path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	data, err := n.Store.Get(c)
	if err != nil {
		http.Error(w, "not held", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", gateway.RawType)
	if r.Method == http.MethodHead {
		return
	}
	if _, own := n.own.Load(c.KeyString()); own {
		w.Write(data)
		return
	}
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 0xff
	w.Write(bad)
	n.printf("tampering: served %s with its last byte flipped to %s", c, r.RemoteAddr)
}

// Serve runs the node's gateway on addr until it fails.
func (n *Node) Serve(addr string) error {
	return http.ListenAndServe(addr, n.Handler())
}

// AddSource compiles a module's source into the store and returns its CID.
func (n *Node) AddSource(name string, src []byte) (cid.Cid, error) {
	c, _, err := registry.AddSource(n.Store, name, src)
	return c, err
}

// AddPack copies a module pack's blocks into the store (each verified
// against its CID by the pack's reader) and returns its roots.
func (n *Node) AddPack(data []byte) ([]cid.Cid, error) {
	p, err := registry.OpenPack(data)
	if err != nil {
		return nil, err
	}
	blocks, err := p.List()
	if err != nil {
		return nil, err
	}
	for _, c := range blocks {
		d, err := p.Get(c)
		if err == nil {
			err = n.Store.Put(c, d)
		}
		if err != nil {
			return nil, err
		}
	}
	return p.Roots, nil
}

// Import fetches each root's whole closure from the node's peers,
// verifying every block, and retries for up to patience while no peer
// can serve it yet (peers still booting). It logs what it fetched and
// each peer's score.
func (n *Node) Import(ctx context.Context, roots []cid.Cid, patience time.Duration) error {
	fc, err := fetch.New(n.Store, n.Peers...)
	if err != nil {
		return err
	}
	fc.Log, fc.Timeout, fc.HolderWait = n, 5*time.Second, n.HolderWait
	deadline := time.Now().Add(patience)
	for _, root := range roots {
		for {
			start := time.Now()
			res, err := fc.Closure(ctx, root)
			if err == nil {
				n.printf("imported %s: %d blocks (%d fetched, %d bytes; %d already held) in %v, every block verified against its CID",
					root, res.Blocks, res.Fetched, res.Bytes, res.Held, time.Since(start).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("import %s: %v", root, err)
			}
			n.printf("import %s: %v; retrying", root, err)
			time.Sleep(time.Second)
		}
	}
	for _, s := range fc.Stats() {
		n.printf("peer %s: score %d, served %d, failed %d, wrong bytes %d", s.URL, s.Score, s.Served, s.Failed, s.WrongData)
	}
	return nil
}

// Call is one call of an exported function with integer arguments, as in
// "Choose(10,3)".
type Call struct {
	Func string
	Args []int64
}

func (c Call) String() string {
	s := make([]string, len(c.Args))
	for i, a := range c.Args {
		s[i] = strconv.FormatInt(a, 10)
	}
	return c.Func + "(" + strings.Join(s, ",") + ")"
}

// ParseCall parses "Name(1,2)".
func ParseCall(s string) (Call, error) {
	name, rest, ok := strings.Cut(s, "(")
	if !ok || !strings.HasSuffix(rest, ")") || name == "" {
		return Call{}, fmt.Errorf("call %q: want Name(arg,...)", s)
	}
	c := Call{Func: name}
	if rest = strings.TrimSuffix(rest, ")"); rest != "" {
		for _, a := range strings.Split(rest, ",") {
			v, err := strconv.ParseInt(strings.TrimSpace(a), 0, 64)
			if err != nil {
				return Call{}, fmt.Errorf("call %q: argument %q: %v", s, a, err)
			}
			c.Args = append(c.Args, v)
		}
	}
	return c, nil
}

// Run calls c in the first of the modules roots that exports it: through
// its slot if the node has made one for it (the version the slot runs
// now, healed or adopted), else compiled by the JIT. It prints the result.
func (n *Node) Run(roots []cid.Cid, c Call) (uint64, error) {
	f, root, err := n.Lookup(roots, c.Func)
	if err != nil {
		return 0, err
	}
	if len(c.Args) != len(f.Params) {
		return 0, fmt.Errorf("%s takes %d arguments", c.Func, len(f.Params))
	}
	args := make([]interp.Value, len(c.Args))
	for i, a := range c.Args {
		if k := f.Params[i].Kind; k != ir.Int64 && k != ir.Uint64 {
			return 0, fmt.Errorf("%s: argument %d is a %s, not an integer", c.Func, i+1, f.Params[i])
		}
		args[i] = uint64(a)
	}
	if k := f.Result.Kind; k != ir.Int64 && k != ir.Uint64 {
		return 0, fmt.Errorf("%s returns %s, not an integer", c.Func, f.Result)
	}
	var v interp.Value
	version := f.CID.String()
	if s := n.slot(c.Func); s != nil {
		cl := heal.NewCaller()
		v, err = cl.Call(s, args)
		cl.Close()
		version = s.Current().CID
	} else {
		p, cerr := jit.CompileAndLoad(f)
		if cerr != nil {
			return 0, cerr
		}
		m := jit.New(1e9)
		v, err = m.Call(p, f, args)
		m.Close()
		p.Close()
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %v", c, err)
	}
	r := v.(uint64)
	n.printf("call %s %s = %s (function %s)", root, c, interp.Format(v, f.Result), version)
	return r, nil
}

// Lookup finds the exported function name in the first of roots that
// exports it.
func (n *Node) Lookup(roots []cid.Cid, name string) (*ir.Func, cid.Cid, error) {
	ld := merkle.NewLoader(n.Store)
	for _, r := range roots {
		m, err := ld.Module(r)
		if err != nil {
			return nil, cid.Undef, fmt.Errorf("module %s: %v", r, err)
		}
		if f := m.Exports[name]; f != nil {
			return f, r, nil
		}
	}
	return nil, cid.Undef, fmt.Errorf("no module here exports %s", name)
}

func (n *Node) slot(name string) *heal.Slot {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.slots[name]
}

// Slot makes (once) a hot-swappable slot for the exported function name,
// through which Run, Heal and Adopt then go.
func (n *Node) Slot(roots []cid.Cid, name string) (*heal.Slot, error) {
	if s := n.slot(name); s != nil {
		return s, nil
	}
	f, _, err := n.Lookup(roots, name)
	if err != nil {
		return nil, err
	}
	s, err := heal.NewSlot(name, f)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if old := n.slots[name]; old != nil {
		s.Close()
		return old, nil
	}
	n.slots[name] = s
	return s, nil
}

// Load sends calls of slot s's function (one integer argument each, from
// inputs, round robin) from workers goroutines until stop is closed, and
// checks each result against want; it returns the calls made and the
// wrong results. This is the node's own traffic: the slot records the
// arguments, and those recorded inputs are what the gate validates a
// variant on.
func Load(s *heal.Slot, workers int, inputs []int64, want func(int64) uint64, stop <-chan struct{}) (calls, wrong int64) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := heal.NewCaller()
			defer c.Close()
			var k, bad int64
			for i := w; ; i++ {
				select {
				case <-stop:
					mu.Lock()
					calls, wrong = calls+k, wrong+bad
					mu.Unlock()
					return
				default:
				}
				x := inputs[i%len(inputs)]
				v, err := c.Call(s, []interp.Value{uint64(x)})
				k++
				if err != nil || v.(uint64) != want(x) {
					bad++
				}
			}
		}(w)
	}
	wg.Wait()
	return calls, wrong
}

// Heal runs slot s under load (workers callers on inputs, results checked
// against want) with a healer whose proven variants are published as
// signed records, until one record is published or ctx ends.
func (n *Node) Heal(ctx context.Context, s *heal.Slot, workers int, inputs []int64, want func(int64) uint64) (cid.Cid, error) {
	pub := &record.Publisher{Store: n.Store, Log: n.Records, Key: n.Key, Out: n}
	g := n.Gate
	g.Blocks = n.Store
	h := &heal.Healer{Gate: g, Log: n, OnHealed: pub.Healed}
	h.Add(s)
	stop := make(chan struct{})
	type result struct{ calls, wrong int64 }
	done := make(chan result)
	go func() {
		c, w := Load(s, workers, inputs, want, stop)
		done <- result{c, w}
	}()
	var rec cid.Cid
	for !rec.Defined() && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		h.Tick()
		if p := pub.Published(); len(p) > 0 {
			rec = p[0]
		}
	}
	close(stop)
	r := <-done
	n.printf("heal: %d calls of %s under load, %d wrong results", r.calls, s.Name, r.wrong)
	if r.wrong != 0 {
		return rec, fmt.Errorf("heal: %d wrong results", r.wrong)
	}
	if !rec.Defined() {
		return rec, fmt.Errorf("heal: no variant proven and published: %v", ctx.Err())
	}
	return rec, nil
}

// Adopt polls the peers' records every interval until ctx ends or a
// variant has been adopted into every one of slots, validating each
// through the node's own gate on the slot's recorded inputs. It returns
// the adoptions.
func (n *Node) Adopt(ctx context.Context, slots []*heal.Slot, interval time.Duration) []adopt.Outcome {
	a := &adopt.Adopter{Store: n.Store, Peers: n.Peers, Gate: n.Gate, Slots: slots, Log: n, Timeout: 5 * time.Second}
	var adopted []adopt.Outcome
	left := map[string]bool{}
	for _, s := range slots {
		left[s.Name] = true
	}
	for len(left) > 0 {
		for _, o := range a.Poll(ctx) {
			if o.Kind == "adopted" {
				adopted = append(adopted, o)
				delete(left, o.Slot)
			}
		}
		if len(left) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return adopted
		case <-time.After(interval):
		}
	}
	return adopted
}

// wrongWork is heal.DemoSource's Work with a different result: a variant
// a bad node may claim is equivalent.
const wrongWork = `module slow

func Work(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		s += i * 9
	}
	return s
}
`

// PublishBadRecords makes the node publish, as a bad peer would, two
// records about the function from (heal.DemoSource's Work): one whose
// signature does not verify, and one, correctly signed, whose variant
// computes other results. A peer must reject the first for its signature
// and the second in its own gate, and log both. It returns their CIDs.
func (n *Node) PublishBadRecords(from cid.Cid) (badSig, wrong cid.Cid, err error) {
	scratch := registry.NewMemStore()
	_, m, err := registry.AddSource(scratch, "wrong.vel", []byte(wrongWork))
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	f := m.Lookup("Work")
	// The variant's blocks: the node serves them as they are.
	to, blocks, err := record.FuncBlocks(f)
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	for _, b := range blocks {
		if err := n.Store.Put(b.CID, b.Data); err != nil {
			return cid.Undef, cid.Undef, err
		}
		n.own.Store(b.CID.KeyString(), true)
	}
	claim := func() *record.Record {
		return &record.Record{From: from, To: to, Passes: []string{"tampered"}, Advisor: "tamperer",
			Gate: record.GateSummary{Inputs: 100, Cycles: [2]uint64{1000, 100}, Speedup: 10}, Speedup: 10}
	}
	r := claim()
	if err := r.Sign(n.Key); err != nil {
		return cid.Undef, cid.Undef, err
	}
	r.Sig[0] ^= 1 // the signature no longer verifies
	badSig, data, err := r.Encode()
	if err == nil {
		err = n.Store.Put(badSig, data)
	}
	if err == nil {
		n.own.Store(badSig.KeyString(), true)
		err = n.Records.Add(badSig)
	}
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	wrong, err = record.Publish(n.Store, n.Records, f, claim(), n.Key)
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	n.own.Store(wrong.KeyString(), true)
	n.printf("tampering: published record %s with a bad signature and record %s claiming %s (which computes other results) replaces %s", badSig, wrong, to, from)
	return badSig, wrong, nil
}
