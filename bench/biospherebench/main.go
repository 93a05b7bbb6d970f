// Command biospherebench measures the Biosphere's import of a module
// whose closure is 100 blocks (99 functions and the module block) over
// the trustless-gateway protocol on loopback: block by block from 1 peer
// and from 3 peers, and as one CAR from 1 peer, as the median of -n runs
// into an empty store, in blocks/s and MB/s. With a kubo binary
// ($VELOCITY_KUBO, or the one scripts/ipfs-interop.sh caches) it also
// runs the same client against kubo's gateway serving the same blocks and
// prints the ratio, measured in the same run.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/biosphere/dag"
	"github.com/velocityos/velocity/biosphere/fetch"
	"github.com/velocityos/velocity/biosphere/gateway"
	"github.com/velocityos/velocity/internal/kubo"
	"github.com/velocityos/velocity/registry"
)

// source returns a module of nfunc distinct functions (each a block).
func source(nfunc int) string {
	var b strings.Builder
	b.WriteString("module bench\n")
	for i := 0; i < nfunc; i++ {
		fmt.Fprintf(&b, `func F%d(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		if i%%%d == 0 { s += i * %d } else { s -= i ^ %d }
	}
	return s
}
`, i, i%7+2, i+1, i*3+1)
	}
	return b.String()
}

func serve(s registry.Store) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, gateway.New(s))
	return "http://" + ln.Addr().String()
}

type result struct {
	name   string
	median time.Duration
	blocks int
	bytes  int
}

func measure(name string, n int, peers []string, root cid.Cid, car bool) result {
	var times []time.Duration
	var last fetch.Result
	for i := 0; i < n; i++ {
		dst := registry.Synchronized(registry.NewMemStore())
		c, err := fetch.New(dst, peers...)
		if err != nil {
			log.Fatal(err)
		}
		start := time.Now()
		if car {
			last, err = c.CAR(context.Background(), root, 0)
		} else {
			last, err = c.Closure(context.Background(), root)
		}
		if err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return result{name, times[len(times)/2], last.Fetched, last.Bytes}
}

func (r result) print(base time.Duration) {
	s := r.median.Seconds()
	fmt.Printf("%-44s %9.2f ms %9.0f blocks/s %7.2f MB/s %6.2fx\n", r.name, s*1e3, float64(r.blocks)/s, float64(r.bytes)/s/1e6, float64(r.median)/float64(base))
}

func main() {
	n := flag.Int("n", 7, "runs per measurement (the median is printed)")
	funcs := flag.Int("funcs", 99, "functions in the module (closure = funcs + 1 blocks)")
	flag.Parse()
	src := registry.Synchronized(registry.NewMemStore())
	root, _, err := registry.AddSource(src, "bench.vel", []byte(source(*funcs)))
	if err != nil {
		log.Fatal(err)
	}
	closure, err := registry.Closure(src, root)
	if err != nil {
		log.Fatal(err)
	}
	var peers []string
	for i := 0; i < 3; i++ {
		peers = append(peers, serve(src))
	}
	fmt.Printf("Biosphere import of module %s: %d blocks, loopback, median of %d runs (ratio: time / 1-peer block-by-block time)\n", root, len(closure), *n)
	base := measure("Velocity gateway, 1 peer, block by block", *n, peers[:1], root, false)
	base.print(base.median)
	measure("Velocity gateway, 3 peers, block by block", *n, peers, root, false).print(base.median)
	measure("Velocity gateway, 1 peer, one CAR", *n, peers[:1], root, true).print(base.median)

	bin := os.Getenv("VELOCITY_KUBO")
	if bin == "" {
		cache, _ := os.UserCacheDir()
		if p := filepath.Join(cache, "velocity", "kubo-v0.42.0-ipfs"); fileExists(p) {
			bin = p
		}
	}
	if bin == "" {
		fmt.Println("kubo: not built (scripts/ipfs-interop.sh builds it): no side-by-side figure")
		return
	}
	dir, err := os.MkdirTemp("", "biospherebench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	d, err := kubo.Start(bin, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Stop()
	var buf bytes.Buffer
	if _, err := dag.WriteCAR(&buf, src, root); err != nil {
		log.Fatal(err)
	}
	carFile := filepath.Join(dir, "bench.car")
	os.WriteFile(carFile, buf.Bytes(), 0o644)
	if _, err := d.Run(nil, "dag", "import", carFile); err != nil {
		log.Fatal(err)
	}
	k := measure("kubo v0.42.0 gateway, 1 peer, block by block", *n, []string{d.Gateway}, root, false)
	k.print(base.median)
	kc := measure("kubo v0.42.0 gateway, 1 peer, one CAR", *n, []string{d.Gateway}, root, true)
	kc.print(base.median)
	fmt.Printf("side by side, same client: Velocity gateway / kubo gateway time = %.2f (block by block)\n", float64(base.median)/float64(k.median))
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
