package semantics

import (
	"errors"
	"syscall"
	"testing"

	"github.com/velocityos/velocity/drivers/pci"
	"github.com/velocityos/velocity/kernel"
)

// TestMSIVectorsFreed: the kernel has few MSI vectors (8), and a driver
// whose device refuses one gives it back (pci.IRQ.Free; virtio does for
// a refused configuration vector). Reserving them all ends in ENOSPC; a
// vector given back is the next one reserved; a freed vector cannot be
// waited on or freed again; an INTx line cannot be freed.
func TestMSIVectorsFreed(t *testing.T) {
	if !kernel.OnVelocity() {
		t.Skip("MSI vectors are Velocity's")
	}
	var got []pci.IRQ
	defer func() {
		for _, q := range got {
			q.Free()
		}
	}()
	for {
		q, err := pci.AllocMSI()
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("reserving MSI vector %d: %v, want ENOSPC when they run out", len(got)+1, err)
			}
			break
		}
		if !q.MSI || q.Vector < 0x20 {
			t.Fatalf("AllocMSI gave %+v", q)
		}
		got = append(got, q)
		if len(got) > 64 {
			t.Fatalf("more than 64 MSI vectors reserved and no ENOSPC")
		}
	}
	if len(got) == 0 {
		t.Fatal("no MSI vector free at all")
	}
	t.Logf("%d MSI vectors were free", len(got))
	q := got[0]
	if err := q.Free(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Wait(0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Wait on a freed vector: %v, want EINVAL", err)
	}
	if err := q.Free(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("freeing a vector twice: %v, want EINVAL", err)
	}
	again, err := pci.AllocMSI()
	if err != nil {
		t.Fatalf("reserving after a free: %v", err)
	}
	got[0] = again
	if again.Handle != q.Handle || again.Vector != q.Vector {
		t.Errorf("the vector given back was handle %d (vector %#x), the next reserved %d (%#x): want it reused",
			q.Handle, q.Vector, again.Handle, again.Vector)
	}
	if _, _, e := syscall.RawSyscall(0x5639, 3, 0, 0); e != syscall.EINVAL {
		t.Errorf("msifree of INTx line 3: %v, want EINVAL", e)
	}
	if err := (pci.IRQ{Handle: 3}).Free(); err == nil {
		t.Error("pci.IRQ.Free of an INTx line succeeded")
	}
}
