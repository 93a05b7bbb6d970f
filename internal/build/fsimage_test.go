package build

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The archive must be newc, end with a trailer, be followed by the footer,
// and hold every file at its absolute path with its bytes intact.
func TestAttachFS(t *testing.T) {
	dir := t.TempDir()
	elf := filepath.Join(dir, "k.elf")
	os.WriteFile(elf, []byte("\x7fELF-not-really"), 0o755)
	root := filepath.Join(dir, "pkg")
	os.MkdirAll(filepath.Join(root, "testdata", "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "testdata", "a.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(root, "testdata", "sub", "b.bin"), bytes.Repeat([]byte{7}, 4099), 0o644)
	os.Symlink("a.txt", filepath.Join(root, "testdata", "link"))
	// A root that is a link to a directory: the tree it names goes in at
	// the link's path and at its own.
	other := filepath.Join(dir, "real", "std")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "c.go"), []byte("package std"), 0o644)
	linkRoot := filepath.Join(dir, "goroot", "std")
	os.MkdirAll(filepath.Dir(linkRoot), 0o755)
	os.Symlink(other, linkRoot)
	out := filepath.Join(dir, "k+fs.elf")
	if err := AttachFS(elf, out, []string{root, linkRoot}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if !bytes.HasPrefix(b, []byte("\x7fELF-not-really")) {
		t.Fatal("the ELF is not kept at the front")
	}
	foot := b[len(b)-16:]
	if string(foot[:8]) != FSMagic {
		t.Fatalf("footer %q", foot[:8])
	}
	n := binary.LittleEndian.Uint64(foot[8:])
	archive := b[len(b)-16-int(n) : len(b)-16]
	files := map[string]string{}
	modes := map[string]uint64{}
	for p := 0; ; {
		h := archive[p:]
		if string(h[:6]) != "070701" {
			t.Fatalf("bad magic at %d", p)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(v)
		}
		mode, size, nameSize := field(1), field(6), field(11)
		name := string(h[110 : 110+nameSize-1])
		data := (p + 110 + nameSize + 3) &^ 3
		if name == "TRAILER!!!" {
			break
		}
		files[name] = string(archive[data : data+size])
		modes[name] = uint64(mode)
		p = (data + size + 3) &^ 3
	}
	if files[filepath.Join(root, "testdata", "a.txt")] != "hello" {
		t.Fatalf("a.txt: %q", files[filepath.Join(root, "testdata", "a.txt")])
	}
	if got := files[filepath.Join(root, "testdata", "sub", "b.bin")]; len(got) != 4099 {
		t.Fatalf("b.bin has %d bytes", len(got))
	}
	if modes[filepath.Join(root, "testdata", "link")]&0o170000 != 0o120000 || files[filepath.Join(root, "testdata", "link")] != "a.txt" {
		t.Fatal("symlink not archived as a link")
	}
	if modes[linkRoot]&0o170000 != 0o040000 || files[filepath.Join(linkRoot, "c.go")] != "package std" || files[filepath.Join(other, "c.go")] != "package std" {
		t.Fatalf("a root that is a link: %o, its file %q, the target's %q", modes[linkRoot], files[filepath.Join(linkRoot, "c.go")], files[filepath.Join(other, "c.go")])
	}
	if modes[dir]&0o170000 != 0o040000 {
		t.Fatal("parent directories of the root are missing")
	}
}

func TestAttachFSRejectsMissingRoot(t *testing.T) {
	dir := t.TempDir()
	elf := filepath.Join(dir, "k.elf")
	os.WriteFile(elf, []byte("x"), 0o755)
	if err := AttachFS(elf, filepath.Join(dir, "o"), []string{filepath.Join(dir, "nope")}); err == nil {
		t.Fatal("a missing root was accepted")
	}
}
