package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// threadUse is what one class of QEMU's threads has used so far: user
// and system CPU time, and how often they went to sleep (voluntary
// context switches: a vCPU thread sleeps when its guest CPU halts, the
// main loop when it waits for the next event).
type threadUse struct {
	user, sys time.Duration
	sleeps    int64
	// preempts counts involuntary context switches: the host took the
	// CPU from a thread that could have run on, which on a host with
	// more runnable threads than CPUs is the price of overcommit.
	preempts int64
}

// qemuThreads splits process pid's use between its vCPU threads (named
// "CPU n/TCG" or "CPU n/KVM") and the rest (the main loop, which runs
// the card's back end, and helpers), from /proc/PID/task. Host CPU per
// request says how much a guest costs; this says whether it goes to the
// guest's own instructions (vCPU user time), to the host kernel on the
// guest's behalf (system time: halts, wake-ups, the tap device) or to
// QEMU's devices. ok is false without /proc.
func qemuThreads(pid int) (vcpu, rest threadUse, ok bool) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tids, err := os.ReadDir(dir)
	if err != nil {
		return vcpu, rest, false
	}
	for _, t := range tids {
		comm, err1 := os.ReadFile(filepath.Join(dir, t.Name(), "comm"))
		stat, err2 := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
		status, err3 := os.ReadFile(filepath.Join(dir, t.Name(), "status"))
		if err1 != nil || err2 != nil || err3 != nil {
			continue // the thread ended meanwhile
		}
		u, s, ok := statTimes(stat)
		if !ok {
			continue
		}
		c := &rest
		if strings.HasPrefix(string(comm), "CPU ") {
			c = &vcpu
		}
		c.user += u
		c.sys += s
		c.sleeps += statusField(status, "voluntary_ctxt_switches:")
		c.preempts += statusField(status, "nonvoluntary_ctxt_switches:")
	}
	return vcpu, rest, true
}

// statTimes reads utime and stime from a /proc stat line.
func statTimes(b []byte) (user, sys time.Duration, ok bool) {
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis (utime and stime are fields 14
	// and 15 of the line, 12 and 13 after it).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	fs := strings.Fields(string(b[i+1:]))
	if len(fs) < 13 {
		return 0, 0, false
	}
	ut, err1 := strconv.ParseInt(fs[11], 10, 64)
	st, err2 := strconv.ParseInt(fs[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return time.Duration(ut) * 10 * time.Millisecond, time.Duration(st) * 10 * time.Millisecond, true
}

// statusField is the number after name in a /proc status file, or 0.
func statusField(b []byte, name string) int64 {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
