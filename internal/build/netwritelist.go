package build

// The write list's membership check without a map, in kernels that link
// the network stack.
//
// gVisor wraps each sender's list of segments to send in a check of its
// own (tcp.protectedWriteList, "TODO(b/339664055): Revert once bug is
// fixed"): every segment pushed, inserted or removed also goes into or out
// of a map of the list's members, and each is looked up before it is
// sent, so that a segment put on twice, or sent while not on the list,
// panics at once. That is a map allocated with every connection's sender
// and three or four map operations for every segment sent, and under TCG
// Go's map hash runs its AES instructions in software: in the kernel's
// profile of a new connection per request over tap (2026-12-06) the
// list's map was about 5 us of each connection's 1,100, besides its
// allocation. The edits keep every check and every panic and record
// membership in a field of the segment instead (newSegment zeroes a
// segment it takes from the pool, and clone builds a new one, so a
// segment starts outside every list). The map stays declared, nil, for
// gVisor's generated save and restore code. testdata/gvisortest
// exercises the lists through real connections (a panic there fails
// the run), and testdata/gvisortcp `TestVelocityWriteListChecks`, run inside
// gVisor's package tcp, makes each check fire.

// writeListEdits are the replacements in gVisor's segment.go and snd.go.
var writeListEdits = []gvisorEdit{
	{
		"pkg/tcpip/transport/tcp/segment.go",
		"\tpkt *stack.PacketBuffer\n\n\tsequenceNumber seqnum.Value\n",
		"\tpkt *stack.PacketBuffer\n\n" +
			"\t// velocityInWriteList: the segment is on a sender's write list\n" +
			"\t// (velocity, internal/build/netwritelist.go).\n" +
			"\tvelocityInWriteList bool\n\n" +
			"\tsequenceNumber seqnum.Value\n",
	},
	{
		"pkg/tcpip/transport/tcp/snd.go",
		"\tif _, ok := wl.set[seg]; !ok {\n\t\tpanic(\"segment not found write list\")\n\t}\n\twl.writeList.Remove(seg)\n\tdelete(wl.set, seg)\n",
		"\tif !seg.velocityInWriteList {\n\t\tpanic(\"segment not found write list\")\n\t}\n\twl.writeList.Remove(seg)\n\tseg.velocityInWriteList = false\n",
	},
	{
		"pkg/tcpip/transport/tcp/snd.go",
		"\tif _, ok := wl.set[seg]; ok {\n\t\tpanic(\"segment already in write list\")\n\t}\n\twl.writeList.PushBack(seg)\n\twl.set[seg] = struct{}{}\n",
		"\tif seg.velocityInWriteList {\n\t\tpanic(\"segment already in write list\")\n\t}\n\twl.writeList.PushBack(seg)\n\tseg.velocityInWriteList = true\n",
	},
	{
		"pkg/tcpip/transport/tcp/snd.go",
		"\tif _, ok := wl.set[seg]; ok {\n\t\tpanic(\"segment already in write list\")\n\t}\n\twl.writeList.InsertAfter(before, seg)\n\twl.set[seg] = struct{}{}\n",
		"\tif seg.velocityInWriteList {\n\t\tpanic(\"segment already in write list\")\n\t}\n\twl.writeList.InsertAfter(before, seg)\n\tseg.velocityInWriteList = true\n",
	},
	{
		"pkg/tcpip/transport/tcp/snd.go",
		"\t\twriteList: protectedWriteList{\n\t\t\tset: make(map[*segment]struct{}),\n\t\t},\n",
		"\t\twriteList: protectedWriteList{}, // velocity: membership in the segment\n",
	},
	{
		"pkg/tcpip/transport/tcp/snd.go",
		"\tif _, ok := s.writeList.set[seg]; !ok {\n\t\tpanic(\"attempted to send segment not in write list\")\n\t}\n",
		"\tif !seg.velocityInWriteList {\n\t\tpanic(\"attempted to send segment not in write list\")\n\t}\n",
	},
}
