// Package procpath classifies the per-process names of Velocity's /proc
// for the kernel (runtime/vk_procstatus.go). Given a resolved path
// without the leading '/', it says whether the path is one of
//
//	proc/<pid>, proc/self                         directories
//	proc/<pid>/task, proc/self/task               directories listing the live tids
//	proc/<pid>/task/<tid>, proc/self/task/<tid>   directories
//	proc/<pid>/<name>, .../task/<tid>/<name>      a name below one of them
//
// or names a pid or tid that is not alive (ENOENT), or is none of them
// (proc/sys, proc/cmdline, anything outside proc/), which the ordinary
// lookup answers. Numbers are read as Linux's name_to_int does: decimal
// digits, no leading zero, no sign. Velocity runs one process, pid 1,
// which always exists; any live thread's tid names it as a pid too.
//
// The same files are compiled twice: here, as an ordinary package with
// host tests and a fuzz target, and inside package runtime, where
// internal/build copies them into the overlay with the package clause
// rewritten (as for kernel/pathwalk). So the code obeys the kernel's
// trap-context rules: it imports nothing, never allocates (results are
// subslices of the path), keeps no pointers in its types, and every
// top-level identifier starts with "pp" so it cannot collide with the
// runtime's. The thread table is reached through one callback, ppLive,
// which the kernel implements over its scheduler's table.
package procpath

// What ppParse found.
const (
	ppNone    = iota // not a per-process name: the ordinary lookup answers
	ppMissing        // a pid or tid that names no live thread
	ppPidDir         // proc/<pid>, proc/self
	ppTaskDir        // proc/<pid>/task
	ppTidDir         // proc/<pid>/task/<tid>
	ppFileIn         // a name in one of the directories above (rest)
)

// ppNumMax is the longest pid or tid ppNum reads: nine digits, so the
// value always fits in an int32.
const ppNumMax = 9

// ppLive reports whether a live thread has tid. The kernel's
// implementation holds the kernel lock and must not allocate either.
type ppLive func(tid int32) bool

// ppNum reads a pid or tid as Linux's name_to_int does: decimal digits
// only, no leading zero, and at most ppNumMax of them.
func ppNum(s []byte) (int32, bool) {
	if len(s) == 0 || len(s) > 1 && s[0] == '0' || len(s) > ppNumMax {
		return 0, false
	}
	n := int32(0)
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int32(c-'0')
	}
	return n, true
}

// ppCut splits the first component off p: the component, what follows
// the '/', and whether there was a '/'.
func ppCut(p []byte) ([]byte, []byte, bool) {
	for i, c := range p {
		if c == '/' {
			return p[:i], p[i+1:], true
		}
	}
	return p, nil, false
}

// ppParse classifies path: the kind of name, the thread it is about (1
// for the process: proc/self and proc/1), the rest below the directory
// for ppFileIn (a subslice of path, possibly empty after a trailing '/'),
// and whether it went through proc/self. A pid is live if it is 1 or
// live says so; a tid only if live says so. For ppNone and ppMissing
// the tid is 0 and rest is nil.
func ppParse(path []byte, live ppLive) (kind int, tid int32, rest []byte, self bool) {
	const prefix = "proc/"
	if len(path) <= len(prefix) || string(path[:len(prefix)]) != prefix {
		return ppNone, 0, nil, false
	}
	c, rest, more := ppCut(path[len(prefix):])
	if string(c) == "self" {
		self, tid = true, 1
	} else {
		n, ok := ppNum(c)
		if !ok {
			return ppNone, 0, nil, false // proc/sys, proc/cmdline, ...
		}
		if n != 1 && !live(n) {
			return ppMissing, 0, nil, false
		}
		tid = n
	}
	if !more {
		return ppPidDir, tid, nil, self
	}
	c, r, more := ppCut(rest)
	if string(c) != "task" {
		return ppFileIn, tid, rest, self
	}
	if !more {
		return ppTaskDir, tid, nil, self
	}
	c, r, more = ppCut(r)
	t, ok := ppNum(c)
	if !ok || !live(t) {
		return ppMissing, 0, nil, self
	}
	if !more {
		return ppTidDir, t, nil, self
	}
	return ppFileIn, t, r, self
}
