package netstack

// NETLINK_ROUTE messages: what the kernel side of an AF_NETLINK socket
// answers, as a pure function of the request bytes and a snapshot of the
// stack's interfaces (netlink_calls.go has the sockets, and takes the
// snapshot from gVisor). Written from the formats in Linux's
// include/uapi/linux/{netlink,rtnetlink,if_link,if_addr}.h and the
// behaviour of net/netlink/af_netlink.c and net/core/rtnetlink.c; Go's
// syscall.NetlinkRIB and net.Interfaces are the first callers.
//
// What is answered:
//   - RTM_GETLINK dumps (any family but AF_BRIDGE, whose dump lists bridge
//     ports: there are none): one RTM_NEWLINK per NIC, with ifinfomsg
//     (ARPHRD type, index, IFF_ flags) and IFLA_IFNAME, IFLA_OPERSTATE,
//     IFLA_MTU, IFLA_ADDRESS, IFLA_BROADCAST;
//   - RTM_GETLINK for one link, by ifi_index or IFLA_IFNAME (ENODEV when
//     there is no such link, EINVAL when neither is given);
//   - RTM_GETADDR dumps: AF_INET, AF_INET6, or both for any other family
//     (AF_UNSPEC), one RTM_NEWADDR per address with ifaddrmsg and IFA_ADDRESS,
//     IFA_LOCAL, IFA_BROADCAST, IFA_LABEL (IPv4) and IFA_FLAGS;
//   - NLM_F_ACK acknowledgements, control messages (skipped), messages
//     without NLM_F_REQUEST (skipped), and Linux's silence for a request
//     without even an rtgenmsg byte.
//
// Every other request (routes, neighbours, rules, any change: NEWLINK,
// NEWADDR, ...) gets NLMSG_ERROR with EOPNOTSUPP, Linux's answer for a
// message type nobody handles; nothing is pretended done. Dumps end with
// NLMSG_DONE and are never acknowledged, as on Linux.
//
// Bounds: a message's length field is checked against the bytes present
// before anything is read, and never sizes an allocation; what a request
// makes is bounded by room, the receiver's free buffer space.

import (
	"encoding/binary"
	"syscall"
)

const (
	afNetlink         = 16
	afBridge          = 7
	afPacket          = 17
	netlinkRouteProto = 0 // NETLINK_ROUTE
	solNetlink        = 270

	sockaddrNlLen = 12 // struct sockaddr_nl

	nlmsgHdrLen  = 16
	nlmsgNoop    = 1
	nlmsgError   = 2
	nlmsgDone    = 3
	nlmsgMinType = 16

	nlmFRequest = 0x1
	nlmFMulti   = 0x2
	nlmFAck     = 0x4
	nlmFDump    = 0x300 // NLM_F_ROOT | NLM_F_MATCH
	nlmFCapped  = 0x100 // on NLMSG_ERROR: the request's payload is left out

	rtmNewLink = 16
	rtmGetLink = 18
	rtmNewAddr = 20
	rtmGetAddr = 22
	// rtmMax is Linux's RTM_MAX (6.x): a larger type is EOPNOTSUPP
	// before anything else is looked at.
	rtmMax = 123

	iflaAddress   = 1
	iflaBroadcast = 2
	iflaIfname    = 3
	iflaMTU       = 4
	iflaOperstate = 16
	iflaAltIfname = 53

	ifaAddress   = 1
	ifaLocal     = 2
	ifaLabel     = 3
	ifaBroadcast = 4
	ifaFlags     = 8

	iffUp        = 0x1
	iffBroadcast = 0x2
	iffLoopback  = 0x8
	iffRunning   = 0x40
	iffPromisc   = 0x100
	iffMulticast = 0x1000
	iffLowerUp   = 0x10000

	arphrdEther    = 1
	arphrdLoopback = 772
	arphrdNone     = 0xfffe

	ifaFPermanent = 0x80

	rtScopeUniverse = 0
	rtScopeLink     = 253
	rtScopeHost     = 254

	ifOperUnknown = 0
	ifOperDown    = 2
	ifOperUp      = 6

	ifNameSize = 16 // IFNAMSIZ, with the NUL

	// nlGoodSize is how much of a dump one datagram carries at most:
	// Linux's NLMSG_GOODSIZE with 4 KiB pages (a page less the skb's
	// shared info). A reader with a smaller buffer gets MSG_TRUNC, as on
	// Linux.
	nlGoodSize = 3776
)

// nlLink is one interface as RTM_NEWLINK describes it.
type nlLink struct {
	index     int32
	name      string
	typ       uint16 // ARPHRD_*
	flags     uint32 // IFF_*
	mtu       uint32
	addr, brd []byte // hardware address and broadcast address; nil: none
	operstate uint8
}

// nlAddr is one interface address as RTM_NEWADDR describes it.
type nlAddr struct {
	family uint8 // afInet or afInet6
	prefix uint8
	flags  uint32 // IFA_F_*
	scope  uint8
	index  uint32
	addr   []byte // 4 or 16 bytes
	brd    []byte // IPv4 broadcast; nil: none
	label  string // IPv4: the interface's name
}

// nlState is the stack's interfaces and addresses for one request, links
// in index order, addresses IPv4 first.
type nlState struct {
	links []nlLink
	addrs []nlAddr
}

// nlOut collects the datagrams an answer makes, within room bytes.
type nlOut struct {
	dgrams  [][]byte
	used    int
	room    int
	overrun bool
}

func (o *nlOut) add(b []byte) {
	if len(b) == 0 {
		return
	}
	if o.used+len(b) > o.room {
		o.overrun = true
		return
	}
	o.used += len(b)
	o.dgrams = append(o.dgrams, b)
}

func nlAlign(n int) int { return (n + 3) &^ 3 }

// nlPutHdr appends a message header whose length nlEnd fills in, and
// returns where the message starts.
func nlPutHdr(b []byte, typ, flags uint16, seq, port uint32) ([]byte, int) {
	start := len(b)
	var h [nlmsgHdrLen]byte
	binary.LittleEndian.PutUint16(h[4:], typ)
	binary.LittleEndian.PutUint16(h[6:], flags)
	binary.LittleEndian.PutUint32(h[8:], seq)
	binary.LittleEndian.PutUint32(h[12:], port)
	return append(b, h[:]...), start
}

// nlEnd sets the length of the message that starts at start and pads it
// to 4 bytes (the padding is not counted in nlmsg_len, as on Linux).
func nlEnd(b []byte, start int) []byte {
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// nlAttr appends a route attribute, padded to 4 bytes.
func nlAttr(b []byte, typ uint16, v []byte) []byte {
	var h [4]byte
	binary.LittleEndian.PutUint16(h[0:], uint16(4+len(v)))
	binary.LittleEndian.PutUint16(h[2:], typ)
	b = append(append(b, h[:]...), v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func nlAttrU32(b []byte, typ uint16, v uint32) []byte {
	var x [4]byte
	binary.LittleEndian.PutUint32(x[:], v)
	return nlAttr(b, typ, x[:])
}

func nlAttrString(b []byte, typ uint16, s string) []byte {
	v := make([]byte, 0, len(s)+1)
	return nlAttr(b, typ, append(append(v, s...), 0))
}

// nlLinkMsg appends l as an RTM_NEWLINK message.
func nlLinkMsg(b []byte, l nlLink, flags uint16, seq, port uint32) []byte {
	b, start := nlPutHdr(b, rtmNewLink, flags, seq, port)
	var ifi [16]byte // struct ifinfomsg: family AF_UNSPEC, type, index, flags, change 0
	binary.LittleEndian.PutUint16(ifi[2:], l.typ)
	binary.LittleEndian.PutUint32(ifi[4:], uint32(l.index))
	binary.LittleEndian.PutUint32(ifi[8:], l.flags)
	b = append(b, ifi[:]...)
	b = nlAttrString(b, iflaIfname, l.name)
	b = nlAttr(b, iflaOperstate, []byte{l.operstate})
	b = nlAttrU32(b, iflaMTU, l.mtu)
	if l.addr != nil {
		b = nlAttr(b, iflaAddress, l.addr)
	}
	if l.brd != nil {
		b = nlAttr(b, iflaBroadcast, l.brd)
	}
	return nlEnd(b, start)
}

// nlAddrMsg appends a as an RTM_NEWADDR message. IFA_ADDRESS comes first
// and IFA_LOCAL second, as Linux orders them (Go's net takes the first
// attribute after IFA_ADDRESS when IFA_LOCAL is present).
func nlAddrMsg(b []byte, a nlAddr, flags uint16, seq, port uint32) []byte {
	b, start := nlPutHdr(b, rtmNewAddr, flags, seq, port)
	var ifa [8]byte // struct ifaddrmsg
	ifa[0], ifa[1], ifa[2], ifa[3] = a.family, a.prefix, uint8(a.flags), a.scope
	binary.LittleEndian.PutUint32(ifa[4:], a.index)
	b = append(b, ifa[:]...)
	b = nlAttr(b, ifaAddress, a.addr)
	if a.family == afInet {
		b = nlAttr(b, ifaLocal, a.addr)
		if a.brd != nil {
			b = nlAttr(b, ifaBroadcast, a.brd)
		}
		b = nlAttrString(b, ifaLabel, a.label)
	}
	b = nlAttrU32(b, ifaFlags, a.flags)
	return nlEnd(b, start)
}

// nlError makes the NLMSG_ERROR datagram answering req with errno e (0:
// an acknowledgement). An error carries the whole request, an
// acknowledgement only its header (NLM_F_CAPPED), as Linux does by
// default.
func nlError(req []byte, e syscall.Errno, port uint32) []byte {
	flags := uint16(0)
	body := req
	if e == 0 {
		flags = nlmFCapped
		body = req[:nlmsgHdrLen]
	}
	b := make([]byte, 0, nlAlign(nlmsgHdrLen+4+len(body)))
	b, start := nlPutHdr(b, nlmsgError, flags, binary.LittleEndian.Uint32(req[8:]), port)
	var errv [4]byte
	binary.LittleEndian.PutUint32(errv[:], uint32(-int32(e)))
	b = append(append(b, errv[:]...), body...)
	return nlEnd(b, start)
}

// nlDump packs messages (each whole) into datagrams of at most
// nlGoodSize bytes, ending with NLMSG_DONE, into o.
func nlDump(o *nlOut, msgs [][]byte, seq, port uint32) {
	done, start := nlPutHdr(nil, nlmsgDone, nlmFMulti, seq, port)
	done = nlEnd(append(done, 0, 0, 0, 0), start) // the dump's status: 0
	msgs = append(msgs, done)
	var cur []byte
	for _, m := range msgs {
		if len(cur) > 0 && len(cur)+len(m) > nlGoodSize {
			o.add(cur)
			cur = nil
		}
		cur = append(cur, m...)
	}
	o.add(cur)
}

// nlMsg is one message of a request, its bytes bounded by the request.
type nlMsg struct {
	b     []byte // the whole message, nlmsg_len bytes
	typ   uint16
	flags uint16
	seq   uint32
}

// nlSplit cuts a request into messages the way Linux's netlink_rcv_skb
// walks it: it stops at the first header whose length is shorter than a
// header or longer than what is left, without an error.
func nlSplit(req []byte) []nlMsg {
	var msgs []nlMsg
	for len(req) >= nlmsgHdrLen {
		l := binary.LittleEndian.Uint32(req[0:])
		if l < nlmsgHdrLen || uint64(l) > uint64(len(req)) {
			break
		}
		msgs = append(msgs, nlMsg{
			b:     req[:l],
			typ:   binary.LittleEndian.Uint16(req[4:]),
			flags: binary.LittleEndian.Uint16(req[6:]),
			seq:   binary.LittleEndian.Uint32(req[8:]),
		})
		adv := nlAlign(int(l))
		if adv > len(req) {
			adv = len(req)
		}
		req = req[adv:]
	}
	return msgs
}

// netlinkRoute answers the NETLINK_ROUTE messages in req, sent by the
// socket whose port id is port, and returns the datagrams that socket
// then receives, in order, at most room bytes of them (overrun: some were
// dropped). state is asked for the interfaces only when an answer needs
// them.
func netlinkRoute(req []byte, port uint32, room int, state func() nlState) (dgrams [][]byte, overrun bool) {
	o := &nlOut{room: room}
	var st *nlState
	get := func() *nlState {
		if st == nil {
			s := state()
			st = &s
		}
		return st
	}
	for _, m := range nlSplit(req) {
		var e syscall.Errno
		ack := m.flags&nlmFAck != 0
		if m.flags&nlmFRequest != 0 && m.typ >= nlmsgMinType {
			var answered bool
			answered, e = rtnlRequest(o, m, port, get)
			if answered && e == 0 {
				continue // a dump: never acknowledged
			}
		}
		if ack || e != 0 {
			o.add(nlError(m.b, e, port))
		}
	}
	return o.dgrams, o.overrun
}

// rtnlRequest serves one request as Linux's rtnetlink_rcv_msg does.
// dumped reports a dump (which ends with NLMSG_DONE and takes no
// acknowledgement).
func rtnlRequest(o *nlOut, m nlMsg, port uint32, st func() *nlState) (dumped bool, e syscall.Errno) {
	if m.typ > rtmMax {
		return false, syscall.EOPNOTSUPP
	}
	payload := m.b[nlmsgHdrLen:]
	if len(payload) < 1 { // not even an rtgenmsg: Linux ignores it
		return false, 0
	}
	family := payload[0]
	kind := (m.typ - rtmNewLink) & 3 // 0 new, 1 del, 2 get, 3 set
	if kind == 2 && m.flags&nlmFDump != 0 {
		var msgs [][]byte
		switch m.typ {
		case rtmGetLink:
			if family != afBridge { // AF_BRIDGE dumps bridge ports: none here
				for _, l := range st().links {
					msgs = append(msgs, nlLinkMsg(nil, l, nlmFMulti, m.seq, port))
				}
			}
		case rtmGetAddr:
			// Linux: AF_INET and AF_INET6 have their own dumps; any
			// other family gets every family's (checked against a 6.18
			// kernel: AF_UNSPEC, 1, 3, 5, 7, 16, 17, 100 alike).
			v4 := family != afInet6
			v6 := family != afInet
			for _, a := range st().addrs {
				if a.family == afInet && v4 || a.family == afInet6 && v6 {
					msgs = append(msgs, nlAddrMsg(nil, a, nlmFMulti, m.seq, port))
				}
			}
		default:
			return false, syscall.EOPNOTSUPP
		}
		nlDump(o, msgs, m.seq, port)
		return true, 0
	}
	if m.typ == rtmGetLink {
		l, e := rtnlGetLink(payload, st)
		if e != 0 {
			return false, e
		}
		o.add(nlLinkMsg(nil, l, 0, m.seq, port))
		return false, 0
	}
	// Routes, neighbours, rules, ..., and every change (RTM_NEWLINK,
	// RTM_NEWADDR, ...): not offered.
	return false, syscall.EOPNOTSUPP
}

// rtnlGetLink finds the link an RTM_GETLINK request (without NLM_F_DUMP)
// names: by ifi_index when it is positive, else by IFLA_IFNAME or
// IFLA_ALT_IFNAME (no link here has alternative names).
func rtnlGetLink(payload []byte, st func() *nlState) (nlLink, syscall.Errno) {
	if len(payload) < 16 { // struct ifinfomsg
		return nlLink{}, syscall.EINVAL
	}
	index := int32(binary.LittleEndian.Uint32(payload[4:]))
	var name []byte
	haveName, haveAlt := false, false
	// Attributes, walked as Linux's liberal parser does: a malformed one
	// ends the walk.
	for b := payload[16:]; len(b) >= 4; {
		l := int(binary.LittleEndian.Uint16(b[0:]))
		typ := binary.LittleEndian.Uint16(b[2:]) & 0x3fff // without NLA_F_NESTED, NLA_F_NET_BYTEORDER
		if l < 4 || l > len(b) {
			break
		}
		v := b[4:l]
		switch typ {
		case iflaIfname, iflaAltIfname:
			if len(v) > 0 && v[len(v)-1] == 0 {
				v = v[:len(v)-1]
			}
			if len(v) > ifNameSize-1 { // the attribute policy's limit
				return nlLink{}, syscall.EINVAL
			}
			if typ == iflaIfname {
				name, haveName = v, true
			} else {
				haveAlt = true
			}
		}
		adv := nlAlign(l)
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
	}
	switch {
	case index > 0:
		for _, l := range st().links {
			if l.index == index {
				return l, 0
			}
		}
	case haveName:
		for _, l := range st().links {
			if l.name == string(name) {
				return l, 0
			}
		}
	case haveAlt:
	default:
		return nlLink{}, syscall.EINVAL
	}
	return nlLink{}, syscall.ENODEV
}
