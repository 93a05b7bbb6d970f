// Package modules_test boots images/modules under QEMU (TCG) with a
// module pack built from examples/modules in the kernel's file system, and
// checks that the unikernel loads the modules into the module table, runs
// them with the JIT and shares the code of the module the others import.
//
// Tests skip, naming the apt-get command, when QEMU or binutils are
// missing (scripts/deps.sh installs them).
package modules_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
)

const bootTimeout = 3 * time.Minute

// The example modules, imports first; arith is imported by the other three.

var outDir string

func TestMain(m *testing.M) { testenv.Main(m, "velocity-modules-test-", &outDir) }

func need(t *testing.T, what ...string) { t.Helper(); testenv.Need(t, what...) }

type packInfo struct {
	path  string
	arith cid.Cid
	roots []cid.Cid
}

// packOnce builds the module pack of examples/modules as make modpack
// does (testenv.ExamplePack).
var packOnce = sync.OnceValues(func() (packInfo, error) {
	info := packInfo{path: filepath.Join(outDir, "pack", "modules.pack")}
	roots, err := testenv.ExamplePack(filepath.Join("..", "..", "examples", "modules"), info.path)
	if err != nil {
		return info, err
	}
	info.arith, info.roots = roots[0], roots
	return info, nil
})

var (
	stubOnce   = sync.OnceValues(build.Stub)
	kernelOnce = sync.OnceValues(func() (string, error) {
		pack, err := packOnce()
		if err != nil {
			return "", err
		}
		elf := filepath.Join(outDir, "modules.elf")
		if err := build.Build("../../images/modules", elf, nil); err != nil {
			return "", err
		}
		withFS := filepath.Join(outDir, "modules+fs.elf")
		return withFS, build.AttachFS(elf, withFS, []string{pack.path})
	})
)

func boot(t *testing.T, c qemu.Config) (string, int) {
	t.Helper()
	var out bytes.Buffer
	c.Accel, c.Stdout, c.Timeout = "tcg", &out, bootTimeout
	res, err := qemu.Run(context.Background(), c)
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("boot: %v\nserial output:\n%s", err, serial)
	}
	t.Logf("guest exited with %d after %v", res.ExitCode, res.Elapsed.Round(time.Millisecond))
	return serial, res.ExitCode
}

// check asserts what images/modules printed: every function's result,
// arith shared by its three importers (one mapping, 4 references with
// its own handle), and everything unmapped at the end.
func check(t *testing.T, serial string, code int, pack packInfo) {
	t.Helper()
	ok := code == 0
	if !ok {
		t.Errorf("guest exit code %d, want 0", code)
	}
	a := pack.arith.String()
	want := []string{
		"MODCALL " + a + " SumSquares(10) = 385",
		"MODCALL " + a + " Fact(10) = 3628800",
		"MODCALL " + a + " Fib(50) = 12586269025",
		"SquareMean(10) = 38",
		"Mean([3 5 7 9]) = 6",
		"Mix(1000) = 6666190612683587969",
		"Choose(10, 3) = 120",
		"MODENTRY cid=" + a + " refs=4 importers=3 pages=1 ",
		"MODTABLE modules=4 pages=4 refs=7 saved=3 compiles=4",
		"MODDONE modules=0 unloads=4",
		"3 pages saved by sharing",
		// 100 importers of arith: one copy of arith, 101 code pages
		// (200 without sharing); freed_pages is checked below.
		"MODDEDUP importers=100 lib_refs=100 lib_addrs=1 code_pages=101 unshared_pages=200 freed_pages=",
	}
	// When all are released the kernel's resident-page counter drops by
	// the 101 code pages. The counter is machine-wide, so the Go runtime's
	// own page faults and scavenging in the same moment move it by a few
	// pages; the point is 101, not the 200 that copies would cost.
	if m := regexp.MustCompile(`MODDEDUP .* freed_pages=(-?\d+)`).FindStringSubmatch(serial); m != nil {
		freed, _ := strconv.Atoi(m[1])
		if freed < 101-8 || freed > 101+8 {
			t.Errorf("releasing 100 importers freed %d resident pages, want 101 (±8)", freed)
			ok = false
		}
	}
	for _, c := range pack.roots[1:] {
		want = append(want, "MODENTRY cid="+c.String()+" refs=1 importers=0 pages=1 ")
	}
	for _, w := range want {
		if !strings.Contains(serial, w) {
			t.Errorf("serial output lacks %q", w)
			ok = false
		}
	}
	// One mapping: every importer's call table points at arith's address,
	// which differs from every importer's own.
	addrs := map[string]bool{}
	for _, m := range regexp.MustCompile(`MODENTRY cid=\S+ .* addr=(0x[0-9a-f]+)`).FindAllStringSubmatch(serial, -1) {
		addrs[m[1]] = true
	}
	if len(addrs) != 4 {
		t.Errorf("want 4 distinct module mappings, got %d", len(addrs))
		ok = false
	}
	if !ok {
		t.Logf("serial output:\n%s", serial)
	}
}

// TestModulesInKernel boots images/modules on the fast path; the program
// finds modules.pack in the file system behind the kernel by itself.
func TestModulesInKernel(t *testing.T) {
	need(t, "qemu")
	pack := testenv.Get(t, packOnce)
	kernel := testenv.Get(t, kernelOnce)
	cmdline, err := build.KernelCmdline(nil, nil, []string{})
	if err != nil {
		t.Fatal(err)
	}
	serial, code := boot(t, qemu.Config{Kernel: kernel, Stub: testenv.Get(t, stubOnce), Append: cmdline})
	check(t, serial, code, pack)
	if !strings.Contains(serial, "modules: pack "+pack.path) {
		t.Errorf("the guest did not find the pack at %s", pack.path)
	}
}

// TestModulesInKernelArg passes the pack's path on the command line.
func TestModulesInKernelArg(t *testing.T) {
	need(t, "qemu")
	pack := testenv.Get(t, packOnce)
	kernel := testenv.Get(t, kernelOnce)
	cmdline, err := build.KernelCmdline(nil, nil, []string{pack.path})
	if err != nil {
		t.Fatal(err)
	}
	serial, code := boot(t, qemu.Config{Kernel: kernel, Stub: testenv.Get(t, stubOnce), Append: cmdline})
	check(t, serial, code, pack)
}

// TestModulesISO boots the image velocity image -fs makes: a GRUB ISO
// whose kernel ELF carries the pack.
func TestModulesISO(t *testing.T) {
	need(t, "qemu", "grub")
	pack := testenv.Get(t, packOnce)
	kernel := testenv.Get(t, kernelOnce)
	iso := filepath.Join(outDir, "modules.iso")
	if err := build.MakeISO(build.ISOConfig{Kernel: kernel, Stub: testenv.Get(t, stubOnce), Out: iso}); err != nil {
		t.Fatal(err)
	}
	serial, code := boot(t, qemu.Config{Kernel: iso})
	check(t, serial, code, pack)
	if testing.Verbose() {
		fmt.Fprint(os.Stderr, serial)
	}
}
