package testenv

import (
	"bytes"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/registry"
)

// ExampleModules are the modules of examples/modules in the order make
// modpack adds them: imports first (arith is imported by the others).
var ExampleModules = []string{"arith.vel", "stats.vel", "checksum.vel", "combo.vel"}

// ExamplePack builds the module pack of examples/modules (in dir) as make
// modpack does, every module a root, and writes it to path. roots are in
// ExampleModules' order, so roots[0] is arith.
func ExamplePack(dir, path string) (roots []cid.Cid, err error) {
	s := registry.NewMemStore()
	for _, name := range ExampleModules {
		src, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		c, _, err := registry.AddSource(s, name, src)
		if err != nil {
			return nil, err
		}
		roots = append(roots, c)
	}
	blocks, err := registry.Closure(s, roots...)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := registry.WritePack(&buf, s, blocks, roots); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return roots, os.WriteFile(path, buf.Bytes(), 0o644)
}
