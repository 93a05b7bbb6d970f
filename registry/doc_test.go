package registry

import (
	"os"
	"strings"
	"testing"

	"github.com/velocityos/velocity/lang/interp"
)

// arithSrc is the module whose CID is pinned in lang/merkle's golden test.
const arithSrc = `module arith
func Square(x int64) int64 { y := x * x; return y }
func SumSquares(n int64) int64 {
	total := int64(0)
	for i := int64(0); i < n; i++ { total += Square(i) }
	return total
}
func Even(n int64) bool { if n == 0 { return true }; return Odd(n - 1) }
func Odd(n int64) bool { if n == 0 { return false }; return Even(n - 1) }
func Fact(n int64) int64 { if n <= 1 { return 1 }; return n * Fact(n-1) }
`

// TestDocExample compiles and runs the example module in docs/lang.md.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/lang.md")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(string(doc), "```velocity\n", 2)
	if len(parts) != 2 {
		t.Fatal("no velocity example in docs/lang.md")
	}
	example := strings.SplitN(parts[1], "```", 2)[0]
	s := NewMemStore()
	arith, _, err := AddSource(s, "arith.vel", []byte(arithSrc))
	if err != nil {
		t.Fatal(err)
	}
	if got := arith.String(); got != "bafyreig2mw4ipujebxo642gvup2lqtvjcpcwpfsu4t4qcieppxdw6alo3i" {
		t.Fatalf("arith CID %s does not match the golden CID used in the doc", got)
	}
	c, _, err := AddSource(s, "stats.vel", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := Run(s, c, "Sum", 1000, interp.Int64(4))
	if err != nil || v != interp.Int64(0+1+4+9+6) {
		t.Fatalf("Sum(4) = %v, %v", v, err)
	}
	v, _, err = Run(s, c, "Mean", 1000, interp.Slice{Elems: []uint64{2, 4, 9}})
	if err != nil || v != interp.Int64(5) {
		t.Fatalf("Mean = %v, %v", v, err)
	}
}
