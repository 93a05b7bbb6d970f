// Package cmdline splits and classifies Velocity's kernel command line:
//
//	[KEY=VALUE ...] [option ...] [-- arg ...]
//
// KEY=VALUE with an upper-case KEY goes to the environment, options
// configure the kernel, and everything after "--" becomes os.Args[1:].
// Double quotes group words with spaces; there are no escapes. The kernel
// (runtime/vk_boot.go) applies what this package finds; anything it cannot
// place is an error, because a typo must not boot silently with the wrong
// settings.
//
// The same files are compiled twice, as kernel/gdbproto is: here, as an
// ordinary package with host tests and a fuzz target, and inside package
// runtime, where internal/build copies them into the overlay with the
// package clause rewritten. So the code keeps the kernel's rules: it
// imports nothing, never allocates (words go into a fixed buffer), keeps
// no pointers in its types, and every top-level identifier starts with
// "cl" so it cannot collide with the runtime's.
package cmdline

const (
	clMaxArgs = 256  // argv, environment and options, each
	clBufSize = 8192 // all words, NUL-terminated, as they go on the process stack
)

// clArgs holds the words of a command line, each NUL-terminated in buf
// (the layout the first thread's stack gets), and their offsets by role.
type clArgs struct {
	buf   [clBufSize]byte
	used  int
	argv  [clMaxArgs]int // offsets into buf; argv[0] is set by the kernel
	env   [clMaxArgs]int
	opts  [clMaxArgs]int // kernel options, in order
	nargv int
	nenv  int
	nopts int
}

// clPut appends s and a NUL to buf and returns its offset, or -1 if buf
// is full.
func (a *clArgs) clPut(s string) int {
	if len(s)+1 > len(a.buf)-a.used {
		return -1
	}
	start := a.used
	copy(a.buf[a.used:], s)
	a.used += len(s)
	a.buf[a.used] = 0
	a.used++
	return start
}

// clWord returns the word at offset off of buf, without its NUL.
func (a *clArgs) clWord(off int) []byte {
	if off < 0 || off >= a.used {
		return nil
	}
	w := a.buf[off:a.used]
	for i, c := range w {
		if c == 0 {
			return w[:i]
		}
	}
	return w
}

func clSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// clSplit splits line into words, after whatever buf already holds, and
// sorts them into argv (after "--"), env (KEY=VALUE) and opts (the rest,
// before "--"). It returns "" or what is wrong, with the offset in buf of
// the word at fault (-1 for none).
func (a *clArgs) clSplit(line []byte) (msg string, bad int) {
	afterDashes := false
	for i := 0; i < len(line); {
		for i < len(line) && clSpace(line[i]) {
			i++
		}
		if i == len(line) {
			break
		}
		start := a.used
		quoted := false
		for i < len(line) && (quoted || !clSpace(line[i])) {
			if line[i] == '"' {
				quoted = !quoted
			} else {
				if a.used >= len(a.buf)-1 {
					return "longer than the kernel's argument buffer", -1
				}
				a.buf[a.used] = line[i]
				a.used++
			}
			i++
		}
		if quoted {
			return "unterminated double quote", -1
		}
		a.buf[a.used] = 0 // room kept by the check above
		a.used++
		tok := a.buf[start : a.used-1]
		switch {
		case afterDashes:
			if a.nargv == clMaxArgs {
				return "too many arguments", -1
			}
			a.argv[a.nargv] = start
			a.nargv++
		case string(tok) == "--":
			afterDashes = true
		case clIsEnvAssignment(tok):
			if a.nenv == clMaxArgs {
				return "too many environment variables", -1
			}
			a.env[a.nenv] = start
			a.nenv++
		default:
			if a.nopts == clMaxArgs {
				return "too many kernel options", start
			}
			a.opts[a.nopts] = start
			a.nopts++
		}
	}
	return "", -1
}

// clIsEnvAssignment reports whether tok is KEY=VALUE with KEY made of
// A-Z, 0-9 and _, not starting with a digit.
func clIsEnvAssignment(tok []byte) bool {
	for i, ch := range tok {
		switch {
		case ch == '=':
			return i > 0
		case ch == '_' || ch >= 'A' && ch <= 'Z' || i > 0 && ch >= '0' && ch <= '9':
		default:
			return false
		}
	}
	return false
}

// Kernel options, as clOption classifies them.
const (
	clOptUnknown    = iota // not the kernel's: the gdb stub's (vkGdbOption), or an error
	clOptQuiet             // quiet: no boot banner
	clOptNoXSave           // noxsave: FXSAVE only, AVX off
	clOptPagePoison        // pagepoison: free frames filled and checked (vk_mem.go)
	clOptReserve           // reserve=CPUS
	clOptIRQCPUs           // irqcpus=CPUS
	clOptExe               // exe=/path: os.Args[0] and /proc/self/exe
	clOptCwd               // cwd=/dir
	clOptSpinSleep         // spinsleep=US: the longest sleep served by spinning (vk_lockpath.go)
	clOptTLBRefresh        // tlbrefresh=MS: how often each CPU flushes its whole TLB (vk_tlbrefresh.go)
	clOptPackage           // read from /proc/cmdline by a package (clPackageOptions)
)

// clPackageOptions are the options the kernel accepts but does not use
// itself: packages linked into the program read them from /proc/cmdline
// (netstack: ip=, gw=, dns=; biosphere: peers=). They are listed so that
// a typo in any other key still stops the boot. Each package checks its
// own values and says which one is wrong.
var clPackageOptions = [...]string{"ip=", "gw=", "dns=", "peers="}

// clOption classifies a kernel option and returns its value (what follows
// "key="), which must not be empty for the kernel's own keys.
func clOption(tok []byte) (kind int, val []byte) {
	switch string(tok) {
	case "quiet":
		return clOptQuiet, nil
	case "noxsave":
		return clOptNoXSave, nil
	case "pagepoison":
		return clOptPagePoison, nil
	}
	keys := [...]struct {
		key  string
		kind int
	}{{"reserve=", clOptReserve}, {"irqcpus=", clOptIRQCPUs}, {"exe=", clOptExe}, {"cwd=", clOptCwd}, {"spinsleep=", clOptSpinSleep}, {"tlbrefresh=", clOptTLBRefresh}}
	for _, k := range keys {
		if len(tok) > len(k.key) && string(tok[:len(k.key)]) == k.key {
			return k.kind, tok[len(k.key):]
		}
	}
	for _, k := range clPackageOptions {
		if len(tok) >= len(k) && string(tok[:len(k)]) == k {
			return clOptPackage, tok[len(k):]
		}
	}
	return clOptUnknown, nil
}

// clParseMicros parses a count of microseconds (spinsleep=) or
// milliseconds (tlbrefresh=): one to four decimal digits, at most max.
func clParseMicros(s []byte, max int) (int, bool) {
	v, n := clAtoi(s)
	if n == 0 || n != len(s) || v > max {
		return 0, false
	}
	return v, true
}

// clParseCPUList parses "3", "1,3" or "2-5" into a mask of CPUs below
// max (at most 64). An empty list, a descending range, a CPU at or above
// max and stray characters are errors.
func clParseCPUList(s []byte, max int) (uint64, bool) {
	if max > 64 {
		max = 64
	}
	var m uint64
	for len(s) > 0 {
		lo, n := clAtoi(s)
		if n == 0 || lo >= max {
			return 0, false
		}
		s = s[n:]
		hi := lo
		if len(s) > 0 && s[0] == '-' {
			if hi, n = clAtoi(s[1:]); n == 0 || hi >= max || hi < lo {
				return 0, false
			}
			s = s[1+n:]
		}
		for i := lo; i <= hi; i++ {
			m |= 1 << i
		}
		if len(s) > 0 {
			if s[0] != ',' || len(s) == 1 {
				return 0, false
			}
			s = s[1:]
		}
	}
	return m, m != 0
}

// clAtoi reads up to 4 decimal digits; it returns the value and how many
// bytes it used (0: no digit).
func clAtoi(s []byte) (int, int) {
	v, n := 0, 0
	for n < len(s) && n < 4 && s[n] >= '0' && s[n] <= '9' {
		v = v*10 + int(s[n]-'0')
		n++
	}
	return v, n
}
