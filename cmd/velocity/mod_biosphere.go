package main

// The Biosphere's host commands: velocity mod fetch, serve, import and
// export (see docs/biosphere.md).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/biosphere/dag"
	"github.com/velocityos/velocity/biosphere/fetch"
	"github.com/velocityos/velocity/biosphere/gateway"
	"github.com/velocityos/velocity/biosphere/record"
	"github.com/velocityos/velocity/registry"
)

const modBiosphereUsage = `
Biosphere (IPFS trustless-gateway protocol; docs/biosphere.md):
  fetch [-peer URL]... [-car] [-timeout D] CID
                              fetch CID and everything it links to (a module's
                              whole import closure) from the peers, verifying
                              every block before storing it
  serve [-addr HOST:PORT]     serve the store as a trustless gateway
                              (default 127.0.0.1:8080) with its record list
  import FILE.car             store the blocks of a CAR (all verified first)
  export -o FILE.car REF      write REF and everything it links to as a CARv1
`

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func modFetch(s *registry.DirStore, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var peers multiFlag
	fs.Var(&peers, "peer", "gateway base URL (repeatable)")
	asCAR := fs.Bool("car", false, "fetch one CAR (format=car) instead of block by block")
	timeout := fs.Duration("timeout", 10*time.Second, "per-request timeout")
	if err := fs.Parse(args); err != nil {
		return usagef("fetch: %v", err)
	}
	if fs.NArg() != 1 {
		return usagef("fetch needs exactly one CID")
	}
	if len(peers) == 0 {
		return usagef("fetch needs at least one -peer URL")
	}
	root, err := cid.Decode(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("malformed CID %q: %v", fs.Arg(0), err)
	}
	c, err := fetch.New(s, peers...)
	if err != nil {
		return err
	}
	c.Timeout, c.Log = *timeout, out
	start := time.Now()
	var res fetch.Result
	if *asCAR {
		res, err = c.CAR(context.Background(), root, 0)
	} else {
		res, err = c.Closure(context.Background(), root)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d blocks (%d fetched, %d bytes; %d already held) in %v\n",
		root, res.Blocks, res.Fetched, res.Bytes, res.Held, time.Since(start).Round(time.Millisecond))
	for _, p := range c.Stats() {
		fmt.Fprintf(out, "  peer %s: score %d, served %d, failed %d, wrong bytes %d\n", p.URL, p.Score, p.Served, p.Failed, p.WrongData)
	}
	return nil
}

// newGatewayServer returns the HTTP server of velocity mod serve.
func newGatewayServer(s *registry.DirStore, log io.Writer) (*http.Server, error) {
	rl, err := record.OpenLog(filepath.Join(s.Dir, record.LogFile))
	if err != nil {
		return nil, err
	}
	h := gateway.New(s)
	h.Records, h.Log = rl.List, log
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
	}, nil
}

func modServe(s *registry.DirStore, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	if err := fs.Parse(args); err != nil {
		return usagef("serve: %v", err)
	}
	if fs.NArg() != 0 {
		return usagef("serve takes no arguments")
	}
	srv, err := newGatewayServer(s, out)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "velocity mod serve: serving %s as a trustless gateway at http://%s/ipfs/{cid}\n", s.Dir, ln.Addr())
	if f, ok := out.(interface{ Sync() error }); ok {
		f.Sync()
	}
	return srv.Serve(ln)
}

func modImport(s *registry.DirStore, args []string, out io.Writer) error {
	if len(args) != 1 {
		return usagef("import needs exactly one FILE.car")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	roots, blocks, err := dag.ReadCAR(f, cid.Undef, dag.ReadLimits{})
	if err != nil {
		return fmt.Errorf("%s: %w (nothing stored)", args[0], err)
	}
	has := func(c cid.Cid) bool { ok, _ := s.Has(c); return ok }
	if miss := dag.Missing(blocks, has); len(miss) > 0 {
		return fmt.Errorf("%s: incomplete: %d linked blocks are neither in the CAR nor in the store (first %s); nothing stored", args[0], len(miss), miss[0])
	}
	added := 0
	for _, b := range blocks {
		if has(b.CID) {
			continue
		}
		if err := s.Put(b.CID, b.Data); err != nil {
			return err
		}
		added++
	}
	fmt.Fprintf(out, "%d blocks (%d new)\n", len(blocks), added)
	for _, r := range roots {
		fmt.Fprintln(out, r)
	}
	return nil
}

func modExport(s *registry.DirStore, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := fs.String("o", "", "output CAR file")
	if err := fs.Parse(args); err != nil {
		return usagef("export: %v", err)
	}
	if *o == "" || fs.NArg() != 1 {
		return usagef("export needs -o FILE.car and one REF")
	}
	root, err := resolve(s, fs.Arg(0))
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(*o), ".export-*.car")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := dag.WriteCAR(tmp, s, root)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(fmt.Errorf("export %s", root), err)
	}
	if err := os.Rename(tmp.Name(), *o); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d blocks written to %s\n", root, n, *o)
	return nil
}
