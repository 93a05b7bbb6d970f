package netstack

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// The multicast groups each interface has joined, as Linux lists them in
// /proc/net/igmp (IPv4) and /proc/net/igmp6, which is where Go's
// (*net.Interface).MulticastAddrs reads them. The kernel serves the two
// files; the stack, which knows the groups, writes their text whenever
// they may have changed (velocity_net_resolv with a file number, the call
// that writes /etc/resolv.conf).
//
// gVisor does not list a NIC's groups, but answers whether it is in one
// (Stack.IsInGroup). So the text is made from candidates checked one by
// one: the groups the stack joins itself (IPv4's all-systems group; IPv6's
// all-nodes groups and the solicited-node group of each address) and the
// groups the program's sockets joined (IP_ADD_MEMBERSHIP, IPV6_JOIN_GROUP:
// multicast.go), counted here per socket so that a group leaves the list
// with its last member, on a leave or on the socket's close.
//
// When it is written: on every join and leave that succeeds, on the close
// of a socket that held groups, when a NIC is added or configured, and
// when IPv6 neighbor discovery adds or drops an address (ndp.go).

// mcGroups counts the program's memberships by group address.
type mcGroups struct {
	// wmu serializes writeGroups, so that an older text never follows a
	// newer one; it is taken before mu.
	wmu   sync.Mutex
	mu    sync.Mutex
	count map[tcpip.Address]int
	// last texts written, to write only changes; write (nil: nowhere)
	// replaces file 1 (igmp) or 2 (igmp6).
	last  [3]string
	write func(file int, text string) error
}

// Files velocity_net_resolv writes, by its third argument.
const (
	fileResolv = 0
	fileIGMP   = 1
	fileIGMP6  = 2
)

// joined records a membership sk now holds.
func (s *Server) joined(sk *sock, group tcpip.Address) {
	s.mc.mu.Lock()
	if s.mc.count == nil {
		s.mc.count = map[tcpip.Address]int{}
	}
	s.mc.count[group]++
	sk.groups = append(sk.groups, group)
	s.mc.mu.Unlock()
	s.writeGroups()
}

// left records that sk left group (once).
func (s *Server) left(sk *sock, group tcpip.Address) {
	s.mc.mu.Lock()
	if i := slices.Index(sk.groups, group); i >= 0 {
		sk.groups = slices.Delete(sk.groups, i, i+1)
		s.dropLocked(group)
	}
	s.mc.mu.Unlock()
	s.writeGroups()
}

// closedGroups forgets the memberships of sk, which was closed (gVisor
// leaves its groups with the endpoint).
func (s *Server) closedGroups(sk *sock) {
	s.mc.mu.Lock()
	had := len(sk.groups) > 0
	for _, g := range sk.groups {
		s.dropLocked(g)
	}
	sk.groups = nil
	s.mc.mu.Unlock()
	if had {
		s.writeGroups()
	}
}

func (s *Server) dropLocked(group tcpip.Address) {
	if s.mc.count[group]--; s.mc.count[group] <= 0 {
		delete(s.mc.count, group)
	}
}

// writeGroups makes both files' text and writes what changed.
func (s *Server) writeGroups() {
	s.mc.wmu.Lock()
	defer s.mc.wmu.Unlock()
	v4, v6 := s.groupTexts()
	s.mc.mu.Lock()
	defer s.mc.mu.Unlock()
	if s.mc.write == nil {
		return
	}
	for _, f := range []struct {
		file int
		text string
	}{{fileIGMP, v4}, {fileIGMP6, v6}} {
		if f.text != s.mc.last[f.file] {
			if err := s.mc.write(f.file, f.text); err == nil {
				s.mc.last[f.file] = f.text
			}
		}
	}
}

// groupTexts is the text of /proc/net/igmp and /proc/net/igmp6, in
// Linux's formats, NICs by index.
func (s *Server) groupTexts() (string, string) {
	s.mc.mu.Lock()
	count := maps.Clone(s.mc.count)
	s.mc.mu.Unlock()
	mine := slices.Collect(maps.Keys(count))
	// users is how many of the program's sockets hold a group, or 1 for
	// one only the stack joined.
	users := func(g tcpip.Address) int { return max(1, count[g]) }
	slices.SortFunc(mine, func(a, b tcpip.Address) int { return strings.Compare(string(a.AsSlice()), string(b.AsSlice())) })
	infos := s.stack.NICInfo()
	ids := make([]tcpip.NICID, 0, len(infos))
	for id := range infos {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var v4, v6 strings.Builder
	v4.WriteString("Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n")
	for _, id := range ids {
		info := infos[id]
		in := func(g tcpip.Address) bool {
			ok, err := s.stack.IsInGroup(id, g)
			return err == nil && ok
		}
		var g4, g6 []tcpip.Address
		add := func(g tcpip.Address) {
			if !in(g) {
				return
			}
			if g.Len() == 4 && !slices.Contains(g4, g) {
				g4 = append(g4, g)
			}
			if g.Len() == 16 && !slices.Contains(g6, g) {
				g6 = append(g6, g)
			}
		}
		add(header.IPv4AllSystems)
		add(header.IPv6AllNodesMulticastAddress)
		add(tcpip.AddrFrom16([16]byte{0: 0xff, 1: 0x01, 15: 1})) // interface-local all nodes
		add(header.IPv6AllRoutersLinkLocalMulticastAddress)
		for _, pa := range info.ProtocolAddresses {
			if pa.AddressWithPrefix.Address.Len() == 16 {
				add(header.SolicitedNodeAddr(pa.AddressWithPrefix.Address))
			}
		}
		for _, g := range mine {
			add(g)
		}
		if len(g4) > 0 {
			fmt.Fprintf(&v4, "%d\t%-10s: %5d %7s\n", id, info.Name, len(g4), "V3")
			for _, g := range g4 {
				// The group in the host's byte order, as Linux prints it.
				fmt.Fprintf(&v4, "\t\t\t\t%08X %5d 0:00000000\t\t0\n", binary.LittleEndian.Uint32(g.AsSlice()), users(g))
			}
		}
		for _, g := range g6 {
			fmt.Fprintf(&v6, "%-4d %-15s %s %5d %08X %d\n", id, info.Name, hex.EncodeToString(g.AsSlice()), users(g), 0, 0)
		}
	}
	return v4.String(), v6.String()
}

// writeProcFile replaces one of the files velocity_net_resolv writes.
func writeProcFile(file int, text string) error {
	b := []byte(text + "\x00")[:len(text)] // its array is never empty, so an empty text has a pointer too
	_, _, e := syscall.RawSyscall(sysResolv, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(file))
	if e != 0 {
		return e
	}
	return nil
}
