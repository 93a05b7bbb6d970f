package netstack

import (
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// stackClock is the stack's tcpip.Clock. gVisor's default
// (tcpip.NewStdClock) wraps every *time.Timer it makes in a struct of its
// own, so each timer costs two heap objects, and TCP makes about five per
// connection (the handshake's retransmission, the sender's, keep-alive,
// the delayed ACK, TIME-WAIT): ten of the 60-odd objects gVisor allocated
// per connection in images/httpd under a new connection per request.
// Here a timer is the *time.Timer itself under another method set, one
// object. Time is read as gVisor's clock reads it: wall time from
// time.Now, monotonic time as the time elapsed since the clock was made.
type stackClock struct {
	base time.Time // when the clock was made, with Go's monotonic reading
}

func newStackClock() *stackClock { return &stackClock{base: time.Now()} }

var _ tcpip.Clock = (*stackClock)(nil)

// Now implements tcpip.Clock.Now.
func (*stackClock) Now() time.Time { return time.Now() }

// NowMonotonic implements tcpip.Clock.NowMonotonic. time.Since of a
// reading that carries the monotonic clock uses that clock alone, so the
// result never goes backwards.
func (c *stackClock) NowMonotonic() tcpip.MonotonicTime {
	return tcpip.MonotonicTime{}.Add(time.Since(c.base))
}

// AfterFunc implements tcpip.Clock.AfterFunc: f runs in its own goroutine
// after d, as with time.AfterFunc.
func (*stackClock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	return (*stackTimer)(time.AfterFunc(d, f))
}

// stackTimer is a *time.Timer made by time.AfterFunc, with the method set
// tcpip.Timer asks for (its Reset returns nothing).
type stackTimer time.Timer

// Stop implements tcpip.Timer.Stop.
func (t *stackTimer) Stop() bool { return (*time.Timer)(t).Stop() }

// Reset implements tcpip.Timer.Reset.
func (t *stackTimer) Reset(d time.Duration) { (*time.Timer)(t).Reset(d) }
