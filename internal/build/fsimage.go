package build

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// FSMagic ends a kernel ELF that carries a file system: the ELF, then a
// newc cpio archive, then FSMagic and the archive's length (u64, little
// endian). BOOT_ND.BIN loads the whole file, so the kernel finds the
// archive in memory behind its own image (runtime/vk_fs.go).
const FSMagic = "VELOFS01"

// MaxFSBytes bounds the archive: it is loaded into guest RAM whole.
const MaxFSBytes = 256 << 20

// AttachFS writes to out the kernel ELF elf followed by an archive of the
// files under roots (files or directories, taken recursively), each at its
// absolute host path, so that relative paths work inside the guest once its
// working directory is set to the same directory (kernel option cwd=).
func AttachFS(elf, out string, roots []string) error {
	type entry struct {
		path string
		info fs.FileInfo
	}
	var entries []entry
	seen := map[string]bool{}
	var total int64
	add := func(p string, info fs.FileInfo) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		if info.Mode().IsRegular() {
			total += info.Size()
			if total > MaxFSBytes {
				return fmt.Errorf("file system: more than %d MiB under %v", MaxFSBytes>>20, roots)
			}
		}
		entries = append(entries, entry{p, info})
		return nil
	}
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		root := queue[0]
		queue = queue[1:]
		abs, err := filepath.Abs(root)
		if err != nil {
			return err
		}
		// A root that is a symbolic link to a directory (go test runs a
		// standard-library test in $GOROOT/src/PKG, which Velocity's
		// GOROOT links to the real one) goes in as a directory holding
		// what the link names, at the link's path, and what it names goes
		// in at its own path too, since tests see both (os.Getwd, and
		// runtime.GOROOT()).
		walkRoot := abs
		if li, err := os.Lstat(abs); err == nil && li.Mode()&fs.ModeSymlink != 0 {
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				if ri, err := os.Stat(real); err == nil && ri.IsDir() {
					walkRoot = abs + string(filepath.Separator) // Walk follows a root that ends in '/'
				}
				if !seen[real] {
					queue = append(queue, real)
				}
			}
		}
		// The directories above a root exist too, so that walking up works.
		for d := filepath.Dir(abs); d != "/"; d = filepath.Dir(d) {
			if info, err := os.Stat(d); err == nil {
				if err := add(d, info); err != nil {
					return err
				}
			}
		}
		err = filepath.Walk(walkRoot, func(p string, info fs.FileInfo, err error) error {
			if err != nil {
				return err
			}
			p = filepath.Clean(p)
			if info.IsDir() && info.Name() == ".git" {
				return filepath.SkipDir
			}
			if !info.Mode().IsRegular() && !info.IsDir() && info.Mode()&fs.ModeSymlink == 0 {
				return nil // devices, sockets and pipes stay on the host
			}
			return add(p, info)
		})
		if err != nil {
			return fmt.Errorf("file system: %w", err)
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].path < entries[j].path })

	tmp, err := os.CreateTemp(filepath.Dir(out), ".velocity-fs-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	src, err := os.Open(elf)
	if err != nil {
		return err
	}
	defer src.Close()
	n, err := io.Copy(tmp, src)
	if err != nil {
		return err
	}
	// Start the archive on a 16-byte boundary, so its own 4-byte padding
	// is also aligned in memory.
	w := bufio.NewWriter(tmp)
	if r := n % 16; r != 0 {
		if _, err := w.Write(make([]byte, 16-r)); err != nil {
			return err
		}
	}
	cw := &cpioWriter{w: w}
	for i, e := range entries {
		if err := cw.add(e.path, e.info, uint32(i+1)); err != nil {
			return err
		}
	}
	if err := cw.trailer(); err != nil {
		return err
	}
	var foot [16]byte
	copy(foot[:], FSMagic)
	binary.LittleEndian.PutUint64(foot[8:], uint64(cw.n))
	if _, err := w.Write(foot[:]); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// cpioWriter writes the newc ("070701") format, the one Linux initramfs uses.
type cpioWriter struct {
	w io.Writer
	n int64
}

func (c *cpioWriter) write(b []byte) error {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return err
}

func (c *cpioWriter) pad() error {
	if r := c.n % 4; r != 0 {
		return c.write(make([]byte, 4-r))
	}
	return nil
}

func (c *cpioWriter) header(name string, mode uint32, size int64, mtime int64, ino uint32) error {
	h := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, 1, uint32(mtime), uint32(size), 0, 0, 0, 0, len(name)+1, 0)
	if err := c.write([]byte(h)); err != nil {
		return err
	}
	if err := c.write(append([]byte(name), 0)); err != nil {
		return err
	}
	return c.pad()
}

func (c *cpioWriter) add(path string, info fs.FileInfo, ino uint32) error {
	perm := uint32(info.Mode().Perm())
	mtime := info.ModTime().Unix()
	switch {
	case info.IsDir():
		return c.header(path, 0o040000|perm, 0, mtime, ino)
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		if err := c.header(path, 0o120000|0o777, int64(len(target)), mtime, ino); err != nil {
			return err
		}
		if err := c.write([]byte(target)); err != nil {
			return err
		}
		return c.pad()
	case info.Mode().IsRegular():
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := c.header(path, 0o100000|perm, info.Size(), mtime, ino); err != nil {
			return err
		}
		n, err := io.Copy(c.w, f)
		c.n += n
		if err != nil {
			return err
		}
		if n != info.Size() {
			return errors.New("file system: " + path + " changed while being archived")
		}
		return c.pad()
	}
	return nil
}

func (c *cpioWriter) trailer() error {
	if err := c.header("TRAILER!!!", 0, 0, 0, 0); err != nil {
		return err
	}
	return c.pad()
}
