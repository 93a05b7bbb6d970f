package netstack

import (
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	kernelpkg "github.com/velocityos/velocity/kernel"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TestStackStatsLayout: the kernel copies the counters, in the order of
// stackCounterNames, into kernel.StackStats, whose fields must be those
// names in that order, all uint64.
func TestStackStatsLayout(t *testing.T) {
	k := reflect.TypeOf(kernelpkg.StackStats{})
	if k.NumField() != len(stackCounterNames) {
		t.Fatalf("kernel.StackStats has %d fields, netstack names %d counters", k.NumField(), len(stackCounterNames))
	}
	for i, name := range stackCounterNames {
		f := k.Field(i)
		if f.Name != name || f.Type.Kind() != reflect.Uint64 || f.Offset != uintptr(i)*8 {
			t.Errorf("field %d: kernel.StackStats has %s (%v at %d), netstack names %s", i, f.Name, f.Type, f.Offset, name)
		}
	}
}

// TestStackCounters: every address is a counter of this stack's own, read
// through it as the kernel reads it, and each is a different word. A
// build of gVisor without the compact TIME-WAIT (the host's) has no
// records, so those four are 0 there.
func TestStackCounters(t *testing.T) {
	s, err := newStack()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var joined atomic.Uint64
	addrs := stackCounters(s, &joined)
	if len(addrs) != len(stackCounterNames) {
		t.Fatalf("%d addresses for %d names", len(addrs), len(stackCounterNames))
	}
	_, patched := s.TransportProtocolInstance(tcp.ProtocolNumber).(interface {
		VelocityTimeWaitCounters() (live *atomic.Int64, compacted, expired, reopened *atomic.Uint64)
	})
	seen := map[uintptr]string{}
	for i, a := range addrs {
		name := stackCounterNames[i]
		if strings.HasPrefix(name, "TimeWait") && !patched {
			if a != 0 {
				t.Errorf("%s has an address in a build of gVisor without the records", name)
			}
			continue
		}
		if a == 0 || a%8 != 0 {
			t.Fatalf("%s: address %#x", name, a)
		}
		if other, ok := seen[a]; ok {
			t.Errorf("%s and %s are the same word", name, other)
		}
		seen[a] = name
	}
	// The word at an address is the counter's value: increment two
	// through gVisor and read them back the kernel's way.
	st := s.Stats()
	for _, c := range []struct {
		sc   *tcpip.StatCounter
		name string
	}{{st.IP.MalformedPacketsReceived, "IPMalformed"}, {st.TCP.ChecksumErrors, "TCPChecksumErrors"}} {
		c.sc.IncrementBy(3)
		if addrs[indexOf(t, c.name)] != uintptr(unsafe.Pointer(c.sc)) {
			t.Errorf("%s's address is not its counter's", c.name)
		}
		// The kernel loads the word at the address: the count must be
		// that word.
		if got := *(*uint64)(unsafe.Pointer(c.sc)); got != c.sc.Value() || got < 3 {
			t.Errorf("%s read as the kernel reads it: %d, the counter says %d", c.name, got, c.sc.Value())
		}
	}
}

func indexOf(t *testing.T, name string) int {
	for i, n := range stackCounterNames {
		if n == name {
			return i
		}
	}
	t.Fatalf("no counter %s", name)
	return -1
}

// TestStackCounterFields: each name's address is the gVisor counter the
// name says, found by walking the stack's Stats.
func TestStackCounterFields(t *testing.T) {
	s, err := newStack()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	paths := map[uintptr]string{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch {
		case v.Type() == reflect.TypeOf((*tcpip.StatCounter)(nil)):
			if !v.IsNil() {
				paths[v.Pointer()] = path
			}
		case v.Kind() == reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i), strings.TrimPrefix(path+"."+v.Type().Field(i).Name, "."))
				}
			}
		}
	}
	walk(reflect.ValueOf(s.Stats()), "")
	want := map[string]string{
		"IPPacketsReceived": "IP.PacketsReceived", "IPMalformed": "IP.MalformedPacketsReceived",
		"IPMalformedFragments": "IP.MalformedFragmentsReceived", "IPBadDestination": "IP.InvalidDestinationAddressesReceived",
		"IPBadSource": "IP.InvalidSourceAddressesReceived", "IPDelivered": "IP.PacketsDelivered",
		"IPSent": "IP.PacketsSent", "IPSendErrors": "IP.OutgoingPacketErrors",
		"TCPActiveOpens": "TCP.ActiveConnectionOpenings", "TCPPassiveOpens": "TCP.PassiveConnectionOpenings",
		"TCPEstablished": "TCP.CurrentEstablished", "TCPEstablishedResets": "TCP.EstablishedResets",
		"TCPFailedAttempts": "TCP.FailedConnectionAttempts", "TCPSegmentsReceived": "TCP.ValidSegmentsReceived",
		"TCPInvalidSegments": "TCP.InvalidSegmentsReceived", "TCPChecksumErrors": "TCP.ChecksumErrors",
		"TCPSegmentsSent": "TCP.SegmentsSent", "TCPResetsSent": "TCP.ResetsSent", "TCPResetsReceived": "TCP.ResetsReceived",
		"TCPRetransmits": "TCP.Retransmits", "TCPTimeouts": "TCP.Timeouts",
		"TCPListenSynDrops": "TCP.ListenOverflowSynDrop", "TCPListenAckDrops": "TCP.ListenOverflowAckDrop",
		"UDPPacketsReceived": "UDP.PacketsReceived", "UDPUnknownPort": "UDP.UnknownPortErrors",
		"UDPReceiveBufferErrors": "UDP.ReceiveBufferErrors", "UDPMalformed": "UDP.MalformedPacketsReceived",
		"UDPChecksumErrors": "UDP.ChecksumErrors", "UDPPacketsSent": "UDP.PacketsSent", "UDPSendErrors": "UDP.PacketSendErrors",
		"TransportDropped": "DroppedPackets", "TransportMalformed": "NICs.MalformedL4RcvdPackets",
	}
	var joined atomic.Uint64
	for i, a := range stackCounters(s, &joined) {
		name := stackCounterNames[i]
		if strings.HasPrefix(name, "TimeWait") {
			continue
		}
		if name == "TCPJoinedLoopback" {
			if a != uintptr(unsafe.Pointer(&joined)) {
				t.Errorf("TCPJoinedLoopback is not the joined connections' counter")
			}
			continue
		}
		if got := paths[a]; got != want[name] {
			t.Errorf("%s is gVisor's %q, want %q", name, got, want[name])
		}
	}
}
