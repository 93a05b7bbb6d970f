package main

import (
	"path/filepath"
	"strings"
)

// stdTestFiles lists what standard-library tests read from GOROOT beyond
// their own package directory and the testdata directories above it,
// which velocity exec packs into the guest's file system at the same
// paths. Keys are import paths; values are paths relative to GOROOT. Each
// entry names the test that reads it, so it can be dropped when the test
// changes. The list is kept short on purpose: the image is loaded into
// guest RAM whole (internal/build.MaxFSBytes).
var stdTestFiles = map[string][]string{
	"path/filepath": {"src/unicode"},                                     // TestBug3486 walks $GOROOT/src/unicode
	"go/parser":     {"src/go/printer"},                                  // performance_test.go reads ../printer/nodes.go
	"go/types":      {"src/cmd/compile/internal/types2", "src/go/types"}, // TestGenerate compares types2 with go/types
	"io/ioutil":     {"src/io"},                                          // TestReadDir lists .. and looks for io_test.go
}

// stdTestRoots returns the extra files for the standard-library package
// whose directory is wd, or nil if wd is not in GOROOT/src or needs none.
func stdTestRoots(goroot, wd string) []string {
	src := filepath.Join(goroot, "src")
	rel, err := filepath.Rel(src, wd)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return nil
	}
	var roots []string
	for _, p := range stdTestFiles[filepath.ToSlash(rel)] {
		full := filepath.Join(goroot, filepath.FromSlash(p))
		if !fileExists(full) {
			continue
		}
		roots = append(roots, full)
		// Velocity's GOROOT links to the installed one, and tests name
		// files under either (runtime.GOROOT() is the installed one).
		if real, err := filepath.EvalSymlinks(full); err == nil && real != full {
			roots = append(roots, real)
		}
	}
	return roots
}
