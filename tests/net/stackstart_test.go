package net

import (
	"io"
	gonet "net"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"

	"github.com/velocityos/velocity/kernel"
)

// startingStack reads the size Go gives new goroutines' stacks.
func startingStack() uint64 {
	s := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// writeFromNewGoroutine writes to c from a goroutine made for it, which
// starts with the starting stack size: on the direct path that write has
// to grow the stack first.
func writeFromNewGoroutine(t *testing.T, c gonet.Conn) {
	t.Helper()
	errc := make(chan error)
	go func() {
		_, err := c.Write([]byte("x"))
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestStackStartRaised checks runtime/vk_netdirect.go's rule: a socket
// call that has to grow a goroutine's stack on the direct path raises the
// size new goroutines start with to 16 KiB, unless more than 1,024
// goroutines exist; each collection sets it again from Go's own average.
func TestStackStartRaised(t *testing.T) {
	if !kernel.OnVelocity() {
		t.Skip("the kernel's rule: Linux sizes stacks as Go does")
	}
	// No goroutine but the test's own and those it waits for may make a
	// socket call: one that grew its stack after a collection would raise
	// the size this test reads. So the test reads itself, and tcpPair's
	// accept is over before the first collection.
	c, s := tcpPair(t)
	roundTrip := func() {
		t.Helper()
		writeFromNewGoroutine(t, c)
		if _, err := io.ReadFull(s, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()

	// With more than 1,024 goroutines the size stays Go's. The second
	// collection sets it from the first one's scan, which saw the crowd's
	// small stacks, so Go's own size is known to be below 16 KiB here.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 1100; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); <-stop }()
	}
	runtime.GC()
	runtime.GC()
	crowded := startingStack()
	if crowded >= 16<<10 {
		t.Fatalf("with 1,100 small stacks scanned, Go's own starting size is %d bytes", crowded)
	}
	roundTrip()
	if got := startingStack(); got != crowded {
		t.Errorf("with 1,100 goroutines parked, a grown stack changed the starting size from %d to %d", crowded, got)
	}
	close(stop)
	wg.Wait()

	// This collection sets the size from the crowd's scan again.
	runtime.GC()
	if got := startingStack(); got >= 16<<10 {
		t.Fatalf("after the crowd, Go's own starting size is %d bytes", got)
	}
	writeFromNewGoroutine(t, c)
	if got := startingStack(); got != 16<<10 {
		t.Errorf("after a direct-path write grew a new goroutine's stack, new goroutines start with %d bytes, want 16384", got)
	}
}
