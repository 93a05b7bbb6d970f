package main

import (
	"os"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(5), 5 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond},
		{ms(4, 1, 3, 2), 2500 * time.Microsecond},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestMedianRatio(t *testing.T) {
	v := []boot{{marker: 100}, {marker: 200}, {marker: 100}}
	l := []boot{{marker: 2000}, {marker: 2000}, {marker: 3000}}
	if got := medianRatio(l, v); got != 20 {
		t.Errorf("medianRatio = %v, want 20", got)
	}
}

func TestCPUTime(t *testing.T) {
	if d := cpuTime(os.Getpid()); d < 0 {
		t.Errorf("cpuTime(self) = %v", d)
	}
	if d := cpuTime(-5); d != -1 {
		t.Errorf("cpuTime(-5) = %v, want -1", d)
	}
}
