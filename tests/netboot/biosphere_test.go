package netboot

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/biosphere/fetch"
	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
	"github.com/velocityos/velocity/registry"
)

var bioOnce = sync.OnceValues(func() (string, error) {
	out := filepath.Join(outDir, "biosphere.elf")
	return out, build.Build("../../images/biosphere", out, nil)
})

// examplePack writes the example modules' pack; roots[3] (combo) imports
// the others.
func examplePack(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "modules.pack")
	roots, err := testenv.ExamplePack("../../examples/modules", path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range roots {
		ids = append(ids, r.String())
	}
	return path, ids
}

// TestBiosphereGatewayInKernel: a guest serves the example module pack as
// an IPFS trustless gateway; the host's client imports a module's whole
// closure from it, verifying every block, and the identity probe answers.
func TestBiosphereGatewayInKernel(t *testing.T) {
	testenv.Need(t, "qemu")
	pack, roots := examplePack(t)
	port := freePort(t)
	g := startKernel(t, testenv.Get(t, bioOnce), qemu.Net{Forwards: []string{fmt.Sprintf("tcp:%d-:80", port)}}, nil,
		[]string{pack}, "-pack", pack)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitSerial(t, g, "BIO node serving on :80")
	if !strings.Contains(g.serial.String(), ", 13 blocks, roots [") {
		t.Fatalf("the guest does not hold the pack's 13 blocks:\n%s", g.serial)
	}
	store := registry.Synchronized(registry.NewMemStore())
	cl, err := fetch.New(store, base)
	if err != nil {
		t.Fatal(err)
	}
	root, err := cidOf(roots[3])
	if err != nil {
		t.Fatal(err)
	}
	var res fetch.Result
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err = cl.Closure(ctx, root)
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("closure from the guest: %v\n%s", err, g.serial)
	}
	if res.Blocks < 4 || res.Fetched != res.Blocks {
		t.Errorf("closure: %+v", res)
	}
	t.Logf("imported %d blocks (%d bytes) from the guest's gateway", res.Blocks, res.Bytes)
	resp, err := http.Get(base + "/ipfs/bafkqaaa?format=raw")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(b) != 0 {
		t.Errorf("identity probe: %d %q", resp.StatusCode, b)
	}
	if resp, err := http.Get(base + "/quit"); err == nil {
		resp.Body.Close()
	}
	g.wait(t)
}

// TestBiosphereBetweenGuests: one guest serves the pack, another imports
// a module's closure from it by CID over a guest-to-guest link.
func TestBiosphereBetweenGuests(t *testing.T) {
	testenv.Need(t, "qemu")
	pack, roots := examplePack(t)
	port := freePort(t)
	server := startKernel(t, testenv.Get(t, bioOnce), qemu.Net{Listen: port}, []string{"ip=10.0.4.1/24"},
		[]string{pack}, "-pack", pack)
	waitListening(t, port, server)
	waitSerial(t, server, "velocity: net: virtio-net ")
	client := startKernel(t, testenv.Get(t, bioOnce), qemu.Net{Connect: port}, []string{"ip=10.0.4.2/24"}, nil,
		"-fetch", roots[3], "-peer", "http://10.0.4.1", "-exit")
	client.wait(t)
	if out := client.serial.String(); !strings.Contains(out, "BIO node imported "+roots[3]+": ") {
		t.Fatalf("client guest:\n%s", out)
	}
	waitListening(t, port, server)
	quit := startGuest(t, qemu.Net{Connect: port}, []string{"ip=10.0.4.3/24"}, "-get", "http://10.0.4.1/quit")
	quit.wait(t)
	server.wait(t)
	os.Remove(pack)
}

func cidOf(s string) (c cid.Cid, err error) { return cid.Decode(s) }
