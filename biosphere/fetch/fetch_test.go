package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"

	"github.com/velocityos/velocity/biosphere/gateway"
	"github.com/velocityos/velocity/internal/biotest"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/registry"
)

// syncBuf is a log shared by the client's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type world struct {
	origin    registry.Store
	lib, user cid.Cid
	honest    *httptest.Server
}

func newWorld(t *testing.T) *world {
	s := registry.Synchronized(registry.NewMemStore())
	lib, user := biotest.Modules(t, s)
	srv := httptest.NewServer(gateway.New(s))
	t.Cleanup(srv.Close)
	return &world{s, lib, user, srv}
}

func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func client(t *testing.T, s registry.Store, log *syncBuf, peers ...string) *Client {
	c, err := New(s, peers...)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 2 * time.Second
	c.HolderWait = time.Second
	if log != nil {
		c.Log = log
	}
	return c
}

func cidOf(t *testing.T, r *http.Request) cid.Cid {
	c, err := gateway.ParsePath(r.URL.Path)
	if err != nil {
		t.Errorf("bad request path %q", r.URL.Path)
	}
	return c
}

// tamper claims every block and serves wrong bytes (or a CAR whose root
// block is wrong).
func tamper(t *testing.T) *httptest.Server {
	return server(t, func(w http.ResponseWriter, r *http.Request) {
		c := cidOf(t, r)
		if r.Method == http.MethodHead {
			return
		}
		if r.URL.Query().Get("format") == "car" {
			cw, _ := storage.NewWritable(w, []cid.Cid{c}, car.WriteAsCarV1(true))
			cw.Put(context.Background(), c.KeyString(), []byte("forged"))
			return
		}
		w.Write([]byte("forged bytes for " + c.String()))
	})
}

func wantEmpty(t *testing.T, s registry.Store) {
	t.Helper()
	if l, _ := s.List(); len(l) != 0 {
		t.Fatalf("store holds %d blocks after a failed fetch", len(l))
	}
}

func TestClosureAndDedup(t *testing.T) {
	w := newWorld(t)
	dst := registry.Synchronized(registry.NewMemStore())
	c := client(t, dst, nil, w.honest.URL)
	want, _ := registry.Closure(w.origin, w.user)
	res, err := c.Closure(context.Background(), w.user)
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocks != len(want) || res.Fetched != len(want) || res.Held != 0 {
		t.Fatalf("first fetch %+v, closure has %d blocks", res, len(want))
	}
	v, _, err := registry.Run(dst, w.user, "Main", 1000, interp.Int64(3))
	if err != nil || v != interp.Int64(36) {
		t.Fatalf("fetched module: Main(3) = %v, %v", v, err)
	}
	res, err = c.Closure(context.Background(), w.user)
	if err != nil || res.Fetched != 0 || res.Held != len(want) {
		t.Fatalf("second fetch %+v %v: held blocks were fetched again", res, err)
	}
	// A node that already holds the library fetches only the rest.
	dst2 := registry.Synchronized(registry.NewMemStore())
	libBlocks, _ := registry.Closure(w.origin, w.lib)
	for _, b := range libBlocks {
		data, _ := w.origin.Get(b)
		dst2.Put(b, data)
	}
	res, err = client(t, dst2, nil, w.honest.URL).Closure(context.Background(), w.user)
	if err != nil || res.Fetched != len(want)-len(libBlocks) || res.Held != len(libBlocks) {
		t.Fatalf("with the library held: %+v %v (closure %d, library %d)", res, err, len(want), len(libBlocks))
	}
}

func TestTamperingPeerIsDemoted(t *testing.T) {
	w := newWorld(t)
	bad := tamper(t)
	// The honest peer answers HEAD late, so the tamperer is asked first.
	slowHead := server(t, func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			time.Sleep(200 * time.Millisecond)
		}
		w.honest.Config.Handler.ServeHTTP(rw, r)
	})
	dst := registry.Synchronized(registry.NewMemStore())
	log := &syncBuf{}
	c := client(t, dst, log, bad.URL, slowHead.URL)
	if _, err := c.Closure(context.Background(), w.user); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st[0].URL != slowHead.URL || st[1].URL != bad.URL || st[1].WrongData == 0 || st[1].Score >= 0 || st[1].Served != 0 {
		t.Fatalf("scores %+v", st)
	}
	if !strings.Contains(log.String(), "[Biosphere] peer "+bad.URL+" served wrong bytes for") || !strings.Contains(log.String(), "demoted") {
		t.Fatalf("log:\n%s", log)
	}
	all, _ := dst.List()
	for _, b := range all {
		if _, err := dst.Get(b); err != nil {
			t.Fatalf("stored block %s: %v", b, err)
		}
	}
}

func TestBadPeersLeaveTheStoreUnchanged(t *testing.T) {
	w := newWorld(t)
	stall := server(t, func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			<-r.Context().Done()
		}
	})
	redirect := server(t, func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, w.honest.URL+r.URL.RequestURI(), http.StatusFound)
	})
	oversize := server(t, func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			rw.Write(make([]byte, 2<<20+1))
		}
	})
	slowBody := server(t, func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			rw.Header().Set("Content-Length", "1000")
			rw.Write([]byte("partial"))
			rw.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	})
	absent := server(t, func(rw http.ResponseWriter, r *http.Request) { http.NotFound(rw, r) })
	for name, tc := range map[string]struct {
		peer string
		want string
	}{
		"wrong bytes": {tamper(t).URL, "served wrong bytes"},
		"stalled":     {stall.URL, "deadline exceeded"},
		"slow body":   {slowBody.URL, "deadline exceeded"},
		"redirect":    {redirect.URL, "redirect"},
		"oversize":    {oversize.URL, "exceeds the 2097152-byte limit"},
		"absent":      {absent.URL, "no peer holds it"},
	} {
		dst := registry.Synchronized(registry.NewMemStore())
		c := client(t, dst, nil, tc.peer)
		c.Timeout = 300 * time.Millisecond
		start := time.Now()
		_, err := c.Closure(context.Background(), w.user)
		var fe *FetchError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want a FetchError containing %q", name, err, tc.want)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
		wantEmpty(t, dst)
		// The same peer first, then an honest one: the import completes.
		dst = registry.Synchronized(registry.NewMemStore())
		c = client(t, dst, nil, tc.peer, w.honest.URL)
		c.Timeout = 300 * time.Millisecond
		if _, err := c.Closure(context.Background(), w.user); err != nil {
			t.Errorf("%s then honest: %v", name, err)
		}
	}
}

func TestCAR(t *testing.T) {
	w := newWorld(t)
	want, _ := registry.Closure(w.origin, w.user)
	dst := registry.Synchronized(registry.NewMemStore())
	res, err := client(t, dst, nil, w.honest.URL).CAR(context.Background(), w.user, 0)
	if err != nil || res.Blocks != len(want) || res.Fetched != len(want) {
		t.Fatalf("CAR: %+v %v (closure %d)", res, err, len(want))
	}
	if got, err := registry.Closure(dst, w.user); err != nil || len(got) != len(want) {
		t.Fatalf("stored closure %d, %v", len(got), err)
	}
	// A forged CAR is rejected and demotes its peer; nothing is stored.
	dst = registry.Synchronized(registry.NewMemStore())
	log := &syncBuf{}
	c := client(t, dst, log, tamper(t).URL)
	if _, err := c.CAR(context.Background(), w.user, 0); err == nil || !strings.Contains(err.Error(), "forged") {
		t.Fatalf("forged CAR: %v", err)
	}
	if c.Stats()[0].WrongData != 1 || !strings.Contains(log.String(), "wrong bytes in the CAR") {
		t.Fatalf("forged CAR not scored: %+v\n%s", c.Stats(), log)
	}
	wantEmpty(t, dst)
	// A CAR holding only the root is incomplete; nothing is stored.
	rootOnly := server(t, func(rw http.ResponseWriter, r *http.Request) {
		c := cidOf(t, r)
		if r.Method == http.MethodHead {
			return
		}
		data, _ := w.origin.Get(c)
		cw, _ := storage.NewWritable(rw, []cid.Cid{c}, car.WriteAsCarV1(true))
		cw.Put(context.Background(), c.KeyString(), data)
	})
	dst = registry.Synchronized(registry.NewMemStore())
	if _, err := client(t, dst, nil, rootOnly.URL).CAR(context.Background(), w.user, 0); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("root-only CAR: %v", err)
	}
	wantEmpty(t, dst)
}

func TestParsePeer(t *testing.T) {
	for _, bad := range []string{"ftp://x", "http://", "127.0.0.1:80", "http://h/?q=1", "http://u:p@h/", "http://h/#f"} {
		if _, err := ParsePeer(bad); err == nil {
			t.Errorf("peer %q accepted", bad)
		}
	}
	p, err := ParsePeer("http://127.0.0.1:8080/")
	if err != nil || p.URL != "http://127.0.0.1:8080" {
		t.Fatalf("%v %v", p, err)
	}
	if _, err := New(registry.NewMemStore()); err == nil {
		t.Fatal("a client without peers was made")
	}
}
