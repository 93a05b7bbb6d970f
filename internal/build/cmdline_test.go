package build

import (
	"reflect"
	"strings"
	"testing"
)

func TestJoinCmdline(t *testing.T) {
	got, err := JoinCmdline([]string{"-test.v=true", "-test.run=Foo Bar", "", "x"})
	want := `-test.v=true "-test.run=Foo Bar" "" x`
	if err != nil || got != want {
		t.Errorf("JoinCmdline = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{`say "hi"`, "a\nb", "nul\x00"} {
		if _, err := JoinCmdline([]string{bad}); err == nil {
			t.Errorf("JoinCmdline accepted %q", bad)
		}
	}
}

func TestSplitCmdlineRoundTrip(t *testing.T) {
	args := []string{"A=1", "-v", "--", "hello world", "", "-test.run=^T$"}
	line, err := JoinCmdline(args)
	if err != nil {
		t.Fatal(err)
	}
	back, err := SplitCmdline(line)
	if err != nil || !reflect.DeepEqual(back, args) {
		t.Errorf("round trip %q -> %q -> %q, %v", args, line, back, err)
	}
	if words, _ := SplitCmdline(`  a   "b c"d  `); !reflect.DeepEqual(words, []string{"a", "b cd"}) {
		t.Errorf("SplitCmdline = %q", words)
	}
	if _, err := SplitCmdline(`a "b`); err == nil {
		t.Error("unterminated quote accepted")
	}
}

func TestKernelCmdline(t *testing.T) {
	got, err := KernelCmdline([]string{"HOME=/", "GODEBUG=x=1"}, []string{"-smp-log"}, []string{"-test.v", "a b"})
	want := `HOME=/ GODEBUG=x=1 -smp-log -- -test.v "a b"`
	if err != nil || got != want {
		t.Errorf("KernelCmdline = %q, %v; want %q", got, err, want)
	}
	if got, _ := KernelCmdline(nil, nil, []string{}); got != "--" {
		t.Errorf("empty argv: %q; want \"--\"", got)
	}
	if got, _ := KernelCmdline(nil, []string{"-x"}, nil); strings.Contains(got, "--") {
		t.Errorf("nil argv added \"--\": %q", got)
	}
	for _, bad := range []string{"NOEQUALS", "=V", "lower=v", "1X=v", "-X=v"} {
		if _, err := KernelCmdline([]string{bad}, nil, nil); err == nil {
			t.Errorf("bad env entry %q accepted", bad)
		}
	}
	if _, err := KernelCmdline([]string{"_X1=a=b"}, nil, nil); err != nil {
		t.Error(err)
	}
}
