package interop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/biosphere/dag"
	"github.com/velocityos/velocity/biosphere/fetch"
	"github.com/velocityos/velocity/biosphere/gateway"
	"github.com/velocityos/velocity/internal/biotest"
	kuboexec "github.com/velocityos/velocity/internal/kubo"
	"github.com/velocityos/velocity/lang/dagcbor"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/registry"
)

// kubo wraps the daemon for the test.
type kubo struct{ *kuboexec.Daemon }

func (k *kubo) run(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, err := k.Run(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func startKubo(t *testing.T) *kubo {
	bin := os.Getenv("VELOCITY_KUBO")
	if bin == "" {
		t.Skip("$VELOCITY_KUBO (a kubo binary) not set: run make conformance (scripts/ipfs-interop.sh)")
	}
	d, err := kuboexec.Start(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return &kubo{d}
}

func codecName(c cid.Cid) string {
	switch c.Type() {
	case cid.Raw:
		return "raw"
	case cid.DagCBOR:
		return "dag-cbor"
	case cid.DagProtobuf:
		return "dag-pb"
	}
	return fmt.Sprintf("0x%x", c.Type())
}

// putBlock stores data in kubo under the codec of c and returns the CID
// kubo computed.
func (k *kubo) putBlock(t *testing.T, c cid.Cid, data []byte) string {
	return strings.TrimSpace(k.run(t, data, "block", "put", "--cid-codec", codecName(c), "--mhtype", "sha2-256"))
}

func closureBlocks(t *testing.T, s registry.Store, root cid.Cid) map[cid.Cid][]byte {
	out := map[cid.Cid][]byte{}
	if err := dag.Walk(s, root, func(c cid.Cid, data []byte) error { out[c] = data; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

const thirdSrc = `module third
import l %q
func Twice(n int64) int64 { return 2 * l.Square(n) }
`

func TestKubo(t *testing.T) {
	k := startKubo(t)
	ctx := context.Background()
	vs := registry.Synchronized(registry.NewMemStore())
	lib, user := biotest.Modules(t, vs)

	t.Run("SameCIDs", func(t *testing.T) {
		blocks := closureBlocks(t, vs, user)
		hello := []byte("hello world")
		hc, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x12, MhLength: -1}.Sum(hello)
		blocks[hc] = hello
		for c, data := range blocks {
			if got := k.putBlock(t, c, data); got != c.String() {
				t.Fatalf("Velocity computes %s, IPFS %s for the same %s block", c, got, codecName(c))
			}
		}
		if hc.String() != "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e" {
			t.Fatalf("hello world fixture: %s", hc)
		}
		t.Logf("%d blocks (the module closure and the hello-world fixture): identical CIDs", len(blocks))
	})

	t.Run("VelocityCARIntoIPFS", func(t *testing.T) {
		var buf bytes.Buffer
		n, err := dag.WriteCAR(&buf, vs, user)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "user.car")
		os.WriteFile(f, buf.Bytes(), 0o644)
		out := k.run(t, nil, "dag", "import", "--stats", f)
		if !strings.Contains(out, user.String()) || !strings.Contains(out, fmt.Sprintf("Imported %d blocks", n)) {
			t.Fatalf("ipfs dag import:\n%s", out)
		}
		refs := strings.Fields(k.run(t, nil, "refs", "-r", "-u", "--offline", user.String()))
		if len(refs)+1 != n {
			t.Fatalf("IPFS sees %d blocks under %s, the CAR has %d", len(refs)+1, user, n)
		}
		t.Logf("ipfs dag import of Velocity's CAR: %d blocks, root %s; ipfs refs -r agrees", n, user)
	})

	var fileRoot, cborRoot cid.Cid
	t.Run("IPFSCARIntoVelocity", func(t *testing.T) {
		data := bytes.Repeat([]byte("velocity biosphere "), 400) // 7,600 bytes: a dag-pb node over raw leaves
		f := filepath.Join(t.TempDir(), "file.txt")
		os.WriteFile(f, data, 0o644)
		fileRoot = cid.MustParse(strings.TrimSpace(k.run(t, nil, "add", "-Q", "--cid-version", "1", "--raw-leaves", "--chunker", "size-1000", f)))
		// Floats and int64's least value, as IPFS writes them.
		doc := fmt.Sprintf(`{"pi":3.14159,"two":2.0,"min":-9223372036854775808,"file":{"/":%q}}`, fileRoot)
		cborRoot = cid.MustParse(strings.TrimSpace(k.run(t, []byte(doc), "dag", "put", "--input-codec", "dag-json", "--store-codec", "dag-cbor")))
		car := k.run(t, nil, "dag", "export", cborRoot.String())
		roots, blocks, err := dag.ReadCAR(strings.NewReader(car), cborRoot, dag.ReadLimits{})
		if err != nil {
			t.Fatal(err)
		}
		dst := registry.NewMemStore()
		if miss := dag.Missing(blocks, func(c cid.Cid) bool { ok, _ := dst.Has(c); return ok }); len(miss) != 0 {
			t.Fatalf("IPFS's CAR lacks %v", miss)
		}
		for _, b := range blocks {
			if err := dst.Put(b.CID, b.Data); err != nil {
				t.Fatal(err)
			}
		}
		refs := strings.Fields(k.run(t, nil, "refs", "-r", "-u", "--offline", cborRoot.String()))
		if len(roots) != 1 || len(blocks) != len(refs)+1 {
			t.Fatalf("roots %v, %d blocks; IPFS has %d", roots, len(blocks), len(refs)+1)
		}
		raw, _ := dst.Get(cborRoot)
		v, err := dagcbor.Decode(raw)
		if err != nil {
			t.Fatalf("IPFS's dag-cbor block does not decode: %v", err)
		}
		m := v.(map[string]any)
		if m["pi"] != 3.14159 || m["two"] != 2.0 || m["min"] != int64(-9223372036854775808) {
			t.Fatalf("decoded %v", m)
		}
		t.Logf("ipfs dag export of %s: %d blocks (dag-cbor with floats, dag-pb, raw) verified and stored", cborRoot, len(blocks))
	})

	t.Run("VelocityFetchesFromIPFSGateway", func(t *testing.T) {
		dst := registry.Synchronized(registry.NewMemStore())
		c, err := fetch.New(dst, k.Gateway)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Closure(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		v, _, err := registry.Run(dst, user, "Main", 1000, interp.Int64(3))
		if err != nil || v != interp.Int64(36) {
			t.Fatalf("module fetched from IPFS: Main(3) = %v, %v", v, err)
		}
		res2, err := c.Closure(ctx, cborRoot)
		if err != nil {
			t.Fatal(err)
		}
		dst2 := registry.Synchronized(registry.NewMemStore())
		c2, _ := fetch.New(dst2, k.Gateway)
		res3, err := c2.CAR(ctx, user, 0)
		if err != nil || res3.Blocks != res.Blocks {
			t.Fatalf("CAR from IPFS: %+v %v", res3, err)
		}
		if st := c.Stats(); st[0].WrongData != 0 || st[0].Served != res.Fetched+res2.Fetched {
			t.Fatalf("peer stats %+v", st)
		}
		t.Logf("from IPFS's gateway: module closure %d blocks block by block and %d as a CAR, its foreign DAG %d blocks; Main(3) = 36", res.Fetched, res3.Fetched, res2.Fetched)
	})

	t.Run("IPFSReadsVelocityGateway", func(t *testing.T) {
		third, _, err := registry.AddSource(vs, "third.vel", []byte(fmt.Sprintf(thirdSrc, lib.String())))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(gateway.New(vs))
		defer srv.Close()
		// Both gateways answer the identity probe.
		for _, base := range []string{srv.URL, k.Gateway} {
			resp, err := http.Get(base + "/ipfs/bafkqaaa?format=raw")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("identity probe at %s: %v %v", base, resp, err)
			}
			resp.Body.Close()
		}
		req, _ := http.NewRequest("GET", srv.URL+"/ipfs/"+third.String(), nil)
		req.Header.Set("Accept", "application/vnd.ipld.car")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CAR from Velocity: %v %v", resp, err)
		}
		carData, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		f := filepath.Join(t.TempDir(), "third.car")
		os.WriteFile(f, carData, 0o644)
		out := k.run(t, nil, "dag", "import", "--stats", f)
		if !strings.Contains(out, third.String()) {
			t.Fatalf("ipfs dag import:\n%s", out)
		}
		want := closureBlocks(t, vs, third)
		for c, data := range want {
			got := k.run(t, nil, "block", "get", c.String())
			if got != string(data) {
				t.Fatalf("IPFS holds different bytes for %s", c)
			}
		}
		// Raw blocks from Velocity's gateway, put into IPFS, get the same CIDs.
		for c := range want {
			resp, err := http.Get(srv.URL + "/ipfs/" + c.String() + "?format=raw")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := k.putBlock(t, c, b); got != c.String() {
				t.Fatalf("raw block %s from Velocity's gateway: IPFS computes %s", c, got)
			}
		}
		t.Logf("IPFS imported Velocity's gateway CAR of %s (%d blocks) and its raw blocks under identical CIDs", third, len(want))
	})
}
