package fuzzseeds

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w*)\(\w+ \*testing\.F\)`)

func TestEveryFuzzTargetHasSeeds(t *testing.T) {
	root := "../.."
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") ||
				path == filepath.Join(root, "build") { // make's output
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllSubmatch(data, -1) {
			found++
			dir := filepath.Join(filepath.Dir(path), "testdata", "fuzz", string(m[1]))
			ents, err := os.ReadDir(dir)
			if err != nil || len(ents) == 0 {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s: %s has no seed corpus in %s", rel, m[1], filepath.Join(filepath.Dir(rel), "testdata", "fuzz", string(m[1])))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 20 {
		t.Errorf("only %d fuzz targets found: the walk missed the repository", found)
	}
	t.Logf("%d fuzz targets, each with seeds", found)
}
