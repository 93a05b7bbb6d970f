// Package netboot boots the network tests (tests/net) inside the
// unikernel on one and two CPUs: the same test binary that passes on
// Linux, with every socket call served by the kernel's netstack server.
package netboot

import (
	"bytes"
	"context"
	"os"
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
	for _, smp := range []int{1, 2} {
		t.Run(strconv.Itoa(smp), func(t *testing.T) {
			// -test.short: 300 connections rather than 10,000, and a
			// 16 MiB upload rather than 1 GiB (TestNetInKernelLong).
			runNetTests(t, smp, nil, 5*time.Minute, "-test.v", "-test.timeout=4m", "-test.short")
		})
	}
	// The tests' TCP runs over loopback, where the server joins a
	// connection's two ends (netstack/join.go); once more with gVisor's
	// TCP carrying it, which is what connections through the card get.
	t.Run("2-unjoined", func(t *testing.T) {
		runNetTests(t, 2, []string{"VELOCITY_TCPJOIN=0"}, 5*time.Minute, "-test.v", "-test.timeout=4m", "-test.short")
	})
}

// TestNetInKernelLong runs tests/net inside the kernel without -short:
// 10,000 connections opened and closed with fds and heap back at their
// baseline, and a 1 GiB upload streamed through net/http in a guest with
// 512 MiB of RAM. It takes minutes under TCG, so it runs in make
// conformance (VELOCITY_LONG=1), not in make test.
func TestNetInKernelLong(t *testing.T) {
	testenv.Need(t, "qemu")
	if os.Getenv("VELOCITY_LONG") != "1" {
		t.Skip("VELOCITY_LONG=1 runs it (make conformance)")
	}
	runNetTests(t, 2, nil, 40*time.Minute, "-test.v", "-test.timeout=35m", "-test.run=TestManyConnections|TestStreamingUpload")
	// The 10,000 connections once more through gVisor's TCP (with
	// TIME-WAIT), not joined over loopback.
	runNetTests(t, 2, []string{"VELOCITY_TCPJOIN=0"}, 40*time.Minute, "-test.v", "-test.timeout=35m", "-test.run=TestManyConnections")
}

// bootNetTests boots the tests/net binary on smp CPUs with the kernel
// environment env and args, and returns how it ended and its serial
// output (lines ending in \n).
func bootNetTests(t *testing.T, smp int, env []string, timeout time.Duration, args ...string) (qemu.Result, string) {
	t.Helper()
	kernel, stub := testenv.Get(t, netOnce), testenv.Get(t, stubOnce)
	cmdline, err := build.KernelCmdline(env, nil, args)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{
		Kernel: kernel, Stub: stub, SMP: smp, Accel: "tcg", Stdout: &out,
		Append: cmdline, Timeout: timeout, DumpOnTimeout: true,
	})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("boot: %v\n%s", err, serial)
	}
	return res, serial
}

// runNetTests boots the tests/net binary on smp CPUs with the kernel
// environment env and args, and checks that every test it ran passed.
func runNetTests(t *testing.T, smp int, env []string, timeout time.Duration, args ...string) {
	res, serial := bootNetTests(t, smp, env, timeout, args...)
	t.Logf("guest exited with %d after %v", res.ExitCode, res.Elapsed.Round(time.Millisecond))
	if res.ExitCode != 0 || !strings.Contains(serial, "\nPASS\n") || strings.Contains(serial, "--- FAIL") {
		t.Fatalf("network tests failed inside the kernel (exit %d):\n%s", res.ExitCode, serial)
	}
	all := strings.Join(args, " ")
	var names []string
	for _, name := range []string{"TestManyConnections", "TestStreamingUpload"} {
		if !strings.Contains(all, "-test.run=") || strings.Contains(all, name) {
			names = append(names, name)
		}
	}
	if !strings.Contains(all, "-test.run=") {
		names = append(names, "TestTCPEcho", "TestUDP", "TestHTTP", "TestBlockingSockets", "TestBadArguments", "TestLookupLocalhost", "TestSomaxconnReadable", "TestConnectRefused",
			"TestUnixStreamEcho", "TestUnixErrors", "TestUnixgram", "TestUnixSocketpair", "TestUnixAutobind", "TestUnixManyConnections",
			"TestDupSocket", "TestDupSocketRace", "TestFileListenerOfDup", "TestInterfacesLoopback", "TestNetlinkSocketErrors",
			"TestSendfileTCP", "TestSendfileIOCopy", "TestSendfileBlockingUnix", "TestSpliceSocketPipeFile",
			"TestSplicePipeToSocket", "TestSpliceIOCopy", "TestRawICMP", "TestRawConnected",
			"TestSCMRightsSocketpair", "TestSCMRightsNamed", "TestSCMRightsTruncated", "TestSCMRightsStreamBoundary",
			"TestSCMRightsInFlight", "TestSCMRightsErrors", "TestSCMRightsChurn",
			"TestPasscredStream", "TestPasscredDgram", "TestAcceptedKeepaliveOptions", "TestConnectionChurn", "TestAcceptFreshStacks", "TestStackStartRaised", "TestStackGoroutinesHidden", "TestDatagramNamesDirect", "TestDatagramNameShortLength",
			"TestEpollBesideNetpoller", "TestSocketDuringDependencyInit", "TestMulticastUDP", "TestSocketIoctls", "TestCloseUnderSignals", "TestPollSockets")
	}
	for _, name := range names {
		if !strings.Contains(serial, "--- PASS: "+name) {
			t.Errorf("%s did not pass:\n%s", name, serial)
		}
	}
	for _, l := range strings.Split(serial, "\n") {
		if strings.Contains(l, "connections; heap") || strings.Contains(l, "MiB uploaded in") {
			t.Log(strings.TrimSpace(l))
		}
	}
	if testing.Verbose() {
		t.Logf("serial:\n%s", serial)
	}
}
