package netstack

// A virtio-net driver for QEMU's transitional virtio-net-pci device
// (vendor 0x1af4, device 0x1000) through its legacy I/O-port interface,
// with split virtqueues: queue 0 receives, queue 1 transmits. It feeds a
// gVisor channel endpoint wrapped in Ethernet framing. The kernel gives it
// PCI configuration access, I/O ports, DMA memory and the INTx interrupt
// (runtime/vk_dev.go).
//
// Not done: the modern (virtio 1.x, device 0x1041) interface, MSI-X,
// MRG_RXBUF, EVENT_IDX and checksum offload. See docs/net.md.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

const (
	sysPCI     = 0x5630
	sysIO      = 0x5631
	sysDMA     = 0x5632
	sysIRQ     = 0x5633
	sysIRQWait = 0x5634

	// Legacy virtio PCI registers, offsets from BAR0's I/O base.
	vioDevFeatures   = 0x00
	vioGuestFeatures = 0x04
	vioQueuePFN      = 0x08
	vioQueueSize     = 0x0C
	vioQueueSelect   = 0x0E
	vioQueueNotify   = 0x10
	vioStatus        = 0x12
	vioISR           = 0x13
	vioConfig        = 0x14 // device config without MSI-X: MAC, then status

	statusAck      = 1
	statusDriver   = 2
	statusDriverOK = 4
	statusFailed   = 128

	featMAC    = 1 << 5
	featStatus = 1 << 16

	descNext  = 1
	descWrite = 2

	netHdrLen = 10 // struct virtio_net_hdr without MRG_RXBUF
	bufSize   = 2048
	mtu       = 1500
)

func pciRead(bdf, off, width int) uint32 {
	r, _, _ := syscall.RawSyscall6(sysPCI, uintptr(bdf), uintptr(off), uintptr(width), 0, 0, 0)
	return uint32(r)
}

func ioRead(port, width int) uint32 {
	r, _, _ := syscall.RawSyscall6(sysIO, uintptr(port), uintptr(width), 0, 0, 0, 0)
	return uint32(r)
}

func ioWrite(port, width int, v uint32) {
	syscall.RawSyscall6(sysIO, uintptr(port), uintptr(width), uintptr(v), 1, 0, 0)
}

// dmaMem is physically contiguous memory the device can read and write.
type dmaMem struct {
	va, pa uint64
	size   int
}

func dmaAlloc(pages int) (dmaMem, error) {
	var out [2]uint64
	_, _, e := syscall.RawSyscall(sysDMA, uintptr(pages), uintptr(unsafe.Pointer(&out)), 0)
	if e != 0 {
		return dmaMem{}, fmt.Errorf("DMA memory (%d pages): %v", pages, e)
	}
	return dmaMem{va: out[0], pa: out[1], size: pages * 4096}, nil
}

func (m dmaMem) bytes() []byte { return user(m.va, m.size) }

// pciDevice is one function found on the bus.
type pciDevice struct {
	bdf            int
	vendor, device uint16
	class          uint32
	bar0           uint32
	irq            int
}

// scanPCI lists the functions on bus 0..255 through configuration
// mechanism #1 (ports 0xCF8/0xCFC).
func scanPCI() []pciDevice {
	var devs []pciDevice
	for bus := 0; bus < 256; bus++ {
		for dev := 0; dev < 32; dev++ {
			for fn := 0; fn < 8; fn++ {
				bdf := bus<<8 | dev<<3 | fn
				id := pciRead(bdf, 0, 4)
				if id == 0xFFFFFFFF || id == 0 {
					if fn == 0 {
						break // no device: no other functions either
					}
					continue
				}
				devs = append(devs, pciDevice{
					bdf: bdf, vendor: uint16(id), device: uint16(id >> 16),
					class: pciRead(bdf, 8, 4) >> 8,
					bar0:  pciRead(bdf, 0x10, 4),
					irq:   int(pciRead(bdf, 0x3C, 1)),
				})
				if fn == 0 && pciRead(bdf, 0x0E, 1)&0x80 == 0 {
					break // single-function device
				}
			}
		}
	}
	return devs
}

// vring is a legacy split virtqueue laid out in one DMA block.
type vring struct {
	n                 int
	mem               dmaMem
	desc              []byte // n × 16
	availOff, usedOff int
	lastUsed          uint16
	free              []uint16 // transmit: descriptors not in flight
	bufs              dmaMem   // n buffers of bufSize
	notifyPort, queue int
}

// ringPages is the legacy layout's size: descriptors and the available
// ring, then the used ring on the next 4 KiB boundary.
func ringPages(n int) (pages, usedOff int) {
	a := 16*n + 6 + 2*n
	usedOff = (a + 4095) &^ 4095
	u := 6 + 8*n
	return (usedOff + u + 4095) / 4096, usedOff
}

func (r *vring) availIdxAddr() *uint32 {
	p := uintptr(r.mem.va) + uintptr(r.availOff)
	return *(**uint32)(unsafe.Pointer(&p))
}

func (r *vring) usedIdxAddr() *uint32 {
	p := uintptr(r.mem.va) + uintptr(r.usedOff)
	return *(**uint32)(unsafe.Pointer(&p))
}

func (r *vring) setDesc(i int, addr uint64, n uint32, flags uint16) {
	d := r.desc[16*i:]
	binary.LittleEndian.PutUint64(d, addr)
	binary.LittleEndian.PutUint32(d[8:], n)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], 0)
}

// publish puts descriptor i in the available ring and advances its index
// with a release store, so the device sees the entry before the index.
func (r *vring) publish(i uint16) {
	ring := r.mem.bytes()[r.availOff:]
	w := atomic.LoadUint32(r.availIdxAddr())
	idx := uint16(w >> 16)
	binary.LittleEndian.PutUint16(ring[4+2*(int(idx)%r.n):], i)
	atomic.StoreUint32(r.availIdxAddr(), uint32(idx+1)<<16|w&0xFFFF)
}

// usedEntry is one completion the device reported.
type usedEntry struct {
	id, len uint32
}

// takeUsed returns the completions since the last call. Entries naming a
// descriptor the ring does not have, or a length beyond the buffer, are
// the device's error; they are counted and dropped, never used to index.
func takeUsed(ring []byte, n int, last *uint16, idx uint16, maxLen uint32, bad *uint64) []usedEntry {
	var out []usedEntry
	for *last != idx {
		off := 4 + 8*(int(*last)%n)
		if off+8 > len(ring) {
			*bad++
			*last++
			continue
		}
		e := usedEntry{binary.LittleEndian.Uint32(ring[off:]), binary.LittleEndian.Uint32(ring[off+4:])}
		*last++
		if e.id >= uint32(n) || e.len > maxLen {
			*bad++
			continue
		}
		out = append(out, e)
	}
	return out
}

func (r *vring) used() []usedEntry {
	idx := uint16(atomic.LoadUint32(r.usedIdxAddr()) >> 16)
	return takeUsed(r.mem.bytes()[r.usedOff:], r.n, &r.lastUsed, idx, bufSize, &nicStats.badUsed)
}

// NICStats counts the driver's traffic and the device's mistakes.
type NICStats struct {
	RxFrames, TxFrames, RxDropped, TxDropped, Interrupts uint64
	badUsed                                              uint64
}

var nicStats NICStats

// virtioNIC is a running virtio-net device.
type virtioNIC struct {
	io     int
	irq    int
	mac    tcpip.LinkAddress
	rx, tx *vring
	ch     *channel.Endpoint
	txMu   sync.Mutex
	linkUp bool
}

func newRing(io, q int) (*vring, error) {
	ioWrite(io+vioQueueSelect, 2, uint32(q))
	n := int(ioRead(io+vioQueueSize, 2))
	if n == 0 || n&(n-1) != 0 || n > 1024 {
		return nil, fmt.Errorf("queue %d: size %d", q, n)
	}
	pages, usedOff := ringPages(n)
	mem, err := dmaAlloc(pages)
	if err != nil {
		return nil, err
	}
	bufs, err := dmaAlloc(n * bufSize / 4096)
	if err != nil {
		return nil, err
	}
	r := &vring{n: n, mem: mem, desc: mem.bytes()[:16*n], availOff: 16 * n, usedOff: usedOff, bufs: bufs, notifyPort: io + vioQueueNotify, queue: q}
	ioWrite(io+vioQueuePFN, 4, uint32(mem.pa>>12))
	return r, nil
}

// probeVirtioNet finds and starts the first virtio-net device, or says
// why there is none.
func probeVirtioNet() (*virtioNIC, error) {
	var d *pciDevice
	for _, dev := range scanPCI() {
		if dev.vendor == 0x1af4 && dev.device == 0x1000 {
			d = &dev
			break
		}
		if dev.vendor == 0x1af4 && dev.device == 0x1041 {
			return nil, errors.New("virtio-net: a modern-only device (0x1041); this driver speaks the legacy interface (use disable-modern=on or a transitional device)")
		}
	}
	if d == nil {
		return nil, nil
	}
	if d.bar0&1 == 0 {
		return nil, fmt.Errorf("virtio-net %02x:%02x.%d: BAR0 is not an I/O BAR", d.bdf>>8, d.bdf>>3&31, d.bdf&7)
	}
	// Enable I/O space and bus mastering.
	cmd := pciRead(d.bdf, 4, 2)
	syscall.RawSyscall6(sysPCI, uintptr(d.bdf), 4, 2, uintptr(cmd|0x5), 1, 0)
	io := int(d.bar0 &^ 3)
	ioWrite(io+vioStatus, 1, 0) // reset
	ioWrite(io+vioStatus, 1, statusAck|statusDriver)
	have := ioRead(io+vioDevFeatures, 4)
	want := have & (featMAC | featStatus)
	ioWrite(io+vioGuestFeatures, 4, want)
	if want&featMAC == 0 {
		ioWrite(io+vioStatus, 1, statusFailed)
		return nil, errors.New("virtio-net: the device offers no MAC address")
	}
	var mac [6]byte
	for i := range mac {
		mac[i] = byte(ioRead(io+vioConfig+i, 1))
	}
	nic := &virtioNIC{io: io, irq: d.irq, mac: tcpip.LinkAddress(mac[:]), linkUp: true}
	if want&featStatus != 0 {
		nic.linkUp = ioRead(io+vioConfig+6, 2)&1 != 0
	}
	var err error
	if nic.rx, err = newRing(io, 0); err != nil {
		ioWrite(io+vioStatus, 1, statusFailed)
		return nil, err
	}
	if nic.tx, err = newRing(io, 1); err != nil {
		ioWrite(io+vioStatus, 1, statusFailed)
		return nil, err
	}
	// Transmit completions are collected when sending: no interrupts.
	atomic.StoreUint32(nic.tx.availIdxAddr(), 1)
	for i := 0; i < nic.tx.n; i++ {
		nic.tx.free = append(nic.tx.free, uint16(i))
	}
	for i := 0; i < nic.rx.n; i++ {
		nic.rx.setDesc(i, nic.rx.bufs.pa+uint64(i*bufSize), bufSize, descWrite)
		nic.rx.publish(uint16(i))
	}
	if _, _, e := syscall.RawSyscall(sysIRQ, uintptr(d.irq), uintptr(io+vioISR), 0); e != 0 {
		ioWrite(io+vioStatus, 1, statusFailed)
		return nil, fmt.Errorf("virtio-net: interrupt line %d: %v", d.irq, e)
	}
	ioWrite(io+vioStatus, 1, statusAck|statusDriver|statusDriverOK)
	ioWrite(io+vioQueueNotify, 2, 0)
	nic.ch = channel.New(256, mtu, nic.mac)
	return nic, nil
}

// run moves frames between the device and the stack until ctx ends.
func (n *virtioNIC) run(ctx context.Context) {
	go n.transmit(ctx)
	var seen uint64
	for ctx.Err() == nil {
		n.receive()
		c, _, e := syscall.Syscall(sysIRQWait, uintptr(n.irq), uintptr(seen), 0)
		if e == 0 {
			seen = uint64(c)
			atomic.AddUint64(&nicStats.Interrupts, 1)
		}
	}
}

func (n *virtioNIC) receive() {
	buf := n.rx.bufs.bytes()
	refill := false
	for _, u := range n.rx.used() {
		if u.len <= netHdrLen+14 {
			atomic.AddUint64(&nicStats.RxDropped, 1) // a runt: not even an Ethernet header
		} else {
			off := int(u.id) * bufSize
			frame := append([]byte(nil), buf[off+netHdrLen:off+int(u.len)]...)
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
			n.ch.InjectInbound(0, pkt)
			pkt.DecRef()
			atomic.AddUint64(&nicStats.RxFrames, 1)
		}
		n.rx.setDesc(int(u.id), n.rx.bufs.pa+uint64(int(u.id)*bufSize), bufSize, descWrite)
		n.rx.publish(uint16(u.id))
		refill = true
	}
	if refill {
		ioWrite(n.rx.notifyPort, 2, 0)
	}
}

func (n *virtioNIC) transmit(ctx context.Context) {
	buf := n.tx.bufs.bytes()
	for {
		pkt := n.ch.ReadContext(ctx)
		if pkt == nil {
			return
		}
		n.txMu.Lock()
		for _, u := range n.tx.used() {
			n.tx.free = append(n.tx.free, uint16(u.id))
		}
		if len(n.tx.free) == 0 || pkt.Size() > bufSize-netHdrLen {
			n.txMu.Unlock()
			pkt.DecRef()
			atomic.AddUint64(&nicStats.TxDropped, 1)
			continue
		}
		i := n.tx.free[len(n.tx.free)-1]
		n.tx.free = n.tx.free[:len(n.tx.free)-1]
		off := int(i) * bufSize
		clear(buf[off : off+netHdrLen])
		size := netHdrLen
		for _, s := range pkt.AsSlices() {
			size += copy(buf[off+size:off+bufSize], s)
		}
		pkt.DecRef()
		n.tx.setDesc(int(i), n.tx.bufs.pa+uint64(off), uint32(size), 0)
		n.tx.publish(i)
		ioWrite(n.tx.notifyPort, 2, 1)
		n.txMu.Unlock()
		atomic.AddUint64(&nicStats.TxFrames, 1)
	}
}

// linkEndpoint is what the stack's NIC sees: Ethernet over the channel.
func (n *virtioNIC) linkEndpoint() stack.LinkEndpoint { return ethernet.New(n.ch) }
