package procpath

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// liveSet is a thread table for tests: the tids in it are alive.
func liveSet(tids ...int32) ppLive {
	return func(t int32) bool {
		for _, x := range tids {
			if x == t {
				return true
			}
		}
		return false
	}
}

func TestParse(t *testing.T) {
	live := liveSet(1, 2, 7, 123456789)
	for _, tc := range []struct {
		path string
		kind int
		tid  int32
		rest string
		self bool
	}{
		{"", ppNone, 0, "", false},
		{"proc", ppNone, 0, "", false},
		{"proc/", ppNone, 0, "", false},
		{"etc/passwd", ppNone, 0, "", false},
		{"proc/sys/kernel", ppNone, 0, "", false},
		{"proc/cmdline", ppNone, 0, "", false},
		{"proc/selfish", ppNone, 0, "", false},
		{"proc/01", ppNone, 0, "", false},         // leading zero: not a number
		{"proc/+7", ppNone, 0, "", false},         // no sign
		{"proc/1234567890", ppNone, 0, "", false}, // ten digits
		{"proc/7x", ppNone, 0, "", false},
		{"procx/1", ppNone, 0, "", false},
		{"proc/self", ppPidDir, 1, "", true},
		{"proc/1", ppPidDir, 1, "", false},
		{"proc/7", ppPidDir, 7, "", false},
		{"proc/123456789", ppPidDir, 123456789, "", false},
		{"proc/3", ppMissing, 0, "", false},
		{"proc/0", ppMissing, 0, "", false},
		{"proc/3/status", ppMissing, 0, "", false},
		{"proc/self/status", ppFileIn, 1, "status", true},
		{"proc/self/maps", ppFileIn, 1, "maps", true},
		{"proc/7/status", ppFileIn, 7, "status", false},
		{"proc/7/", ppFileIn, 7, "", false},
		{"proc/7/a/b", ppFileIn, 7, "a/b", false},
		{"proc/7/tasks", ppFileIn, 7, "tasks", false},
		{"proc/self/task", ppTaskDir, 1, "", true},
		{"proc/2/task", ppTaskDir, 2, "", false},
		{"proc/self/task/2", ppTidDir, 2, "", true},
		{"proc/1/task/7", ppTidDir, 7, "", false},
		{"proc/7/task/1", ppTidDir, 1, "", false},
		{"proc/1/task/7/status", ppFileIn, 7, "status", false},
		{"proc/self/task/2/x/y", ppFileIn, 2, "x/y", true},
		{"proc/self/task/2/", ppFileIn, 2, "", true},
		{"proc/self/task/", ppMissing, 0, "", true},
		{"proc/self/task/3", ppMissing, 0, "", true},
		{"proc/1/task/3/status", ppMissing, 0, "", false},
		{"proc/1/task/07", ppMissing, 0, "", false},
		{"proc/1/task/self", ppMissing, 0, "", false},
	} {
		kind, tid, rest, self := ppParse([]byte(tc.path), live)
		if kind != tc.kind || tid != tc.tid || string(rest) != tc.rest || self != tc.self {
			t.Errorf("ppParse(%q) = %d %d %q %v, want %d %d %q %v",
				tc.path, kind, tid, rest, self, tc.kind, tc.tid, tc.rest, tc.self)
		}
		if (kind == ppNone || kind == ppMissing) && rest != nil {
			t.Errorf("ppParse(%q): rest %q for kind %d", tc.path, rest, kind)
		}
	}
}

// TestPid1AlwaysLive: pid 1 is the process even when no thread has tid
// 1, but task/1 is a thread and must be live.
func TestPid1AlwaysLive(t *testing.T) {
	none := liveSet()
	if kind, tid, _, _ := ppParse([]byte("proc/1"), none); kind != ppPidDir || tid != 1 {
		t.Errorf("proc/1 with no threads: %d %d, want the pid directory of 1", kind, tid)
	}
	if kind, _, _, _ := ppParse([]byte("proc/1/task/1"), none); kind != ppMissing {
		t.Errorf("proc/1/task/1 with no threads: %d, want missing", kind)
	}
}

func TestNum(t *testing.T) {
	for s, want := range map[string]int32{"0": 0, "1": 1, "42": 42, "999999999": 999999999} {
		if n, ok := ppNum([]byte(s)); !ok || n != want {
			t.Errorf("ppNum(%q) = %d %v, want %d", s, n, ok, want)
		}
	}
	for _, s := range []string{"", "00", "01", "-1", "+1", " 1", "1 ", "1000000000", "1a", "x"} {
		if n, ok := ppNum([]byte(s)); ok {
			t.Errorf("ppNum(%q) = %d, want no number", s, n)
		}
	}
}

func TestNoAllocation(t *testing.T) {
	live := liveSet(1, 2)
	path := []byte("proc/self/task/2/status")
	if n := testing.AllocsPerRun(100, func() { ppParse(path, live) }); n != 0 {
		t.Errorf("ppParse allocates %v times", n)
	}
}

// refNum is the number rule written as a pattern.
var refNum = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})$`)

// refParse is ppParse written the obvious way, over strings, for the
// fuzz target to compare against.
func refParse(path string, live func(int32) bool) (kind int, tid int32, rest string, self bool) {
	num := func(s string) (int32, bool) {
		if !refNum.MatchString(s) {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 32)
		return int32(n), err == nil
	}
	s, ok := strings.CutPrefix(path, "proc/")
	if !ok || s == "" {
		return ppNone, 0, "", false
	}
	parts := strings.Split(s, "/")
	if parts[0] == "self" {
		self, tid = true, 1
	} else if n, ok := num(parts[0]); !ok {
		return ppNone, 0, "", false
	} else if n != 1 && !live(n) {
		return ppMissing, 0, "", false
	} else {
		tid = n
	}
	switch {
	case len(parts) == 1:
		return ppPidDir, tid, "", self
	case parts[1] != "task":
		return ppFileIn, tid, strings.Join(parts[1:], "/"), self
	case len(parts) == 2:
		return ppTaskDir, tid, "", self
	}
	n, ok := num(parts[2])
	if !ok || !live(n) {
		return ppMissing, 0, "", self
	}
	if len(parts) == 3 {
		return ppTidDir, n, "", self
	}
	return ppFileIn, n, strings.Join(parts[3:], "/"), self
}

// FuzzParse checks ppParse against refParse. mask says which tids below
// 64 are alive; big is one more live tid (any value).
func FuzzParse(f *testing.F) {
	f.Add("proc/self/status", uint64(0b110), int32(0))
	f.Add("proc/2/task/2/status", uint64(0b110), int32(0))
	f.Add("proc/1/task/123456789", uint64(0), int32(123456789))
	f.Add("proc/01/task", uint64(2), int32(0))
	f.Add("proc/sys/kernel/pid_max", uint64(2), int32(0))
	f.Fuzz(func(t *testing.T, path string, mask uint64, big int32) {
		live := func(tid int32) bool {
			if tid < 0 || tid > 999999999 {
				t.Fatalf("live asked about %d, which is no pid", tid)
			}
			return tid == big || tid < 64 && mask>>uint(tid)&1 != 0
		}
		b := []byte(path)
		kind, tid, rest, self := ppParse(b, live)
		if kind < ppNone || kind > ppFileIn {
			t.Fatalf("ppParse(%q): kind %d", path, kind)
		}
		if rest != nil {
			// rest is the tail of the path itself, not a copy.
			if kind != ppFileIn || len(rest) > len(b) ||
				unsafe.SliceData(rest) != unsafe.SliceData(b[len(b)-len(rest):]) && len(rest) > 0 {
				t.Fatalf("ppParse(%q): rest %q (kind %d) is not the path's tail", path, rest, kind)
			}
		}
		if (kind == ppNone || kind == ppMissing) && tid != 0 {
			t.Fatalf("ppParse(%q): tid %d for kind %d", path, tid, kind)
		}
		if kind >= ppPidDir && tid != 1 && !live(tid) {
			t.Fatalf("ppParse(%q): tid %d is not alive", path, tid)
		}
		wk, wt, wr, ws := refParse(path, live)
		if kind != wk || tid != wt || string(rest) != wr || self != ws {
			t.Fatalf("ppParse(%q) = %d %d %q %v, reference says %d %d %q %v",
				path, kind, tid, rest, self, wk, wt, wr, ws)
		}
	})
}
