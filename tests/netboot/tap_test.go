package netboot

// The driver's offloads: over a tap device with virtio-net headers QEMU
// offers checksum and segmentation offloads (user networking offers
// none), and the driver hands gVisor's large TCP segments to the device
// to cut. The tap lives in a network namespace the test makes and
// removes, so nothing leaves it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
)

// tapNamespace makes a network namespace with a tap device at 10.0.2.2/24
// (the guest takes 10.0.2.15, as on user networking) and removes both
// when t ends. It skips t where that cannot be done.
func tapNamespace(t *testing.T, tap string) string {
	t.Helper()
	if err := qemu.TapUsable(); err != nil {
		t.Skip(err)
	}
	ns := fmt.Sprintf("velocity-test-%d-%s", os.Getpid(), tap)
	remove, err := qemu.MakeTapNamespace(ns, tap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remove() })
	return ns
}

// tapGuest is images/httpd booted on a tap device in a network
// namespace of its own (two CPUs, the guest at qemu.TapGuest), with an
// HTTP client inside the namespace.
type tapGuest struct {
	g             *guest
	ns, tap, base string
	client        *http.Client
}

// bootTap boots kernel on tap device tap (tapNamespace) with env.
func bootTap(t *testing.T, kernel, tap string, env []string) tapGuest {
	t.Helper()
	ns := tapNamespace(t, tap)
	g := boot(t, kernel, bootSpec{net: qemu.Net{Tap: tap}, netns: ns, env: env, smp: 2,
		opts: []string{"ip=" + qemu.TapGuest + "/24", "gw=" + qemu.TapHost}})
	return tapGuest{g: g, ns: ns, tap: tap, base: "http://" + qemu.TapGuest, client: nsClient(ns)}
}

// quit asks the guest to exit and waits until it has.
func (tg tapGuest) quit(t *testing.T) {
	t.Helper()
	if resp, err := tg.client.Get(tg.base + "/quit"); err == nil {
		resp.Body.Close()
	}
	tg.g.wait(t)
}

// nsClient is an HTTP client whose connections are made inside network
// namespace ns: each socket is created by a thread that joined ns and
// then ends with its goroutine (it is never unlocked, so it never goes
// back to the runtime's pool in the wrong namespace).
func nsClient(ns string) *http.Client { return nsClientMSS(ns, 0) }

// nsClientMSS is nsClient whose sockets announce mss (TCP_MAXSEG) if it
// is not 0, so the guest must send segments that small.
func nsClientMSS(ns string, mss int) *http.Client {
	dialer := &net.Dialer{}
	if mss != 0 {
		dialer.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG, mss) }); err != nil {
				return err
			}
			return serr
		}
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			f, err := os.Open("/run/netns/" + ns)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("setns %s: %v", ns, err)}
				return
			}
			c, err := dialer.DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DialContext: dial}}
}

var ackLine = regexp.MustCompile(`rx pure ACKs coalesced (\d+)`)

var gsoLine = regexp.MustCompile(`nic: tx segmentation offloaded (\d+) frames, done by the driver (\d+) \(malformed (\d+)\); rx checksums completed (\d+), joined frames (\d+)`)

// TestTapOffloads boots images/httpd on a tap device, with the offloads
// and without them (VELOCITY_NETOFFLOAD=off), and moves 16 MiB out of it
// and 16 MiB into it, each checked by SHA-256. With them the boot line
// says they are used, most of the data leaves in frames the device cut
// (tens of KiB each), and comes in joined by the host, the driver
// completing the checksums it left; without them nothing is cut, joined
// or completed by the device, and every frame fits the MTU: the driver
// cuts gVisor's large segments itself (netstack/softgso.go), which the
// host's TCP, checking every checksum, must take as the same bytes.
func TestTapOffloads(t *testing.T) {
	testenv.Need(t, "qemu")
	kernel := testenv.Get(t, httpdOnce)
	for _, c := range []struct {
		name string
		env  []string
		want string
		gso  bool
	}{
		{"used", nil, "offloads offered: csum guest_csum host_tso4 host_tso6 guest_tso4 guest_tso6 (used: csum host_tso4 host_tso6 guest_csum guest_tso4 guest_tso6)", true},
		{"off", []string{"VELOCITY_NETOFFLOAD=off"}, "offloads offered: csum guest_csum host_tso4 host_tso6 guest_tso4 guest_tso6 (unused; TCP segmentation by the driver)", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := bootTap(t, kernel, "vtap"+c.name, c.env)
			g, client, base := tg.g, tg.client, tg.base
			getNS := func(path string) []byte { t.Helper(); return getWith(t, g, client, base, path) }
			getNS("/")
			if !strings.Contains(g.serial.String(), c.want) {
				t.Errorf("serial lacks %q:\n%s", c.want, g.serial)
			}
			const size = 16 << 20
			start := time.Now()
			body := getNS("/big?size=" + strconv.Itoa(size))
			if got, want := sha256.Sum256(body), sha256.Sum256(bigPattern(size)); got != want {
				t.Fatalf("16 MiB download: %d bytes, hash differs", len(body))
			}
			t.Logf("16 MiB in %v", time.Since(start).Round(time.Millisecond))
			if !c.gso {
				// A peer announcing a 100-byte MSS: once the window
				// allows, a 64 KiB segment is over 700 pieces, more than
				// the ring holds, and the driver must wait for the
				// device between them.
				small := nsClientMSS(tg.ns, 100)
				const n = 1 << 20
				start := time.Now()
				if got, want := sha256.Sum256(getWith(t, g, small, base, "/big?size="+strconv.Itoa(n))), sha256.Sum256(bigPattern(n)); got != want {
					t.Fatalf("1 MiB download at a 100-byte MSS: hash differs")
				}
				t.Logf("1 MiB at a 100-byte MSS in %v", time.Since(start).Round(time.Millisecond))
			}
			upload(t, client, base, size)
			page := string(getNS("/"))
			rx, drops, gso := rxLine.FindStringSubmatch(page), dropLine.FindStringSubmatch(page), gsoLine.FindStringSubmatch(page)
			if rx == nil || drops == nil || gso == nil {
				t.Fatalf("no NIC counters on the statistics page:\n%s", page)
			}
			rxFrames, _ := strconv.Atoi(rx[1])
			txFrames, _ := strconv.Atoi(rx[3])
			txBytes, _ := strconv.Atoi(rx[4])
			gsoFrames, _ := strconv.Atoi(gso[1])
			softCut, _ := strconv.Atoi(gso[2])
			malformed, _ := strconv.Atoi(gso[3])
			completed, _ := strconv.Atoi(gso[4])
			joined, _ := strconv.Atoi(gso[5])
			t.Logf("tx %d frames, %d bytes, %d cut by the device, %d by the driver; rx %d frames, %d checksums completed, %d joined",
				txFrames, txBytes, gsoFrames, softCut, rxFrames, completed, joined)
			if malformed != 0 {
				t.Errorf("the driver dropped %d segments as malformed", malformed)
			}
			if strings.Join(drops[1:], " ") != "0 0 0 0 0 0" {
				t.Errorf("frames dropped on a clean link:\n%s", page)
			}
			if c.gso {
				// 16 MiB in MTU-sized frames would be 11,500 of them.
				if gsoFrames == 0 || softCut != 0 || txFrames > size/1448/4 {
					t.Errorf("%d frames out for %d bytes, %d of them for the device to cut: the offload is not in use", txFrames, txBytes, gsoFrames)
				}
				if joined == 0 || completed < joined || rxFrames > size/1448/4 {
					t.Errorf("%d frames in for a 16 MiB upload, %d joined, %d checksums completed: the receive offload is not in use", rxFrames, joined, completed)
				}
			} else if gsoFrames != 0 || txFrames < size/1448 || joined != 0 || completed != 0 || rxFrames < size/1448 {
				t.Errorf("offloads off: %d frames out for %d bytes, %d cut by the device; %d in, %d joined, %d completed",
					txFrames, txBytes, gsoFrames, rxFrames, joined, completed)
			} else if softCut == 0 {
				t.Errorf("offloads off: no segment was cut by the driver (%d frames out)", txFrames)
			}
			tg.quit(t)
		})
	}
}

// TestTapInOrder checks that the driver never sends a connection's
// segments out of order: 16 connections fetch 64 KiB pages at once, so
// a handler's inline send, the TCP processor's and the transmit
// goroutine's meet on the ring, and the host's TCP counts every segment
// that came ahead of one it was still missing (TCPOFOQueue). Until
// 2026-12-05 the transmit goroutine took a frame out of the channel
// before it locked the ring, and a later segment could overtake it:
// thousands in 10 s of such load, each followed by a resend.
func TestTapInOrder(t *testing.T) {
	testenv.Need(t, "qemu")
	kernel := testenv.Get(t, httpdOnce)
	tg := bootTap(t, kernel, "vtaporder", nil)
	g, client, base := tg.g, tg.client, tg.base
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	getWith(t, g, client, base, "/")
	want := sha256.Sum256(bigPattern(64 << 10))
	before := hostTCP(t, tg.ns, tg.tap)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			for range 40 {
				resp, err := client.Get(base + "/big?size=65536")
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || sha256.Sum256(b) != want {
					errs <- fmt.Errorf("64 KiB page: %d bytes, %v, or its hash differs", len(b), err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	after := hostTCP(t, tg.ns, tg.tap)
	ofo, dup := after["TCPOFOQueue"]-before["TCPOFOQueue"], after["TCPDSACKOldSent"]-before["TCPDSACKOldSent"]
	t.Logf("640 pages of 64 KiB over 16 connections: the host queued %d segments out of order and saw %d twice", ofo, dup)
	if ofo != 0 {
		t.Errorf("the host received %d segments out of order (and %d twice) from one guest on one tap", ofo, dup)
	}
	tg.quit(t)
}

// hostTCP reads namespace ns's TCP extended counters.
func hostTCP(t *testing.T, ns, tap string) map[string]int64 {
	t.Helper()
	st, err := qemu.ReadTapStats(ns, tap)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.TCPExt["TCPOFOQueue"]; !ok {
		t.Fatalf("no TCPOFOQueue among the namespace's TCP counters")
	}
	return st.TCPExt
}

// TestTapDelayedAck checks gVisor's TCP's delayed ACK in the kernel
// (internal/build/netdelack.go): over one kept-alive connection, a small
// request's ACK rides on its response, so the guest sends one frame per
// request, where gVisor alone sends a pure ACK first, two; with
// VELOCITY_DELACK=0 it does. A 16 MiB upload checked by SHA-256 shows a
// stream coming in is still acknowledged often enough to move at speed.
func TestTapDelayedAck(t *testing.T) {
	testenv.Need(t, "qemu")
	kernel := testenv.Get(t, httpdOnce)
	for _, c := range []struct {
		name     string
		env      []string
		min, max float64 // frames from the guest per request
	}{{"on", nil, 0.9, 1.2}, {"off", []string{"VELOCITY_DELACK=0"}, 1.8, 2.2}} {
		t.Run(c.name, func(t *testing.T) {
			tg := bootTap(t, kernel, "vtapack"+c.name, c.env)
			g, client, base := tg.g, tg.client, tg.base
			getWith(t, g, client, base, "/")
			want := sha256.Sum256(bigPattern(100))
			before, err := qemu.ReadTapStats(tg.ns, tg.tap)
			if err != nil {
				t.Fatal(err)
			}
			const n = 200
			for range n {
				resp, err := client.Get(base + "/big?size=100")
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || sha256.Sum256(b) != want {
					t.Fatalf("100-byte page: %d bytes, %v, or its hash differs", len(b), err)
				}
			}
			after, err := qemu.ReadTapStats(tg.ns, tg.tap)
			if err != nil {
				t.Fatal(err)
			}
			per := float64(after.FromGuest-before.FromGuest) / n
			t.Logf("%d requests on one connection: %.2f frames from the guest per request", n, per)
			if per < c.min || per > c.max {
				t.Errorf("%.2f frames from the guest per request, want %.1f to %.1f", per, c.min, c.max)
			}
			const size = 16 << 20
			upload(t, client, base, size)
			tg.quit(t)
		})
	}
}

// upload posts size bytes of bigPattern to the guest's /upload and checks
// the length and SHA-256 the guest says it saw.
func upload(t *testing.T, client *http.Client, base string, size int) {
	t.Helper()
	start := time.Now()
	resp, err := client.Post(base+"/upload", "application/octet-stream", bytes.NewReader(bigPattern(size)))
	if err != nil {
		t.Fatalf("%d-byte upload: %v", size, err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("%d %x\n", size, sha256.Sum256(bigPattern(size))); string(got) != want {
		t.Fatalf("%d-byte upload: the guest saw %q, want %q", size, got, want)
	}
	t.Logf("%d-byte upload in %v", size, time.Since(start).Round(time.Millisecond))
}
