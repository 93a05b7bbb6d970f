package interop

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mh "github.com/multiformats/go-multihash"

	"github.com/velocityos/velocity/biosphere/gateway"
	"github.com/velocityos/velocity/internal/biotest"
	kuboexec "github.com/velocityos/velocity/internal/kubo"
	"github.com/velocityos/velocity/registry"
)

// peerID returns a libp2p peer ID (an identity multihash of the
// protobuf-encoded ed25519 public key) for the provider record.
func peerID(t *testing.T) string {
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	proto := append([]byte{0x08, 0x01, 0x12, 0x20}, pub...)
	h, err := mh.Sum(proto, mh.IDENTITY, -1)
	if err != nil {
		t.Fatal(err)
	}
	return h.B58String()
}

// requestLog records the requests a handler saw.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.RequestURI())
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *requestLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.reqs, "\n")
}

// TestKuboRetrievesFromVelocityGateway points kubo's own HTTP retrieval
// client (boxo's bitswap/network/httpnet) at a Velocity gateway: a
// loopback delegated router (Routing V1) names the gateway as the
// provider of a module's blocks, and `ipfs refs -r` on the module makes
// kubo fetch the whole closure over the trustless-gateway protocol,
// probing with /ipfs/bafkqaaa first. kubo requires TLS and HTTP/2 for
// this, so the gateway runs with a self-signed certificate (and kubo with
// HTTPRetrieval.TLSInsecureSkipVerify).
func TestKuboRetrievesFromVelocityGateway(t *testing.T) {
	bin := os.Getenv("VELOCITY_KUBO")
	if bin == "" {
		t.Skip("$VELOCITY_KUBO (a kubo binary) not set: run make conformance (scripts/ipfs-interop.sh)")
	}
	vs := registry.Synchronized(registry.NewMemStore())
	_, user := biotest.Modules(t, vs)
	want := closureBlocks(t, vs, user)

	gwLog := &requestLog{}
	gw := httptest.NewUnstartedServer(gwLog.wrap(gateway.New(vs)))
	gw.EnableHTTP2 = true
	gw.StartTLS()
	defer gw.Close()
	port := gw.Listener.Addr().(*net.TCPAddr).Port

	id := peerID(t)
	rtLog := &requestLog{}
	router := httptest.NewServer(rtLog.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/routing/v1/providers/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"Providers": []any{map[string]any{
			"Schema":    "peer",
			"ID":        id,
			"Addrs":     []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/tls/http", port)},
			"Protocols": []string{"transport-ipfs-gateway-http"},
		}}})
	})))
	defer router.Close()

	d, err := kuboexec.StartWith(bin, t.TempDir(), kuboexec.Options{
		Online: true,
		Config: map[string]string{
			"Routing.DelegatedRouters":            fmt.Sprintf("[%q]", router.URL),
			"HTTPRetrieval.TLSInsecureSkipVerify": "true",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	done := make(chan struct{})
	var refs string
	var rerr error
	go func() {
		refs, rerr = d.Run(nil, "refs", "-r", "-u", user.String())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatalf("kubo did not retrieve %s in 90 s\nrouter saw:\n%s\ngateway saw:\n%s", user, rtLog, gwLog)
	}
	if rerr != nil {
		t.Fatalf("%v\nrouter saw:\n%s\ngateway saw:\n%s", rerr, rtLog, gwLog)
	}
	if n := len(strings.Fields(refs)); n+1 != len(want) {
		t.Fatalf("kubo found %d blocks under %s, the closure has %d", n+1, user, len(want))
	}
	for c, data := range want {
		got, err := d.Run(nil, "block", "get", "--offline", c.String())
		if err != nil || got != string(data) {
			t.Fatalf("kubo holds different bytes for %s: %v", c, err)
		}
	}
	log := gwLog.String()
	if !strings.Contains(log, "/ipfs/bafkqaaa?format=raw") || !strings.Contains(log, "GET /ipfs/"+user.String()) {
		t.Fatalf("gateway saw:\n%s", log)
	}
	t.Logf("kubo's HTTP retrieval fetched %s's closure (%d blocks) from Velocity's gateway; the gateway served %d requests, first:\n%s",
		user, len(want), strings.Count(log, "\n")+1, strings.Join(strings.SplitN(log, "\n", 4)[:3], "\n"))
}
