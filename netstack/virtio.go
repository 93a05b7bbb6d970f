package netstack

// The virtio-net driver: a virtio network card (QEMU's virtio-net-pci,
// transitional 0x1000 or modern-only 0x1041) on the transport of package
// drivers/virtio (modern interface preferred, legacy as the fallback),
// queue 0 receiving and queue 1 transmitting, feeding a gVisor channel
// endpoint wrapped in Ethernet framing. See docs/net.md, "The network
// card".

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/velocityos/velocity/drivers/pci"
	"github.com/velocityos/velocity/drivers/virtio"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// virtio-net feature bits (virtio 1.x, 5.1.3).
const (
	featCsum      = 1 << 0
	featGuestCsum = 1 << 1
	featGuestTSO4 = 1 << 7
	featGuestTSO6 = 1 << 8
	featMAC       = 1 << 5
	featHostTSO4  = 1 << 11
	featHostTSO6  = 1 << 12
	featMrgRxBuf  = 1 << 15
	featStatus    = 1 << 16

	netStatusLinkUp = 1

	bufSize  = 2048 // one receive or transmit buffer
	mtu      = 1500
	maxFrame = mtu + 14 + 4 // Ethernet header and one VLAN tag
	// maxRxBufs bounds num_buffers: without GSO a frame fits in one
	// buffer, so a larger count is the device's error.
	maxRxBufs = 2
	// With receive offloads (GUEST_TSO4/6) the device may join segments
	// into one frame of up to an IP datagram's 64 KiB, spread over
	// MRG_RXBUF's buffers.
	maxGSOFrame  = 65535 + 14 + 4
	maxGSORxBufs = (maxGSOFrame + 12 + bufSize - 1) / bufSize
	ringMax      = 256
)

// netHdrLen is struct virtio_net_hdr's size: 12 bytes with num_buffers
// (MRG_RXBUF, or always on the modern interface), else 10.
func netHdrLen(modern, mrg bool) int {
	if modern || mrg {
		return 12
	}
	return 10
}

// NICStats counts the card's traffic and everything dropped. The kernel
// reads it (registered with sysNetStats) for kernel.NetStats, the shell's
// netstat command and the httpd image's statistics page; its layout is
// kernel.NICStats's, field for field.
type NICStats struct {
	RxFrames, RxBytes, TxFrames, TxBytes uint64
	// Wake-ups of the receive goroutine by the card's interrupt. With a
	// vector of its own one wake-up may follow several interrupts: their
	// count is not read (eventfdWaiter.waitUntil).
	Interrupts uint64
	// Dropped on receive: the used-ring entry was bad (descriptor id
	// outside the ring, length beyond the buffer), the frame shorter
	// than a virtio and Ethernet header, longer than the MTU allows (or
	// 64 KiB with receive offloads), or its virtio header named an
	// impossible buffer count or checksum position.
	RxBadUsed, RxRunt, RxOversize, RxBadHeader uint64
	// Dropped on transmit: too big for a buffer, or the ring stayed full.
	TxOversize, TxRingFull               uint64
	TxNotifies, TxSuppressed, RxNotifies uint64
	LinkChanges                          uint64
	// Frames the sending goroutine put on the ring itself (virtioLink).
	TxInline uint64
	// Frames sent for the device to cut into segments (offloads).
	TxGSOFrames uint64
	// Frames received whose TCP or UDP checksum the driver completed
	// (NEEDS_CSUM, receive offloads), and of them those longer than the
	// MTU (segments the host joined).
	RxCsumCompleted, RxGSOFrames uint64
	// Notifications sent to a device found idle behind the driver
	// (virtio.Queue.Rescues), per queue.
	TxRescues, RxRescues uint64
	// Receive completions found waiting without their interrupt by the
	// watchdog (watchInterrupts).
	MissedInterrupts uint64
	// Segments of more than one MSS this driver cut itself, the device
	// offering no segmentation (softgso.go), and segments left for it
	// to finish that it found malformed and dropped.
	TxSoftGSOFrames, TxBadGSO uint64
	// Received pure ACKs dropped because the next frame, a pure ACK of
	// the same connection, acknowledged more (ackcoalesce.go).
	RxAcksCoalesced uint64
	// Nanoseconds the receive goroutine spent waiting for the card: from
	// finding the ring empty until it ran again, so the scheduling delay
	// after the interrupt counts too. Wall time less this is time it was
	// busy with frames: near zero means it never caught up, and the
	// receive path set the node's pace.
	RxWaitNs uint64
}

var nicStats NICStats

// rxAssembler turns used receive buffers into frames. With MRG_RXBUF a
// frame may span num_buffers buffers, the first starting with the virtio
// header; everything malformed is dropped and counted, never trusted.
type rxAssembler struct {
	hdrLen int
	mrg    bool
	// gso: receive offloads are on, so a frame may be up to maxGSOFrame
	// long over maxGSORxBufs buffers; else maxFrame and maxRxBufs.
	gso   bool
	frame []byte // the frame being assembled
	left  int    // buffers it still needs
	bad   bool   // it is being dropped: swallow its remaining buffers
	// hdr is the virtio header of the frame add returned last (its
	// first buffer's), for the checksum it may ask for.
	hdr [12]byte
}

func (a *rxAssembler) limits() (frame, bufs int) {
	if a.gso {
		return maxGSOFrame, maxGSORxBufs
	}
	return maxFrame, maxRxBufs
}

// add takes the bytes the device wrote into one buffer (already bounded
// by the buffer's size) and returns a complete frame when there is one.
// The frame is valid until the next call and until the buffer goes back
// to the device: a one-buffer frame is the buffer itself, a longer one
// the assembler's own storage. (The caller's packet buffer copies it,
// so a frame is copied once on its way in.)
func (a *rxAssembler) add(b []byte, st *NICStats) []byte {
	maxLen, maxBufs := a.limits()
	if a.left == 0 {
		if len(b) < a.hdrLen {
			atomic.AddUint64(&st.RxRunt, 1)
			return nil
		}
		n := 1
		if a.mrg {
			n = int(binary.LittleEndian.Uint16(b[10:12]))
		}
		if n < 1 || n > maxBufs {
			atomic.AddUint64(&st.RxBadHeader, 1)
			return nil
		}
		a.hdr = [12]byte{}
		copy(a.hdr[:], b[:a.hdrLen])
		if n == 1 {
			f := b[a.hdrLen:]
			switch {
			case len(f) < 14:
				atomic.AddUint64(&st.RxRunt, 1)
				return nil
			case len(f) > maxLen:
				atomic.AddUint64(&st.RxOversize, 1)
				return nil
			}
			return f
		}
		a.frame, a.left, a.bad = append(a.frame[:0], b[a.hdrLen:]...), n, false
	} else if !a.bad {
		a.frame = append(a.frame, b...)
	}
	a.left--
	if len(a.frame) > maxLen && !a.bad {
		a.bad = true
		atomic.AddUint64(&st.RxOversize, 1)
	}
	if a.left > 0 || a.bad {
		return nil
	}
	if len(a.frame) < 14 {
		atomic.AddUint64(&st.RxRunt, 1)
		return nil
	}
	return a.frame
}

// virtioNIC is a running virtio-net device.
type virtioNIC struct {
	dev    *virtio.Device
	irq    int // the interrupt's handle, for the serial line
	intr   pci.IRQ
	mac    tcpip.LinkAddress
	hdrLen int
	rx, tx *virtio.Queue
	rxBufs pci.DMA
	txBufs pci.DMA
	txFree []uint16
	// txNext links a frame's descriptors: txNext[i] is the one after i,
	// or txEnd; txHead marks the first descriptor of each frame in
	// flight, the only ids a completion may name (reclaim).
	txNext [ringMax]uint16
	txHead [ringMax]bool
	// gso: the device completes TCP checksums and cuts segments (CSUM,
	// HOST_TSO4 and HOST_TSO6 negotiated; a tap back end with virtio-net
	// headers), so gVisor hands over frames up to its GSO size.
	gso bool
	// acks holds back a received pure ACK that the next frame may make
	// redundant (ackcoalesce.go); the receiving goroutine's.
	acks ackHold
	// softSeg: without them, gVisor still hands over segments of up to
	// 64 KiB, which the driver cuts and checksums itself (softgso.go).
	softSeg bool
	// guestCsum: GUEST_CSUM agreed, so a received frame may ask the
	// driver to complete its checksum (completeChecksum).
	guestCsum bool
	rxAsm     rxAssembler
	ch        *channel.Endpoint
	// inline, if gVisor's TCP was built with velocity's edit
	// (internal/build/netinline.go), brackets each burst so that, when
	// the kernel command line asks for it (VELOCITY_TCPINLINE), the
	// segments that end handshakes are handled at the burst's end, in
	// this goroutine, rather than in gVisor's processor goroutines; nil
	// otherwise.
	inline tcpInline
	// txMu is held by whoever puts frames on the transmit ring: the
	// transmit goroutine, or a sender on the inline path (virtioLink).
	// Frames leave the channel only under it, so a sender that holds it
	// and finds the channel empty knows no earlier frame is still on
	// its way to the ring.
	txMu   sync.Mutex
	txUsed []virtio.Used // reclaim's scratch for inline sends; txMu
	// kickLater (txMu) is set while receive handles a burst: frames
	// put on the ring meanwhile are published without a notification,
	// and the burst's end sends one for all of them (kickDeferred).
	kickLater bool
	// txQueued wakes the transmit goroutine when a frame enters the
	// channel (txNotify).
	txQueued chan struct{}
	linkUp   bool
	hasSt    bool
	// needsReset: the device reported DEVICE_NEEDS_RESET (said once).
	needsReset bool
}

// virtioOptions are read from the kernel command line: VELOCITY_VIRTIO=
// legacy forces the legacy interface, VELOCITY_NETIRQ=intx refuses MSI-X.
func virtioOptions() (virtio.Options, bool) {
	return virtio.Options{Legacy: os.Getenv("VELOCITY_VIRTIO") == "legacy"}, os.Getenv("VELOCITY_NETIRQ") != "intx"
}

// offloadsWanted is VELOCITY_NETOFFLOAD: "off" leaves the device's
// checksum and segmentation offloads unused even when it offers them
// (to compare; the default uses them).
func offloadsWanted() bool { return os.Getenv("VELOCITY_NETOFFLOAD") != "off" }

// probeVirtioNet finds and starts the first virtio-net device: nil, nil
// when there is none, an error saying why when it cannot be used (the
// caller reports it and the kernel goes on without the card).
func probeVirtioNet() (*virtioNIC, error) {
	devs, err := pci.Scan()
	if err != nil {
		return nil, fmt.Errorf("PCI: %v", err)
	}
	d, ok := pci.Find(devs, virtio.Vendor, 0x1000, 0x1041)
	if !ok {
		return nil, nil
	}
	opts, msix := virtioOptions()
	dev, err := virtio.Open(d, opts)
	if err != nil {
		return nil, fmt.Errorf("virtio-net: %v", err)
	}
	nic, err := startVirtioNet(dev, msix)
	if err != nil {
		dev.Fail()
		return nil, fmt.Errorf("virtio-net %s: %v", d.Addr(), err)
	}
	how := "INTx line " + fmt.Sprint(nic.intr.Handle)
	if nic.intr.MSI {
		how = fmt.Sprintf("MSI-X vector %#x on CPU %d", nic.intr.Vector, nic.intr.CPU)
		if cfg, ok := dev.ConfigIRQ(); ok {
			how += fmt.Sprintf(" (configuration changes: vector %#x)", cfg.Vector)
		}
	}
	// QEMU offers offloads only with a back end that takes virtio-net
	// headers (tap), never with user networking, where both guests
	// checksum and cut every segment themselves. Both directions' are
	// used when offered (startVirtioNet; docs/net.md, "The network
	// card").
	var offloads []string
	for _, o := range []struct {
		bit  uint64
		name string
	}{{featCsum, "csum"}, {featGuestCsum, "guest_csum"}, {featHostTSO4, "host_tso4"}, {featHostTSO6, "host_tso6"},
		{featGuestTSO4, "guest_tso4"}, {featGuestTSO6, "guest_tso6"}} {
		if dev.Offered(o.bit) {
			offloads = append(offloads, o.name)
		}
	}
	if len(offloads) == 0 {
		offloads = append(offloads, "none")
	}
	var use []string
	if nic.gso {
		use = append(use, "csum host_tso4 host_tso6")
	}
	if nic.rxAsm.gso {
		use = append(use, "guest_csum guest_tso4 guest_tso6")
	} else if nic.guestCsum {
		use = append(use, "guest_csum")
	}
	used := "unused"
	if len(use) > 0 {
		used = "used: " + strings.Join(use, " ")
	}
	if nic.softSeg {
		used += "; TCP segmentation by the driver"
	}
	fmt.Fprintf(os.Stderr, "velocity: net: virtio-net %s: %s interface, %s, queues %d/%d, mrg_rxbuf %v, event_idx %v, offloads offered: %s (%s)\n",
		d.Addr(), dev.Interface(), how, nic.rx.Size, nic.tx.Size, dev.Has(featMrgRxBuf), dev.Has(virtio.FeatRingEventIdx), strings.Join(offloads, " "), used)
	return nic, nil
}

func startVirtioNet(dev *virtio.Device, msix bool) (*virtioNIC, error) {
	want := uint64(featMAC | featStatus | featMrgRxBuf | virtio.FeatRingEventIdx)
	const tso = featCsum | featHostTSO4 | featHostTSO6
	if offloadsWanted() {
		// Used only if all three come: gVisor's GSO is per route, not
		// per IP version. A part of them agreed is harmless: without a
		// header asking, the device does neither.
		want |= tso
		// Receiving: joined segments and checksums left for the driver
		// to complete (NEEDS_CSUM), which it does before gVisor sees
		// the frame (completeChecksum). Asked for together; without
		// MRG_RXBUF a joined frame could not fit the 2 KiB buffers, so
		// they are then not negotiated at all.
		if dev.DeviceFeatures()&featMrgRxBuf != 0 {
			want |= featGuestCsum | featGuestTSO4 | featGuestTSO6
		}
	}
	got, err := dev.Negotiate(want)
	if err != nil {
		return nil, err
	}
	if got&featMAC == 0 {
		return nil, fmt.Errorf("the device offers no MAC address")
	}
	nic := &virtioNIC{dev: dev, linkUp: true, hasSt: got&featStatus != 0, gso: got&tso == tso, guestCsum: got&featGuestCsum != 0}
	nic.hdrLen = netHdrLen(dev.Modern, got&featMrgRxBuf != 0)
	const guest = featGuestCsum | featGuestTSO4 | featGuestTSO6 | featMrgRxBuf
	nic.rxAsm = rxAssembler{hdrLen: nic.hdrLen, mrg: got&featMrgRxBuf != 0, gso: got&guest == guest}
	var mac [6]byte
	for i := range mac {
		mac[i] = byte(dev.Config(i, 1))
	}
	nic.mac = tcpip.LinkAddress(mac[:])
	if nic.hasSt {
		nic.linkUp = dev.Config(6, 2)&netStatusLinkUp != 0
	}
	if nic.rx, err = dev.Queue(0, ringMax); err != nil {
		return nil, err
	}
	if nic.tx, err = dev.Queue(1, ringMax); err != nil {
		return nil, err
	}
	if nic.rxBufs, err = pci.AllocDMA(nic.rx.Size * bufSize / 4096); err != nil {
		return nil, err
	}
	if nic.txBufs, err = pci.AllocDMA(nic.tx.Size * bufSize / 4096); err != nil {
		return nil, err
	}
	if nic.intr, err = dev.Interrupts(msix, nic.rx); err != nil {
		return nil, err
	}
	nic.irq = nic.intr.Handle
	// Transmit completions are collected when sending: no interrupts.
	nic.tx.DisableInterrupts()
	for i := 0; i < nic.tx.Size; i++ {
		nic.txFree = append(nic.txFree, uint16(i))
	}
	for i := 0; i < nic.rx.Size; i++ {
		nic.rx.SetDesc(i, nic.rxBufs.PA+uint64(i*bufSize), bufSize, virtio.DescWrite, 0)
		nic.rx.Push(uint16(i))
	}
	dev.Ready()
	if dev.Status()&virtio.StatusNeedsReset != 0 {
		return nil, fmt.Errorf("the device needs a reset right after DRIVER_OK")
	}
	nic.rx.Kick()
	// The channel's MTU is the frame's: the Ethernet endpoint above it
	// takes its 14-byte header off (an MTU of 1500 here made IP's 1486,
	// and TCP's MSS 1446 where Linux's is 1460).
	nic.ch = channel.New(256, mtu+header.EthernetMinimumSize, nic.mac)
	// With the device's offloads gVisor's large segments go to the
	// device; without them this driver cuts them (softgso.go).
	nic.acks.on = ackCoalesceWanted()
	nic.softSeg = !nic.gso && softGSOWanted()
	if nic.gso || nic.softSeg {
		nic.ch.SupportedGSOKind = stack.HostGSOSupported
	}
	registerNICStats()
	nic.registerRings()
	return nic, nil
}

// run moves frames between the device and the stack until ctx ends.
// Receiving is interrupt-driven with suppression: while frames keep
// coming the driver keeps draining with the device's interrupt off, and
// it sleeps (interrupt on) only once the ring is found empty after
// re-enabling, so a burst costs one interrupt.
func (n *virtioNIC) run(ctx context.Context) {
	n.txQueued = make(chan struct{}, 1)
	n.ch.AddNotify(txNotify(n.txQueued))
	go n.transmit(ctx)
	// With a vector of their own for configuration changes, those are
	// watched apart and a packet's interrupt reads no register.
	cfg, separate := n.dev.ConfigIRQ()
	if separate {
		go n.watchConfig(ctx, cfg)
	}
	var seen uint64
	var used []virtio.Used
	// The interrupt is waited for in Go's netpoller, through an eventfd
	// the kernel signals (pci.IRQ.EventFD): the thread that wakes for it
	// runs this goroutine and then, itself, the stack's goroutines it
	// makes runnable. irqwait is the fallback.
	var ev *eventfdWaiter
	f, err := n.intr.EventFD()
	if err == nil {
		ev, err = newEventfdWaiter(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "velocity: net: %v; waiting in irqwait\n", err)
	} else {
		go n.watchInterrupts(ctx, f)
	}
	rxPending := n.rx.Pending // made once: a method value escapes
	for ctx.Err() == nil {
		for {
			n.rx.DisableInterrupts()
			used = n.receive(used[:0])
			if !n.rx.EnableInterrupts() {
				break
			}
		}
		if !separate {
			n.checkLink()
		}
		waitStart := time.Now()
		if ev != nil {
			atomic.StoreUint64(&nicRings[0].Waiting, 1)
			var err error
			if separate {
				// Receive completions are the only thing this
				// vector announces that the loop acts on, and
				// the ring says whether there are any: no read.
				err = ev.waitUntil(rxPending)
			} else {
				err = ev.wait() // the vector is shared with configuration changes
			}
			atomic.StoreUint64(&nicRings[0].Waiting, 0)
			atomic.AddUint64(&nicStats.RxWaitNs, uint64(time.Since(waitStart)))
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// watchInterrupts found completions waiting
				// without their interrupt: take them.
				ev.f.SetReadDeadline(time.Time{})
				atomic.AddUint64(&nicStats.MissedInterrupts, 1)
				continue
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "velocity: net: reading the interrupt's eventfd: %v; waiting in irqwait\n", err)
				ev = nil
				continue
			}
			atomic.AddUint64(&nicStats.Interrupts, 1)
			continue
		}
		atomic.StoreUint64(&nicRings[0].Waiting, 1)
		c, err := n.intr.Wait(seen)
		atomic.StoreUint64(&nicRings[0].Waiting, 0)
		atomic.AddUint64(&nicStats.RxWaitNs, uint64(time.Since(waitStart)))
		if err == nil {
			seen = c
			atomic.AddUint64(&nicStats.Interrupts, 1)
		}
	}
}

// irqWatchPeriod is how often watchInterrupts looks: a lost interrupt
// costs the receive path between one and two periods.
const irqWatchPeriod = 500 * time.Millisecond

// watchInterrupts is the receive interrupt's watchdog. Re-enabling the
// interrupt is the mirror of a kick (the driver writes used_event, then
// reads the used index; the device writes the used index, then reads
// used_event), so the handshake virtio.Queue.Rescues describes can be
// lost here too, and then with nothing left to recover it: the driver
// sleeps with completions waiting, and the device, seeing used_event
// behind, never interrupts again. When completions have waited with the
// driver asleep and not taking any for a whole period, it ends the
// driver's wait (a read deadline in the past), which counts it in
// MissedInterrupts and drains the ring. Only the eventfd wait is
// watched; irqwait, the fallback, is not.
func (n *virtioNIC) watchInterrupts(ctx context.Context, ev *os.File) {
	t := time.NewTicker(irqWatchPeriod)
	defer t.Stop()
	var w irqWatch
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if w.check(atomic.LoadUint64(&nicRings[0].Waiting) == 1, n.rx.DeviceUsed(), uint16(atomic.LoadUint64(&nicRings[0].LastUsed))) {
			ev.SetReadDeadline(time.Now())
		}
	}
}

// irqWatch is watchInterrupts' judgement, apart for testing: a look
// finds the driver asleep (waiting) with the device's used index ahead
// of the driver's (last), and two such looks in a row with the driver's
// index unchanged mean a lost interrupt.
type irqWatch struct {
	armed bool
	last  uint16
}

func (w *irqWatch) check(waiting bool, deviceUsed, last uint16) bool {
	if !waiting || deviceUsed == last {
		w.armed = false
		return false
	}
	if w.armed && w.last == last {
		w.armed = false
		return true
	}
	w.armed, w.last = true, last
	return false
}

// watchConfig looks at the link status each time the device signals a
// configuration change on its own vector (virtio.Device.ConfigIRQ).
func (n *virtioNIC) watchConfig(ctx context.Context, irq pci.IRQ) {
	var seen uint64
	for ctx.Err() == nil {
		c, err := irq.Wait(seen)
		if err != nil {
			fmt.Fprintf(os.Stderr, "velocity: net: waiting for configuration changes: %v; the link status is no longer watched\n", err)
			return
		}
		seen = c
		n.checkLink()
	}
}

// checkLink reads the link status (STATUS feature) after a configuration
// change's interrupt: its own, or the queues' when they share one.
func (n *virtioNIC) checkLink() {
	if n.dev.Status()&virtio.StatusNeedsReset != 0 && !n.needsReset {
		n.needsReset = true
		fmt.Fprintf(os.Stderr, "velocity: net: virtio-net says it needs a reset; it may stop moving frames\n")
	}
	if !n.hasSt {
		return
	}
	up := n.dev.Config(6, 2)&netStatusLinkUp != 0
	if up != n.linkUp {
		n.linkUp = up
		atomic.AddUint64(&nicStats.LinkChanges, 1)
		state := "down"
		if up {
			state = "up"
		}
		fmt.Fprintf(os.Stderr, "velocity: net: virtio-net link %s\n", state)
	}
}

func (n *virtioNIC) receive(used []virtio.Used) []virtio.Used {
	buf := n.rxBufs.Bytes()
	used = n.rx.TakeUsed(used, bufSize)
	// Deferring the burst's notification, handling its segments and
	// sending the notification all stay outside the hold on the
	// scheduler's wake-ups that deliver takes for a lone frame: the
	// burst's end takes locks that other goroutines hold, the
	// notification waits for the ring's lock, and a goroutine that
	// parks while it holds the wake-ups back leaves every other
	// wake-up undone until it runs again. With the three inside it, a
	// guest stopped answering under 16 connections of 64 KiB pages over
	// tap (bench/netbench, 2026-12-06).
	burst := len(used) > 0
	deferred := burst && n.deferKicks()
	inline := burst && n.inline != nil
	if inline {
		n.inline.VelocityInlineBegin(nicID)
	}
	atomic.StoreUint64(&nicStats.RxBadUsed, n.rx.Bad)
	atomic.StoreUint64(&nicRings[0].LastUsed, uint64(n.rx.LastUsed()))
	n.deliver(buf, used)
	if inline {
		// The burst's segments, handled here, after gVisor's
		// demultiplexer let go of its locks, and before the
		// descriptors go back: a connection's reply is on its way
		// before the next burst is taken.
		n.inline.VelocityInlineEnd()
	}
	if deferred {
		n.kickDeferred()
	}
	// A bad entry's descriptor is lost to the ring (its id cannot be
	// trusted); the ring works on with the others.
	if burst && n.rx.Kick() {
		atomic.AddUint64(&nicStats.RxNotifies, 1)
		atomic.StoreUint64(&nicStats.RxRescues, n.rx.Rescues)
	}
	return used
}

// deliver hands the burst's frames to the stack and gives their buffers
// back to the ring.
func (n *virtioNIC) deliver(buf []byte, used []virtio.Used) {
	if len(used) == 1 {
		// One frame: one connection's segment, whose processing this
		// goroutine's M runs itself once the goroutine parks, which
		// it does next. No other M is woken for it (holdWakeups).
		// Several frames may be several connections' work, for
		// which another CPU is welcome. Nothing inside may wait for
		// a lock another goroutine holds for long (see receive).
		holdWakeups()
		defer releaseWakeups()
	}
	for i, u := range used {
		off := int(u.ID) * bufSize
		if frame := n.rxAsm.add(buf[off:off+int(u.Len)], &nicStats); frame != nil && n.completeChecksum(frame) {
			atomic.AddUint64(&nicStats.RxFrames, 1)
			atomic.AddUint64(&nicStats.RxBytes, uint64(len(frame)))
			n.acks.deliver(frame, i < len(used)-1, n) // the stack copies it, or the hold does
		}
		n.rx.SetDesc(int(u.ID), n.rxBufs.PA+uint64(off), bufSize, virtio.DescWrite, 0)
		n.rx.Push(uint16(u.ID))
	}
	n.acks.flush(n) // the burst's last ACK
}

// completeChecksum finishes a received frame's TCP or UDP checksum when
// its virtio header asks (NEEDS_CSUM, with receive offloads: the host
// leaves a locally made segment's checksum to the receiver, the
// pseudo-header sum in place): the internet checksum of everything from
// csum_start, stored at csum_start+csum_offset, as Linux's
// skb_checksum_help does. gVisor then verifies it like any other (the
// link claims no receive checksum offload). A position outside the frame
// is the device's error: the frame is dropped and counted. It reports
// whether the frame goes on.
func (n *virtioNIC) completeChecksum(frame []byte) bool {
	h := &n.rxAsm.hdr
	if !n.guestCsum || h[0]&netHdrNeedsCsum == 0 {
		return true
	}
	start := int(binary.LittleEndian.Uint16(h[6:]))
	at := start + int(binary.LittleEndian.Uint16(h[8:]))
	if start < header.EthernetMinimumSize || at+2 > len(frame) {
		atomic.AddUint64(&nicStats.RxBadHeader, 1)
		return false
	}
	binary.BigEndian.PutUint16(frame[at:], ^checksum.Checksum(frame[start:], 0))
	atomic.AddUint64(&nicStats.RxCsumCompleted, 1)
	if len(frame) > maxFrame {
		atomic.AddUint64(&nicStats.RxGSOFrames, 1)
	}
	return true
}

// transmit sends what the stack queues, in batches: it takes every frame
// waiting, and notifies the device once per batch (and only when the
// device asked to be told).
//
// It takes frames out of the channel only while it holds txMu. It used to
// take the first one and then lock: in between, the channel looked empty
// to an inline sender (virtioLink), whose later segment of the same
// connection then went on the ring first. Under 16 connections of 64 KiB
// responses over tap, the host queued 3,038 segments out of order in 10 s
// and Velocity sent 4,427 segments twice (the host's DSACKs), one for
// every four responses.
func (n *virtioNIC) transmit(ctx context.Context) {
	var used []virtio.Used
	for {
		select {
		case <-n.txQueued:
		case <-ctx.Done():
			return
		}
		n.txMu.Lock()
		sent := false
		for pkt := n.ch.Read(); pkt != nil; pkt = n.ch.Read() {
			used = n.reclaim(used)
			if need := n.descsFor(pkt); len(n.txFree) < need {
				n.waitTxSpace(need)
			}
			n.send(pkt)
			sent = true
		}
		if !sent { // an earlier batch took the frame this wake-up was for
			n.txMu.Unlock()
			continue
		}
		n.kick()
		n.txMu.Unlock()
	}
}

// deferKicks starts a receive burst: what the burst's handling sends (a
// SYN-ACK, a handshake's or a FIN's ACK), and whatever other goroutines
// send meanwhile, goes on the ring without its own notification.
// Under TCG each notification is an I/O write that leaves the translated
// code and takes QEMU's global lock; Linux's driver batches the same way
// while the stack says more is coming (xmit_more).
//
// It reports whether it did: not when the ring's lock is busy, which it
// does not wait for (a sender holding it may be waiting for the device
// to free buffers).
func (n *virtioNIC) deferKicks() bool {
	if !kickBatchOn || !n.txMu.TryLock() {
		return false
	}
	n.kickLater = true
	n.txMu.Unlock()
	return true
}

// kickDeferred ends the burst: one notification for every frame put on
// the ring since deferKicks (none if there were none, or if the device
// said it needs none). The flag is cleared under txMu, which every push
// holds, so a frame pushed without a notification is always followed by
// this one.
func (n *virtioNIC) kickDeferred() {
	n.txMu.Lock()
	n.kickLater = false
	n.kick()
	n.txMu.Unlock()
}

// kick notifies the device of what is on the ring, unless a receive
// burst will (kickLater), and publishes the counters. txMu is held.
func (n *virtioNIC) kick() {
	if n.kickLater {
		return
	}
	n.tx.Kick()
	atomic.StoreUint64(&nicStats.TxNotifies, n.tx.Notifies)
	atomic.StoreUint64(&nicStats.TxSuppressed, n.tx.Suppressed)
	atomic.StoreUint64(&nicStats.TxRescues, n.tx.Rescues)
}

// kickBatchOn is off with VELOCITY_KICKBATCH=0 on the kernel command
// line: every send notifies the device itself.
var kickBatchOn = os.Getenv("VELOCITY_KICKBATCH") != "0"

// tcpInline is the method pair velocity's edit adds to gVisor's TCP
// protocol (internal/build/netinline.go): between the two, segments
// received on the NIC are recorded, and the second handles them.
type tcpInline interface {
	VelocityInlineBegin(nic tcpip.NICID)
	VelocityInlineEnd()
}

// txNotify is the channel's notification: a frame was queued.
type txNotify chan struct{}

// WriteNotify implements channel.Notification. It never blocks: one
// wake-up pending is enough, since transmit drains the whole channel.
func (c txNotify) WriteNotify() {
	select {
	case c <- struct{}{}:
	default:
	}
}

// reclaim returns the descriptors of the frames the device has finished
// with. A completion that names no frame in flight (the head of none) is
// the device's error: counted, never followed.
func (n *virtioNIC) reclaim(used []virtio.Used) []virtio.Used {
	used = n.tx.TakeUsed(used[:0], bufSize)
	atomic.StoreUint64(&nicRings[1].LastUsed, uint64(n.tx.LastUsed()))
	for _, u := range used {
		if !n.txHead[u.ID] {
			n.tx.Bad++
			continue
		}
		n.txHead[u.ID] = false
		for i, k := uint16(u.ID), 0; i != txEnd && k < ringMax; i, k = n.txNext[i], k+1 {
			n.txFree = append(n.txFree, i)
		}
	}
	return used
}

// txEnd ends a frame's chain in txNext.
const txEnd = 0xFFFF

// maxTxDescs bounds a frame's descriptors, so that one frame never needs
// more than half the ring.
const maxTxDescs = ringMax / 2

// descsFor is how many descriptors (buffers) pkt needs behind its
// virtio header.
func (n *virtioNIC) descsFor(pkt *stack.PacketBuffer) int {
	if n.softCut(pkt) {
		// One buffer per piece, but no more than a frame may ask for:
		// a peer announcing a tiny MSS makes hundreds of pieces, which
		// sendCut puts out as the device frees buffers.
		mss := int(pkt.GSOOptions.MSS)
		return min((pkt.Data().Size()+mss-1)/mss, maxTxDescs)
	}
	return (n.hdrLen + pkt.Size() + bufSize - 1) / bufSize
}

// waitTxSpace lets the device catch up when fewer than need descriptors
// are free: it publishes what is queued and polls for completions for a
// while (transmit runs without interrupts). It notifies the device even
// during a receive burst (not kick, which leaves that to the burst's
// end): the buffers it waits for come back only once the device has
// sent what is queued.
func (n *virtioNIC) waitTxSpace(need int) {
	n.tx.Kick()
	var used []virtio.Used
	for i := 0; i < 200 && len(n.txFree) < need; i++ {
		time.Sleep(50 * time.Microsecond)
		used = n.reclaim(used)
	}
}

// send copies one frame behind its virtio header (netHdr) into free
// buffers, chained when it needs more than one (a segment gVisor left for
// the device to cut), and queues it; without enough free buffers, or when
// too big, it is dropped and counted.
func (n *virtioNIC) send(pkt *stack.PacketBuffer) {
	defer pkt.DecRef()
	if n.softCut(pkt) {
		var hdr [maxCutHeaders]byte
		c, ok := cutOf(pkt, hdr[:])
		switch {
		case !ok:
			atomic.AddUint64(&nicStats.TxBadGSO, 1)
		case len(n.txFree) < n.descsFor(pkt):
			atomic.AddUint64(&nicStats.TxRingFull, 1)
		default:
			n.sendCut(pkt, &c)
		}
		return
	}
	need := n.descsFor(pkt)
	if need > maxTxDescs || (!n.gso && need > 1) {
		atomic.AddUint64(&nicStats.TxOversize, 1)
		return
	}
	if len(n.txFree) < need {
		atomic.AddUint64(&nicStats.TxRingFull, 1)
		return
	}
	descs := n.txFree[len(n.txFree)-need:]
	n.txFree = n.txFree[:len(n.txFree)-need]
	buf := n.txBufs.Bytes()
	d, used := 0, n.hdrLen // the buffer being filled, and its bytes so far
	putNetHdr(buf[int(descs[0])*bufSize:int(descs[0])*bufSize+n.hdrLen], pkt)
	vl, skip := pkt.AsViewList()
	for v := vl.Front(); ; {
		s, ok := nextSlice(&v, &skip)
		if !ok {
			break
		}
		for len(s) > 0 {
			if used == bufSize {
				d, used = d+1, 0
			}
			off := int(descs[d])*bufSize + used
			c := copy(buf[off:off+bufSize-used], s)
			s, used = s[c:], used+c
		}
	}
	for j, i := range descs {
		size, flags, next := uint32(bufSize), uint16(virtio.DescNext), uint16(0)
		n.txNext[i] = txEnd
		if j == len(descs)-1 {
			size, flags = uint32(used), 0
		} else {
			next = descs[j+1]
			n.txNext[i] = next
		}
		n.tx.SetDesc(int(i), n.txBufs.PA+uint64(int(i)*bufSize), size, flags, next)
	}
	if n.softGSO(pkt) && !finishChecksum(buf[int(descs[0])*bufSize+n.hdrLen:int(descs[0])*bufSize+used], pkt.GSOOptions) {
		n.txFree = append(n.txFree, descs...)
		atomic.AddUint64(&nicStats.TxBadGSO, 1)
		return
	}
	n.txHead[descs[0]] = true
	n.tx.Push(descs[0])
	atomic.AddUint64(&nicStats.TxFrames, 1)
	atomic.AddUint64(&nicStats.TxBytes, uint64(pkt.Size()))
	if need > 1 {
		atomic.AddUint64(&nicStats.TxGSOFrames, 1)
	}
}

// virtio_net_hdr flags and gso types (virtio 1.x, 5.1.6).
const (
	netHdrNeedsCsum = 1
	netHdrGSOTCPv4  = 1
	netHdrGSOTCPv6  = 4
)

// nextSlice returns the next piece of a packet's bytes, headers first,
// from a walk over its views begun with v the first view and skip the
// bytes before the headers (PacketBuffer.AsViewList); ok is false at the
// end. The send path walks a packet this way rather than through
// AsSlices, which built a slice of slices on the heap for every frame
// sent: 5 to 6 objects per connection under a new connection per request.
func nextSlice(v **buffer.View, skip *int) (s []byte, ok bool) {
	for *v != nil {
		s, *v = (*v).AsSlice(), (*v).Next()
		if *skip >= len(s) {
			*skip -= len(s)
			continue
		}
		s, *skip = s[*skip:], 0
		return s, true
	}
	return nil, false
}

// putNetHdr fills the virtio header in front of a frame (hdr is its 10
// or 12 bytes; num_buffers stays 0 on transmit). With offloads, a TCP
// segment gVisor left its checksum to the device for (GSOOptions.
// NeedsCsum: only the pseudo-header sum is in place) asks for it
// (NEEDS_CSUM at the TCP header, the checksum 16 bytes in), and one
// longer than its MSS is cut by the device (gso_type, gso_size, and
// hdr_len, the headers each segment repeats), as Linux's virtio_net_hdr
// from skb does. gVisor sets NeedsCsum only for a link that reports host
// GSO, which this one does only with the offloads agreed (nic.gso).
// Everything else goes with a zero header. Little-endian on both
// interfaces (legacy's is the guest's order).
func putNetHdr(hdr []byte, pkt *stack.PacketBuffer) {
	clear(hdr)
	g := pkt.GSOOptions
	if g.Type == stack.GSONone || !g.NeedsCsum {
		return
	}
	hdr[0] = netHdrNeedsCsum
	binary.LittleEndian.PutUint16(hdr[6:], uint16(header.EthernetMinimumSize)+g.L3HdrLen) // csum_start
	binary.LittleEndian.PutUint16(hdr[8:], g.CsumOffset)                                  // csum_offset
	if pkt.Data().Size() > int(g.MSS) && g.MSS > 0 {
		switch g.Type {
		case stack.GSOTCPv4:
			hdr[1] = netHdrGSOTCPv4
		case stack.GSOTCPv6:
			hdr[1] = netHdrGSOTCPv6
		default:
			return
		}
		binary.LittleEndian.PutUint16(hdr[2:], uint16(pkt.HeaderSize())) // hdr_len
		binary.LittleEndian.PutUint16(hdr[4:], g.MSS)                    // gso_size
	}
}

// linkEndpoint is what the stack's NIC sees: Ethernet over the channel,
// with the shortcut of virtioLink for sending.
func (n *virtioNIC) linkEndpoint() stack.LinkEndpoint {
	return ethernet.New(&virtioLink{Endpoint: n.ch, n: n})
}

// virtioLink is the channel endpoint, except that a frame is put on the
// device's ring by the goroutine that sends it (a handler writing its
// response, the TCP processor acknowledging) when nothing else is
// sending: no wake-up of the transmit goroutine, which on a 2-CPU guest
// meant another thread woken and a second CPU busy for every response.
// While the transmit goroutine holds the ring, or frames wait in the
// channel, or the ring lacks free descriptors, frames go through the
// channel as before, so one flow's frames never overtake each other: a
// sender that finds frames queued queues behind them.
type virtioLink struct {
	*channel.Endpoint
	n *virtioNIC
}

// GSOMaxSize implements stack.GSOEndpoint: the largest frame gVisor's TCP
// hands over for the device to cut (with the offloads agreed, nic.gso).
// The channel endpoint says 32 KiB, which cut a 64 KiB response into
// three frames; the device takes a frame as long as an IP packet may be
// (gVisor keeps 160 bytes of the size for headers), as Linux's
// virtio-net driver does. Over tap (2026-12-05, three rounds against
// the 32 KiB size in one run): 64 KiB responses 1.05x requests/s with
// one connection and 1.13x with 16, bulk download 312 against 235 MB/s.
func (l *virtioLink) GSOMaxSize() uint32 { return 1 << 16 }

// WritePackets implements stack.LinkEndpoint.
func (l *virtioLink) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := l.n
	if !n.txMu.TryLock() {
		return l.Endpoint.WritePackets(pkts)
	}
	if n.ch.NumQueued() == 0 {
		n.txUsed = n.reclaim(n.txUsed)
		need := 0
		for _, pkt := range pkts.AsSlice() {
			need += n.descsFor(pkt)
		}
		if len(n.txFree) >= need {
			for _, pkt := range pkts.AsSlice() {
				pkt.IncRef() // send drops it; the caller keeps its own
				n.send(pkt)
			}
			n.kick()
			atomic.AddUint64(&nicStats.TxInline, uint64(pkts.Len()))
			n.txMu.Unlock()
			return pkts.Len(), nil
		}
	}
	n.txMu.Unlock()
	return l.Endpoint.WritePackets(pkts)
}

// sysNetStats registers the counters with the kernel (op 0), which
// copies them out for kernel.NetStats (op 1).
const sysNetStats = 0x5637

func registerNICStats() {
	syscall.RawSyscall(sysNetStats, 0, uintptr(unsafe.Pointer(&nicStats)), unsafe.Sizeof(nicStats))
}

// ringInfo says where a queue's rings are and how far the driver got, for
// the kernel's NMI dump (runtime/vk_dev.go, vkDumpRings), which reads the
// indexes the device sees next to the driver's: whether a card that went
// quiet has frames the driver did not take, buffers it was not told of,
// or an interrupt it did not send. Layout: runtime's vkRingInfo.
type ringInfo struct {
	Size, AvailPA, UsedPA uint64
	LastUsed              uint64 // the used index the driver takes next
	Waiting               uint64 // 1 while the driver sleeps for the queue's interrupt
}

// nicRings: receive, transmit.
var nicRings [2]ringInfo

// registerRings gives the kernel nicRings (sysNetStats op 2).
func (n *virtioNIC) registerRings() {
	for i, q := range []*virtio.Queue{n.rx, n.tx} {
		avail, used := q.RingPA()
		nicRings[i] = ringInfo{Size: uint64(q.Size), AvailPA: avail, UsedPA: used}
	}
	syscall.RawSyscall(sysNetStats, 2, uintptr(unsafe.Pointer(&nicRings)), unsafe.Sizeof(nicRings))
}
