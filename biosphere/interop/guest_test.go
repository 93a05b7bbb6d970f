package interop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velocityos/velocity/biosphere/dag"
	"github.com/velocityos/velocity/internal/biotest"
	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
	"github.com/velocityos/velocity/registry"
)

// relayEnv makes the test binary a relay between its stdin/stdout and a
// TCP address: QEMU runs it for each connection the guest opens to a
// guestfwd address, the only way out of user networking with
// restrict=on, and it reaches the kubo gateway on 127.0.0.1.
const relayEnv = "VELOCITY_INTEROP_RELAY"

func TestMain(m *testing.M) {
	if addr := os.Getenv(relayEnv); addr != "" {
		os.Exit(relay(addr))
	}
	os.Exit(m.Run())
}

func relay(addr string) int {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return 1
	}
	go func() {
		io.Copy(c, os.Stdin)
		c.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(os.Stdout, c)
	return 0
}

type serialBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *serialBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *serialBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.ReplaceAll(s.b.String(), "\r\n", "\n")
}

// TestKuboGuestFetches: a Velocity guest (images/biosphere) imports a
// module's closure by CID from kubo's gateway, verifying every block,
// and runs it with the JIT. The guest has QEMU user networking with
// restrict=on; its one way out is a guestfwd address (10.0.2.100:8080)
// whose connections this test binary relays to kubo on 127.0.0.1.
func TestKuboGuestFetches(t *testing.T) {
	k := startKubo(t)
	testenv.Need(t, "qemu")
	vs := registry.Synchronized(registry.NewMemStore())
	_, user := biotest.Modules(t, vs)
	var buf bytes.Buffer
	n, err := dag.WriteCAR(&buf, vs, user)
	if err != nil {
		t.Fatal(err)
	}
	car := filepath.Join(t.TempDir(), "user.car")
	os.WriteFile(car, buf.Bytes(), 0o644)
	k.run(t, nil, "dag", "import", car)

	dir := t.TempDir()
	kernel := filepath.Join(dir, "biosphere.elf")
	if err := build.Build("../../images/biosphere", kernel, nil); err != nil {
		t.Fatal(err)
	}
	stub, err := build.Stub()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	gw := strings.TrimPrefix(k.Gateway, "http://")
	if strings.ContainsAny(self+gw, ", '\"") {
		t.Skipf("%s: a path with commas, spaces or quotes cannot go into a QEMU option", self)
	}
	cmdline, err := build.KernelCmdline(nil, nil, []string{"-fetch", user.String(), "-peer", "http://10.0.2.100:8080", "-call", "Main(3)", "-exit"})
	if err != nil {
		t.Fatal(err)
	}
	serial := &serialBuf{}
	c := qemu.Config{
		Kernel: kernel, Stub: stub, SMP: 2, Accel: "tcg", Stdout: serial, Append: cmdline, Timeout: 3 * time.Minute,
		Extra: []string{
			"-netdev", fmt.Sprintf("user,id=net0,restrict=on,guestfwd=tcp:10.0.2.100:8080-cmd:env %s=%s %s", relayEnv, gw, self),
			"-device", "virtio-net-pci,netdev=net0,disable-modern=on",
		},
	}
	res, err := qemu.Run(context.Background(), c)
	out := serial.String()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("guest: %v, exit %d\n%s", err, res.ExitCode, out)
	}
	want := fmt.Sprintf(`BIO node imported %s: %d blocks \(%d fetched, \d+ bytes; 0 already held\) in \S+, every block verified against its CID`, user, n, n)
	if !regexp.MustCompile(want).MatchString(out) {
		t.Fatalf("no %q:\n%s", want, out)
	}
	if !regexp.MustCompile(`BIO node call `+user.String()+` Main\(3\) = 36 `).MatchString(out) ||
		!regexp.MustCompile(`BIO node peer http://10.0.2.100:8080: score \d+, served \d+, failed 0, wrong bytes 0`).MatchString(out) {
		t.Fatalf("guest:\n%s", out)
	}
	t.Logf("a guest imported %s (%d blocks) from kubo's gateway by CID and ran Main(3) = 36", user, n)
}
