// Package llm_test boots images/llm: the on-board LLM engine inside the
// unikernel, pinned to a reserved CPU, generating from a model in the
// image's file system, and checks its tokens against the same engine on
// the host.
package llm_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
	"github.com/velocityos/velocity/llm/gguf"
	"github.com/velocityos/velocity/llm/modelgen"
	"github.com/velocityos/velocity/llm/quant"
	"github.com/velocityos/velocity/llm/qwen2"
	"github.com/velocityos/velocity/llm/sample"
	"github.com/velocityos/velocity/llm/tokenizer"
)

var outDir string

func TestMain(m *testing.M) { testenv.Main(m, "velocity-llm-test-", &outDir) }

var (
	stubOnce = sync.OnceValues(build.Stub)
	kernOnce = sync.OnceValues(func() (string, error) {
		out := filepath.Join(outDir, "llm.elf")
		return out, build.Build("../../images/llm", out, nil)
	})
)

// hostTokens runs the same generation (temperature 1, seed 7) on the host, with or without
// the AVX2 kernels (the guest CPU decides which the guest uses).
func hostTokens(t *testing.T, model []byte, prompt string, n int, avx2 bool) string {
	prev := quant.UseAVX2(avx2)
	defer quant.UseAVX2(prev)
	f, err := gguf.Parse(model)
	if err != nil {
		t.Fatal(err)
	}
	m, err := qwen2.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.NewState(512, 1).Generate(tk.Encode(prompt), n, sample.New(sample.Params{Temperature: 1, Seed: 7}), tk.IsEOG, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]string, len(out))
	for i, x := range out {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, " ")
}

// The engine generates inside Velocity pinned to reserved CPUs (one
// thread on -smp 2 reserve=1; two on -smp 3 reserve=1-2) and samples the
// same tokens as on the host.
func TestGenerateOnReservedCPU(t *testing.T) {
	testenv.Need(t, "qemu")
	var buf bytes.Buffer
	spec := modelgen.Spec{Layers: 2, Hidden: 256, Heads: 4, KVHeads: 2, FFN: 512, Type: quant.Q8_0, Seed: 12}
	if err := modelgen.Write(&buf, spec); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(outDir, "tiny-q8_0.gguf")
	if err := os.WriteFile(model, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	kern := filepath.Join(outDir, "llm-fs.elf")
	if err := build.AttachFS(testenv.Get(t, kernOnce), kern, []string{model}); err != nil {
		t.Fatal(err)
	}
	const prompt, n = "def fib(n):", 24
	for _, c := range []struct {
		smp     int
		reserve string
		threads int
		cpus    string
	}{{2, "1", 1, "[1]"}, {3, "1-2", 2, "[1 2]"}} {
		t.Run(fmt.Sprintf("threads=%d", c.threads), func(t *testing.T) {
			cmdline, err := build.KernelCmdline(nil, []string{"reserve=" + c.reserve}, []string{"-model", model, "-prompt", prompt,
				"-n", fmt.Sprint(n), "-temp", "1", "-seed", "7", "-threads", fmt.Sprint(c.threads)})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			res, err := qemu.Run(context.Background(), qemu.Config{Kernel: kern, Stub: testenv.Get(t, stubOnce), SMP: c.smp, Mem: "512M",
				Append: cmdline, Accel: "tcg", Stdout: &out, Timeout: 5 * time.Minute})
			serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
			if err != nil {
				t.Fatalf("boot: %v\n%s", err, serial)
			}
			t.Logf("guest output:\n%s", serial)
			if res.ExitCode != 0 {
				t.Fatalf("guest exited with %d", res.ExitCode)
			}
			first := strings.TrimPrefix(strings.Fields(c.cpus)[0], "[")
			first = strings.TrimSuffix(first, "]")
			for _, want := range []string{fmt.Sprintf("llm: %d engine thread(s) pinned to reserved CPUs %s", c.threads, c.cpus),
				fmt.Sprintf("tokens computed on CPU %s", first)} {
				if !strings.Contains(serial, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			avx2 := strings.Contains(serial, "AVX2 kernels true")
			want := hostTokens(t, buf.Bytes(), prompt, n, avx2)
			if !strings.Contains(serial, "llm: tokens: "+want+"\n") {
				t.Errorf("guest tokens differ from the host's (AVX2 %v): want %q", avx2, want)
			}
		})
	}
}

// typingSession is the scripted typing of TestShellPrefetchInKernel: three
// lines of code, each with a Tab in the middle and one at the end (one
// after a backspaced typo), cleared with Ctrl-U; the same again with
// prefetch off; then the figures.
func typingSession() string {
	lines := []string{"func add(a, b int) int {\t return a + b\t", "for i := 0; i < n; i+\x7f++ {\t", "if err != nil {\t return err\t"}
	var b strings.Builder
	b.WriteString("llm -n 4 -raw def fib(n):\n")
	for _, mode := range []string{"on", "off"} {
		b.WriteString("llm prefetch " + mode + "\n")
		for _, l := range lines {
			b.WriteString(l + "\x15")
		}
	}
	b.WriteString("llm stats\nexit 0\n")
	return b.String()
}

// The shell with the model inside Velocity: the llm command, and a
// scripted typing session at 100 ms per key during which the engine,
// pinned to the reserved CPU, follows the line; Tab then evaluates
// (almost) none of the line's tokens with prefetch on and all of them
// with it off. Latency figures are printed, not asserted (make bench
// territory); the work saved is asserted.
func TestShellPrefetchInKernel(t *testing.T) {
	testenv.Need(t, "qemu")
	var buf bytes.Buffer
	spec := modelgen.Spec{Layers: 1, Hidden: 64, Heads: 2, KVHeads: 1, FFN: 128, Type: quant.Q8_0, Seed: 21}
	if err := modelgen.Write(&buf, spec); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(outDir, "shell-model.gguf")
	keys := filepath.Join(outDir, "keys.txt")
	if err := os.WriteFile(model, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keys, []byte(typingSession()), 0o644); err != nil {
		t.Fatal(err)
	}
	kern := filepath.Join(outDir, "llm-shell.elf")
	if err := build.AttachFS(testenv.Get(t, kernOnce), kern, []string{model, keys}); err != nil {
		t.Fatal(err)
	}
	cmdline, err := build.KernelCmdline(nil, []string{"reserve=1"}, []string{"-shell", "-model", model, "-type", keys, "-keydelay", "100ms"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{Kernel: kern, Stub: testenv.Get(t, stubOnce), SMP: 2, Mem: "512M",
		Append: cmdline, Accel: "tcg", Stdout: &out, Timeout: 5 * time.Minute})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("boot: %v\n%s", err, serial)
	}
	t.Logf("guest output:\n%s", serial)
	if res.ExitCode != 0 {
		t.Fatalf("guest exited with %d", res.ExitCode)
	}
	for _, want := range []string{"engine pinned to CPU 1", "llm: 10 prompt tokens, 4 generated; first token after",
		"llm: prefetch off", "llm: keystrokes "} {
		if !strings.Contains(serial, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	var on, off int
	if _, err := fmt.Sscanf(serial[strings.Index(serial, "llm: prompt tokens evaluated at Tab: "):], "llm: prompt tokens evaluated at Tab: %d with prefetch on, %d off", &on, &off); err != nil {
		t.Fatalf("no Tab figures: %v", err)
	}
	tabs := regexp.MustCompile(`llm: Tab to first token, prefetch (on|off): (\d+) Tabs, p50 [\d.]+ ms, p99 [\d.]+ ms`).FindAllStringSubmatch(serial, -1)
	if len(tabs) != 2 || tabs[0][2] != "5" || tabs[1][2] != "5" {
		t.Errorf("Tab lines %q, want 5 Tabs with and 5 without prefetch", tabs)
	}
	// Without prefetch every Tab evaluates the whole line (about a token
	// per character with the tiny vocabulary); with it, the engine has
	// kept up with 100 ms per key and Tab evaluates next to nothing.
	if off < 60 || on > off/4 {
		t.Errorf("tokens evaluated at Tab: %d with prefetch, %d without", on, off)
	}
}

// A model on a virtio block disk (velocity run -disk): the guest reads
// /dev/vda through drivers/virtioblk and samples the same tokens as the
// host engine on the file. The file's size is not a multiple of the
// 512-byte sector (QEMU pads it with zeros; the GGUF reader ignores
// them), and the image's file system does not hold the model.
func TestModelFromDisk(t *testing.T) {
	testenv.Need(t, "qemu")
	var buf bytes.Buffer
	spec := modelgen.Spec{Layers: 2, Hidden: 256, Heads: 4, KVHeads: 2, FFN: 512, Type: quant.Q4_K, Seed: 33}
	if err := modelgen.Write(&buf, spec); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%512 == 0 {
		buf.WriteString("pad") // keep the size off a sector boundary
	}
	model := filepath.Join(outDir, "disk-model.gguf")
	if err := os.WriteFile(model, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	disk, err := qemu.DiskArgs([]string{model})
	if err != nil {
		t.Fatal(err)
	}
	const prompt, n = "package main", 16
	cmdline, err := build.KernelCmdline(nil, []string{"reserve=1"}, []string{"-model", "/dev/vda", "-prompt", prompt,
		"-n", fmt.Sprint(n), "-temp", "1", "-seed", "7"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{Kernel: testenv.Get(t, kernOnce), Stub: testenv.Get(t, stubOnce), SMP: 2, Mem: "512M",
		Append: cmdline, Accel: "tcg", Stdout: &out, Timeout: 5 * time.Minute, Extra: disk})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("boot: %v\n%s", err, serial)
	}
	t.Logf("guest output:\n%s", serial)
	if res.ExitCode != 0 {
		t.Fatalf("guest exited with %d", res.ExitCode)
	}
	size := (buf.Len() + 511) &^ 511
	if !regexp.MustCompile(fmt.Sprintf(`llm: /dev/vda from virtio-blk \S+ \((modern|legacy), read-only\), %d bytes read in `, size)).MatchString(serial) {
		t.Errorf("no read-only disk of %d bytes in the output", size)
	}
	avx2 := strings.Contains(serial, "AVX2 kernels true")
	want := hostTokens(t, buf.Bytes(), prompt, n, avx2)
	if !strings.Contains(serial, "llm: tokens: "+want+"\n") {
		t.Errorf("guest tokens differ from the host's (AVX2 %v): want %q", avx2, want)
	}
}
