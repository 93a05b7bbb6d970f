package netboot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
)

var httpdOnce = sync.OnceValues(func() (string, error) {
	out := filepath.Join(outDir, "httpd.elf")
	return out, build.Build("../../images/httpd", out, nil)
})

// syncBuffer collects serial output written by QEMU's reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.ReplaceAll(s.b.String(), "\r\n", "\n")
}

// freePort finds a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type guest struct {
	serial *syncBuffer
	done   chan error
	res    qemu.Result
	kill   context.CancelFunc // stops QEMU; also run when the test ends
	// monitor is QEMU's monitor socket, if the guest has one (dumpGuest).
	monitor string
}

// startGuest boots images/httpd with n's network and argv.
func startGuest(t *testing.T, n qemu.Net, opts []string, argv ...string) *guest {
	t.Helper()
	return startKernel(t, testenv.Get(t, httpdOnce), n, opts, nil, argv...)
}

// startKernel boots kernel with n's network, the kernel command line
// words opts (options and KEY=VALUE), the files fs and argv.
func startKernel(t *testing.T, kernel string, n qemu.Net, opts, fs []string, argv ...string) *guest {
	t.Helper()
	return startKernelSMP(t, 2, kernel, n, opts, fs, argv...)
}

// startKernelSMP is startKernel on smp CPUs.
func startKernelSMP(t *testing.T, smp int, kernel string, n qemu.Net, opts, fs []string, argv ...string) *guest {
	t.Helper()
	netArgs, err := n.Args()
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := build.KernelCmdline(nil, opts, argv)
	if err != nil {
		t.Fatal(err)
	}
	g := &guest{serial: new(syncBuffer), done: make(chan error, 1)}
	if len(fs) > 0 {
		withFS := kernel + "+fs"
		if err := build.AttachFS(kernel, withFS, fs); err != nil {
			t.Fatal(err)
		}
		kernel = withFS
	}
	c := qemu.Config{
		Kernel: kernel, Stub: testenv.Get(t, stubOnce), SMP: smp, Accel: "tcg",
		Stdout: g.serial, Append: cmdline, Timeout: 4 * time.Minute, Extra: netArgs,
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.kill = cancel
	t.Cleanup(cancel)
	go func() {
		res, err := qemu.Run(ctx, c)
		g.res = res
		g.done <- err
	}()
	return g
}

func (g *guest) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-g.done:
		if err != nil {
			t.Fatalf("guest: %v\n%s", err, g.serial)
		}
		if g.res.ExitCode != 0 {
			t.Fatalf("guest exited with %d\n%s", g.res.ExitCode, g.serial)
		}
	case <-time.After(5 * time.Minute):
		t.Fatalf("guest did not end\n%s", g.serial)
	}
}

func bigPattern(n int) []byte {
	p := make([]byte, 64<<10)
	x := uint32(2463534242)
	for i := range p {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p[i] = byte(x)
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, p[:min(len(p), n-len(out))]...)
	}
	return out
}

// TestHostToGuest: the host reaches the guest's HTTP server through QEMU
// user networking (restrict=on) and a port forward on 127.0.0.1: small
// requests, 8 MiB each way checked by SHA-256, 64 concurrent requests,
// net/http/pprof and the kernel's own profiler (/debug/kernel/profile);
// and the card's IPv6 address from QEMU's router advertisement.
func TestHostToGuest(t *testing.T) {
	testenv.Need(t, "qemu")
	port := freePort(t)
	g := startGuest(t, qemu.Net{Forwards: []string{fmt.Sprintf("tcp:%d-:80", port)}}, nil)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 60 * time.Second}
	var page string
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get(base + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guest's server never answered: %v\n%s", err, g.serial)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.Contains(page, "kernel: 2 CPUs") || !strings.Contains(page, "you are 10.0.2.2:") {
		t.Errorf("stats page:\n%s", page)
	}
	// The address came from QEMU's DHCP server (which, with restrict=on,
	// names no router and no name server).
	if !strings.Contains(g.serial.String(), "10.0.2.15/24 (DHCP from 10.0.2.2 in ") {
		t.Errorf("no DHCP lease on the console:\n%s", g.serial)
	}

	const size = 8 << 20
	want := bigPattern(size)
	start := time.Now()
	resp, err := client.Get(fmt.Sprintf("%s/big?size=%d", base, size))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	wantSum := sha256.Sum256(want)
	if err != nil || n != size || !bytes.Equal(h.Sum(nil), wantSum[:]) {
		t.Fatalf("download: %d bytes, %v, hash match %v", n, err, bytes.Equal(h.Sum(nil), wantSum[:]))
	}
	t.Logf("8 MiB download in %v", time.Since(start).Round(time.Millisecond))
	// QEMU's user networking offers no offloads and acknowledges every
	// segment: the driver cut gVisor's large segments itself and thinned
	// out the ACKs (netstack/softgso.go, ackcoalesce.go), and the bytes
	// above still came through whole.
	if resp, err := client.Get(base + "/"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cut, acks := gsoLine.FindStringSubmatch(string(b)), ackLine.FindStringSubmatch(string(b))
		switch {
		case cut == nil || acks == nil:
			t.Errorf("no segmentation or ACK counters on the statistics page:\n%s", b)
		case cut[2] == "0" || cut[3] != "0" || acks[1] == "0":
			t.Errorf("after an 8 MiB download over user networking: %s segments cut by the driver (%s malformed), %s ACKs coalesced", cut[2], cut[3], acks[1])
		}
	} else {
		t.Error(err)
	}

	start = time.Now()
	resp, err = client.Post(base+"/upload", "application/octet-stream", bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := strings.TrimSpace(string(b)); got != fmt.Sprintf("%d %x", size, wantSum) {
		t.Fatalf("upload: guest saw %q", got)
	}
	t.Logf("8 MiB upload in %v", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(base + "/")
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), "Velocity httpd") {
				errs <- fmt.Errorf("page %q", b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("64 concurrent requests in %v", time.Since(start).Round(time.Millisecond))

	resp, err = client.Get(base + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "goroutine profile:") {
		t.Errorf("pprof: %.200s", b)
	}
	// Go's own CPU profiler (setitimer(ITIMER_PROF) and SIGPROF in the
	// kernel) through net/http/pprof, under load from the host.
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if resp, err := client.Get(fmt.Sprintf("%s/big?size=%d", base, 1<<20)); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	resp, err = client.Get(base + "/debug/pprof/profile?seconds=3")
	if err != nil {
		close(stop)
		t.Fatal(err)
	}
	prof, err := profile.Parse(resp.Body)
	resp.Body.Close()
	if err != nil {
		close(stop)
		t.Fatalf("CPU profile: %v", err)
	}
	if len(prof.Sample) == 0 {
		t.Errorf("the CPU profile has no samples")
	}
	t.Logf("CPU profile: %d samples over %v", len(prof.Sample), time.Duration(prof.DurationNanos))
	// The kernel's own sampling profiler, every CPU, same load.
	resp, err = client.Get(base + "/debug/kernel/profile?seconds=2&hz=500")
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	kprof, err := profile.Parse(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("kernel profile: %v", err)
	}
	cpus := map[string]bool{}
	for _, s := range kprof.Sample {
		for _, c := range s.Label["cpu"] {
			cpus[c] = true
		}
	}
	if len(kprof.Sample) == 0 || len(cpus) == 0 || !strings.Contains(strings.Join(kprof.Comments, " "), "velocity kernel sampling profiler, 500 Hz") {
		t.Errorf("kernel profile: %d samples on CPUs %v, comments %q", len(kprof.Sample), cpus, kprof.Comments)
	}
	t.Logf("kernel profile: %d samples on %d CPUs", len(kprof.Sample), len(cpus))
	for _, q := range []string{"seconds=0", "seconds=61", "hz=0", "hz=x"} {
		resp, err := client.Get(base + "/debug/kernel/profile?" + q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("kernel profile ?%s: %s %q, want 400", q, resp.Status, b)
		}
	}
	if resp, err := client.Get(base + "/quit"); err == nil {
		resp.Body.Close()
	}
	g.wait(t)
	if !strings.Contains(g.serial.String(), "velocity: net: virtio-net ") {
		t.Errorf("no NIC line on serial:\n%s", g.serial)
	}
	// QEMU's user networking advertises fec0::/64: the card made its
	// address from it by SLAAC.
	if !strings.Contains(g.serial.String(), "velocity: net: IPv6 fec0::5054:ff:fe12:3456/64 on NIC 2 (SLAAC") {
		t.Errorf("no SLAAC address from QEMU's router advertisement on serial:\n%s", g.serial)
	}
}

// waitListening waits until QEMU listens on port for a guest link.
func waitListening(t *testing.T, port int, g *guest) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Peeking would take the link: look for the listener instead.
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return // taken: QEMU listens
		}
		ln.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the listening guest never opened port %d\n%s", port, g.serial)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitSerial waits until g has printed want: a peer that sends before the
// other's card is up gets its ARP requests lost, and gVisor then reports
// the host unreachable for a while.
func waitSerial(t *testing.T, g *guest, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(g.serial.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on serial:\n%s", want, g.serial)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTwoGuests: one guest serves, another fetches from it over a
// guest-to-guest link (a TCP stream on 127.0.0.1 between the two QEMUs),
// over IPv4 and then over IPv6 between the cards' link-local addresses.
func TestTwoGuests(t *testing.T) {
	testenv.Need(t, "qemu")
	port := freePort(t)
	server := startGuest(t, qemu.Net{Listen: port}, []string{"ip=10.0.3.1/24", "gw=10.0.3.2"})
	waitListening(t, port, server)
	waitSerial(t, server, "velocity: net: virtio-net ")
	client := startGuest(t, qemu.Net{Connect: port}, []string{"ip=10.0.3.2/24", "gw=10.0.3.1"},
		"-get", "http://10.0.3.1/")
	client.wait(t)
	out := client.serial.String()
	if !strings.Contains(out, "httpd client: http://10.0.3.1/ 200 OK") || !strings.Contains(out, "you are 10.0.3.2:") {
		t.Fatalf("client guest:\n%s", out)
	}
	// Over IPv6: each card's link-local address comes from its MAC
	// (the connecting end's is qemu.ConnectMAC), with no configuration.
	waitListening(t, port, server)
	url6 := "http://[fe80::5054:ff:fe12:3456%25eth0]/"
	client6 := startGuest(t, qemu.Net{Connect: port}, []string{"ip=10.0.3.2/24"}, "-get", url6)
	client6.wait(t)
	out = client6.serial.String()
	if !strings.Contains(out, "httpd client: "+url6+" 200 OK") || !strings.Contains(out, "you are [fe80::5054:ff:fe12:3457%eth0]:") {
		t.Fatalf("client guest over IPv6:\n%s", out)
	}
	if !strings.Contains(server.serial.String(), "link up, fe80::5054:ff:fe12:3456") {
		t.Errorf("the server's card line names no link-local address:\n%s", server.serial)
	}
	// Stop the server through the same link.
	waitListening(t, port, server)
	quit := startGuest(t, qemu.Net{Connect: port}, []string{"ip=10.0.3.3/24", "gw=10.0.3.1"},
		"-get", "http://10.0.3.1/quit")
	quit.wait(t)
	server.wait(t)
}

// TestDeviceInterruptCPUs: the card's interrupts reach CPU 0, at -smp 1
// and with irqcpus=0 at -smp 2. (CPU 0's local APIC once had no logical
// ID, so interrupts aimed at it were lost and the card went deaf.)
func TestDeviceInterruptCPUs(t *testing.T) {
	testenv.Need(t, "qemu")
	for _, c := range []struct {
		name string
		smp  int
		opts []string
	}{{"smp1", 1, nil}, {"smp2-irqcpus0", 2, []string{"irqcpus=0"}}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			g := startKernelSMP(t, c.smp, testenv.Get(t, httpdOnce),
				qemu.Net{Forwards: []string{fmt.Sprintf("tcp:%d-:80", port)}}, c.opts, nil)
			client := &http.Client{Timeout: 30 * time.Second}
			deadline := time.Now().Add(2 * time.Minute)
			for {
				resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/quit", port))
				if err == nil {
					resp.Body.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the guest never answered: %v\n%s", err, g.serial)
				}
				time.Sleep(500 * time.Millisecond)
			}
			g.wait(t)
			if !strings.Contains(g.serial.String(), "(DHCP from 10.0.2.2") {
				t.Errorf("no DHCP lease:\n%s", g.serial)
			}
		})
	}
}

// TestDHCPNoServer: on a link with no DHCP server the kernel says so,
// after its tries, and the program runs on with loopback.
func TestDHCPNoServer(t *testing.T) {
	testenv.Need(t, "qemu")
	port := freePort(t)
	g := startGuest(t, qemu.Net{Listen: port}, nil)
	waitSerial(t, g, "httpd: serving on :80")
	g.kill()
	out := g.serial.String()
	if !regexp.MustCompile(`DHCP: no server answered in 3\.[5-9] s \(3 DISCOVERs from 52:54:00:12:34:56\); the card stays unconfigured \(for a static address boot with ip=A\.B\.C\.D/N gw=A\.B\.C\.D\)`).MatchString(out) {
		t.Errorf("no clear DHCP timeout line:\n%s", out)
	}
}
