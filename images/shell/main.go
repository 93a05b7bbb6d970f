// Command shell boots into Velocity's console shell (kernel/shell) on the
// serial console, with the image's module pack loaded into the module
// table so that modules shows it. Build and boot it with
//
//	make run APP=./images/shell
//
// (make image puts build/modules.pack into the image), then type help.
// It runs on a Linux host too: go run ./images/shell -pack build/modules.pack.
//
// Usage: shell [-pack FILE]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/kernel/shell"
	"github.com/velocityos/velocity/lang/jit"
)

func main() {
	packFlag := flag.String("pack", "", "module pack to load (default: $VELOCITY_MODPACK, else the image's modules.pack)")
	flag.Parse()
	sh := &shell.Shell{In: os.Stdin, Out: os.Stdout}
	where := "a Linux host"
	if kernel.OnVelocity() {
		where = "Velocity"
	}
	fmt.Printf("shell: Velocity console shell on %s, %d CPUs; type help\n", where, runtime.NumCPU())
	if !jit.Supported() {
		fmt.Println("shell: no JIT here, so no module table")
	} else if path, err := shell.FindPack(*packFlag); err != nil {
		fmt.Println("shell: no module table:", err)
	} else if tab, hs, err := shell.LoadPack(path); err != nil {
		fmt.Println("shell: loading modules:", err)
	} else {
		defer func() {
			for _, h := range hs {
				h.Release()
			}
		}()
		sh.Modules, sh.ModulesFrom = tab, path
		fmt.Printf("shell: %d modules loaded from %s\n", len(tab.Entries()), path)
	}
	code := sh.Run()
	os.Exit(code)
}
