package cpio

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// newc writes an archive of name/data pairs (a directory when data is
// "/"), ending with the trailer, padded as internal/build pads.
func newc(files ...string) []byte {
	var b bytes.Buffer
	put := func(name string, mode uint32, data string) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			1, mode, 0, 0, 1, 1700000000, len(data), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name)
		b.WriteByte(0)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.WriteString(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	for i := 0; i+1 < len(files); i += 2 {
		if files[i+1] == "/" {
			put(files[i], 0o40755, "")
		} else {
			put(files[i], 0o100644, files[i+1])
		}
	}
	put("TRAILER!!!", 0, "")
	return b.Bytes()
}

// index reads every entry of ar as the kernel does.
func index(ar []byte) (names, datas []string, msg string) {
	for off := 0; ; {
		e, next, trailer, m := cpioNext(ar, off, 4096)
		if m != "" {
			return names, datas, m
		}
		if trailer {
			return names, datas, ""
		}
		if next <= off {
			return names, datas, "no progress"
		}
		names = append(names, string(ar[e.nameOff:e.nameOff+e.nameLen]))
		datas = append(datas, string(ar[e.dataOff:e.dataOff+int(e.size)]))
		off = next
	}
}

func TestIndex(t *testing.T) {
	ar := newc("etc", "/", "/etc/hosts", "127.0.0.1 localhost\n", "a/b", "", "x", "123")
	names, datas, msg := index(ar)
	if msg != "" {
		t.Fatal(msg)
	}
	if got := strings.Join(names, "|"); got != "etc|etc/hosts|a/b|x" {
		t.Errorf("names %q", got)
	}
	if got := strings.Join(datas, "|"); got != "|127.0.0.1 localhost\n||123" {
		t.Errorf("data %q", got)
	}
	e, _, _, _ := cpioNext(ar, 0, 4096)
	if e.mode != 0o40755 || e.mtime != 1700000000 {
		t.Errorf("mode %o mtime %d", e.mode, e.mtime)
	}
}

func TestIndexErrors(t *testing.T) {
	good := newc("f", "data")
	for name, c := range map[string]struct {
		ar   []byte
		want string
	}{
		"empty":        {nil, "no TRAILER!!! entry"},
		"no trailer":   {good[:112+4], "no TRAILER!!! entry"},
		"bad magic":    {append([]byte("070707"), good[6:]...), "bad cpio header (not newc)"},
		"bad hex":      {append(append(append([]byte(nil), good[:54]...), 'g'), good[55:]...), "bad cpio header field"},
		"name size 0":  {append(append(append([]byte(nil), good[:94]...), "00000000"...), good[102:]...), "bad cpio header field"},
		"long name":    {newc(strings.Repeat("n", 5000), "x"), "bad cpio header field"},
		"truncated":    {good[:114], "truncated"},
		"size too big": {append(append(append([]byte(nil), good[:54]...), "FFFFFFFF"...), good[62:]...), "truncated"},
	} {
		_, _, msg := index(c.ar)
		if msg != "file system archive: "+c.want {
			t.Errorf("%s: %q, want %q", name, msg, c.want)
		}
	}
}

// FuzzIndex reads arbitrary archives: no panic, every entry's name and
// data inside the archive, offsets only moving forward, and an archive
// written by newc from the entries found reads back the same.
func FuzzIndex(f *testing.F) {
	f.Add(newc("etc", "/", "etc/hosts", "127.0.0.1 localhost\n"))
	f.Fuzz(func(t *testing.T, ar []byte) {
		var pairs []string
		for off := 0; ; {
			e, next, trailer, msg := cpioNext(ar, off, 4096)
			if msg != "" || trailer {
				break
			}
			if e.nameOff < off || e.nameOff+e.nameLen > len(ar) || e.dataOff < e.nameOff+e.nameLen ||
				e.size < 0 || int64(e.dataOff)+e.size > int64(len(ar)) || next <= off {
				t.Fatalf("entry at %d out of bounds: %+v, next %d, archive %d bytes", off, e, next, len(ar))
			}
			name := string(ar[e.nameOff : e.nameOff+e.nameLen])
			if e.nameLen > 0 && !strings.ContainsRune(name, 0) && name != "TRAILER!!!" {
				pairs = append(pairs, name, string(ar[e.dataOff:e.dataOff+int(e.size)]))
			}
			off = next
		}
		// Round trip: the same entries (as files) come back in order.
		for i := 1; i < len(pairs); i += 2 {
			if pairs[i] == "/" {
				pairs[i] = "//" // newc's directory marker; any data will do
			}
		}
		names, datas, msg := index(newc(pairs...))
		if msg != "" || len(names)*2 != len(pairs) {
			t.Fatalf("round trip: %q, %d entries for %d", msg, len(names), len(pairs)/2)
		}
		for i := range names {
			if names[i] != strings.TrimLeft(pairs[2*i], "/") || datas[i] != pairs[2*i+1] {
				t.Fatalf("round trip entry %d: %q %q, want %q %q", i, names[i], datas[i], pairs[2*i], pairs[2*i+1])
			}
		}
	})
}
