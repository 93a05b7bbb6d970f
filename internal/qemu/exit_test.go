package qemu

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestGuestExitCode(t *testing.T) {
	for _, tc := range []struct {
		status, code int
		ok           bool
	}{
		{1, 0, true}, // guest wrote 0
		{3, 1, true}, // guest wrote 1
		{7, 3, true}, // stub failure code 3
		{255, 127, true},
		{0, 0, false},  // shutdown or triple fault with -no-reboot
		{2, 0, false},  // QEMU error
		{-1, 0, false}, // killed
	} {
		code, ok := GuestExitCode(tc.status)
		if code != tc.code || ok != tc.ok {
			t.Errorf("GuestExitCode(%d) = %d, %v; want %d, %v", tc.status, code, ok, tc.code, tc.ok)
		}
	}
}

// exitWith runs sh to get a real *os.ProcessState with the given status.
func exitWith(t *testing.T, script string) (*exec.Cmd, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	return cmd, cmd.Run()
}

func TestMapExit(t *testing.T) {
	for _, tc := range []struct {
		name, script, stderr string
		code                 int
		wantErr              string
	}{
		{"guest 0", "exit 1", "", 0, ""},
		{"guest 0 with warning", "exit 1", "qemu-system-x86_64: warning: host doesn't support requested feature\n", 0, ""},
		{"guest 42", "exit 85", "", 42, ""},
		{"qemu error", "exit 1", "qemu: could not open kernel file 'x'\n", 0, "reported an error"},
		{"even", "exit 2", "boom", 0, "status 2"},
		{"shutdown", "exit 0", "", 0, "triple-faulted"},
		{"killed", "kill -9 $$", "", 0, "killed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, waitErr := exitWith(t, tc.script)
			var res Result
			err := mapExit(cmd.ProcessState, waitErr, tc.stderr, &res)
			if tc.wantErr == "" {
				if err != nil || res.ExitCode != tc.code {
					t.Fatalf("got code %d, err %v; want code %d", res.ExitCode, err, tc.code)
				}
				return
			}
			var ee *ExitError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v; want *ExitError containing %q", err, tc.wantErr)
			}
			if tc.stderr != "" && !strings.Contains(err.Error(), strings.TrimSpace(tc.stderr)) {
				t.Errorf("error %q does not include QEMU's stderr", err)
			}
		})
	}
}

func TestTimeoutErrorSaysSo(t *testing.T) {
	err := &TimeoutError{After: 3 * time.Second, Stderr: "x"}
	if !strings.Contains(err.Error(), "timed out after 3s") || !strings.Contains(err.Error(), "x") {
		t.Errorf("unexpected message %q", err)
	}
}
