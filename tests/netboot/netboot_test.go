// Package netboot boots the network tests (tests/net) inside the
// unikernel on one and two CPUs: the same test binary that passes on
// Linux, with every socket call served by the kernel's netstack server.
package netboot

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
)

var outDir string

func TestMain(m *testing.M) { testenv.Main(m, "velocity-netboot-test-", &outDir) }

var (
	stubOnce = sync.OnceValues(build.Stub)
	netOnce  = sync.OnceValues(func() (string, error) {
		out := filepath.Join(outDir, "net.test.elf")
		return out, build.BuildTest("../net", out, nil)
	})
)

func TestNetInKernel(t *testing.T) {
	testenv.Need(t, "qemu")
	kernel, stub := testenv.Get(t, netOnce), testenv.Get(t, stubOnce)
	for _, smp := range []int{1, 2} {
		t.Run(strconv.Itoa(smp), func(t *testing.T) {
			// -test.short: 300 connections rather than 2,000 (make
			// conformance-style runs can boot without it).
			args := []string{"-test.v", "-test.timeout=4m", "-test.short"}
			cmdline, err := build.KernelCmdline(nil, nil, args)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			res, err := qemu.Run(context.Background(), qemu.Config{
				Kernel: kernel, Stub: stub, SMP: smp, Accel: "tcg", Stdout: &out,
				Append: cmdline, Timeout: 5 * time.Minute,
			})
			serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
			if err != nil {
				t.Fatalf("boot: %v\n%s", err, serial)
			}
			t.Logf("guest exited with %d after %v", res.ExitCode, res.Elapsed.Round(time.Millisecond))
			if res.ExitCode != 0 || !strings.Contains(serial, "\nPASS\n") || strings.Contains(serial, "--- FAIL") {
				t.Fatalf("network tests failed inside the kernel (exit %d):\n%s", res.ExitCode, serial)
			}
			for _, name := range []string{"TestTCPEcho", "TestUDP", "TestHTTP", "TestManyConnections", "TestBlockingSockets", "TestBadArguments", "TestLookupLocalhost", "TestSomaxconnReadable", "TestConnectRefused",
				"TestUnixStreamEcho", "TestUnixErrors", "TestUnixgram", "TestUnixSocketpair", "TestUnixAutobind"} {
				if !strings.Contains(serial, "--- PASS: "+name) {
					t.Errorf("%s did not pass:\n%s", name, serial)
				}
			}
			if testing.Verbose() {
				t.Logf("serial:\n%s", serial)
			}
		})
	}
}
