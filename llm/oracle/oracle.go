// Package oracle runs llama.cpp as the reference the LLM engine is checked
// against. llama.cpp comes from npm (node-llama-cpp@3.21.1, installed into
// build/npm by scripts/deps-npm.sh, which Build runs if needed); a small C
// program (csrc/oracle.c, compiled here with gcc against the headers of the
// exact llama.cpp release in that package) loads a GGUF file and prints
// logits at every position, greedy generations, tokenizations or speeds.
//
// It is for tests and benchmarks only. Build returns ErrUnavailable (with
// the reason) when node/npm, gcc or git are missing, so tests can skip with
// a clear message; any other failure is an error.
package oracle

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

//go:embed csrc/oracle.c
var source []byte

// ErrUnavailable means a tool the oracle needs is not installed.
var ErrUnavailable = errors.New("llama.cpp oracle unavailable")

// Oracle is a built oracle program.
type Oracle struct {
	Bin    string
	LibDir string
	// NPM is build/npm, where the npm packages live.
	NPM string
}

// Root returns the repository root (the directory holding go.mod and
// scripts/deps-npm.sh), found from the working directory upwards.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "deps-npm.sh")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("oracle: repository root (scripts/deps-npm.sh) not found above the working directory")
		}
		dir = up
	}
}

var (
	once   sync.Once
	built  *Oracle
	buildE error
)

// Build installs the npm packages if needed, extracts llama.cpp's headers
// and compiles the oracle (once per process; the binary is cached in
// build/llm-oracle and rebuilt when its source changes).
func Build() (*Oracle, error) {
	once.Do(func() { built, buildE = build() })
	return built, buildE
}

func build() (*Oracle, error) {
	for _, tool := range []string{"node", "npm", "gcc", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%w: %s not found on PATH", ErrUnavailable, tool)
		}
	}
	root, err := Root()
	if err != nil {
		return nil, err
	}
	// Test binaries of several packages build the oracle at once under
	// go test ./...; one does the work, the others wait and reuse it.
	dir := filepath.Join(root, "build", "llm-oracle")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	npm := filepath.Join(root, "build", "npm")
	cmd := exec.Command(filepath.Join(root, "scripts", "deps-npm.sh"))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("oracle: scripts/deps-npm.sh: %v\n%s", err, out)
	}
	pkg := filepath.Join(npm, "node_modules", "node-llama-cpp", "llama")
	lib := filepath.Join(npm, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
	libllama, _ := filepath.Glob(filepath.Join(lib, "libllama.v*.so"))
	libggml, _ := filepath.Glob(filepath.Join(lib, "libggml.v*.so"))
	if len(libllama) != 1 || len(libggml) != 1 {
		return nil, fmt.Errorf("oracle: libllama/libggml not found in %s", lib)
	}
	inc := filepath.Join(dir, "include")
	if _, err := os.Stat(filepath.Join(inc, "include", "llama.h")); err != nil {
		// The package carries llama.cpp's source as a git bundle; take the
		// public headers of exactly that release from it.
		tmp := dir + ".git"
		os.RemoveAll(tmp)
		steps := [][]string{
			{"git", "init", "-q", "--bare", tmp},
			{"git", "--git-dir", tmp, "fetch", "-q", filepath.Join(pkg, "gitRelease.bundle"), "HEAD"},
		}
		for _, s := range steps {
			if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
				return nil, fmt.Errorf("oracle: %v: %v\n%s", s, err, out)
			}
		}
		os.MkdirAll(inc, 0o755)
		arch := exec.Command("sh", "-c", "git --git-dir '"+tmp+"' archive FETCH_HEAD include ggml/include | tar -x -C '"+inc+"'")
		if out, err := arch.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("oracle: extracting headers: %v\n%s", err, out)
		}
		os.RemoveAll(tmp)
	}
	src := filepath.Join(dir, "oracle.c")
	bin := filepath.Join(dir, "oracle")
	old, _ := os.ReadFile(src)
	if _, err := os.Stat(bin); err != nil || !bytes.Equal(old, source) {
		if err := os.WriteFile(src, source, 0o644); err != nil {
			return nil, err
		}
		tmpBin := fmt.Sprintf("%s.%d", bin, os.Getpid())
		cc := exec.Command("gcc", "-O2", "-o", tmpBin, src,
			"-I", filepath.Join(inc, "include"), "-I", filepath.Join(inc, "ggml", "include"),
			libllama[0], libggml[0], "-Wl,-rpath,"+lib)
		if out, err := cc.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("oracle: gcc: %v\n%s", err, out)
		}
		if err := os.Rename(tmpBin, bin); err != nil {
			return nil, err
		}
	}
	return &Oracle{Bin: bin, LibDir: lib, NPM: npm}, nil
}

func (o *Oracle) run(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command(o.Bin, args...)
	cmd.Env = append(os.Environ(), "ORACLE_LIBDIR="+o.LibDir)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("oracle %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func idsText(ids []int) []byte {
	var b bytes.Buffer
	for _, t := range ids {
		b.WriteString(strconv.Itoa(t))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func parseIDs(out []byte) ([]int, error) {
	var ids []int
	for _, f := range strings.Fields(string(out)) {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("oracle: bad token id %q", f)
		}
		ids = append(ids, v)
	}
	return ids, nil
}

// Logits evaluates tokens from an empty context and returns llama.cpp's
// logits at every position (vocab values each).
func (o *Oracle) Logits(model string, tokens []int, vocab, threads int) ([][]float32, error) {
	out, err := o.run(idsText(tokens), "logits", model, strconv.Itoa(threads))
	if err != nil {
		return nil, err
	}
	if len(out) != 4*vocab*len(tokens) {
		return nil, fmt.Errorf("oracle: %d bytes of logits, want %d×%d floats", len(out), len(tokens), vocab)
	}
	res := make([][]float32, len(tokens))
	for i := range res {
		res[i] = make([]float32, vocab)
		for j := range res[i] {
			res[i][j] = math.Float32frombits(binary.LittleEndian.Uint32(out[4*(i*vocab+j):]))
		}
	}
	return res, nil
}

// Generate returns n greedy (argmax) tokens after prompt.
func (o *Oracle) Generate(model string, prompt []int, n, threads int) ([]int, error) {
	out, err := o.run(idsText(prompt), "generate", model, strconv.Itoa(threads), strconv.Itoa(n))
	if err != nil {
		return nil, err
	}
	return parseIDs(out)
}

// Tokenize returns llama.cpp's tokens for each text (which must not hold
// NUL bytes), with special tokens recognised and nothing added. The
// vocabulary is loaded once for all of them.
func (o *Oracle) Tokenize(model string, texts []string) ([][]int, error) {
	for _, s := range texts {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, errors.New("oracle: tokenize: text holds a NUL byte")
		}
	}
	out, err := o.run([]byte(strings.Join(texts, "\x00")), "tokenize", model)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		return nil, fmt.Errorf("oracle: tokenize: %d results for %d texts", len(lines), len(texts))
	}
	res := make([][]int, len(texts))
	for i, l := range lines {
		if res[i], err = parseIDs([]byte(l)); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// Bench measures llama.cpp's prefill of np random tokens and the decode of
// ng more, in tokens per second.
func (o *Oracle) Bench(model string, threads, np, ng int) (prefill, decode float64, err error) {
	out, err := o.run(nil, "bench", model, strconv.Itoa(threads), strconv.Itoa(np), strconv.Itoa(ng))
	if err != nil {
		return 0, 0, err
	}
	if _, err := fmt.Sscan(string(out), &prefill, &decode); err != nil {
		return 0, 0, fmt.Errorf("oracle bench: output %q: %v", out, err)
	}
	return prefill, decode, nil
}
