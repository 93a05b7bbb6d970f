// Package syscalls_test checks Velocity's system-call argument validation
// against Linux. The program in ./hostile calls the kernel with hostile
// arguments (bad pointers of every kind, bad fds, bad sizes and flags) and
// prints one line per case with the errno. It is built twice from the same
// source, as a static Linux executable and as a Velocity kernel, run on
// the host and booted under QEMU, and the errnos are compared case by
// case. A second boot makes 100,000 seeded random hostile calls and then
// checks that the program still works.
package syscalls_test

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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

func TestMain(m *testing.M) { testenv.Main(m, "velocity-syscalls-test-", &outDir) }

var (
	stubOnce = sync.OnceValues(build.Stub)
	hostOnce = sync.OnceValues(func() (string, error) {
		out := filepath.Join(outDir, "hostile")
		cmd := exec.Command("go", "build", "-o", out, "./hostile")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./hostile: %v\n%s", err, b)
		}
		return out, nil
	})
	kernelOnce = sync.OnceValues(func() (string, error) {
		out := filepath.Join(outDir, "hostile.elf")
		return out, build.Build("./hostile", out, nil)
	})
)

// differences lists the cases where Velocity's answer differs from
// Linux's on purpose, with Velocity's answer and the reason. Everything
// else must match.
var differences = map[string]struct{ velocity, why string }{
	"mmap/fixed_low": {"EPERM", "Velocity never maps the first 64 KiB, so that a nil dereference " +
		"always faults; Linux keeps the same rule (vm.mmap_min_addr, 65536 on Debian) but lets root, " +
		"which the host test runs as, map below it. EPERM is what Linux says to everyone else."},
	"set_robust_list/valid": {"ENOSYS", "robust futex lists are not implemented (Go does not use " +
		"them), so the kernel says so instead of accepting a list it would never walk."},
}

// boot runs the hostile kernel with args on smp CPUs under TCG.
func boot(t *testing.T, smp int, timeout time.Duration, args ...string) (string, int) {
	return bootMem(t, smp, "", timeout, args...)
}

// bootMem is boot with a memory size ("" for the default).
func bootMem(t *testing.T, smp int, mem string, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	testenv.Need(t, "qemu")
	cmdline, err := build.KernelCmdline(nil, []string{"quiet"}, args)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{Kernel: testenv.Get(t, kernelOnce), Stub: testenv.Get(t, stubOnce),
		Append: cmdline, Accel: "tcg", Stdout: &out, Timeout: timeout, SMP: smp, Mem: mem, DumpOnTimeout: true})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("boot: %v\nserial output:\n%s", err, serial)
	}
	t.Logf("guest exited with %d after %v", res.ExitCode, res.Elapsed.Round(time.Millisecond))
	return serial, res.ExitCode
}

// parseCases reads "case NAME RESULT" lines and checks the final count.
func parseCases(t *testing.T, where, out string) map[string]string {
	t.Helper()
	got := map[string]string{}
	done := -1
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "case":
			got[f[1]] = f[2]
		case len(f) == 3 && f[0] == "cases" && f[1] == "done":
			fmt.Sscan(f[2], &done)
		}
	}
	if done < 0 || done != len(got) {
		t.Fatalf("%s: %d cases printed, the program says %d; output:\n%s", where, len(got), done, out)
	}
	return got
}

// TestErrnosMatchLinux compares every case's errno on the Linux host and
// inside Velocity.
func TestErrnosMatchLinux(t *testing.T) {
	host := testenv.Get(t, hostOnce)
	cmd := exec.Command(host, "-cases")
	cmd.Dir = t.TempDir() // relative paths the cases create land here
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -cases on the host: %v\n%s", host, err, b)
	}
	linux := parseCases(t, "Linux", string(b))

	serial, code := boot(t, 2, 3*time.Minute, "-cases")
	if code != 0 {
		t.Fatalf("guest exited with %d:\n%s", code, serial)
	}
	vel := parseCases(t, "Velocity", serial)

	var names []string
	for n := range linux {
		names = append(names, n)
	}
	sort.Strings(names)
	agree, excused := 0, 0
	for _, n := range names {
		l, v := linux[n], vel[n]
		if v == "" {
			t.Errorf("%s: missing inside Velocity", n)
			continue
		}
		if l == v {
			agree++
			if d, ok := differences[n]; ok {
				t.Errorf("%s: listed as a difference (%s) but both say %s: remove it from the list", n, d.why, l)
			}
			continue
		}
		if d, ok := differences[n]; ok && d.velocity == v {
			excused++
			continue
		}
		t.Errorf("%s: Linux %s, Velocity %s", n, l, v)
	}
	t.Logf("%d cases: %d agree with Linux, %d differ for a listed reason", len(names), agree, excused)
}

// TestRandomHostileCalls: 100,000 seeded random hostile calls (a
// thirteenth of their bad pointers aimed at the kernel's own variables)
// leave the kernel alive and the program working, from one thread (the same seed
// makes the same calls) and from four threads on four CPUs at once (each
// thread's calls follow from the seed; their interleaving does not).
// $HOSTILE_SEED picks another seed; the seed is in the output.
func TestRandomHostileCalls(t *testing.T) {
	seed := os.Getenv("HOSTILE_SEED")
	if seed == "" {
		seed = "1"
	}
	for _, threads := range []int{1, 4} {
		t.Run(fmt.Sprintf("threads=%d", threads), func(t *testing.T) {
			serial, code := boot(t, max(threads, 2), 5*time.Minute, "-random", "100000", "-seed", seed, "-threads", strconv.Itoa(threads),
				"-kernel-vars", kernelVars(t))
			if code != 0 || !strings.Contains(serial, "random: alive:") || !strings.Contains(serial, "hostile: done") {
				t.Fatalf("seed %s, %d threads: guest exited with %d:\n%s", seed, threads, code, serial)
			}
			for _, line := range strings.Split(serial, "\n") {
				if strings.HasPrefix(line, "random: seed") {
					t.Log(line)
				}
			}
		})
	}
}

// TestFullTmpIsENOSPC: filling /tmp, which lives in RAM, ends with ENOSPC
// and leaves the program working, instead of taking the frames the Go
// heap needs and ending the machine with the out-of-memory exit.
func TestFullTmpIsENOSPC(t *testing.T) {
	serial, code := bootMem(t, 2, "128M", 3*time.Minute, "-fill-tmp")
	if code != 0 || !strings.Contains(serial, "no space left on device") || !strings.Contains(serial, "random: alive:") {
		t.Fatalf("guest exited with %d:\n%s", code, serial)
	}
	for _, line := range strings.Split(serial, "\n") {
		if strings.HasPrefix(line, "fill:") {
			t.Log(line)
		}
	}
}

// kernelVars lists, as the hostile program's -kernel-vars wants them, the
// kernel's variables in its ELF (package runtime's vk* data objects): the
// 24 largest (the tables: sockets, files, /tmp, timers, CPUs) and 8 of the
// smallest (counters and cursors), so that the command line stays short.
func kernelVars(t *testing.T) string {
	t.Helper()
	f, err := elf.Open(testenv.Get(t, kernelOnce))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var vars []elf.Symbol
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_OBJECT && s.Size > 0 && strings.HasPrefix(s.Name, "runtime.vk") {
			vars = append(vars, s)
		}
	}
	if len(vars) < 32 {
		t.Fatalf("only %d kernel variables in the ELF's symbol table", len(vars))
	}
	// Whether the 8 bytes before an address belong to a kernel variable.
	inVar := func(a uint64) bool {
		for _, s := range vars {
			if a < s.Value+s.Size && s.Value < a+8 {
				return true
			}
		}
		return false
	}
	sort.Slice(vars, func(i, j int) bool { return vars[i].Size > vars[j].Size })
	var list []string
	for _, s := range append(vars[:24:24], vars[len(vars)-8:]...) {
		e := fmt.Sprintf("%#x:%d", s.Value, s.Size)
		if !inVar(s.Value - 8) {
			e += ":p" // the hostile program checks a write running into it
		}
		list = append(list, e)
	}
	return strings.Join(list, ",")
}

// TestKernelVariablesUnreachable: a system call pointed at one of the
// kernel's own variables, which share the program's image and address
// space, fails with EFAULT as a pointer into Linux's kernel half does
// (runtime/vk_guard.go), instead of reading or overwriting the kernel's
// tables on the program's behalf; a write that runs from the program's
// data into one stops where the variable starts.
func TestKernelVariablesUnreachable(t *testing.T) {
	serial, code := boot(t, 2, 3*time.Minute, "-kernel-vars", kernelVars(t))
	if code != 0 || !strings.Contains(serial, "kernelvars: 32 kernel variables") || !strings.Contains(serial, "hostile: done") {
		t.Fatalf("guest exited with %d:\n%s", code, serial)
	}
	for _, line := range strings.Split(serial, "\n") {
		if strings.HasPrefix(line, "kernelvars:") {
			t.Log(line)
		}
	}
}
