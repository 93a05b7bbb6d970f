package kernel

import "testing"

// A PC outside the Go binary gets its name from the installed symbolizer,
// and ?0xADDRESS without one.
func TestSymbolizer(t *testing.T) {
	const pc = uintptr(0x7f0000001234) // no Go code lives there
	defer SetSymbolizer(nil)
	if got := symbolize(pc, map[uintptr]frameInfo{}).frames[0].Function; got != "?0x7f0000001234" {
		t.Fatalf("without a symbolizer: %q", got)
	}
	// Profile PCs are return addresses (the interrupted instruction plus
	// one): the symbolizer is asked about the byte before.
	SetSymbolizer(func(p uintptr) (string, bool) { return "jit:Sum", p == pc-1 })
	if got := symbolize(pc, map[uintptr]frameInfo{}).frames[0].Function; got != "jit:Sum" {
		t.Fatalf("with a symbolizer: %q", got)
	}
	if got := symbolize(pc+1, map[uintptr]frameInfo{}).frames[0].Function; got != "?0x7f0000001235" {
		t.Fatalf("a PC the symbolizer does not know: %q", got)
	}
}
