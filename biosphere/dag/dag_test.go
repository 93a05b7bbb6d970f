package dag

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"context"
	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"

	"github.com/velocityos/velocity/internal/biotest"
	"github.com/velocityos/velocity/registry"
)

func rawCID(t testing.TB, data []byte) cid.Cid {
	c, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x12, MhLength: -1}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWriteReadRoundTrip(t *testing.T) {
	s := registry.NewMemStore()
	_, user := biotest.Modules(t, s)
	var buf bytes.Buffer
	n, err := WriteCAR(&buf, s, user)
	if err != nil {
		t.Fatal(err)
	}
	closure, _ := registry.Closure(s, user)
	if n != len(closure) {
		t.Fatalf("wrote %d blocks, closure has %d", n, len(closure))
	}
	roots, blocks, err := ReadCAR(bytes.NewReader(buf.Bytes()), user, ReadLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || !roots[0].Equals(user) || len(blocks) != n || !blocks[0].CID.Equals(user) {
		t.Fatalf("roots %v, %d blocks", roots, len(blocks))
	}
	dst := registry.NewMemStore()
	for _, b := range blocks {
		if err := dst.Put(b.CID, b.Data); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := registry.Closure(dst, user); err != nil || len(got) != n {
		t.Fatalf("imported closure: %d blocks, %v", len(got), err)
	}
	// want must be a root.
	if _, _, err := ReadCAR(bytes.NewReader(buf.Bytes()), rawCID(t, []byte("other")), ReadLimits{}); err == nil {
		t.Fatal("a CAR without the wanted root was accepted")
	}
}

// carOf writes a CARv1 by go-car with the given roots and raw blocks,
// without any checks of ours (to build hostile CARs).
func carOf(t *testing.T, roots []cid.Cid, blocks ...Block) []byte {
	var buf bytes.Buffer
	w, err := storage.NewWritable(&buf, roots, car.WriteAsCarV1(true), car.AllowDuplicatePuts(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := w.Put(context.Background(), b.CID.KeyString(), b.Data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestReadCARRejects(t *testing.T) {
	a, b := []byte("block a"), []byte("block b")
	ca, cb := rawCID(t, a), rawCID(t, b)
	big := bytes.Repeat([]byte{1}, MaxBlock+1)
	cbig := rawCID(t, big)
	good := carOf(t, []cid.Cid{ca}, Block{ca, a})
	for name, tc := range map[string]struct {
		data []byte
		lim  ReadLimits
		want string
	}{
		"wrong bytes": {carOf(t, []cid.Cid{ca}, Block{ca, b}), ReadLimits{}, "forged"},
		"unlinked":    {carOf(t, []cid.Cid{ca}, Block{ca, a}, Block{cb, b}), ReadLimits{}, "not linked"},
		"oversize":    {carOf(t, []cid.Cid{cbig}, Block{cbig, big}), ReadLimits{}, "block limit"},
		"total":       {carOf(t, []cid.Cid{ca, cb}, Block{ca, a}, Block{cb, b}), ReadLimits{MaxTotal: 10}, "in total"},
		"count":       {carOf(t, []cid.Cid{ca, cb}, Block{ca, a}, Block{cb, b}), ReadLimits{MaxCount: 1}, "more than 1"},
		"truncated":   {good[:len(good)-3], ReadLimits{}, "CAR block 0"},
		"garbage":     {[]byte("not a car at all"), ReadLimits{}, "CAR header"},
		"empty":       {nil, ReadLimits{}, "CAR header"},
		"no roots":    {carOf(t, nil, Block{ca, a}), ReadLimits{}, "CAR header"},
	} {
		_, blocks, err := ReadCAR(bytes.NewReader(tc.data), cid.Undef, tc.lim)
		if err == nil || blocks != nil {
			t.Errorf("%s: accepted (%d blocks)", name, len(blocks))
			continue
		}
		var ce *CARError
		if !errors.As(err, &ce) || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
			t.Errorf("%s: error %v, want a CARError containing %q", name, err, tc.want)
		}
	}
}

func TestDagPBLinks(t *testing.T) {
	// A dag-pb node with one link (to a raw block) and data "hi",
	// encoded by hand from the dag-pb spec: PBNode{Links: [PBLink{Hash}], Data}.
	leaf := rawCID(t, []byte("leaf"))
	lb := leaf.Bytes()
	link := append([]byte{0x0a, byte(len(lb))}, lb...)
	node := append([]byte{0x12, byte(len(link))}, link...)
	node = append(node, 0x0a, 0x02, 'h', 'i')
	c, err := cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: 0x12, MhLength: -1}.Sum(node)
	if err != nil {
		t.Fatal(err)
	}
	links, err := Links(c, node)
	if err != nil || len(links) != 1 || !links[0].Equals(leaf) {
		t.Fatalf("dag-pb links %v, %v", links, err)
	}
	if _, err := Links(c, []byte{0xff}); err == nil {
		t.Fatal("malformed dag-pb accepted")
	}
	jc, _ := cid.Prefix{Version: 1, Codec: cid.DagJSON, MhType: 0x12, MhLength: -1}.Sum([]byte("{}"))
	if _, err := Links(jc, []byte("{}")); !errors.Is(err, ErrCodec) {
		t.Fatalf("dag-json: %v", err)
	}
}

func FuzzReadCAR(f *testing.F) {
	s := registry.NewMemStore()
	_, user := biotest.Modules(f, s)
	var buf bytes.Buffer
	if _, err := WriteCAR(&buf, s, user); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:40])
	f.Add([]byte{0x0a, 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, blocks, err := ReadCAR(bytes.NewReader(data), cid.Undef, ReadLimits{MaxTotal: 4 << 20})
		if err != nil {
			return
		}
		for _, b := range blocks {
			if got, err := b.CID.Prefix().Sum(b.Data); err != nil || !got.Equals(b.CID) {
				t.Fatalf("ReadCAR returned a block that does not verify: %s", b.CID)
			}
		}
	})
}
