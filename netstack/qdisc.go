package netstack

import (
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// listQDisc is the queueing discipline of every NIC this package makes:
// it hands each packet straight to the link endpoint, as gVisor's default
// one does, but in a one-packet list that is reused.
//
// Why: gVisor's default (stack.delegatingQueueingDiscipline) builds a new
// PacketBufferList for every packet, and its backing array escapes
// through the interface call, so every segment sent, data or ACK, cost
// one heap allocation. A write and the read of it over loopback
// allocated exactly those two objects, which is what Go's own
// TestTCPReadWriteAllocs (package net) failed on inside Velocity, and
// every allocation is garbage the collector of the program's heap, where
// the stack lives, has to sweep. TestQDiscAllocs checks it.
//
// The list holds a reference of its own while the link has it (gVisor's
// PacketBufferList.Reset, the only way to empty it and keep its array,
// drops the reference of each packet), so the caller's reference is the
// caller's, as with the default discipline.
type listQDisc struct {
	link stack.LinkWriter
}

func newQDisc(link stack.LinkWriter) stack.QueueingDiscipline {
	return &listQDisc{link: link}
}

// onePacketLists holds emptied lists whose array has room for one packet.
var onePacketLists = sync.Pool{New: func() any { return new(stack.PacketBufferList) }}

// WritePacket implements stack.QueueingDiscipline.
func (q *listQDisc) WritePacket(pkt *stack.PacketBuffer) tcpip.Error {
	l := onePacketLists.Get().(*stack.PacketBufferList)
	pkt.IncRef()
	l.PushBack(pkt)
	_, err := q.link.WritePackets(*l)
	l.Reset()
	onePacketLists.Put(l)
	return err
}

// Close implements stack.QueueingDiscipline: there is nothing queued.
func (*listQDisc) Close() {}
