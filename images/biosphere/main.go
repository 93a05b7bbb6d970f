// Command biosphere is a Velocity node of the Biosphere inside the
// unikernel (biosphere/node; docs/biosphere.md). It serves its block
// store as an IPFS trustless gateway with its list of provenance records,
// imports modules by CID from the peers named by peers= on the kernel
// command line (and -peer), runs module functions with the JIT, heals a
// slow function and publishes the proven variant as a signed record, and
// adopts its peers' variants only after validating them through its own
// gate.
//
// In the order a node does them:
//
//	-pack PATH        add a module pack's blocks (the guest reads PATH: velocity run -fs)
//	-demo             add heal.DemoSource (module slow, whose Work is deliberately slow)
//	-addr :80         serve the gateway there (not with -exit)
//	-fetch CID,...    import these modules' closures from the peers
//	-call 'F(1,2)'    call an exported function in the node's modules (repeatable)
//	-heal F           run F under load with the healer until a variant is proven and published
//	-adopt F          send F some traffic of the node's own, then poll the peers' records until a variant of F is adopted; then the calls again
//	-holder-wait D    collect HEAD answers this long after the first holder's (default 50ms)
//	-tamper           serve the blocks imported with one byte flipped, and publish two bad records about Work (a bad peer, for tests)
//	-exit             exit when done instead of serving on
//
// Lines for tests and operators: "BIO NAME ..." (the node's steps),
// "[Biosphere] ..." (client, publisher, adopter), "[Self-Evolution] ..."
// (healer). Examples:
//
//	velocity run -cluster 3 ./images/biosphere   (no arguments: node 1 publishes and heals, the others import and adopt)
//	velocity run -hostfwd tcp:8088-:80 -fs $PWD/build/modules.pack -append "-- -pack $PWD/build/modules.pack" ./images/biosphere
//	velocity run -net connect:7000 -append 'ip=10.0.3.2/24 peers=10.0.3.1:80 -- -fetch CID -exit' ./images/biosphere
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/biosphere/node"
	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/registry"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, " ") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	name := flag.String("name", "node", "the node's name in its lines")
	pack := flag.String("pack", "", "module pack to add")
	demo := flag.Bool("demo", false, "add heal.DemoSource (module slow)")
	addr := flag.String("addr", ":80", "address to serve the gateway on")
	fetchCIDs := flag.String("fetch", "", "comma-separated module CIDs to import from the peers")
	peerFlag := flag.String("peer", "", "comma-separated peer gateway URLs, besides peers= on the kernel command line")
	healFn := flag.String("heal", "", "heal this function under load and publish the variant")
	adoptFn := flag.String("adopt", "", "adopt a peer's validated variant of this function")
	n0 := flag.Int64("n", 2000, "-heal and -adopt send calls F(n) .. F(n+31)")
	tamper := flag.Bool("tamper", false, "serve wrong bytes")
	holderWait := flag.Duration("holder-wait", 0, "how long to collect HEAD answers after the first holder's (default 50ms)")
	exit := flag.Bool("exit", false, "exit when done instead of serving")
	var calls list
	flag.Var(&calls, "call", "call F(args) in the node's modules (repeatable)")
	flag.Parse()
	if nodeNum := os.Getenv("VELOCITY_NODE"); flag.NFlag() == 0 && flag.NArg() == 0 && nodeNum != "" {
		// velocity run -cluster N with no arguments: node 1 publishes
		// heal's slow module and heals it; the others import it by CID
		// from their peers, run it, and adopt node 1's variant once
		// their own gate has validated it.
		*name = "node" + nodeNum
		calls = list{"Work(500)"}
		if nodeNum == "1" {
			*demo, *healFn = true, "Work"
		} else {
			c, err := demoCID()
			if err != nil {
				fmt.Println("BIO", *name, "FAIL", err)
				os.Exit(1)
			}
			*fetchCIDs, *adoptFn, *n0 = c.String(), "Work", 1500
		}
	}
	os.Exit(run(*name, *pack, *demo, *addr, *fetchCIDs, *peerFlag, *healFn, *adoptFn, *n0, *tamper, *holderWait, *exit, calls))
}

func run(name, pack string, demo bool, addr, fetchCIDs, peerFlag, healFn, adoptFn string, n0 int64, tamper bool, holderWait time.Duration, exit bool, calls []string) int {
	fail := func(err error) int {
		fmt.Printf("BIO %s FAIL %v\n", name, err)
		return 1
	}
	peers, err := node.KernelPeers()
	if err != nil {
		return fail(err)
	}
	for _, p := range strings.Split(peerFlag, ",") {
		if p != "" {
			peers = append(peers, p)
		}
	}
	n, err := node.New(name, os.Stdout, peers)
	if err != nil {
		return fail(err)
	}
	n.Tamper, n.HolderWait = tamper, holderWait
	var parsed []node.Call
	for _, c := range calls {
		pc, err := node.ParseCall(c)
		if err != nil {
			return fail(err)
		}
		parsed = append(parsed, pc)
	}
	var roots []cid.Cid
	if pack != "" {
		data, err := os.ReadFile(pack)
		if err != nil {
			return fail(err)
		}
		r, err := n.AddPack(data)
		if err != nil {
			return fail(fmt.Errorf("pack %s: %v", pack, err))
		}
		roots = append(roots, r...)
	}
	if demo {
		c, err := n.AddSource("slow.vel", []byte(heal.DemoSource))
		if err != nil {
			return fail(err)
		}
		roots = append(roots, c)
	}
	blocks, _ := n.Store.List()
	fmt.Printf("BIO %s key %s, peers [%s], %d blocks, roots [%s]\n", name, n.KeyID(), strings.Join(peers, " "), len(blocks), join(roots))
	if !exit {
		mux := http.NewServeMux()
		mux.Handle("/", n.Handler())
		mux.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "bye")
			go func() { time.Sleep(100 * time.Millisecond); os.Exit(0) }()
		})
		go func() {
			err := http.ListenAndServe(addr, mux)
			fmt.Printf("BIO %s FAIL serve: %v\n", name, err)
			os.Exit(1)
		}()
		fmt.Printf("BIO %s serving on %s\n", name, addr)
	}
	ctx := context.Background()
	if fetchCIDs != "" {
		var want []cid.Cid
		for _, s := range strings.Split(fetchCIDs, ",") {
			c, err := cid.Decode(s)
			if err != nil {
				return fail(fmt.Errorf("-fetch %q: %v", s, err))
			}
			want = append(want, c)
		}
		if err := n.Import(ctx, want, 90*time.Second); err != nil {
			return fail(err)
		}
		roots = append(roots, want...)
	}
	if tamper {
		// A bad peer also makes claims: two records about Work that its
		// peers must reject, one for its signature, one in their gates.
		if f, _, err := n.Lookup(roots, "Work"); err == nil {
			if _, _, err := n.PublishBadRecords(f.CID); err != nil {
				return fail(err)
			}
		}
	}
	runCalls := func() error {
		for _, c := range parsed {
			if _, err := n.Run(roots, c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := runCalls(); err != nil {
		return fail(err)
	}
	inputs := make([]int64, 32)
	for i := range inputs {
		inputs[i] = n0 + int64(i)
	}
	if healFn != "" {
		s, want, err := slotWithReference(n, roots, healFn, inputs)
		if err != nil {
			return fail(err)
		}
		hctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		if _, err := n.Heal(hctx, s, 2, inputs, want); err != nil {
			return fail(err)
		}
		if err := runCalls(); err != nil {
			return fail(err)
		}
	}
	if adoptFn != "" {
		s, want, err := slotWithReference(n, roots, adoptFn, inputs)
		if err != nil {
			return fail(err)
		}
		// The node's own traffic: the slot records these arguments, and
		// the gate validates a peer's variant on them.
		stop := make(chan struct{})
		time.AfterFunc(time.Second, func() { close(stop) })
		c, w := node.Load(s, 1, inputs, want, stop)
		fmt.Printf("BIO %s %d calls of %s(%d..%d) recorded for validation, %d wrong\n", name, c, adoptFn, inputs[0], inputs[len(inputs)-1], w)
		actx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if len(n.Adopt(actx, []*heal.Slot{s}, time.Second)) == 0 {
			return fail(fmt.Errorf("no variant of %s adopted", adoptFn))
		}
		if err := runCalls(); err != nil {
			return fail(err)
		}
	}
	fmt.Printf("BIO %s done\n", name)
	if exit {
		return 0
	}
	select {}
}

// slotWithReference makes the node's slot for fn and returns, for each
// input, the result of the original version (compiled by the JIT once per
// input), which calls through the slot are checked against.
func slotWithReference(n *node.Node, roots []cid.Cid, fn string, inputs []int64) (*heal.Slot, func(int64) uint64, error) {
	s, err := n.Slot(roots, fn)
	if err != nil {
		return nil, nil, err
	}
	f := s.Current().Func
	p, err := jit.CompileAndLoad(f)
	if err != nil {
		return nil, nil, err
	}
	defer p.Close()
	m := jit.New(1e9)
	defer m.Close()
	ref := map[int64]uint64{}
	for _, x := range inputs {
		v, err := m.Call(p, f, []interp.Value{uint64(x)})
		if err != nil {
			return nil, nil, fmt.Errorf("%s(%d): %v", fn, x, err)
		}
		ref[x] = v.(uint64)
	}
	return s, func(x int64) uint64 { return ref[x] }, nil
}

func join(cs []cid.Cid) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, " ")
}

// demoCID is the CID of heal.DemoSource's module, compiled into a scratch
// store that is then dropped: an importer needs only the CID (as an
// operator would copy it from the publisher's line); the blocks it runs
// come from its peers, verified.
func demoCID() (cid.Cid, error) {
	c, _, err := registry.AddSource(registry.NewMemStore(), "slow.vel", []byte(heal.DemoSource))
	return c, err
}
