package main

import (
	"runtime"
	"syscall"
)

// credCases are the cases for credentials, capabilities, prctl and
// getpgid. The host test runs as root, so every case that succeeds
// leaves the ids as they were (0) and the capability sets as capget
// read them; the group list ends as root's usual one, {0}.
func credCases(e *env, add func(string, func(*env) syscall.Errno)) {
	buf := e.scratch + 2048
	const (
		none         = uintptr(0xffffffff) // -1: "leave this id alone", or not an id
		capV1        = 0x19980330
		capV3        = 0x20080522
		noSuchPid    = 0x3fffffff
		prGetKeepcap = 7
		prSetKeepcap = 8
		prCapbsetRd  = 23
	)
	add("prctl/get_keepcaps", func(*env) syscall.Errno { return sc(syscall.SYS_PRCTL, prGetKeepcap) })
	add("prctl/set_keepcaps_1", func(*env) syscall.Errno { return sc(syscall.SYS_PRCTL, prSetKeepcap, 1) })
	add("prctl/set_keepcaps_0", func(*env) syscall.Errno { return sc(syscall.SYS_PRCTL, prSetKeepcap, 0) })
	add("prctl/set_keepcaps_2", func(*env) syscall.Errno { return sc(syscall.SYS_PRCTL, prSetKeepcap, 2) })
	add("prctl/capbset_read", func(*env) syscall.Errno { return sc(syscall.SYS_PRCTL, prCapbsetRd, 0) })
	add("prctl/capbset_read_past_last", func(*env) syscall.Errno { return sc(syscall.SYS_PRCTL, prCapbsetRd, 64) })
	add("prctl/unknown_option", func(*env) syscall.Errno { return sc(syscall.SYS_PRCTL, 0x7fff0000) })

	add("setuid/minus1", func(*env) syscall.Errno { return sc(syscall.SYS_SETUID, none) })
	add("setgid/minus1", func(*env) syscall.Errno { return sc(syscall.SYS_SETGID, none) })
	add("setuid/root", func(*env) syscall.Errno { return sc(syscall.SYS_SETUID, 0) })
	add("setgid/root", func(*env) syscall.Errno { return sc(syscall.SYS_SETGID, 0) })
	add("setreuid/no_change", func(*env) syscall.Errno { return sc(syscall.SYS_SETREUID, none, none) })
	add("setregid/no_change", func(*env) syscall.Errno { return sc(syscall.SYS_SETREGID, none, none) })
	add("setreuid/root", func(*env) syscall.Errno { return sc(syscall.SYS_SETREUID, 0, 0) })
	add("setresuid/no_change", func(*env) syscall.Errno { return sc(syscall.SYS_SETRESUID, none, none, none) })
	add("setresgid/no_change", func(*env) syscall.Errno { return sc(syscall.SYS_SETRESGID, none, none, none) })
	add("setresuid/root", func(*env) syscall.Errno { return sc(syscall.SYS_SETRESUID, 0, 0, 0) })
	add("setresgid/root", func(*env) syscall.Errno { return sc(syscall.SYS_SETRESGID, 0, 0, 0) })
	for _, c := range []struct {
		name string
		nr   uintptr
	}{{"getresuid", syscall.SYS_GETRESUID}, {"getresgid", syscall.SYS_GETRESGID}} {
		nr := c.nr
		add(c.name+"/ok", func(*env) syscall.Errno { return sc(nr, buf, buf+4, buf+8) })
		add(c.name+"/nil_first", func(*env) syscall.Errno { return sc(nr, 0, buf+4, buf+8) })
		add(c.name+"/readonly_last", func(e *env) syscall.Errno { return sc(nr, buf, buf+4, e.ro) })
		add(c.name+"/unmapped_second", func(e *env) syscall.Errno { return sc(nr, buf, e.edge, buf+8) })
	}

	add("setgroups/negative", func(*env) syscall.Errno { return sc(syscall.SYS_SETGROUPS, none, buf) })
	add("setgroups/over_ngroups_max", func(*env) syscall.Errno { return sc(syscall.SYS_SETGROUPS, 65537, buf) })
	add("setgroups/nil", func(*env) syscall.Errno { return sc(syscall.SYS_SETGROUPS, 1, 0) })
	add("setgroups/into_unmapped", func(e *env) syscall.Errno {
		put32s(e.edge-4, 0)
		return sc(syscall.SYS_SETGROUPS, 2, e.edge-4)
	})
	add("setgroups/gid_minus1", func(*env) syscall.Errno {
		put32s(buf, 0, 0xffffffff)
		return sc(syscall.SYS_SETGROUPS, 2, buf)
	})
	add("setgroups/three", func(*env) syscall.Errno {
		put32s(buf, 3, 0, 2)
		return sc(syscall.SYS_SETGROUPS, 3, buf)
	})
	add("getgroups/negative", func(*env) syscall.Errno { return sc(syscall.SYS_GETGROUPS, none, buf) })
	add("getgroups/count", func(*env) syscall.Errno { return sc(syscall.SYS_GETGROUPS, 0, 0) })
	add("getgroups/too_small", func(*env) syscall.Errno { return sc(syscall.SYS_GETGROUPS, 2, buf) })
	add("getgroups/nil", func(*env) syscall.Errno { return sc(syscall.SYS_GETGROUPS, 3, 0) })
	add("getgroups/readonly", func(e *env) syscall.Errno { return sc(syscall.SYS_GETGROUPS, 3, e.ro) })
	add("getgroups/sorted", func(*env) syscall.Errno {
		n, err := sc1(syscall.SYS_GETGROUPS, 8, buf)
		if err != 0 {
			return err
		}
		if b := bytesAt(buf, 12); n != 3 || b[0] != 0 || b[4] != 2 || b[8] != 3 {
			return syscall.ERANGE // not what setgroups gave, in Linux's sorted order
		}
		return 0
	})
	add("setgroups/root", func(*env) syscall.Errno {
		put32s(buf, 0)
		return sc(syscall.SYS_SETGROUPS, 1, buf)
	})

	hdr, data := e.scratch+3072, e.scratch+3200
	// setfsuid and setfsgid never fail: they answer the old id. Linux
	// keeps them per thread, so each case stays on one thread; each ends
	// with the ids back at 0. A uid_t is 32 bits: the high half is not
	// looked at.
	capEff := func() uint64 { // the effective set, low and high words
		put32s(hdr, capV3, 0)
		if sc(syscall.SYS_CAPGET, hdr, data) != 0 {
			return 0
		}
		b := bytesAt(data, 24)
		return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[12])<<32 | uint64(b[13])<<40 | uint64(b[14])<<48 | uint64(b[15])<<56
	}
	fsSteps := func(nr uintptr, steps [][2]uintptr) syscall.Errno {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for _, s := range steps {
			if old, err := sc1(nr, s[0]); err != 0 || old != s[1] {
				sc1(nr, 0)
				return syscall.ERANGE // not the old id Linux answers
			}
		}
		return 0
	}
	add("setfsuid/ask", func(*env) syscall.Errno { return fsSteps(syscall.SYS_SETFSUID, [][2]uintptr{{none, 0}}) })
	add("setfsgid/ask", func(*env) syscall.Errno { return fsSteps(syscall.SYS_SETFSGID, [][2]uintptr{{none, 0}}) })
	add("setfsuid/away_and_back", func(*env) syscall.Errno {
		return fsSteps(syscall.SYS_SETFSUID, [][2]uintptr{{1000, 0}, {none, 1000}, {1<<32 + 5, 1000}, {none, 5}, {0, 5}, {none, 0}})
	})
	add("setfsgid/away_and_back", func(*env) syscall.Errno {
		return fsSteps(syscall.SYS_SETFSGID, [][2]uintptr{{77, 0}, {none, 77}, {0, 77}, {none, 0}})
	})
	add("setfsuid/drops_and_raises_cap_fs_set", func(*env) syscall.Errno {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		const chown, mknod = 1 << 0, 1 << 27
		before := capEff()
		sc1(syscall.SYS_SETFSUID, 1000)
		away := capEff()
		sc1(syscall.SYS_SETFSUID, 0)
		back := capEff()
		if before&(chown|mknod) != chown|mknod || away&(chown|mknod) != 0 || back != before {
			return syscall.ERANGE // CAP_FS_SET did not follow the file-system uid
		}
		return 0
	})
	add("capget/nil", func(*env) syscall.Errno { return sc(syscall.SYS_CAPGET, 0, 0) })
	add("capget/bad_version_no_data", func(*env) syscall.Errno {
		put32s(hdr, 0x12345678, 0)
		if err := sc(syscall.SYS_CAPGET, hdr, 0); err != 0 {
			return err
		}
		if bytesAt(hdr, 4)[3] != 0x20 {
			return syscall.ERANGE // the preferred version was not written back
		}
		return 0
	})
	add("capget/bad_version", func(*env) syscall.Errno {
		put32s(hdr, 0x12345678, 0)
		return sc(syscall.SYS_CAPGET, hdr, data)
	})
	add("capget/readonly_header_bad_version", func(e *env) syscall.Errno { return sc(syscall.SYS_CAPGET, e.ro, data) })
	add("capget/v1", func(*env) syscall.Errno {
		put32s(hdr, capV1, 0)
		return sc(syscall.SYS_CAPGET, hdr, data)
	})
	add("capget/v3", func(*env) syscall.Errno {
		put32s(hdr, capV3, 0)
		return sc(syscall.SYS_CAPGET, hdr, data)
	})
	add("capget/negative_pid", func(*env) syscall.Errno {
		put32s(hdr, capV3, 0xffffffff)
		return sc(syscall.SYS_CAPGET, hdr, data)
	})
	add("capget/no_such_pid", func(*env) syscall.Errno {
		put32s(hdr, capV3, noSuchPid)
		return sc(syscall.SYS_CAPGET, hdr, data)
	})
	add("capget/data_into_unmapped", func(e *env) syscall.Errno {
		put32s(hdr, capV3, 0)
		return sc(syscall.SYS_CAPGET, hdr, e.edge-12)
	})
	add("capget/data_readonly", func(e *env) syscall.Errno {
		put32s(hdr, capV3, 0)
		return sc(syscall.SYS_CAPGET, hdr, e.ro)
	})
	add("capset/other_pid", func(*env) syscall.Errno {
		put32s(hdr, capV3, noSuchPid)
		return sc(syscall.SYS_CAPSET, hdr, data)
	})
	add("capset/bad_version", func(*env) syscall.Errno {
		put32s(hdr, 0x12345678, 0)
		return sc(syscall.SYS_CAPSET, hdr, data)
	})
	add("capset/nil_data", func(*env) syscall.Errno {
		put32s(hdr, capV3, 0)
		return sc(syscall.SYS_CAPSET, hdr, 0)
	})
	add("capset/effective_beyond_permitted", func(*env) syscall.Errno {
		put32s(hdr, capV3, 0)
		put32s(data+512, 1, 0, 0, 0, 0, 0) // effective CAP_CHOWN, permitted none
		return sc(syscall.SYS_CAPSET, hdr, data+512)
	})
	add("capset/unchanged", func(*env) syscall.Errno {
		put32s(hdr, capV3, 0)
		if err := sc(syscall.SYS_CAPGET, hdr, data); err != 0 {
			return err
		}
		return sc(syscall.SYS_CAPSET, hdr, data)
	})

	add("getpgid/self_zero", func(*env) syscall.Errno { return sc(syscall.SYS_GETPGID, 0) })
	add("getpgid/self", func(*env) syscall.Errno { return sc(syscall.SYS_GETPGID, uintptr(syscall.Getpid())) })
	add("getpgid/negative", func(*env) syscall.Errno { return sc(syscall.SYS_GETPGID, none) })
	add("getpgid/no_such_pid", func(*env) syscall.Errno { return sc(syscall.SYS_GETPGID, noSuchPid) })
}
