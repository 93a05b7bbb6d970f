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
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// virtio-net feature bits (virtio 1.x, 5.1.3).
const (
	featCsum      = 1 << 0
	featGuestCsum = 1 << 1
	featMAC       = 1 << 5
	featHostTSO4  = 1 << 11
	featMrgRxBuf  = 1 << 15
	featStatus    = 1 << 16

	netStatusLinkUp = 1

	bufSize  = 2048 // one receive or transmit buffer
	mtu      = 1500
	maxFrame = mtu + 14 + 4 // Ethernet header and one VLAN tag
	// maxRxBufs bounds num_buffers: without GSO a frame fits in one
	// buffer, so a larger count is the device's error.
	maxRxBufs = 2
	ringMax   = 256
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
	Interrupts                           uint64
	// Dropped on receive: the used-ring entry was bad (descriptor id
	// outside the ring, length beyond the buffer), the frame shorter
	// than a virtio and Ethernet header, longer than the MTU allows, or
	// its virtio header named an impossible buffer count.
	RxBadUsed, RxRunt, RxOversize, RxBadHeader uint64
	// Dropped on transmit: too big for a buffer, or the ring stayed full.
	TxOversize, TxRingFull               uint64
	TxNotifies, TxSuppressed, RxNotifies uint64
	LinkChanges                          uint64
	// Frames the sending goroutine put on the ring itself (virtioLink).
	TxInline uint64
}

var nicStats NICStats

// rxAssembler turns used receive buffers into frames. With MRG_RXBUF a
// frame may span num_buffers buffers, the first starting with the virtio
// header; everything malformed is dropped and counted, never trusted.
type rxAssembler struct {
	hdrLen int
	mrg    bool
	frame  []byte // the frame being assembled
	left   int    // buffers it still needs
	bad    bool   // it is being dropped: swallow its remaining buffers
}

// add takes the bytes the device wrote into one buffer (already bounded
// by the buffer's size) and returns a complete frame when there is one.
// The frame is valid until the next call and until the buffer goes back
// to the device: a one-buffer frame is the buffer itself, a longer one
// the assembler's own storage. (The caller's packet buffer copies it,
// so a frame is copied once on its way in.)
func (a *rxAssembler) add(b []byte, st *NICStats) []byte {
	if a.left == 0 {
		if len(b) < a.hdrLen {
			atomic.AddUint64(&st.RxRunt, 1)
			return nil
		}
		n := 1
		if a.mrg {
			n = int(binary.LittleEndian.Uint16(b[10:12]))
		}
		if n < 1 || n > maxRxBufs {
			atomic.AddUint64(&st.RxBadHeader, 1)
			return nil
		}
		if n == 1 {
			f := b[a.hdrLen:]
			switch {
			case len(f) < 14:
				atomic.AddUint64(&st.RxRunt, 1)
				return nil
			case len(f) > maxFrame:
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
	if len(a.frame) > maxFrame && !a.bad {
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
	rxAsm  rxAssembler
	ch     *channel.Endpoint
	txMu   sync.Mutex
	txUsed []virtio.Used // reclaim's scratch for inline sends; txMu
	linkUp bool
	hasSt  bool
	// needsReset: the device reported DEVICE_NEEDS_RESET (said once).
	needsReset bool
}

// virtioOptions are read from the kernel command line: VELOCITY_VIRTIO=
// legacy forces the legacy interface, VELOCITY_NETIRQ=intx refuses MSI-X.
func virtioOptions() (virtio.Options, bool) {
	return virtio.Options{Legacy: os.Getenv("VELOCITY_VIRTIO") == "legacy"}, os.Getenv("VELOCITY_NETIRQ") != "intx"
}

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
	// Checksum and segmentation offloads are reported, not used: QEMU
	// offers them only with a backend that takes virtio-net headers
	// (tap), never with user networking, so there both guests checksum
	// every segment themselves.
	var offloads []string
	for _, o := range []struct {
		bit  uint64
		name string
	}{{featCsum, "csum"}, {featGuestCsum, "guest_csum"}, {featHostTSO4, "host_tso4"}} {
		if dev.Offered(o.bit) {
			offloads = append(offloads, o.name)
		}
	}
	if len(offloads) == 0 {
		offloads = append(offloads, "none")
	}
	fmt.Fprintf(os.Stderr, "velocity: net: virtio-net %s: %s interface, %s, queues %d/%d, mrg_rxbuf %v, event_idx %v, offloads offered: %s (unused)\n",
		d.Addr(), dev.Interface(), how, nic.rx.Size, nic.tx.Size, dev.Has(featMrgRxBuf), dev.Has(virtio.FeatRingEventIdx), strings.Join(offloads, " "))
	return nic, nil
}

func startVirtioNet(dev *virtio.Device, msix bool) (*virtioNIC, error) {
	got, err := dev.Negotiate(featMAC | featStatus | featMrgRxBuf | virtio.FeatRingEventIdx)
	if err != nil {
		return nil, err
	}
	if got&featMAC == 0 {
		return nil, fmt.Errorf("the device offers no MAC address")
	}
	nic := &virtioNIC{dev: dev, linkUp: true, hasSt: got&featStatus != 0}
	nic.hdrLen = netHdrLen(dev.Modern, got&featMrgRxBuf != 0)
	nic.rxAsm = rxAssembler{hdrLen: nic.hdrLen, mrg: got&featMrgRxBuf != 0}
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
	registerNICStats()
	return nic, nil
}

// run moves frames between the device and the stack until ctx ends.
// Receiving is interrupt-driven with suppression: while frames keep
// coming the driver keeps draining with the device's interrupt off, and
// it sleeps (interrupt on) only once the ring is found empty after
// re-enabling, so a burst costs one interrupt.
func (n *virtioNIC) run(ctx context.Context) {
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
	var evBuf [8]byte
	ev, err := n.intr.EventFD()
	if err != nil {
		fmt.Fprintf(os.Stderr, "velocity: net: %v; waiting in irqwait\n", err)
	}
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
		if ev != nil {
			if _, err := ev.Read(evBuf[:]); err != nil {
				fmt.Fprintf(os.Stderr, "velocity: net: reading the interrupt's eventfd: %v; waiting in irqwait\n", err)
				ev = nil
				continue
			}
			atomic.AddUint64(&nicStats.Interrupts, 1)
			continue
		}
		c, err := n.intr.Wait(seen)
		if err == nil {
			seen = c
			atomic.AddUint64(&nicStats.Interrupts, 1)
		}
	}
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
	atomic.StoreUint64(&nicStats.RxBadUsed, n.rx.Bad)
	for _, u := range used {
		off := int(u.ID) * bufSize
		if frame := n.rxAsm.add(buf[off:off+int(u.Len)], &nicStats); frame != nil {
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
			n.ch.InjectInbound(0, pkt)
			pkt.DecRef()
			atomic.AddUint64(&nicStats.RxFrames, 1)
			atomic.AddUint64(&nicStats.RxBytes, uint64(len(frame)))
		}
		n.rx.SetDesc(int(u.ID), n.rxBufs.PA+uint64(off), bufSize, virtio.DescWrite, 0)
		n.rx.Push(uint16(u.ID))
	}
	// A bad entry's descriptor is lost to the ring (its id cannot be
	// trusted); the ring works on with the others.
	if len(used) > 0 && n.rx.Kick() {
		atomic.AddUint64(&nicStats.RxNotifies, 1)
	}
	return used
}

// transmit sends what the stack queues, in batches: it takes every frame
// waiting, and notifies the device once per batch (and only when the
// device asked to be told).
func (n *virtioNIC) transmit(ctx context.Context) {
	var used []virtio.Used
	for {
		pkt := n.ch.ReadContext(ctx)
		if pkt == nil {
			return
		}
		n.txMu.Lock()
		for pkt != nil {
			used = n.reclaim(used)
			if len(n.txFree) == 0 {
				n.waitTxSpace()
			}
			n.send(pkt)
			pkt = n.ch.Read()
		}
		n.tx.Kick()
		atomic.StoreUint64(&nicStats.TxNotifies, n.tx.Notifies)
		atomic.StoreUint64(&nicStats.TxSuppressed, n.tx.Suppressed)
		n.txMu.Unlock()
	}
}

// reclaim returns the descriptors the device has finished with.
func (n *virtioNIC) reclaim(used []virtio.Used) []virtio.Used {
	used = n.tx.TakeUsed(used[:0], bufSize)
	for _, u := range used {
		n.txFree = append(n.txFree, uint16(u.ID))
	}
	return used
}

// waitTxSpace lets the device catch up when every descriptor is in
// flight: it publishes what is queued and polls for completions for a
// while (transmit runs without interrupts).
func (n *virtioNIC) waitTxSpace() {
	n.tx.Kick()
	var used []virtio.Used
	for i := 0; i < 200 && len(n.txFree) == 0; i++ {
		time.Sleep(50 * time.Microsecond)
		used = n.reclaim(used)
	}
}

// send copies one frame behind a zeroed virtio header into a free buffer
// and queues it; without a free buffer, or when too big, it is dropped.
func (n *virtioNIC) send(pkt *stack.PacketBuffer) {
	defer pkt.DecRef()
	if pkt.Size() > bufSize-n.hdrLen {
		atomic.AddUint64(&nicStats.TxOversize, 1)
		return
	}
	if len(n.txFree) == 0 {
		atomic.AddUint64(&nicStats.TxRingFull, 1)
		return
	}
	i := n.txFree[len(n.txFree)-1]
	n.txFree = n.txFree[:len(n.txFree)-1]
	buf := n.txBufs.Bytes()
	off := int(i) * bufSize
	clear(buf[off : off+n.hdrLen])
	size := n.hdrLen
	for _, s := range pkt.AsSlices() {
		size += copy(buf[off+size:off+bufSize], s)
	}
	n.tx.SetDesc(int(i), n.txBufs.PA+uint64(off), uint32(size), 0, 0)
	n.tx.Push(i)
	atomic.AddUint64(&nicStats.TxFrames, 1)
	atomic.AddUint64(&nicStats.TxBytes, uint64(size-n.hdrLen))
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

// WritePackets implements stack.LinkEndpoint.
func (l *virtioLink) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := l.n
	if !n.txMu.TryLock() {
		return l.Endpoint.WritePackets(pkts)
	}
	if n.ch.NumQueued() == 0 {
		n.txUsed = n.reclaim(n.txUsed)
		if len(n.txFree) >= pkts.Len() {
			for _, pkt := range pkts.AsSlice() {
				pkt.IncRef() // send drops it; the caller keeps its own
				n.send(pkt)
			}
			n.tx.Kick()
			atomic.AddUint64(&nicStats.TxInline, uint64(pkts.Len()))
			atomic.StoreUint64(&nicStats.TxNotifies, n.tx.Notifies)
			atomic.StoreUint64(&nicStats.TxSuppressed, n.tx.Suppressed)
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
