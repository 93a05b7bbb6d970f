package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"

	"github.com/velocityos/velocity/internal/biotest"
	"github.com/velocityos/velocity/lang/dagcbor"
	"github.com/velocityos/velocity/registry"
)

type fixture struct {
	store     registry.Store
	lib, user cid.Cid
	h         *Handler
}

func newFixture(t *testing.T) *fixture {
	s := registry.Synchronized(registry.NewMemStore())
	lib, user := biotest.Modules(t, s)
	return &fixture{store: s, lib: lib, user: user, h: New(s)}
}

func (f *fixture) do(method, target string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, code int) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status %d, want %d; body %q", rec.Code, code, rec.Body.String())
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("status %d response lacks X-Content-Type-Options: nosniff", code)
	}
}

func TestRawBlock(t *testing.T) {
	f := newFixture(t)
	want, _ := f.store.Get(f.user)
	for _, tc := range []struct {
		name   string
		target string
		hdr    []string
	}{
		{"format", "/ipfs/" + f.user.String() + "?format=raw", nil},
		{"accept", "/ipfs/" + f.user.String(), []string{"Accept", RawType}},
		{"accept-list", "/ipfs/" + f.user.String(), []string{"Accept", "text/html, application/vnd.ipld.raw;q=0.9"}},
		{"format-wins", "/ipfs/" + f.user.String() + "?format=raw", []string{"Accept", CARType}},
	} {
		rec := f.do("GET", tc.target, tc.hdr...)
		wantStatus(t, rec, 200)
		if !bytes.Equal(rec.Body.Bytes(), want) {
			t.Fatalf("%s: body differs from the block", tc.name)
		}
		if got, _ := f.user.Prefix().Sum(rec.Body.Bytes()); !got.Equals(f.user) {
			t.Fatalf("%s: body hashes to %s", tc.name, got)
		}
		h := rec.Header()
		for k, v := range map[string]string{
			"Content-Type":        RawType,
			"Etag":                `"` + f.user.String() + `.raw"`,
			"Content-Disposition": `attachment; filename="` + f.user.String() + `.bin"`,
			"Content-Length":      itoa(len(want)),
		} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, h.Get(k), v)
			}
		}
	}
	// HEAD: the same headers, no body.
	rec := f.do("HEAD", "/ipfs/"+f.user.String()+"?format=raw")
	wantStatus(t, rec, 200)
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != itoa(len(want)) || rec.Header().Get("Etag") == "" {
		t.Fatalf("HEAD: body %d bytes, headers %v", rec.Body.Len(), rec.Header())
	}
	// A matching If-None-Match gives 304.
	rec = f.do("GET", "/ipfs/"+f.user.String()+"?format=raw", "If-None-Match", `"`+f.user.String()+`.raw"`)
	if rec.Code != 304 || rec.Body.Len() != 0 {
		t.Fatalf("If-None-Match: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// dfsOrder is the reference order=dfs, dups=n sequence, computed by a
// recursive walk independent of package dag.
func dfsOrder(t *testing.T, s registry.Store, root cid.Cid) []cid.Cid {
	var out []cid.Cid
	seen := map[cid.Cid]bool{}
	var visit func(c cid.Cid)
	visit = func(c cid.Cid) {
		if seen[c] {
			return
		}
		seen[c] = true
		out = append(out, c)
		data, err := s.Get(c)
		if err != nil {
			t.Fatal(err)
		}
		v, err := dagcbor.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range dagcbor.Links(v) {
			visit(l)
		}
	}
	visit(root)
	return out
}

func TestCARHasTheWholeClosureInDFSOrder(t *testing.T) {
	f := newFixture(t)
	closure, err := registry.Closure(f.store, f.user)
	if err != nil {
		t.Fatal(err)
	}
	want := dfsOrder(t, f.store, f.user)
	if len(want) != len(closure) {
		t.Fatalf("reference walk has %d blocks, registry.Closure %d", len(want), len(closure))
	}
	for _, tc := range []struct {
		name, target string
		hdr          []string
	}{
		{"format", "/ipfs/" + f.user.String() + "?format=car", nil},
		{"accept", "/ipfs/" + f.user.String(), []string{"Accept", "application/vnd.ipld.car; version=1; order=dfs; dups=n"}},
		{"format-wins", "/ipfs/" + f.user.String() + "?format=car", []string{"Accept", RawType}},
	} {
		rec := f.do("GET", tc.target, tc.hdr...)
		wantStatus(t, rec, 200)
		h := rec.Header()
		if h.Get("Content-Type") != "application/vnd.ipld.car; version=1; order=dfs; dups=n" ||
			h.Get("Content-Disposition") != `attachment; filename="`+f.user.String()+`.car"` || h.Get("Etag") == "" {
			t.Fatalf("%s: headers %v", tc.name, h)
		}
		br, err := car.NewBlockReader(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if br.Version != 1 || len(br.Roots) != 1 || !br.Roots[0].Equals(f.user) {
			t.Fatalf("%s: CAR v%d roots %v", tc.name, br.Version, br.Roots)
		}
		var got []cid.Cid
		for {
			b, err := br.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if s, _ := b.Cid().Prefix().Sum(b.RawData()); !s.Equals(b.Cid()) {
				t.Fatalf("block %s does not verify", b.Cid())
			}
			got = append(got, b.Cid())
		}
		if len(got) != len(want) {
			t.Fatalf("%s: CAR has %d blocks, closure %d", tc.name, len(got), len(want))
		}
		for i := range got {
			if !got[i].Equals(want[i]) {
				t.Fatalf("%s: block %d is %s, dfs order wants %s", tc.name, i, got[i], want[i])
			}
		}
	}
	rec := f.do("HEAD", "/ipfs/"+f.user.String()+"?format=car")
	wantStatus(t, rec, 200)
	if rec.Body.Len() != 0 || !strings.HasPrefix(rec.Header().Get("Content-Type"), CARType) {
		t.Fatalf("HEAD car: %d bytes, %v", rec.Body.Len(), rec.Header())
	}
}

func absentCID(t *testing.T) cid.Cid {
	c, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x12, MhLength: -1}.Sum([]byte("not stored anywhere"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStatusCodes(t *testing.T) {
	f := newFixture(t)
	missing := absentCID(t).String()
	for _, tc := range []struct {
		method, target string
		hdr            []string
		code           int
	}{
		{"GET", "/ipfs/" + missing + "?format=raw", nil, 404},
		{"HEAD", "/ipfs/" + missing + "?format=raw", nil, 404},
		{"GET", "/ipfs/" + missing + "?format=car", nil, 404},
		{"GET", "/ipfs/" + missing + "?format=raw", []string{"Cache-Control", "only-if-cached"}, 412},
		{"HEAD", "/ipfs/" + missing, []string{"Accept", RawType, "Cache-Control", "max-age=0, only-if-cached"}, 412},
		{"GET", "/ipfs/" + f.user.String() + "?format=raw", []string{"Cache-Control", "only-if-cached"}, 200},
		{"GET", "/ipfs/notacid?format=raw", nil, 400},
		{"GET", "/ipfs/?format=raw", nil, 400},
		{"GET", "/ipfs/" + f.user.String() + "/sub?format=raw", nil, 400},
		{"GET", "/ipns/" + f.user.String() + "?format=raw", nil, 400},
		{"GET", "/" + f.user.String() + "?format=raw", nil, 400},
		{"GET", "/ipfs/" + strings.Repeat("b", 300) + "?format=raw", nil, 400},
		{"GET", "/ipfs/" + f.user.String() + "?format=dag-json", nil, 406},
		{"GET", "/ipfs/" + f.user.String() + "?format=", nil, 406},
		{"GET", "/ipfs/" + f.user.String(), nil, 406},
		{"GET", "/ipfs/" + f.user.String(), []string{"Accept", "text/html"}, 406},
		{"GET", "/ipfs/" + f.user.String(), []string{"Accept", "*/*"}, 406},
		{"GET", "/ipfs/" + f.user.String(), []string{"Accept", "application/vnd.ipld.car; version=2"}, 406},
		{"GET", "/ipfs/" + f.user.String(), []string{"Accept", "application/vnd.ipld.raw;q=0"}, 406},
		{"POST", "/ipfs/" + f.user.String() + "?format=raw", nil, 405},
		{"PUT", "/ipfs/" + f.user.String() + "?format=raw", nil, 405},
	} {
		rec := f.do(tc.method, tc.target, tc.hdr...)
		if rec.Code != tc.code {
			t.Errorf("%s %s %v: %d, want %d (%s)", tc.method, tc.target, tc.hdr, rec.Code, tc.code, rec.Body.String())
			continue
		}
		wantStatus(t, rec, tc.code)
		if tc.code >= 400 && (rec.Header().Get("Etag") != "" || rec.Header().Get("Content-Disposition") != "") {
			t.Errorf("%s %s: error response carries block headers %v", tc.method, tc.target, rec.Header())
		}
	}
}

func TestIdentityProbe(t *testing.T) {
	f := newFixture(t)
	rec := f.do("GET", "/ipfs/bafkqaaa?format=raw")
	wantStatus(t, rec, 200)
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != RawType || rec.Header().Get("Content-Length") != "0" {
		t.Fatalf("identity probe: %d bytes, %v", rec.Body.Len(), rec.Header())
	}
	// An identity CID carrying "hello" answers those bytes.
	c, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x00, MhLength: -1}.Sum([]byte("hello"))
	rec = f.do("GET", "/ipfs/"+c.String(), "Accept", RawType)
	wantStatus(t, rec, 200)
	if rec.Body.String() != "hello" {
		t.Fatalf("identity CID body %q", rec.Body.String())
	}
	wantStatus(t, f.do("GET", "/ipfs/bafkqaaa?format=car"), 406)
}

// TestNothingOutsideTheStore sends hostile paths to a gateway over a real
// listener (so the request line reaches the handler unprocessed) and
// checks that no file outside the store is ever served, nor a stored
// file that no longer hashes to its name.
func TestNothingOutsideTheStore(t *testing.T) {
	root := t.TempDir()
	secret := "SECRET-CONTENTS"
	if err := os.WriteFile(filepath.Join(root, "secret"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := registry.OpenDir(filepath.Join(root, "store"))
	if err != nil {
		t.Fatal(err)
	}
	biotest.Modules(t, ds)
	// A file in the store whose name is a CID its content does not hash to.
	forged, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x12, MhLength: -1}.Sum([]byte("original"))
	if err := os.WriteFile(filepath.Join(ds.Dir, forged.String()), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(ds))
	defer srv.Close()
	for _, p := range []string{
		"/ipfs/../secret?format=raw",
		"/ipfs/..%2Fsecret?format=raw",
		"/ipfs/%2e%2e/secret?format=raw",
		"/ipfs/..?format=raw",
		"/ipfs/.?format=raw",
		"/ipfs/" + forged.String() + "/../../secret?format=raw",
		"/ipfs/%62afkqaaa?format=raw",
		"/ipfs//secret?format=raw",
		"/ipfs/" + forged.String() + "?format=raw",
		"/ipfs/" + forged.String() + "?format=car",
	} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, _ := io.ReadAll(conn)
		conn.Close()
		if bytes.Contains(resp, []byte(secret)) {
			t.Fatalf("%s served the secret:\n%s", p, resp)
		}
		if bytes.HasPrefix(resp, []byte("HTTP/1.1 200")) {
			t.Fatalf("%s: 200:\n%s", p, resp)
		}
	}
}

// TestCARCutShortOnMissingChild: a CAR whose DAG is incomplete in the
// store ends in a truncated stream, never a clean end the client could
// take for the whole DAG.
func TestCARCutShortOnMissingChild(t *testing.T) {
	full := registry.NewMemStore()
	lib, user := biotest.Modules(t, full)
	partial := registry.Synchronized(registry.NewMemStore())
	for _, c := range []cid.Cid{user} {
		b, _ := full.Get(c)
		partial.Put(c, b)
	}
	_ = lib
	srv := httptest.NewServer(&Handler{Store: partial, Log: io.Discard})
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/ipfs/" + user.String() + "?format=car")
	if err != nil {
		return // cut off before the headers were flushed: also not a clean end
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("an incomplete CAR ended cleanly")
	}
}

// countingStore records how many Gets run at once.
type countingStore struct {
	registry.Store
	cur, peak atomic.Int64
	gate      chan struct{}
}

func (s *countingStore) Get(c cid.Cid) ([]byte, error) {
	n := s.cur.Add(1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-s.gate
	defer s.cur.Add(-1)
	return s.Store.Get(c)
}

// TestBoundedUnderLoad sends 1,000 concurrent requests: at most
// MaxInFlight are ever producing a response (each holds at most one
// block), so memory stays bounded however many clients come.
func TestBoundedUnderLoad(t *testing.T) {
	s := registry.Synchronized(registry.NewMemStore())
	_, user := biotest.Modules(t, s)
	cs := &countingStore{Store: s, gate: make(chan struct{})}
	h := &Handler{Store: cs, MaxInFlight: 8}
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/ipfs/"+user.String()+"?format=raw", nil))
			if rec.Code == 200 {
				ok.Add(1)
			}
		}()
	}
	go func() {
		for i := 0; i < 1000; i++ {
			cs.gate <- struct{}{}
		}
	}()
	wg.Wait()
	if ok.Load() != 1000 {
		t.Fatalf("%d of 1000 requests succeeded", ok.Load())
	}
	if p := cs.peak.Load(); p > 8 {
		t.Fatalf("%d responses in flight at once, bound 8", p)
	}
}

func TestRecordsList(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.do("GET", RecordsPath), 404)
	f.h.Records = func() []cid.Cid { return []cid.Cid{f.lib, f.user} }
	rec := f.do("GET", RecordsPath)
	wantStatus(t, rec, 200)
	var body struct{ Records []string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Records) != 2 || body.Records[0] != f.lib.String() || body.Records[1] != f.user.String() {
		t.Fatalf("records %v", body.Records)
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/ipfs/bafkqaaa", "/ipfs/", "/ipfs/../x", "/ipfs/bafkqaaa/x", "/ipns/x", "/ipfs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "/ipfs/%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := ParsePath(p)
		if err != nil {
			return
		}
		// What parses is exactly /ipfs/ and a CID, with no separator
		// that could reach a file system path.
		rest := strings.TrimPrefix(p, "/ipfs/")
		if strings.ContainsAny(rest, `/\%`) || !c.Defined() || rest == "" {
			t.Fatalf("%q parsed as %s", p, c)
		}
		if strings.ContainsAny(c.String(), `/\.`) {
			t.Fatalf("%q: CID string %q has path characters", p, c.String())
		}
	})
}
