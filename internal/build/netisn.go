package build

// SipHash for gVisor's initial sequence numbers and timestamp offsets, in
// kernels that link the network stack (why: isnhash/isnhash.go).
//
// The SipHash file is added to gVisor's package tcp as it is, its package
// clause rewritten, with isnFile around it; two edits make
// generateSecureISN and (*protocol).tsOffset use them. The inputs are
// gVisor's (the 16-byte secrets it draws at start, the connection's
// addresses and ports) and so are the 64 ns clock added to the ISN and the
// 32 bits kept of each hash; only the function is Linux's.

import _ "embed"

//go:embed isnhash/isnhash.go
var sipHashFile []byte

// isnFile is added to gVisor's package tcp.
const isnFile = `// Added by velocity (internal/build/netisn.go) to kernels that link the
// network stack: SipHash-2-4 (zz_velocity_siphash.go) in place of SHA-256
// for initial sequence numbers and timestamp offsets.

package tcp

import (
	"encoding/binary"
	"os"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// velocityISNSip: VELOCITY_ISNHASH=sha256 on the kernel command line
// keeps gVisor's SHA-256.
var velocityISNSip = os.Getenv("VELOCITY_ISNHASH") != "sha256"

// velocityPutAddr copies a's bytes into b at n and returns the end,
// without the allocation of a.AsSlice.
func velocityPutAddr(b []byte, n int, a tcpip.Address) int {
	switch a.Len() {
	case 4:
		x := a.As4()
		return n + copy(b[n:], x[:])
	case 16:
		x := a.As16()
		return n + copy(b[n:], x[:])
	}
	return n + copy(b[n:], a.AsSlice())
}

// velocitySecureISN is generateSecureISN's number with SipHash: the
// hash of the connection's addresses and ports under the secret, plus a
// clock that ticks every 64 ns.
func velocitySecureISN(id stack.TransportEndpointID, clock tcpip.Clock, seed [16]byte) seqnum.Value {
	var m [2*16 + 4]byte
	n := velocityPutAddr(m[:], 0, id.LocalAddress)
	n = velocityPutAddr(m[:], n, id.RemoteAddress)
	binary.LittleEndian.PutUint16(m[n:], id.LocalPort)
	binary.LittleEndian.PutUint16(m[n+2:], id.RemotePort)
	hash := uint32(velocitySipHash24(seed, m[:n+4]))
	return seqnum.Value(hash + uint32(clock.NowMonotonic().Sub(tcpip.MonotonicTime{}).Nanoseconds()>>6))
}

// velocityTSOffset is tsOffset's hash with SipHash: of the two addresses
// under the secret.
func velocityTSOffset(secret [16]byte, src, dst tcpip.Address) uint32 {
	var m [2 * 16]byte
	n := velocityPutAddr(m[:], 0, src)
	n = velocityPutAddr(m[:], n, dst)
	return uint32(velocitySipHash24(secret, m[:n]))
}
`

// isnEdits are the replacements in gVisor's files.
var isnEdits = []gvisorEdit{
	{
		"pkg/tcpip/transport/tcp/connect.go",
		"func generateSecureISN(id stack.TransportEndpointID, clock tcpip.Clock, seed [16]byte) seqnum.Value {\n\tisnHasher := sha256.New()\n",
		"func generateSecureISN(id stack.TransportEndpointID, clock tcpip.Clock, seed [16]byte) seqnum.Value {\n\tif velocityISNSip {\n\t\treturn velocitySecureISN(id, clock, seed)\n\t}\n\tisnHasher := sha256.New()\n",
	},
	{
		"pkg/tcpip/transport/tcp/protocol.go",
		"\th := sha256.New()\n\n\t// Per hash.Hash.Writer:\n\t//\n\t// It never returns an error.\n\t_, _ = h.Write(p.tsOffsetSecret[:])\n",
		"\tif velocityISNSip {\n\t\treturn tcp.NewTSOffset(velocityTSOffset(p.tsOffsetSecret, src, dst))\n\t}\n\th := sha256.New()\n\n\t// Per hash.Hash.Writer:\n\t//\n\t// It never returns an error.\n\t_, _ = h.Write(p.tsOffsetSecret[:])\n",
	},
}

// isnFiles returns the files added to gVisor's package tcp, by path in
// the module.
func isnFiles() (map[string]string, error) {
	sip, err := RewritePackage(sipHashFile, "isnhash", "tcp")
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"pkg/tcpip/transport/tcp/zz_velocity_siphash.go": string(sip),
		"pkg/tcpip/transport/tcp/zz_velocity_isn.go":     isnFile,
	}, nil
}
