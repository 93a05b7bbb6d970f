// Package build turns Go main packages and test binaries into bootable
// Velocity kernel ELFs, and kernels into bootable ISO images.
//
// A kernel is an ordinary linux/amd64 Go build whose package runtime gets
// the Velocity kernel files added through go build -overlay and whose link
// puts the image at 16 MiB with the kernel's own entry point (see
// docs/boot-protocol.md).
package build

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tag is the build tag every kernel file carries.
const Tag = "velocity"

// LDFlags place the image at 16 MiB (-T is the text address; the ELF and
// program headers sit in the page below it) and enter the kernel at
// rt0Velocity instead of the Linux rt0.
const LDFlags = "-E runtime.rt0Velocity -T 0x1001000 -R 0x1000"

// GoCmd is the go command used for builds.
var GoCmd = "go"

// Env returns the environment for kernel builds: Velocity kernels are
// linux/amd64 binaries without cgo, whatever the host is.
func Env() []string {
	return append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
}

// GOROOT asks the go command that will do the build for its GOROOT, from
// dir, so a go.mod toolchain line that switches toolchains is honoured.
func GOROOT(dir string) (string, error) {
	cmd := exec.Command(GoCmd, "env", "GOROOT")
	cmd.Dir = dir
	cmd.Env = Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	goroot := strings.TrimSpace(string(out))
	if goroot == "" {
		return "", fmt.Errorf("go env GOROOT printed nothing")
	}
	return goroot, nil
}

// KernelArgs returns the go build/test flags that make a kernel out of the
// packages built, followed by userArgs, and the environment to run the go
// command with. The user's -ldflags, -tags and -overlay are merged with
// Velocity's rather than passed alongside, because the go command keeps
// only the last of each. When the packages use package net, the build
// links the network stack in (netroot.go); test says whether pkgs are
// built by go test.
func KernelArgs(dir string, userArgs []string, test bool, pkgs []string) (args, env []string, err error) {
	p := splitUserArgs(userArgs)
	goroot, err := GOROOT(dir)
	if err != nil {
		return nil, nil, err
	}
	env = Env()
	extra := map[string]string{}
	usesNet, mainDirs, first, listErr := netPlan(dir, p.tags, test, pkgs)
	if usesNet {
		if !test && listErr != nil {
			return nil, nil, listErr // no main package to add the import to
		}
		nr, err := prepareNetRoot(goroot)
		if err != nil {
			return nil, nil, err
		}
		origRoot := goroot
		goroot = nr.dir
		env = append(env, "GOROOT="+goroot, "GOTOOLCHAIN=local")
		for k, v := range nr.overlay {
			extra[k] = v
		}
		addNetImport(goroot, test, mainDirs, extra)
		if err := addFirstNetImport(nr, origRoot, first, extra); err != nil {
			return nil, nil, err
		}
		if p.rest, err = withKernelPGO(p.rest, mainDirs); err != nil {
			return nil, nil, err
		}
	}
	overlay, err := PrepareOverlay(goroot, p.overlay, extra)
	if err != nil {
		return nil, nil, err
	}
	args = []string{"-overlay=" + overlay, "-tags=" + mergeTags(p.tags)}
	args = append(args, mergeLDFlags(p.ldflags)...)
	return append(args, p.rest...), env, nil
}

// Build links package pkg (a main package) into the kernel ELF out.
// extraArgs are further go build flags.
func Build(pkg, out string, extraArgs []string) error {
	return run("build", pkg, out, extraArgs)
}

// BuildTest links the test binary of pkg into the kernel ELF out
// (go test -c), for booting a package's tests by hand.
func BuildTest(pkg, out string, extraArgs []string) error {
	return run("test", pkg, out, append([]string{"-c"}, extraArgs...))
}

// run runs go build or go test -c. A package given as a directory is
// built from inside that directory, so its own go.mod (even in another
// module, or outside the current one) decides how it builds.
func run(verb, pkg, out string, extraArgs []string) error {
	dir := ""
	if st, err := os.Stat(pkg); err == nil && st.IsDir() {
		var err error
		if out, err = filepath.Abs(out); err != nil {
			return err
		}
		dir, pkg = pkg, "."
	}
	kargs, env, err := KernelArgs(dir, extraArgs, verb == "test", []string{pkg})
	if err != nil {
		return err
	}
	args := append([]string{verb, "-o", out}, kargs...)
	cmd := exec.Command(GoCmd, append(args, pkg)...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		if dir != "" {
			pkg = dir
		}
		return fmt.Errorf("go %s %s: %w", verb, pkg, err)
	}
	return nil
}

// GoTestArgs returns the arguments for go (starting with "test") that run
// each package's test binary inside the unikernel through execCmd, a
// command line such as `"/path/to/velocity" exec`, and the environment to
// run it in.
func GoTestArgs(execCmd string, userArgs []string) (args, env []string, err error) {
	kargs, env, err := KernelArgs("", userArgs, true, testPackages(userArgs))
	if err != nil {
		return nil, nil, err
	}
	return append([]string{"test", "-exec=" + execCmd}, kargs...), env, nil
}

// ExecCommand quotes the velocity binary for go test -exec, whose value is
// split into words that may be wrapped in ” or "" (with no escapes).
func ExecCommand(self string) (string, error) {
	switch {
	case !strings.ContainsAny(self, " \t\n\r'\""):
		return self + " exec", nil
	case !strings.Contains(self, "'"):
		return "'" + self + "' exec", nil
	case !strings.Contains(self, `"`):
		return `"` + self + `" exec`, nil
	}
	return "", fmt.Errorf("cannot quote %q for go test -exec", self)
}

// userFlags are the go flags that Velocity must merge rather than override.
type userFlags struct {
	ldflags []string // each -ldflags value, in order
	tags    []string
	overlay string
	rest    []string
}

// splitUserArgs pulls -ldflags, -tags and -overlay (in -f=v, -f v, --f forms)
// out of go build/test arguments. Everything after -args belongs to the test
// binary and is left alone.
func splitUserArgs(args []string) userFlags {
	var p userFlags
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-args" || a == "--args" {
			p.rest = append(p.rest, args[i:]...)
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "ldflags" && name != "tags" && name != "overlay") {
			p.rest = append(p.rest, a)
			continue
		}
		if !hasValue && i+1 < len(args) {
			i++
			value = args[i]
		}
		switch name {
		case "ldflags":
			p.ldflags = append(p.ldflags, value)
		case "tags":
			p.tags = append(p.tags, value)
		case "overlay":
			p.overlay = value
		}
	}
	return p
}

// mergeTags puts velocity first; the go command accepts comma-separated tags
// (and, historically, space-separated ones).
func mergeTags(user []string) string {
	tags := []string{Tag}
	for _, t := range user {
		for _, f := range strings.FieldsFunc(t, func(r rune) bool { return r == ',' || r == ' ' }) {
			if f != Tag {
				tags = append(tags, f)
			}
		}
	}
	return strings.Join(tags, ",")
}

// mergeLDFlags prefixes every user -ldflags value with Velocity's flags. A
// value with a package pattern (pattern=flags) only applies to matching
// packages, so the plain Velocity flags are kept in front for the others.
func mergeLDFlags(user []string) []string {
	out := []string{"-ldflags=" + LDFlags}
	for _, v := range user {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if pattern, flags, ok := cutPattern(v); ok {
			out = append(out, "-ldflags="+pattern+"="+LDFlags+" "+flags)
			continue
		}
		out[0] = "-ldflags=" + LDFlags + " " + v
	}
	return out
}

// cutPattern mirrors cmd/go: a value not starting with '-' that contains
// '=' is pattern=flags.
func cutPattern(v string) (pattern, flags string, ok bool) {
	if strings.HasPrefix(v, "-") || strings.HasPrefix(v, "'") || strings.HasPrefix(v, `"`) {
		return "", "", false
	}
	return strings.Cut(v, "=")
}
