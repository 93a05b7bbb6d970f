package gvisortest

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// TestAddressLookup checks a NIC's address lookups (internal/build/
// netaddrscan.go) on both sides of velocityScanMax: after addresses come,
// go and come back, each present address and its subnet's broadcast
// address are found, and each removed one is not.
func TestAddressLookup(t *testing.T) {
	for _, n := range []int{1, 3, 8, 9, 20} {
		s := stack.New(stack.Options{NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol}})
		if err := s.CreateNIC(1, channel.New(1, 1500, "")); err != nil {
			t.Fatal(err)
		}
		addr := func(i int) tcpip.Address { return tcpip.AddrFrom4([4]byte{10, byte(i), 0, 1}) }
		for i := range n {
			pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr(i), PrefixLen: 24}}
			if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
				t.Fatal(err)
			}
		}
		gone := map[int]bool{}
		for i := 0; i < n; i += 3 {
			if err := s.RemoveAddress(1, addr(i)); err != nil {
				t.Fatal(err)
			}
			gone[i] = true
		}
		// One more after the removals, so the list is not just a prefix,
		// and the first removed one again: a stale entry of it must not
		// hide the new one.
		for _, i := range []int{200, 0} {
			pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr(i), PrefixLen: 24}}
			if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
				t.Fatal(err)
			}
			delete(gone, i)
		}
		for _, i := range append(func() []int {
			var all []int
			for i := range n {
				all = append(all, i)
			}
			return all
		}(), 200) {
			want := tcpip.NICID(1)
			if gone[i] {
				want = 0
			}
			if got := s.CheckLocalAddress(0, ipv4.ProtocolNumber, addr(i)); got != want {
				t.Errorf("%d addresses: CheckLocalAddress(%s) = %d, want %d", n, addr(i), got, want)
			}
			bcast := tcpip.AddrFrom4([4]byte{10, byte(i), 0, 255})
			if got := s.CheckLocalAddress(0, ipv4.ProtocolNumber, bcast); got != want {
				t.Errorf("%d addresses: CheckLocalAddress(%s) = %d, want %d (the subnet's broadcast address)", n, bcast, got, want)
			}
		}
		if got := s.CheckLocalAddress(0, ipv4.ProtocolNumber, tcpip.AddrFrom4([4]byte{192, 168, 0, 1})); got != 0 {
			t.Errorf("%d addresses: a foreign address is local to NIC %d", n, got)
		}
		s.Close()
	}
}
