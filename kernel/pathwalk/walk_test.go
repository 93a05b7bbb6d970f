package pathwalk

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// fakeFS is a file system for tests: a clean path (no leading '/') maps to
// "d" (directory), "f" (file) or "l:TARGET" (symbolic link). A path that
// is a prefix of an entry is an implicit directory, as in the kernel's
// image archive; "" is the root.
type fakeFS map[string]string

// cur is the file system the lookup callback reads: a top-level function
// (no closure), as the kernel passes its own.
var cur fakeFS

// badLook records a path the walker asked about that was not clean.
var badLook string

func fakeLook(path, link []byte) (int, int) {
	p := string(path)
	if !isClean(p) && badLook == "" {
		badLook = p
	}
	if p == "" {
		return pwDir, 0
	}
	v, ok := cur[p]
	switch {
	case ok && v == "d":
		return pwDir, 0
	case ok && v == "f":
		return pwOther, 0
	case ok && strings.HasPrefix(v, "l:"):
		return pwLink, copy(link, v[2:])
	}
	for k := range cur {
		if strings.HasPrefix(k, p+"/") {
			return pwDir, 0
		}
	}
	return pwMissing, 0
}

// isClean: what the walker hands out and asks about has no leading or
// trailing '/', no empty, "." or ".." component.
func isClean(p string) bool {
	if p == "" {
		return true
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}

// refWalk is the reference the walker is checked against: the same rules
// written the plain way, with a queue of component strings.
func refWalk(fs fakeFS, dir, name string, mode int) (string, int) {
	p, e, _, _ := refWalk2(fs, dir, name, mode)
	return p, e
}

// refWalk2 also returns what pwWalk leaves in pwSlash and pwDots.
func refWalk2(fs fakeFS, dir, name string, mode int) (string, int, bool, int) {
	r, e, sl, d := refWalk3(fs, dir, name, mode)
	if e != 0 {
		return "", e, false, 0
	}
	return r, 0, sl, d
}

func refWalk3(fs fakeFS, dir, name string, mode int) (res string, errno int, slash bool, dots int) {
	if name == "" {
		return "", pwENOENT, false, 0
	}
	if len(name) >= pwPathMax {
		return "", pwENAMETOOLONG, false, 0
	}
	for _, c := range strings.Split(name, "/") {
		if len(c) > pwNameMax {
			return "", pwENAMETOOLONG, false, 0
		}
	}
	comps := func(s string) []string {
		var r []string
		for _, c := range strings.Split(s, "/") {
			if c != "" {
				r = append(r, c)
			}
		}
		return r
	}
	var at []string
	if !strings.HasPrefix(name, "/") {
		for _, c := range comps(dir) {
			switch c {
			case ".":
			case "..":
				if len(at) > 0 {
					at = at[:len(at)-1]
				}
			default:
				at = append(at, c)
			}
		}
	}
	queue := comps(name)
	trailing := strings.HasSuffix(name, "/")
	links := 0
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		last := len(queue) == 0
		if last {
			dots, slash = 0, trailing
		}
		switch c {
		case ".":
			if last {
				dots = 1
			}
			continue
		case "..":
			if len(at) > 0 {
				at = at[:len(at)-1]
			}
			if last {
				dots = 2
			}
			continue
		}
		if len(c) > pwNameMax {
			return "", pwENAMETOOLONG, false, 0
		}
		at = append(at, c)
		p := strings.Join(at, "/")
		if len(p) >= pwResolvedMax {
			return "", pwENAMETOOLONG, false, 0
		}
		if last && (mode == pwParent || mode == pwNofollow && !trailing) {
			break
		}
		v := fs[p]
		kind := pwMissing
		switch {
		case v == "d":
			kind = pwDir
		case v == "f":
			kind = pwOther
		case strings.HasPrefix(v, "l:"):
			kind = pwLink
		default:
			for k := range fs {
				if strings.HasPrefix(k, p+"/") {
					kind = pwDir
				}
			}
		}
		if kind == pwLink {
			links++
			if links > pwMaxLinks {
				return "", pwELOOP, false, 0
			}
			target := v[2:]
			if target == "" {
				return "", pwENOENT, false, 0
			}
			at = at[:len(at)-1]
			if strings.HasPrefix(target, "/") {
				at = nil
			}
			if last {
				trailing = trailing || strings.HasSuffix(target, "/")
			}
			queue = append(comps(target), queue...)
			continue
		}
		if !last || trailing {
			if kind == pwOther {
				return "", pwENOTDIR, false, 0
			}
			if kind == pwMissing && !last {
				return "", pwENOENT, false, 0
			}
		}
	}
	return strings.Join(at, "/"), 0, slash, dots
}

var testFS = fakeFS{
	"usr/lib/go/src/os/testdata/x": "f",
	"etc":                          "d",
	"etc/hosts":                    "f",
	"tmp":                          "d",
	"tmp/d":                        "d",
	"tmp/f":                        "f",
	"tmp/abs":                      "l:/etc",
	"tmp/rel":                      "l:d",
	"tmp/up":                       "l:../etc/hosts",
	"tmp/tofile":                   "l:f",
	"tmp/tofileslash":              "l:f/",
	"tmp/dangling":                 "l:nowhere",
	"tmp/empty":                    "l:",
	"tmp/loop":                     "l:loop",
	"tmp/a":                        "l:b",
	"tmp/b":                        "l:a",
	"tmp/chain":                    "l:rel/../abs",
	"tmp/root":                     "l:/",
	"tmp/dangslash":                "l:newdir/",
}

func TestWalk(t *testing.T) {
	cur = testFS
	cases := []struct {
		dir, name string
		follow    bool
		want      string
		errno     int
	}{
		{"/", "/etc/hosts", true, "etc/hosts", 0},
		{"/", "etc//hosts/", true, "", pwENOTDIR},
		{"/", "etc/hosts/.", true, "", pwENOTDIR},
		{"/", "etc/hosts/..", true, "", pwENOTDIR},
		{"/", "nowhere/..", true, "", pwENOENT},
		{"/", "nowhere/x", true, "", pwENOENT},
		{"/", "nowhere", true, "nowhere", 0}, // a new name: the caller decides
		{"/", "nowhere/", true, "nowhere", 0},
		{"/", "", true, "", pwENOENT},
		{"/", "..", true, "", 0},
		{"/", "/../../etc", true, "etc", 0},
		{"usr/lib/go/src/os", "testdata/x", true, "usr/lib/go/src/os/testdata/x", 0},
		{"/usr/lib/go/src/os/", "../../../..", true, "usr", 0},
		{"tmp", "abs/hosts", false, "etc/hosts", 0},
		{"tmp", "abs", true, "etc", 0},
		{"tmp", "abs", false, "tmp/abs", 0},
		{"tmp", "abs/", false, "etc", 0}, // a trailing slash follows
		{"tmp", "rel/..", true, "tmp", 0},
		{"tmp", "abs/..", true, "", 0}, // ".." leaves the target, not the link
		{"tmp", "up", true, "etc/hosts", 0},
		{"tmp", "tofile", true, "tmp/f", 0},
		{"tmp", "tofile/", true, "", pwENOTDIR},
		{"tmp", "tofileslash", true, "", pwENOTDIR},
		{"tmp", "tofileslash", false, "tmp/tofileslash", 0},
		{"tmp", "dangling", true, "tmp/nowhere", 0},
		{"tmp", "dangling/x", true, "", pwENOENT},
		{"tmp", "empty", true, "", pwENOENT},
		{"tmp", "empty", false, "tmp/empty", 0},
		{"tmp", "loop", true, "", pwELOOP},
		{"tmp", "a/x", false, "", pwELOOP},
		{"tmp", "loop", false, "tmp/loop", 0},
		{"tmp", "chain/hosts", true, "etc/hosts", 0},
		{"tmp", "root/tmp/root/etc", true, "etc", 0},
		{"/", strings.Repeat("a", 256), true, "", pwENAMETOOLONG},
		{"/", strings.Repeat("a/", 2048), true, "", pwENAMETOOLONG},
	}
	var w pwWalker
	for _, c := range cases {
		mode := pwNofollow
		if c.follow {
			mode = pwFollow
		}
		got, e := w.pwWalk([]byte(c.dir), []byte(c.name), mode, fakeLook)
		if e != c.errno || e == 0 && string(got) != c.want {
			t.Errorf("walk(%q, %q, follow=%v) = %q, %d; want %q, %d", c.dir, c.name, c.follow, got, e, c.want, c.errno)
		}
		rp, re := refWalk(cur, c.dir, c.name, mode)
		if re != c.errno || re == 0 && rp != c.want {
			t.Errorf("reference walk(%q, %q, follow=%v) = %q, %d; want %q, %d", c.dir, c.name, c.follow, rp, re, c.want, c.errno)
		}
	}
	if badLook != "" {
		t.Errorf("lookup asked about an unclean path %q", badLook)
	}
	// Names to be made or removed: the last is never followed, and the
	// walker says whether it ended in '/' or was "." or "..".
	for _, c := range []struct {
		name  string
		want  string
		slash bool
		dots  int
	}{
		{"tmp/abs/", "tmp/abs", true, 0},
		{"tmp/rel/x/", "tmp/d/x", true, 0},
		{"tmp/d/.", "tmp/d", false, 1},
		{"tmp/d/../", "tmp", true, 2},
		{"tmp/tofileslash", "tmp/tofileslash", false, 0},
	} {
		got, e := w.pwWalk(nil, []byte(c.name), pwParent, fakeLook)
		if e != 0 || string(got) != c.want || w.pwSlash != c.slash || w.pwDots != c.dots {
			t.Errorf("walk(%q, pwParent) = %q, %d, slash %v, dots %d; want %q, slash %v, dots %d", c.name, got, e, w.pwSlash, w.pwDots, c.want, c.slash, c.dots)
		}
	}
	// Following a link whose target ends in '/' asks for a directory.
	if got, e := w.pwWalk([]byte("tmp"), []byte("dangslash"), pwFollow, fakeLook); e != 0 || string(got) != "tmp/newdir" || !w.pwSlash {
		t.Errorf("dangslash: %q, %d, slash %v; want tmp/newdir, slash", got, e, w.pwSlash)
	}
}

func TestClean(t *testing.T) {
	var w pwWalker
	for _, c := range []struct{ dir, name, want string }{
		{"", "/a/b/../c/./d/", "a/c/d"},
		{"/x/y", "../z", "x/z"},
		{"/x/y", "/", ""},
		{"", "../../..", ""},
		{"x", "", "x"},
	} {
		got, ok := w.pwClean([]byte(c.dir), []byte(c.name))
		if !ok || string(got) != c.want {
			t.Errorf("clean(%q, %q) = %q, %v; want %q", c.dir, c.name, got, ok, c.want)
		}
	}
	// A resolved path may pass PATH_MAX (a deep working directory), up to
	// pwResolvedMax.
	if got, ok := w.pwClean(nil, []byte(strings.Repeat("/abcdefgh", 600))); !ok || len(got) != 5399 {
		t.Errorf("clean of a 5400-byte path: %d bytes, %v; want 5399, true", len(got), ok)
	}
	if _, ok := w.pwClean(nil, []byte(strings.Repeat("/abcdefgh", 2000))); ok {
		t.Error("clean of an 18000-byte path fitted in pwResolvedMax")
	}
}

// TestWalkDeep: a short name relative to a directory deeper than PATH_MAX
// resolves, as on Linux; the name itself is still bounded by PATH_MAX.
func TestWalkDeep(t *testing.T) {
	fs := fakeFS{}
	dir := ""
	for i := 0; i < 30; i++ { // 30 * 201 bytes
		if dir != "" {
			dir += "/"
		}
		dir += strings.Repeat("d", 200)
		fs[dir] = "d"
	}
	fs[dir+"/f"] = "f"
	cur = fs
	var w pwWalker
	got, e := w.pwWalk([]byte(dir), []byte("f"), pwFollow, fakeLook)
	if e != 0 || string(got) != dir+"/f" {
		t.Fatalf("walk of f in a %d-byte directory: %d bytes, errno %d", len(dir), len(got), e)
	}
	if r, re := refWalk(fs, dir, "f", pwFollow); re != 0 || r != dir+"/f" {
		t.Fatalf("the reference disagrees: %d bytes, errno %d", len(r), re)
	}
	if _, e := w.pwWalk([]byte(dir), []byte(strings.Repeat("x/", 2048)), pwFollow, fakeLook); e != pwENAMETOOLONG {
		t.Fatalf("a 4096-byte name: errno %d, want ENAMETOOLONG", e)
	}
}

// tableLook is a lookup that allocates nothing itself, so that
// TestWalkNoAlloc counts only the walker's allocations.
func tableLook(path, link []byte) (int, int) {
	for _, e := range [...]struct {
		name   string
		kind   int
		target string
	}{{"", pwDir, ""}, {"tmp", pwDir, ""}, {"etc", pwDir, ""}, {"tmp/d", pwDir, ""}, {"etc/hosts", pwOther, ""},
		{"tmp/abs", pwLink, "/etc"}, {"tmp/rel", pwLink, "d"}, {"tmp/chain", pwLink, "rel/../abs"}} {
		if string(path) == e.name {
			return e.kind, copy(link, e.target)
		}
	}
	return pwMissing, 0
}

// TestWalkNoAlloc: the kernel runs this in trap context.
func TestWalkNoAlloc(t *testing.T) {
	var w pwWalker
	dir, name := []byte("tmp"), []byte("chain/../tmp/rel/.//")
	if got, e := w.pwWalk(dir, name, pwFollow, tableLook); e != 0 || string(got) != "tmp/d" {
		t.Fatalf("walk = %q, %d; want tmp/d", got, e)
	}
	if n := testing.AllocsPerRun(100, func() {
		w.pwWalk(dir, name, pwFollow, tableLook)
		w.pwClean(dir, name)
		pwCheckNames(name)
	}); n != 0 {
		t.Errorf("%v allocations per walk, want 0", n)
	}
}

// TestWalkAgainstLinux resolves names in a real directory tree on the
// host, with openat2(RESOLVE_IN_ROOT) making that directory the root
// (".." stops there, absolute links start there), and checks that the
// walker finds the same file or the same error.
func TestWalkAgainstLinux(t *testing.T) {
	if _, errno := openat2(-100, ".", oPath); errno == syscall.ENOSYS {
		t.Skip("openat2 not available on this host")
	}
	root := t.TempDir()
	fs := fakeFS{}
	for name, v := range testFS {
		fs[name] = v
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range fs {
			if !yield(k) {
				return
			}
		}
	}) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		v := fs[name]
		var err error
		switch {
		case v == "d":
			err = os.MkdirAll(p, 0o755)
		case v == "f":
			err = os.WriteFile(p, nil, 0o644)
		case v == "l:":
			delete(fs, name) // Linux refuses to create an empty link
			continue
		default:
			err = os.Symlink(v[2:], p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	cur = fs
	rootFD, err := syscall.Open(root, oPath|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(rootFD)
	names := []string{
		"etc/hosts", "etc/hosts/", "etc/hosts/.", "nowhere/..", "nowhere/x", "..", "/../../etc",
		"tmp/abs/hosts", "tmp/abs", "tmp/abs/", "tmp/rel/..", "tmp/abs/..", "tmp/up", "tmp/tofile",
		"tmp/tofile/", "tmp/tofileslash", "tmp/dangling/x", "tmp/loop", "tmp/a/x", "tmp/chain/hosts",
		"tmp/root/tmp/root/etc", "usr/lib/go/src/os/testdata/../../../../../..", "tmp/d/../f", "tmp/f/../d",
	}
	var w pwWalker
	for _, name := range names {
		for _, follow := range []bool{true, false} {
			flags := uint64(oPath)
			if !follow {
				flags |= syscall.O_NOFOLLOW
			}
			fd, errno := openat2(rootFD, name, flags)
			mode := pwNofollow
			if follow {
				mode = pwFollow
			}
			got, e := w.pwWalk(nil, []byte(name), mode, fakeLook)
			if errno != 0 {
				if e != int(errno) {
					t.Errorf("%q follow=%v: Linux says %v, walker %q, %d", name, follow, errno, got, e)
				}
				continue
			}
			var want syscall.Stat_t
			syscall.Fstat(fd, &want)
			syscall.Close(fd)
			if e != 0 {
				t.Errorf("%q follow=%v: Linux opens it, walker says errno %d", name, follow, e)
				continue
			}
			var st syscall.Stat_t
			if err := syscall.Lstat(filepath.Join(root, string(got)), &st); err != nil || st.Ino != want.Ino || st.Dev != want.Dev {
				t.Errorf("%q follow=%v: walker found %q, not what Linux opened (%v)", name, follow, got, err)
			}
		}
	}
}

const oPath = 0x200000 // O_PATH, which package syscall does not name on amd64

// openat2 with RESOLVE_IN_ROOT; errno 0 and a file descriptor on success.
func openat2(dirfd int, name string, flags uint64) (int, syscall.Errno) {
	const sysOpenat2, resolveInRoot = 437, 0x10
	how := struct{ flags, mode, resolve uint64 }{flags, 0, resolveInRoot}
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return -1, syscall.EINVAL
	}
	fd, _, errno := syscall.Syscall6(sysOpenat2, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&how)), 24, 0, 0)
	if errors.Is(errno, syscall.ENOSYS) {
		return -1, errno
	}
	return int(fd), errno
}

// FuzzWalk checks the walker against refWalk on a small file system, a
// directory and a name built from the input, and that nothing unclean is
// ever looked up or returned. The file system is one entry per line:
// "d NAME", "f NAME" or "l NAME TARGET".
func FuzzWalk(f *testing.F) {
	f.Add("d tmp\nl tmp/a ../etc\nf etc/hosts\n", "tmp", "a/hosts", true)
	f.Add("l x x\n", "/", "x/y", false)
	f.Add("l l1 /d/\nd d\nf d/f\n", "", "l1/f/", true)
	f.Add("f a\n", "a/b", "../a/", true)
	f.Fuzz(func(t *testing.T, spec, dir, name string, follow bool) {
		// The name's length picks the third mode too, so the corpus
		// format stays as it was.
		mode := pwNofollow
		if follow {
			mode = pwFollow
		}
		if len(name)%3 == 2 {
			mode = pwParent
		}
		fs := fakeFS{}
		for _, l := range strings.Split(spec, "\n") {
			fields := strings.SplitN(l, " ", 3)
			if len(fields) < 2 || !isClean(fields[1]) || fields[1] == "" || len(fields[1]) > 200 {
				continue
			}
			switch {
			case fields[0] == "d" || fields[0] == "f":
				fs[fields[1]] = fields[0]
			case fields[0] == "l" && len(fields) == 3 && len(fields[2]) <= 64:
				fs[fields[1]] = "l:" + fields[2]
			}
		}
		if len(name) > 1000 || len(dir) > 1000 || strings.ContainsRune(name, 0) {
			return // longer names could overflow the walk buffer first, which refWalk does not model
		}
		cur, badLook = fs, ""
		var w pwWalker
		got, e := w.pwWalk([]byte(dir), []byte(name), mode, fakeLook)
		want, we, slash, dots := refWalk2(fs, dir, name, mode)
		if e != we || e == 0 && (string(got) != want || w.pwSlash != slash || w.pwDots != dots) {
			t.Fatalf("walk(%q, %q, %d) = %q, %d, slash %v, dots %d; reference %q, %d, slash %v, dots %d", dir, name, mode, got, e, w.pwSlash, w.pwDots, want, we, slash, dots)
		}
		if badLook != "" {
			t.Fatalf("looked up unclean %q", badLook)
		}
		if e == 0 && !isClean(string(got)) {
			t.Fatalf("unclean result %q", got)
		}
	})
}
