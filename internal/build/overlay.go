package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	velocity "github.com/velocityos/velocity"
)

// sourceDirs maps each embedded kernel directory to the prefix its files get
// inside GOROOT/src/runtime. Every overlaid file starts with zz_velocity_ so
// it can never collide with (or silently replace) a real runtime file, and
// keeps its own _GOOS/_GOARCH suffix so build constraints still apply.
// A directory with pkg set holds an ordinary Go package that is also
// compiled into the kernel (host-testable code such as the gdb packet
// layer): its package clause "package <pkg>" becomes "package runtime".
var sourceDirs = []struct{ dir, prefix, pkg string }{
	{"runtime", "zz_velocity_", ""},
	{"arch/amd64", "zz_velocity_arch_", ""},
	{"kernel/gdbproto", "zz_velocity_gdbproto_", "gdbproto"},
	{"kernel/cmdline", "zz_velocity_cmdline_", "cmdline"},
	{"kernel/cpio", "zz_velocity_cpio_", "cpio"},
	{"kernel/pathwalk", "zz_velocity_pathwalk_", "pathwalk"},
	{"kernel/procpath", "zz_velocity_procpath_", "procpath"},
	{"kernel/cmsg", "zz_velocity_cmsg_", "cmsg"},
	{"kernel/ksyms", "zz_velocity_ksyms_", "ksyms"},
}

// KernelFile is one kernel source file as it will appear in package runtime.
type KernelFile struct {
	Name string // file name inside GOROOT/src/runtime, e.g. zz_velocity_foo.go
	Src  string // path inside the source tree, e.g. runtime/foo.go
	Data []byte
}

// Sources returns the kernel source tree to overlay. VELOCITY_SRC names a
// checkout to read instead of the copy embedded in this binary, so kernel
// developers can iterate without rebuilding the tool.
func Sources() fs.FS {
	if dir := os.Getenv("VELOCITY_SRC"); dir != "" {
		return os.DirFS(dir)
	}
	return velocity.KernelSources
}

// KernelFiles lists the *.go and *.s files directly inside the kernel source
// directories of fsys, sorted by name. Tests, subdirectories (such as the
// boot stub) and other files are skipped; a missing directory is not an
// error because the tree is still being filled in.
func KernelFiles(fsys fs.FS) ([]KernelFile, error) {
	var files []KernelFile
	for _, sd := range sourceDirs {
		entries, err := fs.ReadDir(fsys, sd.dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !isKernelSource(name) {
				continue
			}
			src := path.Join(sd.dir, name)
			data, err := fs.ReadFile(fsys, src)
			if err != nil {
				return nil, err
			}
			if sd.pkg != "" && strings.HasSuffix(name, ".go") {
				if data, err = RewritePackage(data, sd.pkg, "runtime"); err != nil {
					return nil, fmt.Errorf("%s: %w", src, err)
				}
			}
			files = append(files, KernelFile{Name: sd.prefix + name, Src: src, Data: data})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// RewritePackage replaces the package clause "package from" of a Go source
// file with "package to". The clause must be on a line of its own (a
// trailing comment is kept); comments and build constraints before it
// stay as they are. It is an error if there is no such clause.
func RewritePackage(src []byte, from, to string) ([]byte, error) {
	lines := strings.SplitAfter(string(src), "\n")
	inBlock := false
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if inBlock {
			if strings.Contains(t, "*/") {
				inBlock = false
			}
			continue
		}
		if t == "" || strings.HasPrefix(t, "//") {
			continue
		}
		if strings.HasPrefix(t, "/*") {
			inBlock = !strings.Contains(t[2:], "*/")
			continue
		}
		rest, ok := strings.CutPrefix(t, "package ")
		if !ok {
			break
		}
		name, comment, _ := strings.Cut(rest, "//")
		if strings.TrimSpace(name) != from {
			return nil, fmt.Errorf("package clause is %q, want package %s", t, from)
		}
		eol := line[len(strings.TrimRight(line, "\r\n")):]
		lines[i] = "package " + to
		if comment != "" {
			lines[i] += " //" + comment
		}
		lines[i] += eol
		return []byte(strings.Join(lines, "")), nil
	}
	return nil, fmt.Errorf("no package clause")
}

func isKernelSource(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
		return false
	}
	if strings.HasSuffix(name, ".s") {
		return true
	}
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
}

// contentHash identifies a set of kernel files; names are hashed too so a
// rename invalidates the cache.
func contentHash(files []KernelFile) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CacheDir is where velocity keeps generated files (kernel sources, overlay
// files, the accelerator verdict, the boot stub).
func CacheDir() (string, error) {
	if dir := os.Getenv("VELOCITY_CACHE"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set VELOCITY_CACHE): %w", err)
	}
	return filepath.Join(base, "velocity"), nil
}

// WriteSources materialises files in cacheDir/src-<hash> and returns that
// directory. The directory is written under a temporary name and renamed, so
// concurrent builds (go test runs packages in parallel) never see a partial
// tree, and an existing tree is reused.
func WriteSources(cacheDir string, files []KernelFile) (string, error) {
	dir := filepath.Join(cacheDir, "src-"+contentHash(files))
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".src-tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(tmp, f.Name), f.Data, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			return dir, nil // another process won the race
		}
		return "", err
	}
	return dir, nil
}

// Overlay is the JSON document understood by go build -overlay.
type Overlay struct {
	Replace map[string]string
}

// OverlayFor maps every file in srcDir to GOROOT/src/runtime/<name>.
func OverlayFor(goroot, srcDir string, files []KernelFile) Overlay {
	o := Overlay{Replace: make(map[string]string, len(files))}
	for _, f := range files {
		o.Replace[filepath.Join(goroot, "src", "runtime", f.Name)] = filepath.Join(srcDir, f.Name)
	}
	return o
}

// Merge adds other's replacements; ours win, because a user overlay that
// touches the kernel files would produce a different kernel than asked for.
func (o Overlay) Merge(other Overlay) Overlay {
	m := Overlay{Replace: make(map[string]string, len(o.Replace)+len(other.Replace))}
	for k, v := range other.Replace {
		m.Replace[k] = v
	}
	for k, v := range o.Replace {
		m.Replace[k] = v
	}
	return m
}

// ReadOverlay loads a go build -overlay file.
func ReadOverlay(file string) (Overlay, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return Overlay{}, err
	}
	var o Overlay
	if err := json.Unmarshal(data, &o); err != nil {
		return Overlay{}, fmt.Errorf("overlay %s: %w", file, err)
	}
	return o, nil
}

// WriteOverlay stores o in dir under a name derived from its content and
// returns the path; identical overlays share one file.
func WriteOverlay(dir string, o Overlay) (string, error) {
	data, err := json.MarshalIndent(o, "", "\t") // map keys are sorted: stable bytes
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	file := filepath.Join(dir, "overlay-"+hex.EncodeToString(sum[:8])+".json")
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	if err := writeFileAtomic(file, data); err != nil {
		return "", err
	}
	return file, nil
}

func writeFileAtomic(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// SourceDir returns the directory holding the kernel sources under the
// names the overlay gives them (zz_velocity_*), which is what the kernel's
// DWARF refers to: gdb finds kernel source there by file name.
func SourceDir() (string, error) {
	files, err := KernelFiles(Sources())
	if err != nil {
		return "", err
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	return WriteSources(cache, files)
}

// PrepareOverlay writes the kernel sources and an overlay file for goroot,
// merged with userOverlay if not empty, and returns the overlay's path.
func PrepareOverlay(goroot, userOverlay string, extra map[string]string) (string, error) {
	files, err := KernelFiles(Sources())
	if err != nil {
		return "", fmt.Errorf("reading kernel sources: %w", err)
	}
	if len(files) == 0 {
		return "", fmt.Errorf("no kernel sources (runtime/*.go, arch/amd64/*.s, kernel/gdbproto/*.go, ...) in this velocity build")
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	srcDir, err := WriteSources(cache, files)
	if err != nil {
		return "", fmt.Errorf("caching kernel sources: %w", err)
	}
	o := OverlayFor(goroot, srcDir, files)
	for k, v := range extra {
		o.Replace[k] = v
	}
	if userOverlay != "" {
		user, err := ReadOverlay(userOverlay)
		if err != nil {
			return "", err
		}
		o = o.Merge(user)
	}
	return WriteOverlay(srcDir, o)
}
