package kernel

import (
	"errors"
	"runtime"
	"syscall"
	"testing"
)

// Pinning must move the goroutine to the CPU and keep it there, on Velocity
// and on Linux alike; unpinning must restore the affinity.
func TestPin(t *testing.T) {
	n := runtime.NumCPU()
	for cpu := 0; cpu < n && cpu < 4; cpu++ {
		unpin, err := Pin(cpu)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			got, err := CurrentCPU()
			if err != nil {
				t.Fatal(err)
			}
			if got != cpu {
				t.Fatalf("pinned to CPU %d but running on %d", cpu, got)
			}
			runtime.Gosched()
		}
		if err := unpin(); err != nil {
			t.Fatal(err)
		}
	}
	m, err := getAffinity()
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, w := range m {
		for ; w != 0; w &= w - 1 {
			count++
		}
	}
	if count != n {
		t.Fatalf("after unpinning, affinity has %d CPUs, want %d", count, n)
	}
}

// sched_setaffinity rejects an empty mask and CPUs that do not exist.
func TestSetAffinityRejectsBadMasks(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var empty cpuMask
	if err := setAffinity(&empty); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("empty mask: %v, want EINVAL", err)
	}
	if !OnVelocity() {
		t.Skip("Linux accepts masks naming absent CPUs as long as one exists")
	}
	var absent cpuMask
	absent[0] = 1 << 63
	if err := setAffinity(&absent); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("mask of an absent CPU: %v, want EINVAL", err)
	}
	if _, err := Pin(1000); err == nil {
		t.Fatal("pinning to CPU 1000 worked")
	}
}
