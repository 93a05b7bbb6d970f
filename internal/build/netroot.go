package build

// Linking the network stack into every binary that uses package net.
//
// The stack (package netstack, over gVisor's netstack) cannot live in
// package runtime, and programs do not import it. Go links only what the
// main package imports, so the build adds one import: a file in the main
// package (for go build) or in testing/internal/testdeps, which every
// test main imports (for go test), importing the standard-library-path
// package velocity/netinit, which imports netstack.
//
// A package with a standard-library path may only import the standard
// library, or what GOROOT/src/vendor holds. So kernels that need the
// network build with a GOROOT of our own, netRoot: a tree of symbolic
// links to the real GOROOT in which src/vendor also holds netstack and
// its modules (gVisor, btree, x/sys/unix, x/time, x/exp, linked from the
// module cache at go.mod's versions) and src/velocity/netinit exists. The
// go command reads vendor directories from the disk rather than through
// -overlay, and runs the assembler inside a package's directory, which is
// why these are real directories rather than overlay entries. The build
// cache is unaffected: standard-library builds do not record GOROOT's path.
//
// One gVisor file carries //go:inline, which the compiler refuses in the
// standard library (vendored code compiles as such); an overlay entry
// gives the compiler a copy without those directives. Two more give
// package syscall the direct socket path's hook (netdirect.go), two make
// the stack's goroutines system goroutines (netgoroutines.go), and four
// give gVisor's TCP a delayed ACK (netdelack.go).

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// NetImport is the standard-library path of the package that links the
// network stack in.
const NetImport = "velocity/netinit"

// netModules are the modules netstack's build needs, with the part of each
// that goes into the vendor tree ("" = the whole module).
var netModules = []struct{ path, sub string }{
	{"gvisor.dev/gvisor", ""},
	{"github.com/google/btree", ""},
	{"golang.org/x/sys", "unix"}, // the standard library vendors x/sys/cpu itself
	{"golang.org/x/time", ""},
	{"golang.org/x/exp", ""},
	// The DHCP client's message codec (netstack/dhcp.go) and what it uses.
	{"github.com/insomniacslk/dhcp", ""},
	{"github.com/u-root/uio", ""},
	{"github.com/josharian/native", ""},
	{"github.com/pierrec/lz4/v4", ""},
}

const netstackPath = "github.com/velocityos/velocity/netstack"

// netPackages are the directories of this module that go into the vendor
// tree, as real directories of copies: netstack and the driver packages it
// imports (which must import only the standard library and each other).
var netPackages = []string{"netstack", "drivers/pci", "drivers/virtio"}

// requiredVersions reads the require directives of a go.mod.
func requiredVersions(gomod []byte) map[string]string {
	v := map[string]string{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "require (":
			in = true
			continue
		case in && line == ")":
			in = false
			continue
		case strings.HasPrefix(line, "require "):
			line = strings.TrimPrefix(line, "require ")
		case !in:
			continue
		}
		if f := strings.Fields(line); len(f) == 2 {
			v[f[0]] = f[1]
		}
	}
	return v
}

// moduleDir asks the go command for a module's directory in the module
// cache, downloading it if needed.
func moduleDir(mod, version string) (string, error) {
	cmd := exec.Command(GoCmd, "mod", "download", "-json", mod+"@"+version)
	cmd.Dir = os.TempDir() // outside any module: no go.mod to consult
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", mod, version, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %v", mod, version, err)
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: no directory", mod, version)
	}
	return info.Dir, nil
}

const (
	netImportMain = ".netimport_main.go"
	netImportTest = ".netimport_testdeps.go"
	// netImportFile is the name the import file gets in its package.
	netImportFile = "zz_velocity_net.go"
)

// netPlan asks go list, once, whether the packages (with their tests,
// for go test) use package net, which of them are main packages (for go
// build: the import file goes into their directories), and which
// packages must be initialised after the stack (first, below). When go
// list fails the answer is yes: the build will report the real error,
// and a kernel with the stack is never wrong; err says why no main
// package is known.
func netPlan(dir string, tags []string, test bool, pkgs []string) (uses bool, mainDirs []string, first []netPkg, err error) {
	// The last field is "net" when the package depends on package net.
	format := "{{.ImportPath}}\t{{.Name}}\t{{.DepOnly}}\t{{.Standard}}\t{{.Dir}}\t{{range .Deps}}{{if eq . \"net\"}}net{{end}}{{end}}"
	args := []string{"list", "-e", "-deps", "-tags=" + mergeTags(tags), "-f", format}
	if test {
		args = append(args, "-test")
	}
	cmd := exec.Command(GoCmd, append(args, pkgs...)...)
	cmd.Dir = dir
	cmd.Env = Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return true, nil, nil, fmt.Errorf("go list %s: %v: %s", strings.Join(pkgs, " "), err, strings.TrimSpace(stderr.String()))
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.SplitN(line, "\t", 6)
		if len(f) != 6 {
			continue
		}
		path, name, depOnly, std, pdir, usesNet := f[0], f[1], f[2] == "true", f[3] == "true", f[4], f[5] == "net"
		if path == "net" || strings.HasPrefix(path, "net [") {
			uses = true
		}
		if name == "main" && !depOnly {
			mainDirs = append(mainDirs, pdir)
		}
		// Not a generated test main ("p.test"), nor an external test
		// package ("p_test [p.test]"), whose files the directory shares
		// with p, nor go build's main packages, which have the file
		// already (addNetImport); a main package under test gets it
		// here.
		if pdir == "" || strings.HasSuffix(path, ".test") || strings.HasSuffix(name, "_test") || (name == "main" && !test) {
			continue
		}
		// A package under test (of the standard library too), or one
		// outside the standard library that may open a socket while it
		// initialises. A test variant ("p [p.test]", "q [p.test]") is its
		// package's directory again: the file goes there once.
		if (test && !depOnly) || (!std && usesNet) {
			base, _, _ := strings.Cut(path, " ")
			first = append(first, netPkg{path: base, name: name, dir: pdir})
		}
	}
	return uses, mainDirs, first, nil
}

// netPkg is a package whose initialisation must follow the stack's.
type netPkg struct{ path, name, dir string }

// addFirstNetImport makes each of the packages import NetImport too, so
// that the stack's package initialisation comes before theirs. Go
// initialises, among the packages whose imports are done, the one whose
// import path sorts first, and the stack's packages sort late
// (vendor/..., velocity/...): a package that opens a socket from a
// package-level variable or its init otherwise ran before the stack was
// attached and got EAFNOSUPPORT. net/http/pprof's tests start an
// httptest server so; a dependency of a program may dial or listen so.
// These packages are the ones go test tests (standard ones included)
// and every package outside the standard library that depends on net.
// Packages the stack itself imports (fmt, net, ...) would make a cycle
// and are left alone, as are Velocity's own stack packages, which the
// stack's GOROOT holds a vendored copy of.
//
// go list ran with the ordinary GOROOT (origRoot); a standard package's
// directory is moved to its place in the stack's GOROOT.
func addFirstNetImport(nr *netRoot, origRoot string, pkgs []netPkg, overlay map[string]string) error {
	if len(pkgs) == 0 {
		return nil
	}
	deps, err := nr.initDeps()
	if err != nil {
		return err
	}
	for _, p := range pkgs {
		if deps[p.path] || deps["vendor/"+p.path] || !token.IsIdentifier(p.name) {
			continue
		}
		file := filepath.Join(nr.dir, ".netimport_pkg_"+p.name+".go")
		if _, err := os.Stat(file); err != nil {
			src := "package " + p.name + "\n\n// Added by velocity: the network stack is initialised first.\nimport _ \"" + NetImport + "\"\n"
			if err := writeFileAtomic(file, []byte(src)); err != nil {
				return err
			}
		}
		dir := p.dir
		if rel, err := filepath.Rel(origRoot, dir); err == nil && !strings.HasPrefix(rel, "..") {
			dir = filepath.Join(nr.dir, rel)
		}
		overlay[filepath.Join(dir, netImportFile)] = file
	}
	return nil
}

// initDeps is the set of packages NetImport depends on (import paths as
// the net GOROOT names them), listed once and kept in the GOROOT.
func (nr *netRoot) initDeps() (map[string]bool, error) {
	cached := filepath.Join(nr.dir, ".netinit-deps")
	data, err := os.ReadFile(cached)
	if err != nil {
		cmd := exec.Command(GoCmd, "list", "-deps", NetImport)
		cmd.Dir = nr.dir
		cmd.Env = append(Env(), "GOROOT="+nr.dir, "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if data, err = cmd.Output(); err != nil {
			return nil, fmt.Errorf("go list -deps %s: %v: %s", NetImport, err, strings.TrimSpace(stderr.String()))
		}
		if err := writeFileAtomic(cached, data); err != nil {
			return nil, err
		}
	}
	deps := map[string]bool{}
	for _, l := range strings.Fields(string(data)) {
		deps[l] = true
	}
	return deps, nil
}

// addNetImport adds the file importing NetImport: to testdeps for go test,
// to the main packages for go build.
func addNetImport(goroot string, test bool, mainDirs []string, overlay map[string]string) {
	if test {
		overlay[filepath.Join(goroot, "src", "testing", "internal", "testdeps", netImportFile)] = filepath.Join(goroot, netImportTest)
		return
	}
	for _, d := range mainDirs {
		overlay[filepath.Join(d, netImportFile)] = filepath.Join(goroot, netImportMain)
	}
}

// testPackages picks the package arguments out of go test's arguments:
// the words that are neither flags nor the values of go test flags that
// take one. With none, go test tests the current directory.
func testPackages(args []string) []string {
	valued := map[string]bool{"run": true, "bench": true, "count": true, "timeout": true, "p": true,
		"cpu": true, "parallel": true, "o": true, "exec": true, "benchtime": true, "coverprofile": true,
		"cpuprofile": true, "memprofile": true, "blockprofile": true, "mutexprofile": true, "trace": true,
		"outputdir": true, "skip": true, "fuzz": true, "fuzztime": true, "fuzzminimizetime": true,
		"shuffle": true, "covermode": true, "coverpkg": true, "vet": true, "json": false, "mod": true,
		"modfile": true, "pkgdir": true, "gcflags": true, "asmflags": true, "ldflags": true, "tags": true,
		"toolexec": true, "overlay": true, "pgo": true, "C": true, "list": true, "benchmem": false}
	var pkgs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-args" || a == "--args" {
			break
		}
		if strings.HasPrefix(a, "-") {
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && valued[name] {
				i++
			}
			continue
		}
		pkgs = append(pkgs, a)
	}
	if len(pkgs) == 0 {
		pkgs = []string{"."}
	}
	return pkgs
}

// netRoot is a prepared GOROOT for network kernels.
type netRoot struct {
	dir     string            // the GOROOT to build with
	overlay map[string]string // overlay entries it needs (patched gVisor files)
}

// prepareNetRoot builds (once per GOROOT, netstack source and module set)
// the GOROOT tree described above and returns it.
func prepareNetRoot(goroot string) (*netRoot, error) {
	src := Sources()
	gomod, err := fs.ReadFile(src, "go.mod")
	if err != nil {
		return nil, fmt.Errorf("network stack: go.mod missing from the embedded sources: %w", err)
	}
	req := requiredVersions(gomod)
	h := sha256.New()
	fmt.Fprintf(h, "goroot %s\n", goroot)
	fmt.Fprintf(h, "syscall hook %d\n%s\n", len(syscallHookVersion()), syscallHookVersion())
	fmt.Fprintf(h, "gVisor patches %d\n%s\n", len(gvisorPatchVersion()), gvisorPatchVersion())
	fmt.Fprintf(h, "kernel goroutines %d\n%s\n", len(kernelGoroutinesVersion()), kernelGoroutinesVersion())
	mods := make([]string, len(netModules))
	for i, m := range netModules {
		v, ok := req[m.path]
		if !ok {
			return nil, fmt.Errorf("network stack: go.mod does not require %s", m.path)
		}
		mods[i] = v
		fmt.Fprintf(h, "%s %s\n", m.path, v)
	}
	stackFiles := map[string][]string{} // package directory → file names
	for _, dir := range netPackages {
		entries, err := fs.ReadDir(src, dir)
		if err != nil {
			return nil, fmt.Errorf("network stack sources: %w", err)
		}
		for _, e := range entries {
			if isKernelSource(e.Name()) && !e.IsDir() {
				stackFiles[dir] = append(stackFiles[dir], e.Name())
				data, err := fs.ReadFile(src, dir+"/"+e.Name())
				if err != nil {
					return nil, err
				}
				fmt.Fprintf(h, "%s/%s %d\n", dir, e.Name(), len(data))
				h.Write(data)
			}
		}
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "goroot-"+hex.EncodeToString(h.Sum(nil))[:16])
	manifest := filepath.Join(dir, ".velocity-overlay.json")
	if data, err := os.ReadFile(manifest); err == nil {
		nr := &netRoot{dir: dir}
		if err := json.Unmarshal(data, &nr.overlay); err == nil {
			return nr, nil
		}
	}

	// Build under a temporary name and rename, so concurrent builds never
	// see half a tree.
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(cache, ".goroot-tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := linkEntries(tmp, goroot, "src"); err != nil {
		return nil, err
	}
	srcDir := filepath.Join(tmp, "src")
	if err := linkEntries(srcDir, filepath.Join(goroot, "src"), "vendor"); err != nil {
		return nil, err
	}
	vendor := filepath.Join(srcDir, "vendor")
	if err := linkEntries(vendor, filepath.Join(goroot, "src", "vendor")); err != nil {
		return nil, err
	}
	overlay := map[string]string{}
	for i, m := range netModules {
		mdir, err := moduleDir(m.path, mods[i])
		if err != nil {
			return nil, fmt.Errorf("network stack: %w", err)
		}
		rel := m.path
		if m.sub != "" {
			mdir = filepath.Join(mdir, m.sub)
			rel = path.Join(rel, m.sub)
		}
		if err := linkInto(vendor, filepath.Join(goroot, "src", "vendor"), rel, mdir); err != nil {
			return nil, err
		}
		if m.path == "gvisor.dev/gvisor" {
			if err := patchInline(mdir, filepath.Join(dir, "src", "vendor", rel), filepath.Join(tmp, ".patched"), overlay); err != nil {
				return nil, err
			}
			if err := addGvisorPatches(mdir, filepath.Join(dir, "src", "vendor", rel), filepath.Join(tmp, ".patched"), overlay); err != nil {
				return nil, err
			}
		}
	}
	for _, sp := range []stdPatch{syscallHook, kernelGoroutines} {
		if err := sp.add(goroot, dir, filepath.Join(tmp, ".patched"), overlay); err != nil {
			return nil, err
		}
	}
	// netstack and its driver packages, as real directories of copies.
	modPath := strings.TrimSuffix(netstackPath, "/netstack")
	for _, dir := range netPackages {
		pkgDir := filepath.Join(vendor, filepath.FromSlash(modPath+"/"+dir))
		if err := os.MkdirAll(pkgDir, 0o755); err != nil {
			return nil, err
		}
		for _, name := range stackFiles[dir] {
			data, err := fs.ReadFile(src, dir+"/"+name)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(pkgDir, name), data, 0o644); err != nil {
				return nil, err
			}
		}
	}
	initDir := filepath.Join(srcDir, filepath.FromSlash(NetImport))
	if err := os.MkdirAll(initDir, 0o755); err != nil {
		return nil, err
	}
	initSrc := "// Package netinit links Velocity's network stack into a binary\n" +
		"// (generated by velocity; see internal/build/netroot.go).\n" +
		"package netinit\n\nimport _ \"" + netstackPath + "\"\n"
	if err := os.WriteFile(filepath.Join(initDir, "netinit.go"), []byte(initSrc), 0o644); err != nil {
		return nil, err
	}
	// The files the build adds to a main package or to testdeps.
	for name, pkg := range map[string]string{netImportMain: "main", netImportTest: "testdeps"} {
		src := "package " + pkg + "\n\n// Added by velocity: link the network stack in.\nimport _ \"" + NetImport + "\"\n"
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(src), 0o644); err != nil {
			return nil, err
		}
	}
	// Patched files moved with the tree: point the overlay at their final home.
	final := map[string]string{}
	for k, v := range overlay {
		final[k] = filepath.Join(dir, strings.TrimPrefix(v, tmp+string(filepath.Separator)))
	}
	data, err := json.Marshal(final)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".velocity-overlay.json"), data, 0o644); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(manifest); statErr == nil {
			return prepareNetRoot(goroot) // another build made it first
		}
		return nil, err
	}
	return &netRoot{dir: dir, overlay: final}, nil
}

// linkEntries fills dst with symbolic links to the entries of src, except
// those named in skip.
func linkEntries(dst, src string, skip ...string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
outer:
	for _, e := range entries {
		for _, s := range skip {
			if e.Name() == s {
				continue outer
			}
		}
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// linkInto makes vendor/rel a link to target, turning each link on the way
// that points into the real vendor tree (orig) into a directory of links,
// so entries already vendored beside it stay visible.
func linkInto(vendor, orig, rel, target string) error {
	parts := strings.Split(rel, "/")
	cur, o := vendor, orig
	for _, p := range parts[:len(parts)-1] {
		cur, o = filepath.Join(cur, p), filepath.Join(o, p)
		fi, err := os.Lstat(cur)
		switch {
		case os.IsNotExist(err):
			if err := os.Mkdir(cur, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case fi.Mode()&os.ModeSymlink != 0:
			if err := os.Remove(cur); err != nil {
				return err
			}
			if err := linkEntries(cur, o); err != nil {
				return err
			}
		}
	}
	leaf := filepath.Join(cur, parts[len(parts)-1])
	if _, err := os.Lstat(leaf); err == nil {
		return fmt.Errorf("network stack: %s is already in GOROOT's vendor tree", rel)
	}
	return os.Symlink(target, leaf)
}

// patchInline writes copies without //go:inline directives of the gVisor
// files that have them, and maps each (at its path in the final tree) to
// its copy in overlay.
func patchInline(modDir, finalDir, patchDir string, overlay map[string]string) error {
	return filepath.WalkDir(filepath.Join(modDir, "pkg"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte("//go:inline")) {
			return err
		}
		var out []string
		for _, line := range strings.SplitAfter(string(data), "\n") {
			if strings.TrimSpace(line) == "//go:inline" {
				line = "\n" // keep line numbers
			}
			out = append(out, line)
		}
		rel, err := filepath.Rel(modDir, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(patchDir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(strings.Join(out, "")), 0o644); err != nil {
			return err
		}
		overlay[filepath.Join(finalDir, rel)] = dst
		return nil
	})
}
