package build

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func testTree() fstest.MapFS {
	return fstest.MapFS{
		"runtime/vk_mem.go":           {Data: []byte("package runtime\n")},
		"runtime/vk_entry_amd64.s":    {Data: []byte("// asm\n")},
		"runtime/vk_mem_test.go":      {Data: []byte("package runtime\n")}, // tests stay out
		"runtime/README.md":           {Data: []byte("docs")},
		"runtime/.hidden.go":          {Data: []byte("x")},
		"runtime/sub/deep.go":         {Data: []byte("x")}, // subdirectories stay out
		"arch/amd64/cpu_amd64.s":      {Data: []byte("// cpu\n")},
		"arch/amd64/boot/boot.go":     {Data: []byte("package boot\n")},
		"arch/amd64/boot/BOOT_ND.BIN": {Data: []byte("bin")},
	}
}

func TestKernelFilesNamesAndFilter(t *testing.T) {
	files, err := KernelFiles(testTree())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"zz_velocity_arch_cpu_amd64.s": "arch/amd64/cpu_amd64.s",
		"zz_velocity_vk_entry_amd64.s": "runtime/vk_entry_amd64.s",
		"zz_velocity_vk_mem.go":        "runtime/vk_mem.go",
	}
	if len(files) != len(want) {
		t.Fatalf("got %d files %+v; want %v", len(files), files, want)
	}
	for i, f := range files {
		if want[f.Name] != f.Src {
			t.Errorf("file %s from %s; want from %q", f.Name, f.Src, want[f.Name])
		}
		if i > 0 && files[i-1].Name >= f.Name {
			t.Errorf("not sorted: %s before %s", files[i-1].Name, f.Name)
		}
	}
}

func TestKernelFilesToleratesMissingDirs(t *testing.T) {
	files, err := KernelFiles(fstest.MapFS{"runtime/a.go": {Data: []byte("package runtime")}})
	if err != nil || len(files) != 1 {
		t.Fatalf("got %v, %v; want one file and no error without arch/amd64", files, err)
	}
}

func TestWriteSourcesAndOverlay(t *testing.T) {
	cache := t.TempDir()
	files, _ := KernelFiles(testTree())
	dir, err := WriteSources(cache, files)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "src-"+contentHash(files) || len(contentHash(files)) != 64 {
		t.Errorf("source dir %s not named by the sha256 of the contents", dir)
	}
	again, err := WriteSources(cache, files)
	if err != nil || again != dir {
		t.Errorf("second write: %s, %v; want reuse of %s", again, err, dir)
	}
	files[0].Data = []byte("changed")
	if changed, _ := WriteSources(cache, files); changed == dir {
		t.Error("changed sources reused the old directory")
	}
	files, _ = KernelFiles(testTree())

	o := OverlayFor("/goroot", dir, files)
	file, err := WriteOverlay(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	var got struct{ Replace map[string]string }
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("overlay is not JSON: %v\n%s", err, data)
	}
	key := "/goroot/src/runtime/zz_velocity_arch_cpu_amd64.s"
	if got.Replace[key] != filepath.Join(dir, "zz_velocity_arch_cpu_amd64.s") || len(got.Replace) != 3 {
		t.Errorf("overlay %v lacks %s", got.Replace, key)
	}
	if body, _ := os.ReadFile(got.Replace[key]); string(body) != "// cpu\n" {
		t.Errorf("cached file content %q", body)
	}
}

func TestOverlayMergeKeepsKernelFiles(t *testing.T) {
	ours := Overlay{Replace: map[string]string{"/g/src/runtime/zz_velocity_a.go": "/c/a.go"}}
	user := Overlay{Replace: map[string]string{"/g/src/runtime/zz_velocity_a.go": "/evil.go", "/m/x.go": "/m/y.go"}}
	m := ours.Merge(user)
	if m.Replace["/g/src/runtime/zz_velocity_a.go"] != "/c/a.go" || m.Replace["/m/x.go"] != "/m/y.go" {
		t.Errorf("merge = %v", m.Replace)
	}
}

func TestEmbeddedSourcesAreKernelFiles(t *testing.T) {
	files, err := KernelFiles(Sources())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Ext(f.Name) != ".go" && filepath.Ext(f.Name) != ".s" {
			t.Errorf("embedded non-source file %s", f.Src)
		}
	}
}

func TestRewritePackage(t *testing.T) {
	src := "// Package gdbproto is the packet layer.\n/* block\npackage not */\npackage gdbproto // trailing\r\n\nconst gdbX = 1\n// package gdbproto in a comment stays\n"
	got, err := RewritePackage([]byte(src), "gdbproto", "runtime")
	if err != nil {
		t.Fatal(err)
	}
	want := "// Package gdbproto is the packet layer.\n/* block\npackage not */\npackage runtime // trailing\r\n\nconst gdbX = 1\n// package gdbproto in a comment stays\n"
	if string(got) != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"package other\n", "// only a comment\n", "const x = 1\n"} {
		if _, err := RewritePackage([]byte(bad), "gdbproto", "runtime"); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestKernelFilesRewriteSharedPackages(t *testing.T) {
	tree := fstest.MapFS{
		"kernel/gdbproto/packet.go":      {Data: []byte("// Package gdbproto x.\npackage gdbproto\n\nfunc gdbF() {}\n")},
		"kernel/gdbproto/packet_test.go": {Data: []byte("package gdbproto\n")},
		"kernel/gdbproto/README.md":      {Data: []byte("docs")},
	}
	files, err := KernelFiles(tree)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name != "zz_velocity_gdbproto_packet.go" || files[0].Src != "kernel/gdbproto/packet.go" {
		t.Fatalf("files %+v", files)
	}
	if want := "// Package gdbproto x.\npackage runtime\n\nfunc gdbF() {}\n"; string(files[0].Data) != want {
		t.Errorf("rewritten to %q, want %q", files[0].Data, want)
	}
	bad := fstest.MapFS{"kernel/gdbproto/x.go": {Data: []byte("package other\n")}}
	if _, err := KernelFiles(bad); err == nil {
		t.Error("a file of another package was accepted")
	}
}

func TestEmbeddedGdbprotoIsRuntime(t *testing.T) {
	files, err := KernelFiles(Sources())
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"gdbproto", "cmdline", "cpio", "pathwalk", "procpath", "cmsg", "ksyms"} {
		n := 0
		for _, f := range files {
			if !strings.HasPrefix(f.Name, "zz_velocity_"+pkg+"_") {
				continue
			}
			n++
			if d := "\n" + string(f.Data); !strings.Contains(d, "\npackage runtime\n") || strings.Contains(d, "\npackage "+pkg) {
				t.Errorf("%s is not rewritten to package runtime", f.Name)
			}
		}
		if n == 0 {
			t.Errorf("kernel/%s is not in the embedded kernel sources", pkg)
		}
	}
}
