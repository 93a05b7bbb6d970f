package merkle

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/velocityos/velocity/lang/dagcbor"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/progen"
)

func outcome(f *ir.Func, a, b int64) string {
	v, err := interp.New(20000).Call(f, []interp.Value{interp.Int64(a), interp.Int64(b)})
	if err != nil {
		// The function name differs (source vs decoded); compare the cause.
		if re, ok := err.(*interp.RuntimeError); ok {
			return "error: " + re.Err.Error()
		}
		return "error: " + err.Error()
	}
	return fmt.Sprint(int64(v.(uint64)))
}

// TestRandomPrograms generates random modules and checks, for each: the
// blocks decode to functions that behave exactly like the checked source
// (same results, same run-time errors, same fuel exhaustion), decoded
// functions re-encode to the same bytes, and renaming every local and
// parameter and adding comments changes no CID.
func TestRandomPrograms(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	deadline := time.Now().Add(60 * time.Second)
	args := [][2]int64{{0, 0}, {1, -1}, {7, 3}, {-100, 12345}, {1 << 40, -(1 << 62)}}
	outcomes := map[string]int{}
	for seed := uint64(1); seed <= uint64(n) && time.Now().Before(deadline); seed++ {
		src := progen.Module(seed, progen.Default)
		m, h := build(t, src, nil)
		alt := progen.Default
		alt.Names, alt.Comments = "renamed_", true
		_, h2 := build(t, progen.Module(seed, alt), nil)
		if !h.CID.Equals(h2.CID) {
			t.Fatalf("seed %d: renaming changed the module CID", seed)
		}
		blocks := memBlocks{}
		blocks.put(h.Blocks)
		dm, err := NewLoader(blocks).Module(h.CID)
		if err != nil {
			t.Fatalf("seed %d: decode: %v\n%s", seed, err, src)
		}
		for _, f := range m.Funcs {
			df := dm.Exports[f.Name]
			if df == nil || !df.CID.Equals(f.CID) {
				t.Fatalf("seed %d: %s missing or wrong CID after decode", seed, f.Name)
			}
			enc, err := encodeFunc(df, nil)
			if err != nil {
				t.Fatal(err)
			}
			enc["format"], enc["kind"] = Format, KindFunc
			re, _ := dagcbor.Encode(enc)
			if orig, _ := blocks.Get(f.CID); !bytes.Equal(re, orig) {
				t.Fatalf("seed %d: %s re-encodes differently", seed, f.Name)
			}
			for _, a := range args {
				want, got := outcome(f, a[0], a[1]), outcome(df, a[0], a[1])
				if want != got {
					t.Fatalf("seed %d: %s(%d, %d): source %s, decoded %s\n%s", seed, f.Name, a[0], a[1], want, got, src)
				}
				if strings.HasPrefix(want, "error:") {
					outcomes[strings.SplitN(want, " [", 2)[0]]++
				} else {
					outcomes["value"]++
				}
			}
		}
	}
	t.Logf("outcomes: %v", outcomes)
	if outcomes["value"] == 0 {
		t.Fatal("no program returned a value")
	}
}
