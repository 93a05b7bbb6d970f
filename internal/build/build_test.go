package build

import (
	"reflect"
	"testing"
)

func TestSplitUserArgs(t *testing.T) {
	p := splitUserArgs([]string{"-v", "-ldflags", "-s -w", "--tags=foo,bar", "-overlay=o.json", "./pkg", "-run", "X", "-args", "-tags", "x"})
	if !reflect.DeepEqual(p.ldflags, []string{"-s -w"}) || !reflect.DeepEqual(p.tags, []string{"foo,bar"}) || p.overlay != "o.json" {
		t.Errorf("parsed %+v", p)
	}
	want := []string{"-v", "./pkg", "-run", "X", "-args", "-tags", "x"}
	if !reflect.DeepEqual(p.rest, want) {
		t.Errorf("rest = %q; want %q", p.rest, want)
	}
}

func TestMergeTags(t *testing.T) {
	for in, want := range map[string]string{"": "velocity", "a,b": "velocity,a,b", "a b": "velocity,a,b", "velocity,x": "velocity,x"} {
		var user []string
		if in != "" {
			user = []string{in}
		}
		if got := mergeTags(user); got != want {
			t.Errorf("mergeTags(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestMergeLDFlags(t *testing.T) {
	for _, tc := range []struct {
		user []string
		want []string
	}{
		{nil, []string{"-ldflags=" + LDFlags}},
		{[]string{"-s -w"}, []string{"-ldflags=" + LDFlags + " -s -w"}},
		{[]string{"-X a=b"}, []string{"-ldflags=" + LDFlags + " -X a=b"}},
		{[]string{"all=-s"}, []string{"-ldflags=" + LDFlags, "-ldflags=all=" + LDFlags + " -s"}},
	} {
		if got := mergeLDFlags(tc.user); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("mergeLDFlags(%q) = %q; want %q", tc.user, got, tc.want)
		}
	}
}

func TestExecCommand(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/velocity": "/usr/bin/velocity exec",
		"/my dir/velocity":  "'/my dir/velocity' exec",
		"/it's/velocity":    `"/it's/velocity" exec`,
	} {
		if got, err := ExecCommand(in); err != nil || got != want {
			t.Errorf("ExecCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ExecCommand(`/a'b"c`); err == nil {
		t.Error("unquotable path accepted")
	}
}

func TestEnvTargetsLinuxAMD64(t *testing.T) {
	env := Env()
	tail := env[len(env)-3:]
	if !reflect.DeepEqual(tail, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}) {
		t.Errorf("Env ends with %q", tail)
	}
}
