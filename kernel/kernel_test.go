package kernel

import (
	"errors"
	"testing"
)

// On a Linux host the Velocity syscalls must fail cleanly; inside the
// unikernel (velocity test ./kernel) they must describe a real machine.
func TestReadInfo(t *testing.T) {
	in, err := ReadInfo()
	if errors.Is(err, ErrNotVelocity) {
		if OnVelocity() {
			t.Fatal("OnVelocity is true although ReadInfo says otherwise")
		}
		t.Skip("not on Velocity")
	}
	if err != nil {
		t.Fatal(err)
	}
	if in.CPUs < 1 || in.TSCHz < 1e6 || in.MemTotal < 16<<20 || in.MemFree > in.MemTotal {
		t.Fatalf("implausible info: %+v", in)
	}
	if in.KernelReady <= in.StubEntry || in.KernelReady > SincePowerOn() {
		t.Fatalf("boot times out of order: stub %v kernel %v now %v", in.StubEntry, in.KernelReady, SincePowerOn())
	}
	if in.Syscalls == 0 || in.Threads < 1 || in.PageFaults == 0 {
		t.Fatalf("counters not moving: %+v", in)
	}
	t.Logf("%+v", in)
}
