package gvisortest

import (
	"math"
	"strconv"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// mono makes the reading n: from zero no addition saturates.
func mono(n int64) tcpip.MonotonicTime { return tcpip.MonotonicTime{}.Add(time.Duration(n)) }

// nanos reads a reading's nanoseconds through String, which neither
// edit touches.
func nanos(t *testing.T, m tcpip.MonotonicTime) int64 {
	n, err := strconv.ParseInt(m.String(), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkMonotonic compares Add and Sub with gVisor's original arithmetic
// through package time (internal/build/netmonotonic.go).
func checkMonotonic(t *testing.T, a, b int64) {
	if got, want := nanos(t, mono(a)), a; got != want {
		t.Fatalf("MonotonicTime{}.Add(%d) = %d", a, got)
	}
	if got, want := nanos(t, mono(a).Add(time.Duration(b))), time.Unix(0, a).Add(time.Duration(b)).Sub(time.Unix(0, 0)).Nanoseconds(); got != want {
		t.Errorf("(%d).Add(%d) = %d, want %d", a, b, got, want)
	}
	if got, want := mono(a).Sub(mono(b)), time.Unix(0, a).Sub(time.Unix(0, b)); got != want {
		t.Errorf("(%d).Sub(%d) = %d, want %d", a, b, got, want)
	}
}

var monotonicEdges = []int64{math.MinInt64, math.MinInt64 + 1, -1e18, -1e9 - 1, -1, 0, 1, 1e9 + 1, 1e18, math.MaxInt64 - 1, math.MaxInt64}

func TestMonotonicArithmetic(t *testing.T) {
	for _, a := range monotonicEdges {
		for _, b := range monotonicEdges {
			checkMonotonic(t, a, b)
		}
	}
}

func FuzzMonotonicArithmetic(f *testing.F) {
	for i, a := range monotonicEdges {
		f.Add(a, monotonicEdges[len(monotonicEdges)-1-i])
	}
	f.Add(int64(1_700_000_000_000_000_000), int64(-5*time.Second))
	f.Fuzz(checkMonotonic)
}
