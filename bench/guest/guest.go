// Package guest holds what make bench's runners share to boot the same Go
// program on Velocity and as the /init of a Linux guest: Debian's kernel
// fetched once with apt-get download, a cpio initramfs around a static
// binary, and small host-side helpers.
package guest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
)

// LinuxCache is where the Debian kernel is kept between runs (it outlives
// make clean): the velocity cache directory's bench/linux.
func LinuxCache() (string, error) {
	dir, err := build.CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "bench", "linux"), nil
}

// PrepareDirs fills in *linuxCache with LinuxCache when it is empty (the
// runners' -linux-cache default) and makes the build cache directory.
func PrepareDirs(linuxCache *string, cache string) error {
	if *linuxCache == "" {
		dir, err := LinuxCache()
		if err != nil {
			return err
		}
		*linuxCache = dir
	}
	return os.MkdirAll(cache, 0o755)
}

// AccelArg resolves the accelerator flag (auto honours $VELOCITY_ACCEL)
// and returns it and the value for QEMU's -accel: under TCG with
// tcgThread set, "tcg,thread=" + tcgThread.
func AccelArg(ctx context.Context, accelFlag, tcgThread, binary string) (accel, arg string, err error) {
	accel, err = qemu.ResolveAccel(ctx, accelFlag, binary)
	if err != nil {
		return "", "", err
	}
	arg = accel
	if accel == "tcg" && tcgThread != "" {
		arg = "tcg,thread=" + tcgThread
	}
	return accel, arg, nil
}

// WithAccel returns a copy of the QEMU arguments args with -accel's value
// replaced by accel.
func WithAccel(args []string, accel string) []string {
	args = slices.Clone(args)
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-accel" {
			args[i+1] = accel
		}
	}
	return args
}

// DebianKernel returns Debian's vmlinuz in dir (dir/boot/vmlinuz-*),
// fetching it with apt-get download (the package linux-image-amd64 depends
// on) if it is not there yet; later runs need no network.
func DebianKernel(dir string) (vmlinuz, version string, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	if v, p := findVmlinuz(dir); p != "" {
		return p, v, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", "", errors.New("apt-get not found: the Linux guest needs Debian's kernel package (apt-get download linux-image-amd64's dependency)")
	}
	out, err := exec.Command("apt-cache", "depends", "linux-image-amd64").CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("apt-cache depends linux-image-amd64: %v: %s", err, strings.TrimSpace(string(out)))
	}
	m := regexp.MustCompile(`Depends:\s*(linux-image-[0-9][^\s]*-amd64)`).FindSubmatch(out)
	if m == nil {
		return "", "", fmt.Errorf("apt-cache depends linux-image-amd64 names no linux-image-*-amd64 package (run apt-get update?):\n%s", out)
	}
	pkg := string(m[1])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	dl, err := os.MkdirTemp(dir, ".apt-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(dl)
	os.Chmod(dl, 0o777) // lets apt's _apt user write there (else it warns and downloads unsandboxed)
	fmt.Printf("  apt-get download %s\n", pkg)
	cmd := exec.Command("apt-get", "download", "-q", pkg)
	cmd.Dir = dl
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("apt-get download %s failed (%v):\n%s", pkg, err, strings.TrimSpace(string(out)))
	}
	debs, _ := filepath.Glob(filepath.Join(dl, pkg+"_*.deb"))
	if len(debs) != 1 {
		return "", "", fmt.Errorf("apt-get download %s left no .deb in %s", pkg, dl)
	}
	// dpkg-deb -x of the whole package unpacks 400 MB of modules; only
	// /boot is needed, so unpack the package's data archive selectively.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	sh := fmt.Sprintf("dpkg-deb --fsys-tarfile %q | tar -x -C %q --wildcards './boot/vmlinuz-*' './boot/config-*'", debs[0], dir)
	if out, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("extracting vmlinuz from %s: %v: %s", filepath.Base(debs[0]), err, out)
	}
	os.WriteFile(filepath.Join(dir, "PACKAGE"), []byte(filepath.Base(debs[0])+"\n"), 0o644)
	v, p := findVmlinuz(dir)
	if p == "" {
		return "", "", fmt.Errorf("%s holds no boot/vmlinuz-*", filepath.Base(debs[0]))
	}
	return p, v, nil
}

func findVmlinuz(dir string) (version, path string) {
	ms, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(ms) == 0 {
		return "", ""
	}
	slices.Sort(ms)
	p := ms[len(ms)-1]
	version = strings.TrimPrefix(filepath.Base(p), "vmlinuz-")
	if pkg, err := os.ReadFile(filepath.Join(dir, "PACKAGE")); err == nil {
		version = strings.TrimSpace(string(pkg))
	}
	return version, p
}

// MakeInitramfs writes a gzip'd newc cpio archive holding bin as /init,
// /dev and /dev/console. The device node needs root to create; without it
// the archive has no node and the kernel's built-in initramfs (Debian
// builds with an empty CONFIG_INITRAMFS_SOURCE, whose default list holds
// /dev/console) provides the console.
func MakeInitramfs(bin, out string) error { return MakeInitramfsWith(bin, nil, out) }

// mknod creates the character device 5:1 (the console) at path.
func mknod(path string) error {
	return syscall.Mknod(path, syscall.S_IFCHR|0o600, 5<<8|1)
}

func GoBuildStatic(pkg, out string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

func CopyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	outf, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(outf, in); err != nil {
		outf.Close()
		return err
	}
	return outf.Close()
}

func QEMUVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "version unknown"
	}
	return strings.TrimPrefix(firstLine(string(out)), "QEMU emulator ")
}

func HostCPU() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	model := "unknown CPU"
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			model = strings.TrimSpace(v)
			n++
		}
	}
	return fmt.Sprintf("%s x%d", model, n)
}

// ShellLine renders a command line that can be pasted into a shell.
func ShellLine(bin string, args []string) string {
	words := []string{bin}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// firstLine is the first line of s, trimmed.
func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// DebianModules returns the paths of kernel modules (names such as
// "virtio_net", without .ko) from the same Debian kernel package as
// DebianKernel, extracting them into dir/modules on first use (another
// apt-get download; later runs need no network).
func DebianModules(dir string, names []string) (map[string]string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	modDir := filepath.Join(dir, "modules")
	find := func() (map[string]string, bool) {
		paths := map[string]string{}
		for _, n := range names {
			ms, _ := filepath.Glob(filepath.Join(modDir, "lib", "modules", "*", "kernel", "*", n+".ko"))
			if len(ms) == 0 {
				ms, _ = filepath.Glob(filepath.Join(modDir, "lib", "modules", "*", "kernel", "*", "*", n+".ko"))
			}
			if len(ms) != 1 {
				return nil, false
			}
			paths[n] = ms[0]
		}
		return paths, true
	}
	if p, ok := find(); ok {
		return p, nil
	}
	pkgFile, err := os.ReadFile(filepath.Join(dir, "PACKAGE"))
	if err != nil {
		return nil, fmt.Errorf("no Debian kernel in %s yet (DebianKernel fetches it): %v", dir, err)
	}
	pkg, _, _ := strings.Cut(strings.TrimSpace(string(pkgFile)), "_")
	dl, err := os.MkdirTemp(dir, ".apt-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dl)
	os.Chmod(dl, 0o777)
	fmt.Printf("  apt-get download %s (for its modules)\n", pkg)
	cmd := exec.Command("apt-get", "download", "-q", pkg)
	cmd.Dir = dl
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get download %s failed (%v):\n%s", pkg, err, strings.TrimSpace(string(out)))
	}
	debs, _ := filepath.Glob(filepath.Join(dl, pkg+"_*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("apt-get download %s left no .deb in %s", pkg, dl)
	}
	if err := os.MkdirAll(modDir, 0o755); err != nil {
		return nil, err
	}
	var pats []string
	for _, n := range names {
		pats = append(pats, fmt.Sprintf("'./lib/modules/*/%s.ko'", n))
	}
	sh := fmt.Sprintf("dpkg-deb --fsys-tarfile %q | tar -x -C %q --wildcards %s", debs[0], modDir, strings.Join(pats, " "))
	if out, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("extracting modules from %s: %v: %s", filepath.Base(debs[0]), err, out)
	}
	p, ok := find()
	if !ok {
		return nil, fmt.Errorf("%s lacks one of the modules %v", filepath.Base(debs[0]), names)
	}
	return p, nil
}

// MakeInitramfsWith is MakeInitramfs with more files: extra maps a path in
// the archive (e.g. "modules/virtio_net.ko") to a file on the host.
func MakeInitramfsWith(bin string, extra map[string]string, out string) error {
	if _, err := exec.LookPath("cpio"); err != nil {
		return errors.New("cpio not found (apt-get install cpio)")
	}
	stage, err := os.MkdirTemp(filepath.Dir(out), ".initramfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := CopyFile(bin, filepath.Join(stage, "init"), 0o755); err != nil {
		return err
	}
	list := []string{"init", "dev"}
	if err := os.Mkdir(filepath.Join(stage, "dev"), 0o755); err != nil {
		return err
	}
	if mknod(filepath.Join(stage, "dev", "console")) == nil {
		list = append(list, "dev/console")
	}
	dirs := map[string]bool{}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for d := filepath.Dir(k); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	slices.Sort(ds) // parents sort before children
	for _, d := range ds {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
		list = append(list, d)
	}
	for _, k := range keys {
		if err := CopyFile(extra[k], filepath.Join(stage, k), 0o644); err != nil {
			return err
		}
		list = append(list, k)
	}
	cmd := exec.Command("cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0")
	cmd.Dir = stage
	cmd.Stdin = strings.NewReader(strings.Join(list, "\n") + "\n")
	var archive, stderr bytes.Buffer
	cmd.Stdout = &archive
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cpio: %v: %s", err, stderr.String())
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(archive.Bytes())
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(out, gz.Bytes(), 0o644)
}

// BuildBoth builds the Go program pkg for both guests of a comparison: a
// Velocity kernel (dir/name.elf, with the boot stub it needs) and a static
// Linux binary for the Linux guest's /init (dir/name.linux).
func BuildBoth(pkg, dir, name string) (stub, velELF, linuxBin string, err error) {
	if stub, err = build.Stub(); err != nil {
		return "", "", "", err
	}
	velELF = filepath.Join(dir, name+".elf")
	if err = build.Build(pkg, velELF, nil); err != nil {
		return "", "", "", err
	}
	linuxBin = filepath.Join(dir, name+".linux")
	if err = GoBuildStatic(pkg, linuxBin); err != nil {
		return "", "", "", err
	}
	return stub, velELF, linuxBin, nil
}

// LoadAvg is the host's 1, 5 and 15 minute load averages, for a runner's
// header: figures taken on a loaded host are not comparable.
func LoadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
