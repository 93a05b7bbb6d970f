//go:build velocity

// Velocity kernel: the per-process and per-thread names of /proc, and
// the status file in Linux's format.
//
// Names served (paths without the leading '/'):
//
//	proc/<pid>, proc/self                         directories
//	proc/<pid>/task, proc/self/task               directories listing the live tids
//	proc/<pid>/task/<tid>, proc/self/task/<tid>   directories
//	.../status                                    the thread's status
//	proc/<pid>/<name>, .../task/<tid>/<name>      any other file under proc/self (maps)
//
// Velocity runs one process, pid 1; as on Linux, /proc/<tid> of any live
// thread is accessible too (it shows that thread), and every live tid is
// a task of the process. A pid or tid that names no live thread is ENOENT
// (pid 1 always names the process). Names under proc/self other than task
// are the ordinary file system's (/proc/self/maps, /proc/self/exe).
//
// status is generated when it is opened, into a kernel frame of the open
// file description's own (vkFile.text, freed with the description), so
// each open reads one consistent snapshot and opens of different threads
// do not share a buffer (Linux regenerates the text at the first read).
// Like Linux's, its size is 0 to stat. Credentials are the process's
// (vk_cred.go), so every task shows the same ids and capabilities. The
// text is one page at most: a Groups line longer than what fits (more
// than some 300 groups) is cut at a group, which Linux never does.
//
// The fields: Name, Umask, State, Tgid, Ngid, Pid, PPid, TracerPid, Uid,
// Gid, FDSize, Groups, NStgid, NSpid, NSpgid, NSsid, Kthread, Threads,
// SigPnd, ShdPnd, SigBlk, SigIgn, SigCgt, CapInh, CapPrm, CapEff, CapBnd,
// CapAmb, NoNewPrivs, Seccomp, Seccomp_filters, Cpus_allowed,
// Cpus_allowed_list, Mems_allowed, Mems_allowed_list. Left out, since
// Velocity does not count them per process or thread: the Vm* and Rss*
// lines, SigQ, the Speculation* lines and the context switch counts.
//
// Trap context with the kernel lock held (path lookups, openat,
// getdents64): no allocation, no write barriers.

package runtime

import "unsafe"

var vkProcStatus struct {
	ent int // index of proc/self/status in vkFS.ents, -1 if the archive has its own
	// num holds a tid's digits for getdents (a local array would escape
	// through the visit function).
	num [12]byte
}

// vkFSAddProcStatus adds /proc/self/status to the read-only file system
// at boot: an entry without data, which an open fills for its own
// description (vkProcStatusOpened).
func vkFSAddProcStatus() {
	const name = "proc/self/status"
	vkProcStatus.ent = -1
	if vkLookup(unsafe.Slice(unsafe.StringData(name), len(name))) >= 0 || vkFS.n >= vkMaxFSEnts {
		return
	}
	vkProcStatus.ent = vkFS.n
	vkFS.ents[vkFS.n] = vkFSEnt{
		name:    uintptr(unsafe.Pointer(unsafe.StringData(name))),
		nameLen: len(name),
		mode:    sIFREG | 0o444,
	}
	vkFS.n++
}

// vkProcThreadLive answers kernel/procpath's question, whether a live
// thread has tid. The caller holds the kernel lock (the thread table).
func vkProcThreadLive(tid int32) bool { return vkThreadByTID(tid) != nil }

// vkProcParse classifies a resolved path with kernel/procpath: the kind
// of name (ppNone, ppMissing, ppPidDir, ppTaskDir, ppTidDir, ppFileIn),
// the thread it is about (1 for the process: proc/self and proc/1), the
// rest below the directory for ppFileIn, and whether it went through
// proc/self.
func vkProcParse(path []byte) (kind int, tid int32, rest []byte, self bool) {
	return ppParse(path, vkProcThreadLive)
}

// vkProcLookup answers vkLookup for per-process names: an entry index,
// -2 for a directory, -1 for nothing; ok is false if path is not one
// (proc/self's own files are left to the ordinary lookup).
func vkProcLookup(path []byte) (idx int, ok bool) {
	kind, _, rest, self := vkProcParse(path)
	switch kind {
	case ppMissing:
		return -1, true
	case ppPidDir, ppTaskDir, ppTidDir:
		return -2, true
	case ppFileIn:
		if self && string(path[len("proc/self/"):]) == string(rest) {
			return 0, false // proc/self/<name>: the ordinary lookup
		}
		return vkProcFileEnt(rest), true
	}
	return 0, false
}

// vkProcFileEnt finds proc/self/<name> in the file system: its index, or
// -1. Only files count (a task directory shows proc/self's files).
func vkProcFileEnt(name []byte) int {
	const dir = "proc/self/"
	for i := 0; i < vkFS.n; i++ {
		n := vkFSName(&vkFS.ents[i])
		if len(n) == len(dir)+len(name) && string(n[:len(dir)]) == dir && string(n[len(dir):]) == string(name) &&
			vkFS.ents[i].mode&sIFMT != sIFDIR {
			return i
		}
	}
	return -1
}

// vkProcChildren lists what the file system does not hold in the
// per-process directories: "1" in /proc, "task" and proc/self's files in
// a pid's directory, the live tids in task, proc/self's files in a
// task's. A tid that exits between two getdents64 calls may shift the
// names the second call skips (f.off counts names), so one may be missed.
func vkProcChildren(dir []byte, visit func(ino uint64, typ byte, name []byte) bool) {
	const dtDir = 4
	if string(dir) == "proc" {
		for i := 0; i < vkFS.n; i++ {
			if _, below := vkBelow(vkFSName(&vkFS.ents[i]), vkStrBytes("proc/1")); below {
				return // the archive has a proc/1 of its own
			}
		}
		visit(0x40001, dtDir, vkStrBytes("1"))
		return
	}
	kind, _, _, self := vkProcParse(dir)
	switch kind {
	case ppPidDir:
		if !self && !vkArchiveChildren(vkStrBytes("proc/self"), false, visit) {
			return
		}
		visit(0x40000, dtDir, vkStrBytes("task"))
	case ppTaskDir:
		for tid := int32(1); tid <= vkSched.maxTID; tid++ {
			if vkThreadByTID(tid) == nil {
				continue
			}
			n := vkPutDec(vkProcStatus.num[:], 0, uint64(tid))
			if !visit(0x40000+uint64(tid), dtDir, vkProcStatus.num[:n]) {
				return
			}
		}
	case ppTidDir:
		vkArchiveChildren(vkStrBytes("proc/self"), false, visit)
	}
}

// vkProcStatusOpened fills description f with the status text if idx is
// the status entry, full the path it was opened by. It returns an errno
// (ENOMEM) or 0.
func vkProcStatusOpened(idx int, full []byte, f *vkFile) int {
	if idx < 0 || idx != vkProcStatus.ent {
		return 0
	}
	vkAssertHeld(&vkBKL)
	tid := int32(1)
	if kind, t, _, _ := vkProcParse(full); kind == ppFileIn {
		tid = t
	}
	pa := vkFrameAlloc()
	if pa == 0 {
		return vkENOMEM
	}
	f.text = vkP2V(pa)
	b := vkText{b: unsafe.Slice((*byte)(unsafe.Pointer(f.text)), vkPageSize)}
	vkProcStatusText(&b, tid, vkThreadByTID(tid))
	f.textLen = b.n
	return 0
}

// vkStrBytes is a constant string's bytes, without a copy (a conversion
// to []byte could allocate); they must not be written.
func vkStrBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// vkText appends to a fixed buffer; what does not fit is dropped.
type vkText struct {
	b []byte
	n int
}

func (w *vkText) str(s string) {
	w.n += copy(w.b[w.n:], s)
}

func (w *vkText) put(c byte) {
	if w.n < len(w.b) {
		w.b[w.n] = c
		w.n++
	}
}

func (w *vkText) dec(v uint64) {
	var tmp [20]byte
	k := vkPutDec(tmp[:], 0, v)
	w.n += copy(w.b[w.n:], tmp[:k])
}

// hex writes v in lower-case hex, at least min digits.
func (w *vkText) hex(v uint64, min int) {
	var tmp [16]byte
	k := vkPutHex(tmp[:], 0, v, min)
	w.n += copy(w.b[w.n:], tmp[:k])
}

// line writes "name:\tv\n".
func (w *vkText) line(name string, v uint64) {
	w.str(name)
	w.str(":\t")
	w.dec(v)
	w.str("\n")
}

// ids writes "name:\ta\tb\tc\td\n".
func (w *vkText) ids(name string, a, b, c, d uint32) {
	w.str(name)
	w.str(":")
	for _, v := range [4]uint32{a, b, c, d} {
		w.str("\t")
		w.dec(uint64(v))
	}
	w.str("\n")
}

// set writes a 64-bit signal or capability set as Linux does:
// "name:\t%016x\n".
func (w *vkText) set(name string, v uint64) {
	w.str(name)
	w.str(":\t")
	w.hex(v, 16)
	w.str("\n")
}

// vkProcStatusText writes thread tid's status (t nil: it has exited,
// which only the process's first thread, pid 1, can show).
func vkProcStatusText(w *vkText, tid int32, t *vkThread) {
	vkCredInit()
	c := &vkCred
	// Name: the program's file name, cut to 15 bytes (TASK_COMM_LEN),
	// with '\\' and '\n' escaped as Linux does.
	exe := vkProcMapsExe()
	for i := len(exe) - 1; i >= 0; i-- {
		if exe[i] == '/' {
			exe = exe[i+1:]
			break
		}
	}
	if len(exe) > 15 {
		exe = exe[:15]
	}
	w.str("Name:\t")
	for _, ch := range exe {
		switch ch {
		case '\\':
			w.str("\\\\")
		case '\n':
			w.str("\\n")
		default:
			w.put(ch)
		}
	}
	w.str("\nUmask:\t0")
	um := vkTmp.umask
	w.put(byte('0' + um>>6&7))
	w.put(byte('0' + um>>3&7))
	w.put(byte('0' + um&7))
	w.str("\nState:\t")
	switch {
	case t == nil:
		w.str("Z (zombie)")
	case t.state == thBlocked:
		w.str("S (sleeping)")
	default:
		w.str("R (running)")
	}
	w.str("\n")
	w.line("Tgid", 1)
	w.line("Ngid", 0)
	w.line("Pid", uint64(tid))
	w.line("PPid", 0)
	w.line("TracerPid", 0)
	w.ids("Uid", c.uid, c.euid, c.suid, c.fsuid)
	w.ids("Gid", c.gid, c.egid, c.sgid, c.fsgid)
	w.line("FDSize", vkMaxFDs)
	// Groups: each followed by ' ' but the last, then a ' ' all the same
	// (Linux's trailing space). Keep room for the lines after it.
	w.str("Groups:\t")
	room := len(w.b) - 1024
	for i := int32(0); i < c.ngroups; i++ {
		if w.n+12 > room {
			break
		}
		if i > 0 {
			w.str(" ")
		}
		w.dec(uint64(c.groups[i]))
	}
	w.str(" \n")
	w.line("NStgid", 1)
	w.line("NSpid", uint64(tid))
	w.line("NSpgid", 1)
	w.line("NSsid", 1)
	w.line("Kthread", 0)
	w.line("Threads", uint64(vkSched.nthreads))
	var pend, blk uint64
	aff := vkAllCPUs()
	if t != nil {
		pend, blk, aff = t.pending, t.sigmask, t.affinity&aff
	}
	var ign, cgt uint64
	for sig := 1; sig < len(vkSigactions); sig++ {
		switch h := vkSigactions[sig].handler; {
		case h == vkSigIgn:
			ign |= 1 << (sig - 1)
		case h > vkSigIgn:
			cgt |= 1 << (sig - 1)
		}
	}
	w.set("SigPnd", pend)
	w.set("ShdPnd", 0)
	w.set("SigBlk", blk)
	w.set("SigIgn", ign)
	w.set("SigCgt", cgt)
	w.set("CapInh", c.capInh)
	w.set("CapPrm", c.capPrm)
	w.set("CapEff", c.capEff)
	w.set("CapBnd", c.capBnd)
	w.set("CapAmb", 0)
	w.line("NoNewPrivs", 0)
	w.line("Seccomp", 0)
	w.line("Seccomp_filters", 0)
	// Cpus_allowed: the mask in hex, one digit per 4 CPUs the machine
	// has, a comma between 32-bit words; then the same as a list.
	w.str("Cpus_allowed:\t")
	digits := (vkCPUCount + 3) / 4
	for d := digits - 1; d >= 0; d-- {
		w.hex(aff>>(4*d)&15, 1)
		if d > 0 && d%8 == 0 {
			w.str(",")
		}
	}
	w.str("\nCpus_allowed_list:\t")
	first := true
	for i := 0; i < vkMaxCPU; i++ {
		if aff>>i&1 == 0 || i > 0 && aff>>(i-1)&1 != 0 {
			continue // not allowed, or inside a range already written
		}
		j := i
		for j+1 < vkMaxCPU && aff>>(j+1)&1 != 0 {
			j++
		}
		if !first {
			w.str(",")
		}
		first = false
		w.dec(uint64(i))
		if j > i {
			w.str("-")
			w.dec(uint64(j))
		}
	}
	w.str("\nMems_allowed:\t00000001\nMems_allowed_list:\t0\n")
}
