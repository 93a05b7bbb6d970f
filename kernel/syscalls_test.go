package kernel

import (
	"slices"
	"testing"
)

func TestSyscallsDelta(t *testing.T) {
	before := []SyscallCount{{0, "read", 10, 100}, {1, "write", 5, 50}, {202, "futex", 7, 70}}
	after := []SyscallCount{{0, "read", 12, 130}, {1, "write", 5, 50}, {202, "futex", 17, 75}, {0x5609, "velocity_syscalls", 1, 9}}
	got := SyscallsDelta(before, after)
	want := []SyscallCount{{202, "futex", 10, 5}, {0, "read", 2, 30}, {0x5609, "velocity_syscalls", 1, 9}}
	if !slices.Equal(got, want) {
		t.Errorf("delta = %v, want %v (the calls made in between and their time, the most made first, none unmade)", got, want)
	}
}
