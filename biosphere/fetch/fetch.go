// Package fetch is the Biosphere's client: it gets blocks, and a
// module's whole import closure, from a set of peers that speak the IPFS
// trustless-gateway protocol (Velocity nodes or IPFS gateways), trusting
// none of them.
//
// For each block it asks every peer at once with HEAD who holds it, then
// GETs it from the holders in order of their score, sending both
// ?format=raw and Accept: application/vnd.ipld.raw (the spec asks clients
// to send both). It follows no redirects, reads at most MaxBlock bytes,
// bounds every request with a timeout, and checks
// cid.Prefix().Sum(body) == cid before the block reaches the store. A
// peer that fails is passed over for the next holder; one that served
// wrong bytes is demoted and logged, so it is asked last from then on.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/biosphere/dag"
	"github.com/velocityos/velocity/registry"
)

// Score changes: a served block earns a point, a failure (timeout,
// error status, oversize body, redirect) costs one, wrong bytes cost ten.
const (
	scoreServed    = 1
	scoreFailed    = -1
	scoreWrongData = -10
)

// Peer is one gateway the client asks, with its running score.
type Peer struct {
	URL string // base URL, e.g. http://127.0.0.1:8080

	mu                        sync.Mutex
	score                     int
	served, failed, wrongData int
}

// PeerStats is a snapshot of a peer's record.
type PeerStats struct {
	URL                       string
	Score                     int
	Served, Failed, WrongData int
}

func (p *Peer) add(delta int, kind *int) {
	p.mu.Lock()
	p.score += delta
	*kind++
	p.mu.Unlock()
}

func (p *Peer) stats() PeerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PeerStats{p.URL, p.score, p.served, p.failed, p.wrongData}
}

// Client fetches blocks from peers into a store.
type Client struct {
	// Store receives verified blocks. It must be safe for concurrent use.
	Store registry.Store
	Peers []*Peer
	// Timeout bounds each request, body included (default 10s): a slow
	// or stalled peer fails and the next holder is asked.
	Timeout time.Duration
	// HolderWait is how long HEAD answers are still collected after the
	// first holder answered (default 50ms), so that one stalled peer
	// does not hold up every block for a whole Timeout.
	HolderWait time.Duration
	// MaxBlock is the largest body accepted (default dag.MaxBlock, 2 MiB).
	MaxBlock int
	// Parallel bounds the blocks fetched at once by Closure (default 8).
	Parallel int
	// Log receives [Biosphere] lines about peers (nil: none).
	Log io.Writer

	http    *http.Client
	logMu   sync.Mutex
	initOne sync.Once
}

// New returns a client over store s and the peers' base URLs.
func New(s registry.Store, peers ...string) (*Client, error) {
	c := &Client{Store: s}
	for _, u := range peers {
		p, err := ParsePeer(u)
		if err != nil {
			return nil, err
		}
		c.Peers = append(c.Peers, p)
	}
	if len(c.Peers) == 0 {
		return nil, errors.New("fetch: no peers")
	}
	return c, nil
}

// ParsePeer checks a peer's base URL: http or https, a host, and no
// query or fragment.
func ParsePeer(s string) (*Peer, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("peer %q: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("peer %q: want http://host:port (optionally with a base path)", s)
	}
	return &Peer{URL: strings.TrimSuffix(u.String(), "/")}, nil
}

func (c *Client) init() {
	c.initOne.Do(func() {
		if c.Timeout <= 0 {
			c.Timeout = 10 * time.Second
		}
		if c.HolderWait <= 0 {
			c.HolderWait = 50 * time.Millisecond
		}
		if c.MaxBlock <= 0 {
			c.MaxBlock = dag.MaxBlock
		}
		if c.Parallel <= 0 {
			c.Parallel = 8
		}
		c.http = &http.Client{
			// A gateway that redirects is not answering for the CID it
			// was asked; the redirect is reported, not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
}

func (c *Client) logf(format string, args ...any) {
	if c.Log == nil {
		return
	}
	c.logMu.Lock()
	defer c.logMu.Unlock()
	fmt.Fprintf(c.Log, "[Biosphere] "+format+"\n", args...)
}

// Stats returns every peer's record, best first.
func (c *Client) Stats() []PeerStats {
	var out []PeerStats
	for _, p := range c.Peers {
		out = append(out, p.stats())
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return out
}

// WrongBytesError reports a peer's body that does not hash to the CID.
type WrongBytesError struct {
	Peer      string
	Want, Got cid.Cid
}

func (e *WrongBytesError) Error() string {
	return fmt.Sprintf("peer %s served wrong bytes for %s (they hash to %s)", e.Peer, e.Want, e.Got)
}

// FetchError lists why every holder failed.
type FetchError struct {
	CID     cid.Cid
	Errors  []error // one per holder tried (empty: no peer holds it)
	NotHeld []error // why each other peer is not a holder (its HEAD answer)
}

func (e *FetchError) Error() string {
	if len(e.Errors) == 0 {
		parts := make([]string, len(e.NotHeld))
		for i, err := range e.NotHeld {
			parts[i] = err.Error()
		}
		return fmt.Sprintf("block %s: no peer holds it (%s)", e.CID, strings.Join(parts, "; "))
	}
	parts := make([]string, len(e.Errors))
	for i, err := range e.Errors {
		parts[i] = err.Error()
	}
	return fmt.Sprintf("block %s: every holder failed: %s", e.CID, strings.Join(parts, "; "))
}

func (e *FetchError) Unwrap() []error { return e.Errors }

func (c *Client) blockURL(p *Peer, id cid.Cid, format string) string {
	return p.URL + "/ipfs/" + id.String() + "?format=" + format
}

func acceptFor(format string) string {
	if format == "car" {
		return dag.CARContentType
	}
	return "application/vnd.ipld.raw"
}

// request sends one request to p with the client's timeout, refusing
// redirects and non-200 answers. The caller must call done.
func (c *Client) request(ctx context.Context, method string, p *Peer, id cid.Cid, format string) (resp *http.Response, done func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	req, err := http.NewRequestWithContext(ctx, method, c.blockURL(p, id, format), nil)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req.Header.Set("Accept", acceptFor(format))
	resp, err = c.http.Do(req)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("peer %s: %s %s: %w", p.URL, method, id, err)
	}
	done = func() { resp.Body.Close(); cancel() }
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		done()
		return nil, nil, fmt.Errorf("peer %s: %s %s: redirect (%s to %q) refused", p.URL, method, id, resp.Status, resp.Header.Get("Location"))
	}
	if resp.StatusCode != http.StatusOK {
		done()
		return nil, nil, fmt.Errorf("peer %s: %s %s: %s", p.URL, method, id, resp.Status)
	}
	return resp, done, nil
}

// holders asks every peer with HEAD whether it holds id and returns the
// holders, best score first, and why the others are not holders. It
// returns when every peer has answered, or HolderWait after the first
// holder answered.
func (c *Client) holders(ctx context.Context, id cid.Cid) (out []*Peer, notHeld []error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		p   *Peer
		err error
	}
	ch := make(chan answer, len(c.Peers))
	for _, p := range c.Peers {
		go func() {
			_, done, err := c.request(ctx, http.MethodHead, p, id, "raw")
			if err == nil {
				done()
			}
			ch <- answer{p, err}
		}()
	}
	var wait <-chan time.Time
	for range c.Peers {
		select {
		case a := <-ch:
			if a.err != nil {
				notHeld = append(notHeld, a.err)
				continue
			}
			out = append(out, a.p)
			if wait == nil {
				wait = time.After(c.HolderWait)
			}
			continue
		case <-wait:
		case <-ctx.Done():
		}
		break
	}
	// Best score first; among equal scores, the order the peers were
	// given in (the operator's preference), not the order the HEADs
	// happened to come back in, so which holder is asked first does not
	// depend on timing.
	rank := make(map[*Peer]int, len(c.Peers))
	for i, p := range c.Peers {
		rank[p] = i
	}
	score := make(map[*Peer]int, len(out))
	for _, p := range out {
		score[p] = p.stats().Score
	}
	sort.Slice(out, func(i, j int) bool {
		if score[out[i]] != score[out[j]] {
			return score[out[i]] > score[out[j]]
		}
		return rank[out[i]] < rank[out[j]]
	})
	return out, notHeld
}

// Block returns block id, from the store if it is held, else from the
// first holder that serves bytes hashing to id; the block is stored
// before Block returns.
func (c *Client) Block(ctx context.Context, id cid.Cid) ([]byte, error) {
	c.init()
	if dag.IsIdentity(id) {
		return dag.IdentityData(id)
	}
	if has, err := c.Store.Has(id); err != nil {
		return nil, err
	} else if has {
		return c.Store.Get(id)
	}
	data, err := c.fetch(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := c.Store.Put(id, data); err != nil {
		return nil, err
	}
	return data, nil
}

// fetch gets id's verified bytes from the holders in turn.
func (c *Client) fetch(ctx context.Context, id cid.Cid) ([]byte, error) {
	hs, notHeld := c.holders(ctx, id)
	fe := &FetchError{CID: id, NotHeld: notHeld}
	for _, p := range hs {
		data, err := c.get(ctx, p, id)
		if err == nil {
			p.add(scoreServed, &p.served)
			return data, nil
		}
		fe.Errors = append(fe.Errors, err)
		var wb *WrongBytesError
		if errors.As(err, &wb) {
			p.add(scoreWrongData, &p.wrongData)
			c.logf("peer %s served wrong bytes for %s (they hash to %s): demoted to score %d, trying the next holder", p.URL, id, wb.Got, p.stats().Score)
		} else {
			p.add(scoreFailed, &p.failed)
			c.logf("%v: trying the next holder", err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fe
}

// get GETs one raw block from p and verifies it.
func (c *Client) get(ctx context.Context, p *Peer, id cid.Cid) ([]byte, error) {
	resp, done, err := c.request(ctx, http.MethodGet, p, id, "raw")
	if err != nil {
		return nil, err
	}
	defer done()
	if resp.ContentLength > int64(c.MaxBlock) {
		return nil, fmt.Errorf("peer %s: block %s: body of %d bytes exceeds the %d-byte limit", p.URL, id, resp.ContentLength, c.MaxBlock)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.MaxBlock)+1))
	if err != nil {
		return nil, fmt.Errorf("peer %s: block %s: %w", p.URL, id, err)
	}
	if len(data) > c.MaxBlock {
		return nil, fmt.Errorf("peer %s: block %s: body exceeds the %d-byte limit", p.URL, id, c.MaxBlock)
	}
	got, err := id.Prefix().Sum(data)
	if err != nil {
		return nil, fmt.Errorf("peer %s: block %s: %w", p.URL, id, err)
	}
	if !got.Equals(id) {
		return nil, &WrongBytesError{Peer: p.URL, Want: id, Got: got}
	}
	return data, nil
}

// Result counts what a closure fetch did.
type Result struct {
	Blocks  int // blocks in the closure
	Fetched int // of which fetched from peers
	Held    int // of which already in the store
	Bytes   int // bytes fetched
}

// Closure makes the store hold root and every block reachable from it
// (for a module: its functions and its whole import closure), fetching
// only the blocks not already held, Parallel at a time.
func (c *Client) Closure(ctx context.Context, root cid.Cid) (Result, error) {
	c.init()
	var res Result
	seen := map[string]bool{root.KeyString(): true}
	level := []cid.Cid{root}
	for len(level) > 0 {
		type got struct {
			data    []byte
			fetched bool
			err     error
		}
		results := make([]got, len(level))
		sem := make(chan struct{}, c.Parallel)
		var wg sync.WaitGroup
		for i, id := range level {
			if dag.IsIdentity(id) {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if has, err := c.Store.Has(id); err != nil || has {
					if err == nil {
						results[i].data, err = c.Store.Get(id)
					}
					results[i].err = err
					return
				}
				data, err := c.fetch(ctx, id)
				if err == nil {
					err = c.Store.Put(id, data)
				}
				results[i] = got{data, true, err}
			}()
		}
		wg.Wait()
		var next []cid.Cid
		for i, id := range level {
			if dag.IsIdentity(id) {
				continue
			}
			r := results[i]
			if r.err != nil {
				return res, r.err
			}
			res.Blocks++
			if r.fetched {
				res.Fetched++
				res.Bytes += len(r.data)
			} else {
				res.Held++
			}
			links, err := dag.Links(id, r.data)
			if err != nil {
				return res, err
			}
			for _, l := range links {
				if !seen[l.KeyString()] {
					if len(seen) >= dag.MaxBlocks {
						return res, fmt.Errorf("DAG under %s has more than %d blocks", root, dag.MaxBlocks)
					}
					seen[l.KeyString()] = true
					next = append(next, l)
				}
			}
		}
		level = next
	}
	return res, nil
}

// CAR fetches root's whole DAG as one CAR (format=car) from the first
// holder that serves a complete, verified one, and stores its blocks.
// Nothing is stored from a CAR that fails any check (dag.ReadCAR).
func (c *Client) CAR(ctx context.Context, root cid.Cid, maxTotal int) (Result, error) {
	c.init()
	hs, notHeld := c.holders(ctx, root)
	fe := &FetchError{CID: root, NotHeld: notHeld}
	for _, p := range hs {
		res, err := c.car(ctx, p, root, maxTotal)
		if err == nil {
			p.add(scoreServed, &p.served)
			return res, nil
		}
		fe.Errors = append(fe.Errors, err)
		if errors.Is(err, dag.ErrWrongBytes) {
			p.add(scoreWrongData, &p.wrongData)
			c.logf("peer %s served wrong bytes in the CAR of %s: demoted to score %d, trying the next holder (%v)", p.URL, root, p.stats().Score, err)
		} else {
			p.add(scoreFailed, &p.failed)
			c.logf("%v: trying the next holder", err)
		}
	}
	return Result{}, fe
}

func (c *Client) car(ctx context.Context, p *Peer, root cid.Cid, maxTotal int) (Result, error) {
	resp, done, err := c.request(ctx, http.MethodGet, p, root, "car")
	if err != nil {
		return Result{}, err
	}
	defer done()
	_, blocks, err := dag.ReadCAR(resp.Body, root, dag.ReadLimits{MaxBlock: c.MaxBlock, MaxTotal: maxTotal})
	if err != nil {
		return Result{}, fmt.Errorf("peer %s: CAR of %s: %w", p.URL, root, err)
	}
	if miss := dag.Missing(blocks, func(id cid.Cid) bool { ok, _ := c.Store.Has(id); return ok }); len(miss) > 0 {
		return Result{}, fmt.Errorf("peer %s: CAR of %s is incomplete: %d linked blocks missing (first %s)", p.URL, root, len(miss), miss[0])
	}
	var res Result
	for _, b := range blocks {
		res.Blocks++
		if has, _ := c.Store.Has(b.CID); has {
			res.Held++
			continue
		}
		if err := c.Store.Put(b.CID, b.Data); err != nil {
			return res, err
		}
		res.Fetched++
		res.Bytes += len(b.Data)
	}
	return res, nil
}
