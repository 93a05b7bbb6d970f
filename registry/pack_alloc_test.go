package registry

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

// sealPack appends the checksum to a pack body.
func sealPack(body []byte) []byte {
	sum := sha256.Sum256(body)
	return append(body, sum[:]...)
}

// TestOpenPackAllocationBoundedByInput is the regression test for a 50-byte
// pack whose header claims a million blocks: OpenPack presized its index
// map from that count and allocated 53 MiB before finding the index
// truncated. The count must be checked against the pack's size first.
func TestOpenPackAllocationBoundedByInput(t *testing.T) {
	body := []byte(packMagic)
	body = binary.LittleEndian.AppendUint32(body, MaxPackBlocks)
	body = binary.LittleEndian.AppendUint32(body, 0)
	pack := sealPack(body)
	if len(pack) > 50 {
		t.Fatalf("test pack is %d bytes", len(pack))
	}
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	_, err := OpenPack(pack)
	runtime.ReadMemStats(&b)
	var pe *PackError
	if !errors.As(err, &pe) {
		t.Fatalf("OpenPack of a pack claiming %d blocks in %d bytes: %v", MaxPackBlocks, len(pack), err)
	}
	n := b.TotalAlloc - a.TotalAlloc
	t.Logf("a %d-byte pack claiming %d blocks: %d bytes allocated", len(pack), MaxPackBlocks, n)
	if n > 16<<10 {
		t.Fatalf("OpenPack of a %d-byte pack allocated %d bytes (want < 16 KiB); error: %v", len(pack), n, err)
	}
}
