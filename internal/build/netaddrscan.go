package build

// A NIC's addresses looked up by a scan, in kernels that link the network
// stack.
//
// gVisor keeps each network endpoint's addresses in a map keyed by
// tcpip.Address (AddressableEndpointState.endpoints) and looks an IPv4
// packet's addresses up in it three times on the way in: its destination,
// and twice its source, which is never ours, so each of those lookups also
// iterates the whole map asking whether the source is a subnet's broadcast
// address. A NIC has one to a few addresses. Hashing a 24-byte key and
// starting a map iteration cost far more than comparing a few keys,
// above all under TCG, where Go's map hash runs AES instructions one by
// one in software: in a guest profile of a new connection per request over
// tap (2026-12-06) the lookups (ipv4's AcquireAssignedAddress and what it
// calls) were 3.4% of the guest's CPU, and 1.7% with the edits, which
// keep a slice of the map's entries beside it, in the order they were
// added, updated where the map is, and look up and iterate over the slice
// while it has at most velocityScanMax entries.

import _ "embed"

//go:embed addrscan/stack.go.txt
var addrScanFile string

// addrScanEdits are the replacements in gVisor's
// stack/addressable_endpoint_state.go.
var addrScanEdits = []gvisorEdit{
	{
		"pkg/tcpip/stack/addressable_endpoint_state.go",
		"\t// +checklocks:mu\n\tprimary []*addressState `state:\"nosave\"`\n}\n",
		"\t// +checklocks:mu\n\tprimary []*addressState `state:\"nosave\"`\n" +
			"\t// velocityList: endpoints' entries in the order added (velocity).\n" +
			"\t// +checklocks:mu\n\tvelocityList []velocityAddr `state:\"nosave\"`\n}\n",
	},
	{
		"pkg/tcpip/stack/addressable_endpoint_state.go",
		"\ta.endpoints = make(map[tcpip.Address]*addressState)\n}\n",
		"\ta.endpoints = make(map[tcpip.Address]*addressState)\n\ta.velocityList = nil\n}\n",
	},
	{
		"pkg/tcpip/stack/addressable_endpoint_state.go",
		"\tdelete(a.endpoints, addrState.addr.Address)\n",
		"\tdelete(a.endpoints, addrState.addr.Address)\n\ta.velocityForget(addrState.addr.Address)\n",
	},
	{
		"pkg/tcpip/stack/addressable_endpoint_state.go",
		"\t\ta.endpoints[addr.Address] = addrState\n",
		"\t\ta.endpoints[addr.Address] = addrState\n\t\ta.velocityList = append(a.velocityList, velocityAddr{addr.Address, addrState})\n",
	},
	{
		"pkg/tcpip/stack/addressable_endpoint_state.go",
		"\tlookup := func() *addressState {\n\t\tif addrState, ok := a.endpoints[localAddr]; ok {\n",
		"\tlookup := func() *addressState {\n\t\tif addrState, ok := a.velocityFind(localAddr); ok {\n",
	},
	{
		"pkg/tcpip/stack/addressable_endpoint_state.go",
		"\t\t\tfor _, addrState := range a.endpoints {\n",
		"\t\t\tfor _, e := range a.velocityList {\n\t\t\t\taddrState := e.s\n",
	},
}
