package main

import (
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
)

// newFlagSet returns a flag set whose -h output shows the command's usage
// and the kernel command line grammar.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("velocity "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), commandUsage(name), "\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\n%s\n", build.CmdlineGrammar)
	}
	return fs
}

// parse parses args and reports whether to go on; status is the exit status
// otherwise (0 for -h).
func parse(fs *flag.FlagSet, args []string) (ok bool, status int) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return false, 0
		}
		return false, exitUsage
	}
	return true, 0
}

func cmdBuild(args []string) int {
	fs := newFlagSet("build")
	out := fs.String("o", "", "output kernel ELF (default: PKG's base name + .elf)")
	test := fs.Bool("test", false, "build PKG's test binary (go test -c) instead of a main package")
	if ok, st := parse(fs, args); !ok {
		return st
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return exitUsage
	}
	pkg, goFlags := fs.Arg(0), fs.Args()[1:]
	if *out == "" {
		*out = defaultName(pkg, ".elf")
	}
	buildFn := build.Build
	if *test {
		buildFn = build.BuildTest
	}
	if err := buildFn(pkg, *out, goFlags); err != nil {
		return fail("build", err)
	}
	return 0
}

// defaultName derives an output file name from a package path or file.
func defaultName(target, ext string) string {
	base := path.Base(filepath.ToSlash(filepath.Clean(target)))
	if base == "." || base == "/" || base == "..." {
		base = "kernel"
	}
	return strings.TrimSuffix(base, filepath.Ext(base)) + ext
}

func cmdImage(args []string) int {
	fs := newFlagSet("image")
	out := fs.String("o", "", "output ISO (default: base name + .iso)")
	appendLine := fs.String("append", "", "kernel command line stored in grub.cfg")
	stub := fs.String("stub", "", "prebuilt BOOT_ND.BIN (default: build it; also $"+build.StubEnv+")")
	var fsRoots stringList
	fs.Var(&fsRoots, "fs", "file or directory the image carries read-only behind the kernel ELF, at its host path (repeatable)")
	gfx := fs.String("gfx", "", "WxH: ask GRUB for a 32-bit graphics mode and pass its framebuffer to the kernel (default: serial-only, VGA text under BIOS)")
	if ok, st := parse(fs, args); !ok {
		return st
	}
	if *gfx != "" {
		if _, _, err := build.ParseGfx(*gfx); err != nil {
			return fail("image", err)
		}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	if *out == "" {
		*out = defaultName(fs.Arg(0), ".iso")
	}
	tmp, err := os.MkdirTemp("", "velocity-image-")
	if err != nil {
		return fail("image", err)
	}
	defer os.RemoveAll(tmp)
	kernel, err := kernelELF(fs.Arg(0), tmp)
	if err != nil {
		return fail("image", err)
	}
	if len(fsRoots) > 0 {
		withFS := filepath.Join(tmp, "kernel+fs.elf")
		if err := build.AttachFS(kernel, withFS, fsRoots); err != nil {
			return fail("image", err)
		}
		kernel = withFS
	}
	stubFile, err := stubPath(*stub)
	if err != nil {
		return fail("image", err)
	}
	if err := build.MakeISO(build.ISOConfig{Kernel: kernel, Stub: stubFile, Append: *appendLine, Out: *out, Gfx: *gfx}); err != nil {
		return fail("image", err)
	}
	return 0
}

// kernelELF returns target if it is a kernel ELF, or builds the package
// target into dir.
func kernelELF(target, dir string) (string, error) {
	if st, err := os.Stat(target); err == nil && !st.IsDir() {
		kind, err := qemu.Detect(target)
		if err != nil {
			return "", err
		}
		if kind != qemu.KindKernelELF {
			return "", fmt.Errorf("%s is not a 64-bit kernel ELF", target)
		}
		return target, nil
	}
	elf := filepath.Join(dir, "kernel.elf")
	return elf, build.Build(target, elf, nil)
}

func makeISO(kernel, stub, appendLine, out string) error {
	stub, err := stubPath(stub)
	if err != nil {
		return err
	}
	return build.MakeISO(build.ISOConfig{Kernel: kernel, Stub: stub, Append: appendLine, Out: out})
}

func stubPath(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	return build.Stub()
}
