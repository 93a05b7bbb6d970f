// Command biosphere is a Velocity node of the Biosphere inside the
// unikernel: it serves a module pack as an IPFS trustless gateway on the
// guest's network, or fetches a module's closure from other nodes,
// verifying every block against its CID (docs/biosphere.md).
//
//	velocity run -hostfwd tcp:8088-:80 -fs $PWD/build/modules.pack -append "-- -pack $PWD/build/modules.pack" ./images/biosphere
//	velocity mod fetch -peer http://127.0.0.1:8088 CID
//
//	velocity run -net connect:7000 -append 'ip=10.0.3.2/24 -- -fetch CID -peer http://10.0.3.1' ./images/biosphere
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
	"github.com/velocityos/velocity/biosphere/fetch"
	"github.com/velocityos/velocity/biosphere/gateway"
	"github.com/velocityos/velocity/registry"
)

func main() {
	pack := flag.String("pack", "", "module pack to serve")
	addr := flag.String("addr", ":80", "address to serve on")
	fetchCID := flag.String("fetch", "", "fetch this CID's closure instead of serving")
	peers := flag.String("peer", "", "comma-separated peer gateway URLs (with -fetch)")
	flag.Parse()
	if *fetchCID != "" {
		os.Exit(fetchMode(*fetchCID, strings.Split(*peers, ",")))
	}
	if *pack == "" {
		fmt.Println("biosphere: -pack PATH or -fetch CID is needed")
		os.Exit(2)
	}
	data, err := os.ReadFile(*pack)
	if err != nil {
		fmt.Println("biosphere:", err)
		os.Exit(1)
	}
	p, err := registry.OpenPack(data)
	if err != nil {
		fmt.Println("biosphere:", err)
		os.Exit(1)
	}
	blocks, _ := p.List()
	var roots []string
	for _, r := range p.Roots {
		roots = append(roots, r.String())
	}
	fmt.Printf("biosphere: serving %d blocks on %s; roots %s\n", len(blocks), *addr, strings.Join(roots, " "))
	mux := http.NewServeMux()
	mux.Handle("/", gateway.New(p))
	mux.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "bye")
		go func() { time.Sleep(100 * time.Millisecond); os.Exit(0) }()
	})
	if err := http.ListenAndServe(*addr, mux); err != nil {
		fmt.Println("biosphere:", err)
		os.Exit(1)
	}
}

// fetchMode imports a module's closure from peers into an empty store,
// retrying while the peers are not up yet.
func fetchMode(id string, peers []string) int {
	c, err := cid.Decode(id)
	if err != nil {
		fmt.Println("biosphere:", err)
		return 2
	}
	store := registry.Synchronized(registry.NewMemStore())
	cl, err := fetch.New(store, peers...)
	if err != nil {
		fmt.Println("biosphere:", err)
		return 2
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := cl.Closure(ctx, c)
		cancel()
		if err == nil {
			fmt.Printf("biosphere: fetched %s: %d blocks (%d bytes), every one verified against its CID\n", c, res.Blocks, res.Bytes)
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Println("biosphere:", err)
			return 1
		}
		time.Sleep(time.Second)
	}
}
