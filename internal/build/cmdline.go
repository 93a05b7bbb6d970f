package build

import (
	"fmt"
	"strings"
)

// CmdlineGrammar documents the kernel command line for help texts. It
// follows vkParseCmdline in runtime/vk_boot.go.
const CmdlineGrammar = `The kernel command line is
    [KEY=VALUE ...] [kernel options ...] [-- argv ...]
Every word before "--" is an environment variable or a kernel option:
  KEY=VALUE  environment variable; KEY is upper case (A-Z, 0-9 and _, not
             starting with a digit), e.g. GODEBUG=gctrace=1
  quiet      do not print the kernel's boot banner
  pagepoison fill every freed page with 0xaa and check it when the page is
             handed out again: a write after free stops the machine with
             the page's address (slower; for hunting kernel bugs)
  spinsleep=US  wait out sleeps of up to US microseconds (default 5,
             0 to 100; 0 never) on the CPU instead of giving it up,
             unless another thread waits for the CPU
  tlbrefresh=MS  flush each CPU's whole TLB every MS milliseconds
             (default 200, 0 to 1000; 0 never), so that QEMU's TCG grows
             its software TLB to the working set
  debug      run the gdb stub on COM2: breakpoints, Ctrl-C and crashes stop
             the kernel for gdb (see README, "Debugging with gdb")
  debug=wait as debug, and wait for gdb at boot, before Go starts
  debugport=0xNNN  the stub's 16550 I/O port (default 0x2f8, COM2)
Kernel options are bare words. Any other
word before "--" stops the boot with "bad kernel command line" (exit code 2).
The words after "--" become os.Args[1:] (os.Args[0] is "/velocity").
Words are separated by spaces; a word may be wrapped in double quotes to
contain spaces. There are no escapes, so a word cannot contain '"'.
The boot stub keeps at most 4095 bytes of the command line.`

// JoinCmdline renders args as a kernel command line word list: words that
// contain spaces (or are empty) are wrapped in double quotes, matching the
// kernel's splitter. Words the kernel could not split back (containing '"'
// or control characters) are rejected instead of being silently mangled.
func JoinCmdline(args []string) (string, error) {
	words := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "\"\x00\n\r") {
			return "", fmt.Errorf("argument %q: the kernel command line cannot carry '\"', NUL or newlines", a)
		}
		if a == "" || strings.Contains(a, " ") {
			a = `"` + a + `"`
		}
		words[i] = a
	}
	return strings.Join(words, " "), nil
}

// SplitCmdline splits a kernel command line the way the kernel does: on
// spaces, with double quotes grouping (quotes are removed).
func SplitCmdline(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quoted = !quoted
			inWord = true
		case c == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("kernel command line %q: unterminated double quote", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// KernelCmdline renders a command line from environment variables
// (KEY=VALUE), kernel options and, when argv is not nil, "--" followed by
// argv (the program's os.Args[1:]).
func KernelCmdline(env, opts, argv []string) (string, error) {
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); !ok || !IsEnvKey(k) {
			return "", fmt.Errorf("environment entry %q is not KEY=VALUE with an upper-case KEY (A-Z, 0-9, _)", e)
		}
	}
	words := append(append([]string{}, env...), opts...)
	if argv != nil {
		words = append(append(words, "--"), argv...)
	}
	return JoinCmdline(words)
}

// IsEnvKey reports whether the kernel takes KEY=VALUE with this key as an
// environment variable rather than rejecting it as an unknown option: A-Z
// and _, then also digits (vkIsEnvAssignment in runtime/vk_boot.go).
func IsEnvKey(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range k {
		if !(c == '_' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
