package netstack

import (
	"bytes"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

func TestStackClock(t *testing.T) {
	c := newStackClock()
	a := c.NowMonotonic()
	time.Sleep(2 * time.Millisecond)
	if b := c.NowMonotonic(); b.Sub(a) < 2*time.Millisecond {
		t.Fatalf("NowMonotonic advanced %v over a 2ms sleep", b.Sub(a))
	}

	fired := make(chan struct{}, 2)
	waitFired := func(what string) {
		t.Helper()
		select {
		case <-fired:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not fire in 5s", what)
		}
	}
	tm := c.AfterFunc(time.Millisecond, func() { fired <- struct{}{} })
	waitFired("a 1ms timer")
	tm.Reset(time.Millisecond) // after firing: armed again
	waitFired("a timer Reset after firing")

	// Stop before the deadline keeps f from running.
	stopped := c.AfterFunc(time.Hour, func() { fired <- struct{}{} })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if stopped.Stop() {
		t.Fatal("a second Stop returned true")
	}
	select {
	case <-fired:
		t.Fatal("a stopped timer fired")
	default:
	}
	stopped.Reset(time.Millisecond)
	waitFired("a stopped timer Reset")
}

// TestStackClockAllocs: a timer is one heap object, not gVisor's two.
func TestStackClockAllocs(t *testing.T) {
	c := newStackClock()
	f := func() {}
	if n := testing.AllocsPerRun(100, func() { c.AfterFunc(time.Hour, f).Stop() }); n > 1 {
		t.Fatalf("AfterFunc and Stop allocated %v objects, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { c.NowMonotonic() }); n != 0 {
		t.Fatalf("NowMonotonic allocated %v objects", n)
	}
}

func TestStackUsesStackClock(t *testing.T) {
	s, err := newStack()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	if _, ok := s.Clock().(*stackClock); !ok {
		t.Fatalf("the stack's clock is %T, want *stackClock", s.Clock())
	}
}

// TestNextSlice: the driver's walk over a packet yields the bytes
// AsSlices does, headers first, across several views and with the
// headers starting inside the first one, and allocates nothing.
func TestNextSlice(t *testing.T) {
	var payload buffer.Buffer
	for _, part := range []string{"first view ", "second ", "", "third and last"} {
		payload.Append(buffer.NewViewWithData([]byte(part)))
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{ReserveHeaderBytes: 64, Payload: payload})
	defer pkt.DecRef()
	copy(pkt.TransportHeader().Push(8), "TRANSPRT")
	copy(pkt.NetworkHeader().Push(4), "NETW")

	var want []byte
	for _, s := range pkt.AsSlices() {
		want = append(want, s...)
	}
	walk := func() []byte {
		var got []byte
		vl, skip := pkt.AsViewList()
		for v := vl.Front(); ; {
			s, ok := nextSlice(&v, &skip)
			if !ok {
				break
			}
			got = append(got, s...)
		}
		return got
	}
	if got := walk(); !bytes.Equal(got, want) {
		t.Fatalf("walk gave %q, AsSlices %q", got, want)
	}
	if !bytes.HasPrefix(want, []byte("NETWTRANSPRTfirst view second third")) {
		t.Fatalf("the packet is %q", want)
	}
	n := testing.AllocsPerRun(100, func() {
		vl, skip := pkt.AsViewList()
		for v := vl.Front(); ; {
			if _, ok := nextSlice(&v, &skip); !ok {
				break
			}
		}
	})
	if n != 0 {
		t.Fatalf("the walk allocated %v objects", n)
	}
}
