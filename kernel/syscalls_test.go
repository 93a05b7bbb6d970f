package kernel

import (
	"slices"
	"testing"
)

func TestSyscallsDelta(t *testing.T) {
	before := []SyscallCount{{0, "read", 10}, {1, "write", 5}, {202, "futex", 7}}
	after := []SyscallCount{{0, "read", 12}, {1, "write", 5}, {202, "futex", 17}, {0x5609, "velocity_syscalls", 1}}
	got := SyscallsDelta(before, after)
	want := []SyscallCount{{202, "futex", 10}, {0, "read", 2}, {0x5609, "velocity_syscalls", 1}}
	if !slices.Equal(got, want) {
		t.Errorf("delta = %v, want %v (the calls made in between, the most made first, none unmade)", got, want)
	}
}
