// Package pathwalk resolves file names for Velocity's kernel
// (runtime/vk_fs.go): it turns a name a program passes to open, stat,
// mkdir and the rest into the absolute, clean path of what it names,
// walking one component at a time as Linux does. "." and ".." are folded
// against what has been resolved so far (so ".." after a symbolic link
// leaves the link's target, not the link), symbolic links are followed in
// the middle of a name and, when asked, at its end, and each step answers
// with Linux's error: ENOENT for a missing directory on the way, ENOTDIR for
// a file used as one, ENAMETOOLONG, ELOOP after 40 links.
//
// The same files are compiled twice: here, as an ordinary package with
// host tests and a fuzz target, and inside package runtime, where
// internal/build copies them into the overlay with the package clause
// rewritten (as for kernel/gdbproto). So the code obeys the kernel's
// trap-context rules: it imports nothing, never allocates (fixed buffers
// in pwWalker, written by index), keeps no pointers in its types, and every
// top-level identifier starts with "pw" so it cannot collide with the
// runtime's. The file system is reached through one callback, pwLookup,
// which the kernel implements over its image archive and /tmp.
package pathwalk

// Limits, as Linux has them.
const (
	pwPathMax = 4096 // PATH_MAX: a name a call passes, with its NUL
	// pwResolvedMax bounds a resolved path, with room for a NUL. Linux has
	// no such bound: a call's name is at most PATH_MAX, but relative to a
	// working directory or a directory fd it may reach deeper (os's
	// TestGetwdDeep and TestRemoveAllLongPath go past 4,096 bytes). Ours
	// is four times PATH_MAX.
	pwResolvedMax = 4 * pwPathMax
	pwNameMax     = 255 // NAME_MAX: one component
	pwMaxLinks    = 40  // symbolic links followed in one resolution (MAXSYMLINKS)
)

// Errors, with Linux's numbers so the kernel can return them as they are.
const (
	pwENOENT       = 2
	pwENOTDIR      = 20
	pwENAMETOOLONG = 36
	pwELOOP        = 40
)

// What a name is, as pwLookup reports it.
const (
	pwMissing = iota // nothing by that name
	pwDir            // a directory
	pwOther          // a regular file, device or anything else that is not a directory or link
	pwLink           // a symbolic link; its target is in the link buffer
)

// How pwWalk treats the last component of a name.
const (
	pwNofollow = iota // a link there is not followed, unless a '/' follows it (lstat, readlink)
	pwFollow          // a link there is followed (stat, open, chdir)
	pwParent          // the name is to be made or removed (mkdir, unlink, rename, the new name of link and symlink): never followed, even before a '/', and not looked at
)

// pwLookup says what path names. path is absolute and clean, without the
// leading '/' ("" is the root), and names only directories on the way. For
// a symbolic link it copies the target into link and returns its length
// (at most len(link); a longer target is cut, and then fails to resolve).
// The kernel's implementation must not allocate either.
type pwLookup func(path, link []byte) (kind, n int)

// pwWalker holds the buffers of one resolution. The result of pwWalk and
// pwClean points into out and is valid until the next call; the kernel
// keeps one walker and serialises its callers.
type pwWalker struct {
	out  [pwResolvedMax]byte // the path resolved so far
	rest [pwPathMax]byte     // what is left to walk, kept at the end of the buffer
	link [pwPathMax]byte     // a link's target, as pwLookup wrote it

	// After a pwWalk that succeeded: whether the last name was followed
	// by a '/' (in the name or in a link's target), which asks for a
	// directory (open with O_CREAT then fails with EISDIR); and whether
	// the name ended in "." (1) or ".." (2), which calls that make or
	// remove a name refuse (rename: EBUSY, mkdir: EEXIST).
	pwSlash bool
	pwDots  int
}

// pwCheckNames returns ENAMETOOLONG if a component of path is longer than
// NAME_MAX, or path itself does not fit in PATH_MAX, and 0 otherwise.
// Linux measures the whole name before it walks it; components that come
// from link targets are measured as they are walked.
func pwCheckNames(path []byte) int {
	if len(path) >= pwPathMax {
		return pwENAMETOOLONG
	}
	for i, start := 0, 0; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			if i-start > pwNameMax {
				return pwENAMETOOLONG
			}
			start = i + 1
		}
	}
	return 0
}

// pwClean folds path (relative to dir, or absolute) into a clean absolute
// path without the leading '/', by the text alone: nothing is looked up,
// so ".." simply drops the previous name (at the root it stays at the
// root). It is for names that are already resolved, such as the working
// directory the boot command line gives. ok is false if the result does
// not fit.
func (w *pwWalker) pwClean(dir, path []byte) ([]byte, bool) {
	n := 0
	if len(path) == 0 || path[0] != '/' {
		if n = w.pwFold(0, dir); n < 0 {
			return nil, false
		}
	}
	if n = w.pwFold(n, path); n < 0 {
		return nil, false
	}
	return w.out[:n], true
}

// pwFold adds the components of s to w.out[:n] textually and returns the
// new length, or -1 if it does not fit.
func (w *pwWalker) pwFold(n int, s []byte) int {
	for i := 0; i < len(s); {
		for i < len(s) && s[i] == '/' {
			i++
		}
		j := i
		for j < len(s) && s[j] != '/' {
			j++
		}
		comp := s[i:j]
		i = j
		switch {
		case len(comp) == 0 || len(comp) == 1 && comp[0] == '.':
		case len(comp) == 2 && comp[0] == '.' && comp[1] == '.':
			n = pwDirLen(w.out[:n])
		default:
			if n = pwAppend(w.out[:], n, comp); n < 0 {
				return -1
			}
		}
	}
	return n
}

// pwDirLen returns the length of the parent of the clean path p.
func pwDirLen(p []byte) int {
	n := len(p)
	for n > 0 && p[n-1] != '/' {
		n--
	}
	if n > 0 {
		n-- // the '/' before the last name
	}
	return n
}

// pwAppend adds "/comp" (or just comp at the root) to buf[:n] and returns
// the new length, or -1 if it does not fit with room for a NUL.
func pwAppend(buf []byte, n int, comp []byte) int {
	sep := 0
	if n > 0 {
		sep = 1
	}
	if n+sep+len(comp) >= len(buf) {
		return -1
	}
	if sep == 1 {
		buf[n] = '/'
	}
	return n + sep + copy(buf[n+sep:], comp)
}

// pwWalk resolves path, relative to dir (a resolved directory, as pwClean
// or pwWalk returned it, with or without a leading '/'; unused when path is
// absolute). A symbolic link as the last component is followed as mode says
// (pwFollow, pwNofollow, pwParent), as on Linux; links anywhere before it
// always are. It returns the resolved path (in w.out) or an errno:
//   - ENOENT for an empty name, an empty link target, or a directory on
//     the way that does not exist;
//   - ENOTDIR for a name on the way, or a last name followed by '/', that
//     is neither a directory nor a link to one;
//   - ENAMETOOLONG for a component over NAME_MAX, a name over PATH_MAX,
//     or a resolved path over pwResolvedMax;
//   - ELOOP after pwMaxLinks links.
//
// The last component need not exist (open with O_CREAT, mkdir): whether
// it does is for the caller to look up.
func (w *pwWalker) pwWalk(dir, path []byte, mode int, look pwLookup) ([]byte, int) {
	w.pwSlash, w.pwDots = false, 0
	if len(path) == 0 {
		return nil, pwENOENT
	}
	if e := pwCheckNames(path); e != 0 {
		return nil, e
	}
	n := 0
	if path[0] != '/' {
		if n = w.pwFold(0, dir); n < 0 {
			return nil, pwENAMETOOLONG
		}
	}
	end := len(w.rest)
	rs := end - copy(w.rest[end-len(path):], path) // w.rest[rs:end] is still to walk
	links := 0
	for {
		for rs < end && w.rest[rs] == '/' {
			rs++
		}
		if rs == end {
			return w.out[:n], 0
		}
		ce := rs
		for ce < end && w.rest[ce] != '/' {
			ce++
		}
		comp := w.rest[rs:ce]
		rs = ce
		next := rs
		for next < end && w.rest[next] == '/' {
			next++
		}
		last := next == end
		slash := last && rs < end // the last name is followed by '/'
		if last {
			w.pwSlash = slash
		}
		if len(comp) == 1 && comp[0] == '.' {
			if last {
				w.pwDots = 1
			}
			continue
		}
		if len(comp) == 2 && comp[0] == '.' && comp[1] == '.' {
			n = pwDirLen(w.out[:n])
			if last {
				w.pwDots = 2
			}
			continue
		}
		if last {
			w.pwDots = 0
		}
		if len(comp) > pwNameMax {
			return nil, pwENAMETOOLONG
		}
		parent := n
		if n = pwAppend(w.out[:], n, comp); n < 0 {
			return nil, pwENAMETOOLONG
		}
		if last && (mode == pwParent || mode == pwNofollow && !slash) {
			return w.out[:n], 0 // the last name itself is not looked at
		}
		kind, ln := look(w.out[:n], w.link[:])
		if kind == pwLink {
			if links++; links > pwMaxLinks {
				return nil, pwELOOP
			}
			if ln <= 0 || ln > len(w.link) {
				return nil, pwENOENT // Linux refuses an empty target
			}
			// Walk the target in place of the link: push it in front
			// of what is left, with a '/' between if anything is.
			need := ln
			if rs < end {
				need++
			}
			if need > rs {
				return nil, pwENAMETOOLONG
			}
			if rs < end {
				rs--
				w.rest[rs] = '/'
			}
			rs -= ln
			copy(w.rest[rs:], w.link[:ln])
			n = parent
			if w.rest[rs] == '/' {
				n = 0
			}
			continue
		}
		if !last || slash {
			switch {
			case kind == pwOther:
				return nil, pwENOTDIR
			case kind == pwMissing && !last:
				return nil, pwENOENT
			}
		}
	}
}
