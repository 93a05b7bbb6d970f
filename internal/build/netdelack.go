package build

// A delayed ACK for gVisor's TCP, in kernels that link the network stack.
//
// gVisor's TCP acknowledges whatever its processor goroutine has taken in
// as soon as it is done (tcp.(*Endpoint).handleSegmentsLocked): a request
// costs the server a pure ACK, built, routed and put on the card, and then
// the response, which acknowledges the same bytes. Linux delays the ACK
// and lets the response carry it. A throw-away build that never sent that
// ACK served 1.12x and 1.13x the requests/s of small pages over tap with
// 1 and 16 connections, and 1.33x and 1.13x over in-guest loopback, where
// both ends pay it; the kept version measured 1.06x with 16 connections
// and 1.14x and 1.15x over loopback (docs/net.md, "A delayed ACK in
// gVisor's TCP").
//
// The network GOROOT (netroot.go) gives the compiler patched copies of
// three gVisor files and one file of ours, through -overlay (and a second
// file of ours, sendqFile, with a method netstack's SIOCOUTQ uses; SipHash,
// netisn.go, goes the same way), the way netdirect.go patches package
// syscall: each edit's old text must occur
// exactly once, or the build stops naming the file (a gVisor release that
// changed it needs the patch looked at). Host builds and netstack's host
// tests use gVisor unchanged; tests/netboot checks the kernel's.

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// delackFile is added to gVisor's package tcp.
const delackFile = `// Added by velocity (internal/build/netdelack.go) to kernels that link
// the network stack: a delayed ACK for gVisor's TCP.

package tcp

import (
	"os"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// velocityDelAckOn: VELOCITY_DELACK=0 on the kernel command line sends
// every ACK at once, as gVisor does.
var velocityDelAckOn = os.Getenv("VELOCITY_DELACK") != "0"

// velocityDelAckTimeout bounds how long an ACK waits for a segment of
// ours to carry it. Linux waits 40 ms at least; a peer that holds its
// next small segment back until this one is acknowledged (Nagle's
// algorithm without TCP_NODELAY) waits as long, so it is short.
const velocityDelAckTimeout = 5 * time.Millisecond

// velocityFinAckOn: VELOCITY_FINACK=0 acknowledges a peer's FIN at once,
// as gVisor does.
var velocityFinAckOn = os.Getenv("VELOCITY_FINACK") != "0"

// velocityDelayAck reports whether the ACK handleSegmentsLocked owes may
// wait (and arms the timer that sends it if nothing else does): only on an
// established connection (or one the peer has closed, see
// velocityDelayFinAck) with nothing out of order, and while less than
// two full segments are unacknowledged, so a stream coming in is
// acknowledged every second segment, as by Linux. A segment out of order
// or out of the window, and a window update are acknowledged at once by
// their own paths, as before.
//
// +checklocks:e.mu
func (e *Endpoint) velocityDelayAck() bool {
	if !velocityDelAckOn || e.velocityDelAck.isUninitialized() {
		return false
	}
	if st := e.EndpointState(); st != StateEstablished && (st != StateCloseWait || !velocityFinAckOn) {
		return false
	}
	if e.rcv.pendingRcvdSegments.Len() > 0 {
		return false
	}
	return e.velocityArmDelAck()
}

// velocityDelayFinAck reports whether the ACK of a FIN that arrives on an
// established connection may wait for a segment of ours (and arms the
// timer that sends it if none comes). The peer is done sending, and the
// program reading this connection will most often answer with its own
// FIN: net/http closes a "Connection: close" connection right after its
// response, often after the client's FIN came in. Acknowledged at once,
// the FIN costs a pure ACK and then the FIN, two frames where one does,
// and a third from the peer to acknowledge ours. Linux waits too: a FIN on
// an established socket puts it in "pingpong" mode (tcp_fin), in which
// its ACKs are delayed. A FIN in any other state (ours went first) is
// acknowledged at once, since nothing of ours will follow to carry it.
//
// +checklocks:e.mu
func (e *Endpoint) velocityDelayFinAck() bool {
	if !velocityDelAckOn || !velocityFinAckOn || e.velocityDelAck.isUninitialized() || e.EndpointState() != StateEstablished {
		return false
	}
	return e.velocityArmDelAck()
}

// velocityArmDelAck is what both kinds of waiting ACK check last: less
// than two full segments unacknowledged (a stream coming in is
// acknowledged every second segment, as by Linux); it arms the timer
// that sends the ACK if nothing of ours carries it first.
//
// +checklocks:e.mu
func (e *Endpoint) velocityArmDelAck() bool {
	if unacked := e.snd.MaxSentAck.Size(e.rcv.RcvNxt); int(unacked) >= 2*int(e.snd.MaxPayloadSize) {
		return false
	}
	if !e.velocityDelAck.enabled() {
		e.velocityDelAck.enable(velocityDelAckTimeout)
	}
	return true
}

// velocityAckSent stops the timer when a segment of ours carried the
// ACK that waited (the sender's two places that set MaxSentAck call it):
// a timer left to fire would start a goroutine, take the endpoint's lock
// and find nothing to do, once per request.
//
// +checklocks:e.mu
func (e *Endpoint) velocityAckSent() {
	if t := &e.velocityDelAck; t.state == timerStateEnabled {
		t.timer.Stop()
		t.state = timerStateDisabled
	}
}

// velocityDelAckExpired sends the ACK that waited, unless a segment of
// ours carried it meanwhile. A timer that fires after the endpoint's
// cleanup finds it uninitialized, as gVisor's keepalive timer does.
//
// +checklocks:e.mu
func (e *Endpoint) velocityDelAckExpired() tcpip.Error {
	if e.velocityDelAck.isUninitialized() || !e.velocityDelAck.checkExpiration() {
		return nil
	}
	if e.EndpointState().connected() && e.rcv.RcvNxt != e.snd.MaxSentAck {
		e.snd.sendAck()
	}
	return nil
}
`

// sendqFile is added to gVisor's package tcp beside delackFile: the one
// number SIOCOUTQ needs, which gVisor keeps but does not give out (its
// endpoints declare tcpip.SendQueueSizeOption and serve it nowhere).
const sendqFile = `// Added by velocity (internal/build/netdelack.go) to kernels that link
// the network stack: SIOCOUTQ for netstack's ioctl.

package tcp

// VelocitySendQueued is the bytes written and not yet acknowledged, what
// Linux's SIOCOUTQ reports: the send buffer's use, which the sender lowers
// by what each ACK acknowledges (updateSndBufferUsage).
func (e *Endpoint) VelocitySendQueued() int {
	e.sndQueueInfo.sndQueueMu.Lock()
	defer e.sndQueueInfo.sndQueueMu.Unlock()
	return e.sndQueueInfo.SndBufUsed
}
`

// gvisorEdit replaces old, which must occur exactly once, with new in
// file, a path in gVisor's module.
type gvisorEdit struct{ file, old, new string }

// delackEdits are the delayed ACK's replacements in gVisor's files.
var delackEdits = []gvisorEdit{
	{
		"pkg/tcpip/transport/tcp/endpoint.go",
		"\tkeepalive keepalive\n",
		"\tkeepalive keepalive\n\n\t// velocityDelAck sends an ACK that waited (velocity's delayed ACK).\n\tvelocityDelAck timer\n",
	},
	{
		"pkg/tcpip/transport/tcp/endpoint.go",
		"\te.keepalive.timer.init(e.stack.Clock(), timerHandler(e, e.keepaliveTimerExpired))\n\n\treturn e\n}",
		"\te.keepalive.timer.init(e.stack.Clock(), timerHandler(e, e.keepaliveTimerExpired))\n\te.velocityDelAck.init(e.stack.Clock(), timerHandler(e, e.velocityDelAckExpired))\n\n\treturn e\n}",
	},
	{
		"pkg/tcpip/transport/tcp/endpoint.go",
		"\te.keepalive.timer.cleanup()\n\n\tif e.isRegistered {",
		"\te.keepalive.timer.cleanup()\n\te.velocityDelAck.cleanup()\n\n\tif e.isRegistered {",
	},
	{
		"pkg/tcpip/transport/tcp/snd.go",
		"\ts.MaxSentAck = rcvNxt\n\n\t// We need to clone",
		"\ts.MaxSentAck = rcvNxt\n\ts.ep.velocityAckSent()\n\n\t// We need to clone",
	},
	{
		"pkg/tcpip/transport/tcp/snd.go",
		"\ts.MaxSentAck = rcvNxt\n\n\treturn s.ep.sendEmptyRaw(flags, seq, rcvNxt, rcvWnd)",
		"\ts.MaxSentAck = rcvNxt\n\ts.ep.velocityAckSent()\n\n\treturn s.ep.sendEmptyRaw(flags, seq, rcvNxt, rcvWnd)",
	},
	{
		"pkg/tcpip/transport/tcp/rcv.go",
		"\t\t// Send ACK immediately.\n\t\tr.ep.snd.sendAck()\n",
		"\t\t// Send ACK immediately, unless it may wait for our FIN (velocity).\n\t\tif !r.ep.velocityDelayFinAck() {\n\t\t\tr.ep.snd.sendAck()\n\t\t}\n",
	},
	{
		"pkg/tcpip/transport/tcp/connect.go",
		"\tif e.rcv.RcvNxt != e.snd.MaxSentAck {\n\t\te.snd.sendAck()\n\t}\n\n\te.resetKeepaliveTimer(true /* receivedData */)",
		"\tif e.rcv.RcvNxt != e.snd.MaxSentAck && !e.velocityDelayAck() {\n\t\te.snd.sendAck()\n\t}\n\n\te.resetKeepaliveTimer(true /* receivedData */)",
	},
}

// gvisorEdits are all the replacements made in gVisor's files: the
// delayed ACK's, SipHash's (netisn.go), the compact TIME-WAIT's
// (nettimewait.go), the monotonic clock's (netmonotonic.go), the
// address scan's (netaddrscan.go), the FIN sent again's (netfinretx.go),
// the close's (netclosedrain.go), the write list's (netwritelist.go),
// the inline handling's (netinline.go), UDP's header reads
// (netudpheader.go) and the v4-mapped address's unwrapping (netunmap.go).
func gvisorEdits() []gvisorEdit {
	return slices.Concat(delackEdits, isnEdits, timeWaitEdits, monotonicEdits, addrScanEdits, finRetxEdits, closeDrainEdits, writeListEdits, inlineEdits, udpHeaderEdits, unmapEdits)
}

// patchGvisor returns the patched texts of the files edits name, read
// from gVisor's module directory modDir, by path in the module.
func patchGvisor(modDir string, edits []gvisorEdit) (map[string]string, error) {
	out := map[string]string{}
	for _, e := range edits {
		src, ok := out[e.file]
		if !ok {
			data, err := os.ReadFile(filepath.Join(modDir, e.file))
			if err != nil {
				return nil, err
			}
			src = string(data)
		}
		if n := strings.Count(src, e.old); n != 1 {
			first, _, _ := strings.Cut(strings.TrimSpace(e.old), "\n")
			return nil, fmt.Errorf("%s: %q occurs %d times, want once (has this gVisor release changed it?)", e.file, first, n)
		}
		out[e.file] = strings.Replace(src, e.old, e.new, 1)
	}
	return out, nil
}

// addGvisorPatches writes the patched gVisor files, delackFile,
// sendqFile and SipHash's files (netisn.go) into patchDir and maps them
// (at their paths in the final vendor tree finalDir, where gVisor's
// module root is) in overlay. A file the overlay already maps
// (patchInline's copy without //go:inline) is refused rather than
// overwritten: the two patches would have to be combined first.
func addGvisorPatches(modDir, finalDir, patchDir string, overlay map[string]string) error {
	patched, err := patchGvisor(modDir, gvisorEdits())
	if err != nil {
		return fmt.Errorf("network stack: patching gVisor: %w", err)
	}
	added, err := gvisorAddedFiles()
	if err != nil {
		return fmt.Errorf("network stack: patching gVisor: %w", err)
	}
	maps.Copy(patched, added)
	for rel, text := range patched {
		final := filepath.Join(finalDir, rel)
		if _, dup := overlay[final]; dup {
			return fmt.Errorf("network stack: %s is already patched", rel)
		}
		dst := filepath.Join(patchDir, "gvisor", rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(text), 0o644); err != nil {
			return err
		}
		overlay[final] = dst
	}
	return nil
}

// gvisorAddedFiles are the files of ours added to gVisor's packages, by
// path in its module: delackFile, sendqFile, SipHash's (netisn.go), the
// compact TIME-WAIT's (nettimewait.go), the address scan's
// (netaddrscan.go), the FIN sent again's (netfinretx.go), the close's
// (netclosedrain.go), the inline handling's (netinline.go), UDP's
// header reads (netudpheader.go) and the unwrapping (netunmap.go).
func gvisorAddedFiles() (map[string]string, error) {
	added, err := isnFiles()
	if err != nil {
		return nil, fmt.Errorf("SipHash: %w", err)
	}
	added["pkg/tcpip/transport/tcp/zz_velocity_delack.go"] = delackFile
	added["pkg/tcpip/transport/tcp/zz_velocity_sendq.go"] = sendqFile
	maps.Copy(added, timeWaitFiles())
	added["pkg/tcpip/stack/zz_velocity_addrscan.go"] = addrScanFile
	added["pkg/tcpip/transport/tcp/zz_velocity_finretx.go"] = finRetxFile
	added["pkg/tcpip/transport/tcp/zz_velocity_closedrain.go"] = closeDrainFile
	added["pkg/tcpip/transport/tcp/zz_velocity_inline.go"] = inlineFile
	added["pkg/tcpip/transport/udp/zz_velocity_netheader.go"] = udpHeaderFile
	added["pkg/tcpip/stack/zz_velocity_unmap.go"] = unmapFile
	return added, nil
}

// gvisorPatchVersion identifies the patches for the network GOROOT's
// cache key: every added file, by name, and every edit.
func gvisorPatchVersion() string {
	var b strings.Builder
	added, err := gvisorAddedFiles()
	if err != nil {
		b.WriteString(err.Error()) // addGvisorPatches reports it
	}
	for _, name := range slices.Sorted(maps.Keys(added)) {
		b.WriteString(name + "\n" + added[name])
	}
	for _, e := range gvisorEdits() {
		b.WriteString(e.file + e.old + e.new)
	}
	return b.String()
}
