package netstack

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// The stack's counters for kernel.NetStackStats, the shell's netstat and
// the httpd image's page: what gVisor's IP, TCP and UDP dropped and why,
// which the card's counters (NICStats) cannot see, since a frame with a
// bad IP header is a good frame to the card. gVisor keeps each counter in
// a word of its own that never moves, so the kernel is given their
// addresses once (sysNetStats op 3) and reads them when asked (op 4):
// nothing is copied while the stack runs, and a reader sees them as they
// are at that moment.

// stackCounterNames name, in order, the counters stackCounters returns;
// kernel.StackStats has one field per name, in the same order (a host
// test keeps the two in step).
var stackCounterNames = [...]string{
	"IPPacketsReceived", "IPMalformed", "IPMalformedFragments", "IPBadDestination", "IPBadSource",
	"IPDelivered", "IPSent", "IPSendErrors",
	"TCPActiveOpens", "TCPPassiveOpens", "TCPEstablished", "TCPEstablishedResets", "TCPFailedAttempts",
	"TCPSegmentsReceived", "TCPInvalidSegments", "TCPChecksumErrors", "TCPSegmentsSent",
	"TCPResetsSent", "TCPResetsReceived", "TCPRetransmits", "TCPTimeouts",
	"TCPListenSynDrops", "TCPListenAckDrops", "TCPJoinedLoopback",
	"UDPPacketsReceived", "UDPUnknownPort", "UDPReceiveBufferErrors", "UDPMalformed", "UDPChecksumErrors",
	"UDPPacketsSent", "UDPSendErrors",
	"TransportDropped", "TransportMalformed",
	"TimeWaitRecords", "TimeWaitCompacted", "TimeWaitExpired", "TimeWaitReopened",
}

// stackCounters returns the addresses of s's counters, in the order of
// stackCounterNames, with joined, the loopback connections joined
// (join.go), which never reach gVisor's TCP. An entry is 0 when this build
// of gVisor does not have the counter: the TIME-WAIT records' are in
// kernels only, which add them to gVisor's TCP
// (internal/build/nettimewait.go).
func stackCounters(s *stack.Stack, joined *atomic.Uint64) []uintptr {
	st := s.Stats()
	c := func(sc *tcpip.StatCounter) uintptr { return uintptr(unsafe.Pointer(sc)) }
	out := []uintptr{
		c(st.IP.PacketsReceived), c(st.IP.MalformedPacketsReceived), c(st.IP.MalformedFragmentsReceived),
		c(st.IP.InvalidDestinationAddressesReceived), c(st.IP.InvalidSourceAddressesReceived),
		c(st.IP.PacketsDelivered), c(st.IP.PacketsSent), c(st.IP.OutgoingPacketErrors),
		c(st.TCP.ActiveConnectionOpenings), c(st.TCP.PassiveConnectionOpenings), c(st.TCP.CurrentEstablished),
		c(st.TCP.EstablishedResets), c(st.TCP.FailedConnectionAttempts),
		c(st.TCP.ValidSegmentsReceived), c(st.TCP.InvalidSegmentsReceived), c(st.TCP.ChecksumErrors), c(st.TCP.SegmentsSent),
		c(st.TCP.ResetsSent), c(st.TCP.ResetsReceived), c(st.TCP.Retransmits), c(st.TCP.Timeouts),
		c(st.TCP.ListenOverflowSynDrop), c(st.TCP.ListenOverflowAckDrop), uintptr(unsafe.Pointer(joined)),
		c(st.UDP.PacketsReceived), c(st.UDP.UnknownPortErrors), c(st.UDP.ReceiveBufferErrors),
		c(st.UDP.MalformedPacketsReceived), c(st.UDP.ChecksumErrors), c(st.UDP.PacketsSent), c(st.UDP.PacketSendErrors),
		c(st.DroppedPackets), c(st.NICs.MalformedL4RcvdPackets),
	}
	var tw [4]uintptr
	if p, ok := s.TransportProtocolInstance(tcp.ProtocolNumber).(interface {
		VelocityTimeWaitCounters() (live *atomic.Int64, compacted, expired, reopened *atomic.Uint64)
	}); ok {
		live, compacted, expired, reopened := p.VelocityTimeWaitCounters()
		tw = [4]uintptr{uintptr(unsafe.Pointer(live)), uintptr(unsafe.Pointer(compacted)),
			uintptr(unsafe.Pointer(expired)), uintptr(unsafe.Pointer(reopened))}
	}
	return append(out, tw[:]...)
}

// stackCtrAddrs is the list the kernel is given; it copies it.
var stackCtrAddrs [len(stackCounterNames)]uintptr

// registerStackStats gives the kernel the addresses of the counters of st
// and of srv's joined connections (sysNetStats op 3) for
// kernel.NetStackStats (op 4).
func registerStackStats(st *stack.Stack, srv *Server) {
	copy(stackCtrAddrs[:], stackCounters(st, &srv.joins.joined))
	if _, _, e := syscall.RawSyscall(sysNetStats, 3, uintptr(unsafe.Pointer(&stackCtrAddrs)), unsafe.Sizeof(stackCtrAddrs)); e != 0 {
		fmt.Fprintf(os.Stderr, "velocity: net: the stack's counters: %v; kernel.NetStackStats will have none\n", e)
	}
}
