// Command kernelvet runs go vet on the kernel: the files of runtime/,
// arch/amd64/ and kernel/gdbproto/ that internal/build overlays into
// GOROOT's package runtime under the velocity tag. go vet ./... cannot see
// them (they are not a package of this module, and they only compile as
// part of package runtime), so this vets package runtime for
// linux/amd64 with the same overlay a kernel build uses.
//
// It fails on any report in a kernel file, printed with the path in this
// repository. Reports in the stock runtime's own files are printed and
// ignored: they are not ours to fix, and a Go release should not break
// make test. The unsafeptr check is off: the kernel turns addresses it
// manages (the direct map, kernel stacks, user memory) into pointers by
// design, memory the collector never sees, and the stock runtime does the
// same hundreds of times.
//
// Usage, from the repository root (make test does this):
//
//	go run ./internal/kernelvet
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/velocityos/velocity/internal/build"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kernelvet:", err)
		os.Exit(1)
	}
}

func run() error {
	if os.Getenv("VELOCITY_SRC") == "" {
		// Vet the sources in this checkout, not the copy embedded in
		// this program when it was built.
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(wd, "runtime", "vk_trap.go")); err != nil {
			return fmt.Errorf("run from the repository root: %v", err)
		}
		os.Setenv("VELOCITY_SRC", wd)
	}
	goroot, err := build.GOROOT("")
	if err != nil {
		return err
	}
	files, err := build.KernelFiles(build.Sources())
	if err != nil {
		return err
	}
	overlay, err := build.PrepareOverlay(goroot, "", nil)
	if err != nil {
		return err
	}
	cmd := exec.Command(build.GoCmd, "vet", "-unsafeptr=false", "-overlay="+overlay, "-tags=velocity", "runtime")
	cmd.Env = build.Env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	vetErr := cmd.Run()

	// Overlaid files are reported at their cached copy,
	// .../src-HASH/zz_velocity_<name>; say where they are in the repo.
	where := map[string]string{}
	for _, f := range files {
		where[f.Name] = f.Src
	}
	cached := regexp.MustCompile(`\S*/(zz_velocity_[^/:\s]+)`)
	ours := 0
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := cached.FindStringSubmatch(line)
		if m == nil {
			if strings.Contains(line, filepath.Join(goroot, "src")) {
				fmt.Println("stock runtime (ignored):", line)
				continue
			}
			fmt.Println(line) // not a report about a file: go vet itself failed
			ours++
			continue
		}
		src := where[m[1]]
		if src == "" {
			src = m[1]
		}
		fmt.Println(strings.Replace(line, m[0], src, 1))
		ours++
	}
	if ours > 0 {
		return fmt.Errorf("%d reports in the kernel's files", ours)
	}
	if vetErr != nil && out.Len() == 0 {
		return fmt.Errorf("go vet: %v", vetErr)
	}
	return nil
}
