// Package gateway serves a node's block store over HTTP as an IPFS
// trustless gateway (specs.ipfs.tech, http-gateways/trustless-gateway):
// GET and HEAD /ipfs/{cid} answer a raw block (application/vnd.ipld.raw)
// or a CARv1 of the block's whole DAG, for a Velocity module its import
// closure (application/vnd.ipld.car; order=dfs; dups=n). Any IPFS
// gateway client can read from a Velocity node, and the Biosphere's own
// fetch client reads from IPFS gateways, because both speak the one
// protocol.
//
// The responses are verifiable: a client hashes what it gets and compares
// with the CID it asked for, so the gateway needs no authentication and
// peers need no trust. It serves only blocks its store holds (a CID, not
// the request text, names the block), and a bounded number of requests
// at once, so memory stays bounded under any load.
//
// It also lists the node's provenance records (see biosphere/record) at
// /biosphere/v1/records, for peers that poll for healed variants.
package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/biosphere/dag"
	"github.com/velocityos/velocity/registry"
)

// Media types of the trustless gateway.
const (
	RawType = "application/vnd.ipld.raw"
	CARType = "application/vnd.ipld.car"
)

// RecordsPath lists the node's provenance records.
const RecordsPath = "/biosphere/v1/records"

// DefaultMaxInFlight bounds concurrent block and CAR responses.
const DefaultMaxInFlight = 64

// Handler is the gateway. The zero value is not usable: set Store.
type Handler struct {
	// Store holds the blocks served. It must be safe for concurrent use
	// (DirStore is; wrap a MemStore with registry.Synchronized).
	Store registry.Store
	// Records returns the CIDs of the provenance records to list (nil:
	// the records endpoint answers 404).
	Records func() []cid.Cid
	// MaxInFlight bounds the responses being produced at once (default
	// DefaultMaxInFlight); further requests wait for a slot or for
	// their client to give up. Each holds at most one block (2 MiB).
	MaxInFlight int
	// Log receives one line per failed CAR stream (nil: none).
	Log io.Writer

	once sync.Once
	sem  chan struct{}
}

// New returns a gateway over s.
func New(s registry.Store) *Handler { return &Handler{Store: s} }

type format int

const (
	formatNone format = iota
	formatRaw
	formatCAR
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Path == RecordsPath {
		h.serveRecords(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		return
	}
	if r.URL.RawPath != "" && r.URL.RawPath != r.URL.Path {
		httpError(w, http.StatusBadRequest, "escaped characters in the path are not accepted")
		return
	}
	c, err := ParsePath(r.URL.Path)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	f, err := negotiate(r)
	if err != nil {
		httpError(w, http.StatusNotAcceptable, "%v", err)
		return
	}
	hd.Set("Vary", "Accept")
	if dag.IsIdentity(c) {
		h.serveIdentity(w, r, c, f)
		return
	}
	h.once.Do(h.initSem)
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-r.Context().Done():
		return
	}
	has, err := h.Store.Has(c)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "store: %v", err)
		return
	}
	if !has {
		if onlyIfCached(r) {
			httpError(w, http.StatusPreconditionFailed, "block %s is not held here (only-if-cached)", c)
			return
		}
		httpError(w, http.StatusNotFound, "block %s is not held here", c)
		return
	}
	switch f {
	case formatRaw:
		h.serveRaw(w, r, c)
	case formatCAR:
		h.serveCAR(w, r, c)
	}
}

// initSem makes the in-flight semaphore (once, on the first request).
func (h *Handler) initSem() {
	n := h.MaxInFlight
	if n <= 0 {
		n = DefaultMaxInFlight
	}
	h.sem = make(chan struct{}, n)
}

func onlyIfCached(r *http.Request) bool {
	for _, v := range r.Header.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "only-if-cached") {
				return true
			}
		}
	}
	return false
}

// negotiate picks the response format: ?format= if present (it wins over
// Accept, as the spec says), else the first acceptable type of Accept.
// A trustless gateway serves only verifiable formats, so a request that
// asks for neither raw nor CAR (including one with no Accept or only
// */*) is refused.
func negotiate(r *http.Request) (format, error) {
	if q := r.URL.Query(); q.Has("format") {
		switch q.Get("format") {
		case "raw":
			return formatRaw, nil
		case "car":
			return formatCAR, nil
		default:
			return formatNone, fmt.Errorf("unsupported format %q: this trustless gateway serves format=raw and format=car", q.Get("format"))
		}
	}
	accept := strings.Join(r.Header.Values("Accept"), ",")
	for _, part := range strings.Split(accept, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				continue
			}
		}
		switch mt {
		case RawType:
			return formatRaw, nil
		case CARType:
			if v, ok := params["version"]; ok && v != "1" {
				continue // only CARv1 is served
			}
			if o, ok := params["order"]; ok && o != "dfs" && o != "unk" {
				continue
			}
			return formatCAR, nil
		}
	}
	if accept == "" {
		return formatNone, errors.New("no format requested: use ?format=raw or ?format=car, or Accept: application/vnd.ipld.raw or application/vnd.ipld.car")
	}
	return formatNone, fmt.Errorf("none of the accepted types (%s) is served: this trustless gateway serves %s and %s", accept, RawType, CARType)
}

func setBlockHeaders(hd http.Header, c cid.Cid, ctype, etag, ext string) {
	hd.Set("Content-Type", ctype)
	hd.Set("Etag", etag)
	hd.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", c.String()+ext))
	hd.Set("Cache-Control", "public, max-age=29030400, immutable")
	hd.Set("X-Ipfs-Path", "/ipfs/"+c.String())
	hd.Set("X-Ipfs-Roots", c.String())
}

// notModified answers 304 when If-None-Match names etag.
func notModified(w http.ResponseWriter, r *http.Request, etag string) bool {
	for _, v := range r.Header.Values("If-None-Match") {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e == etag || e == "*" {
				w.WriteHeader(http.StatusNotModified)
				return true
			}
		}
	}
	return false
}

func (h *Handler) serveRaw(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	data, err := h.Store.Get(c)
	if errors.Is(err, registry.ErrNotFound) {
		httpError(w, http.StatusNotFound, "block %s is not held here", c)
		return
	}
	if err != nil {
		// A block that no longer verifies is never served.
		httpError(w, http.StatusInternalServerError, "block %s: %v", c, err)
		return
	}
	writeRaw(w, r, c, data)
}

func writeRaw(w http.ResponseWriter, r *http.Request, c cid.Cid, data []byte) {
	etag := `"` + c.String() + `.raw"`
	setBlockHeaders(w.Header(), c, RawType, etag, ".bin")
	if notModified(w, r, etag) {
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(data)
	}
}

func (h *Handler) serveIdentity(w http.ResponseWriter, r *http.Request, c cid.Cid, f format) {
	data, err := dag.IdentityData(c)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if f != formatRaw {
		httpError(w, http.StatusNotAcceptable, "identity CID %s is served as format=raw only", c)
		return
	}
	writeRaw(w, r, c, data)
}

func (h *Handler) serveCAR(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	if !dag.Traversable(c) {
		httpError(w, http.StatusNotAcceptable, "cannot traverse the links of codec 0x%x for a CAR; ask for format=raw", c.Type())
		return
	}
	etag := `W/"` + c.String() + `.car.dfs.n"`
	setBlockHeaders(w.Header(), c, dag.CARContentType, etag, ".car")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if notModified(w, r, etag) {
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusOK)
	if _, err := dag.WriteCAR(w, h.Store, c); err != nil {
		// The 200 is sent: a CAR stream that cannot complete is cut
		// off (the client sees a truncated body, never a clean end) and
		// clients check completeness, as the spec says.
		if h.Log != nil {
			fmt.Fprintf(h.Log, "[Biosphere] gateway: CAR of %s cut short: %v\n", c, err)
		}
		panic(http.ErrAbortHandler)
	}
}

func (h *Handler) serveRecords(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		return
	}
	if h.Records == nil {
		httpError(w, http.StatusNotFound, "this node publishes no records")
		return
	}
	list := []string{}
	for _, c := range h.Records() {
		list = append(list, c.String())
	}
	body, _ := json.Marshal(map[string]any{"records": list})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	hd := w.Header()
	hd.Del("Etag")
	hd.Del("Content-Disposition")
	hd.Del("Cache-Control")
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintf(w, "%d %s: %s\n", code, http.StatusText(code), fmt.Sprintf(format, args...))
}
