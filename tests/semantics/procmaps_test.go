package semantics

import (
	"bufio"
	"bytes"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

type mapping struct {
	lo, hi uint64
	perms  string
	off    uint64
	path   string
}

func readMaps(t *testing.T) []mapping {
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	var ms []mapping
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			t.Fatalf("short line %q", sc.Text())
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			t.Fatalf("bad range in %q", sc.Text())
		}
		var m mapping
		var e1, e2, e3 error
		m.lo, e1 = strconv.ParseUint(lo, 16, 64)
		m.hi, e2 = strconv.ParseUint(hi, 16, 64)
		m.off, e3 = strconv.ParseUint(f[2], 16, 64)
		if e1 != nil || e2 != nil || e3 != nil || m.lo >= m.hi || len(f[1]) != 4 {
			t.Fatalf("bad line %q", sc.Text())
		}
		m.perms = f[1]
		if len(f) > 5 {
			m.path = f[5]
		}
		if n := len(ms); n > 0 && ms[n-1].hi > m.lo {
			t.Fatalf("mappings out of order or overlapping: %x-%x then %q", ms[n-1].lo, ms[n-1].hi, sc.Text())
		}
		ms = append(ms, m)
	}
	return ms
}

func find(ms []mapping, addr uintptr) *mapping {
	for i := range ms {
		if uint64(addr) >= ms[i].lo && uint64(addr) < ms[i].hi {
			return &ms[i]
		}
	}
	return nil
}

var heapThing = new([64]byte)

// TestProcSelfMaps checks what runtime/pprof needs from /proc/self/maps
// (it names the executable's text mapping in every profile): the text is
// an executable, non-writable mapping named by the program's path, data
// and the heap are writable and not executable, and the lines parse in
// address order.
func TestProcSelfMaps(t *testing.T) {
	ms := readMaps(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := find(ms, reflect.ValueOf(TestProcSelfMaps).Pointer())
	if text == nil {
		t.Fatalf("no mapping holds this function's code")
	}
	if text.perms[0] != 'r' || text.perms[1] != '-' || text.perms[2] != 'x' {
		t.Errorf("text mapping %x-%x has permissions %s, want r-x", text.lo, text.hi, text.perms)
	}
	if text.path != exe {
		t.Errorf("text mapping is named %q, want the executable %q", text.path, exe)
	}
	heap := find(ms, uintptr(unsafe.Pointer(heapThing)))
	if heap == nil {
		t.Fatalf("no mapping holds a heap object")
	}
	if heap.perms[:3] != "rw-" {
		t.Errorf("heap mapping %x-%x has permissions %s, want rw-", heap.lo, heap.hi, heap.perms)
	}
	// Memory mapped after the first read shows up in the next one.
	b := make([]byte, 1<<20)
	b[0] = 1
	if find(readMaps(t), uintptr(unsafe.Pointer(&b[0]))) == nil {
		t.Errorf("a fresh 1 MiB allocation is in no mapping")
	}
}
