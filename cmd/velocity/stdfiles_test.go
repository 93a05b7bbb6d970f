package main

import (
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

func TestStdTestRoots(t *testing.T) {
	goroot := runtime.GOROOT()
	if !fileExists(filepath.Join(goroot, "src", "unicode")) {
		t.Skip("no GOROOT sources")
	}
	got := stdTestRoots(goroot, filepath.Join(goroot, "src", "path", "filepath"))
	if !slices.Equal(got, []string{filepath.Join(goroot, "src", "unicode")}) {
		t.Errorf("path/filepath: %q", got)
	}
	for _, wd := range []string{filepath.Join(goroot, "src"), filepath.Join(goroot, "src", "sort"), t.TempDir()} {
		if got := stdTestRoots(goroot, wd); got != nil {
			t.Errorf("%s: %q, want nothing", wd, got)
		}
	}
}
