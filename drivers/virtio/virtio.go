// Package virtio is the PCI transport of virtio devices and their split
// virtqueues, for Go drivers on Velocity (the network card in package
// netstack; a block driver can use it the same way).
//
// It speaks both interfaces QEMU offers:
//   - modern (virtio 1.x): the vendor capabilities in configuration space
//     locate the common, notification, ISR and device configuration
//     structures in memory BARs, which the kernel maps uncached;
//   - legacy (virtio 0.9.5): one I/O-port BAR, on transitional devices.
//
// Open prefers the modern interface and falls back to legacy.
//
// A driver's life:
//
//	dev, err := virtio.Open(pciDev, virtio.Options{})   // reset, ACK, DRIVER
//	got, err := dev.Negotiate(wanted)                   // FEATURES_OK
//	q, err := dev.Queue(0, 256)                         // per queue
//	irq, err := dev.Interrupts(useMSIX, q0, q1)         // INTx or MSI-X
//	dev.Ready()                                         // DRIVER_OK
//	... q.SetDesc, q.Push, q.Kick; q.Used; irq.Wait
//
// Like package pci it imports only the standard library: netstack, which
// the build vendors into a generated GOROOT, uses it.
package virtio

import (
	"fmt"

	"github.com/velocityos/velocity/drivers/pci"
)

// Vendor is the PCI vendor id of virtio devices.
const Vendor = 0x1af4

// Device status bits.
const (
	StatusAck        = 1
	StatusDriver     = 2
	StatusDriverOK   = 4
	StatusFeaturesOK = 8
	StatusNeedsReset = 64
	StatusFailed     = 128
)

// Transport-level feature bits (device-type bits are the driver's).
const (
	FeatRingEventIdx = 1 << 29
	FeatVersion1     = 1 << 32
)

// noVector is the MSI-X "no vector" value.
const noVector = 0xFFFF

// transport is the interface-specific half of a device.
type transport interface {
	status() uint8
	setStatus(s uint8)
	deviceFeatures() uint64
	setDriverFeatures(f uint64)
	// queueSize selects queue q and returns its maximum size (0: none).
	queueSize(q int) int
	// setupQueue gives the selected queue its size and ring addresses.
	setupQueue(q, size int, desc, avail, used uint64) error
	notify(q int)
	// setVectors assigns MSI-X table entries to the configuration
	// interrupt and to queues (noVector: none); false if the device
	// refused one.
	setVectors(config uint16, queues map[int]uint16) bool
	// isrAck is what the kernel reads to acknowledge INTx: a port, or
	// the virtual address of the ISR byte.
	isrAck() uintptr
	config(off, width int) uint32
	// msixOn tells the legacy interface that device configuration moved.
	msixOn(on bool)
	name() string
}

// Options tune Open.
type Options struct {
	// Legacy uses the legacy interface even when the device has the
	// modern one (for tests and comparisons).
	Legacy bool
}

// Device is a virtio device being driven.
type Device struct {
	PCI      pci.Device
	Modern   bool
	features uint64
	offered  uint64
	t        transport
	queues   []*Queue
	// config is the MSI-X vector of configuration changes when it is not
	// the queues' (hasConfig): see ConfigIRQ.
	config    pci.IRQ
	hasConfig bool
}

// ConfigIRQ returns the interrupt that signals configuration changes
// (link status, DEVICE_NEEDS_RESET) alone, when MSI-X gave them a vector
// of their own; ok is false when they share the queues' interrupt (INTx,
// or a one-entry MSI-X table), and a driver must then look at the
// configuration after every interrupt. Reading it costs an exit to the
// hypervisor, which on every packet's interrupt was 4% of a guest's CPU
// in a bulk transfer.
func (d *Device) ConfigIRQ() (irq pci.IRQ, ok bool) { return d.config, d.hasConfig }

// Open resets the device and acknowledges it (ACK, DRIVER).
func Open(d pci.Device, o Options) (*Device, error) {
	if d.Vendor != Vendor {
		return nil, fmt.Errorf("virtio: %s is not a virtio device (vendor %#04x)", d.Addr(), d.Vendor)
	}
	var t transport
	var modernErr error
	if !o.Legacy {
		m, err := openModern(d)
		if err == nil {
			t = m
		}
		modernErr = err
	}
	if t == nil {
		lt, err := openLegacy(d)
		if err != nil {
			if modernErr != nil {
				return nil, fmt.Errorf("virtio %s: %v; %v", d.Addr(), modernErr, err)
			}
			return nil, fmt.Errorf("virtio %s: %v", d.Addr(), err)
		}
		t = lt
	}
	dev := &Device{PCI: d, t: t}
	_, dev.Modern = t.(*modern)
	if err := dev.reset(); err != nil {
		return nil, err
	}
	dev.t.setStatus(StatusAck)
	dev.t.setStatus(StatusAck | StatusDriver)
	return dev, nil
}

// Interface names the interface in use ("modern" or "legacy").
func (d *Device) Interface() string { return d.t.name() }

func (d *Device) reset() error {
	d.t.setStatus(0)
	for i := 0; i < 1000; i++ {
		if d.t.status() == 0 {
			return nil
		}
	}
	return fmt.Errorf("virtio %s: the device does not reset", d.PCI.Addr())
}

// Negotiate accepts the features in want that the device offers (the
// modern interface adds VERSION_1, which it requires) and confirms them
// with FEATURES_OK. It returns what was agreed.
func (d *Device) Negotiate(want uint64) (uint64, error) {
	have := d.t.deviceFeatures()
	if d.Modern {
		if have&FeatVersion1 == 0 {
			d.Fail()
			return 0, fmt.Errorf("virtio %s: modern interface without VERSION_1", d.PCI.Addr())
		}
		want |= FeatVersion1
	} else {
		want &= 0xFFFFFFFF // legacy has 32 feature bits
	}
	got := have & want
	d.t.setDriverFeatures(got)
	if d.Modern {
		d.t.setStatus(StatusAck | StatusDriver | StatusFeaturesOK)
		if d.t.status()&StatusFeaturesOK == 0 {
			d.Fail()
			return 0, fmt.Errorf("virtio %s: the device refused features %#x", d.PCI.Addr(), got)
		}
	}
	d.features, d.offered = got, have
	return got, nil
}

// DeviceFeatures are the feature bits the device offers, read from it
// (before Negotiate, to choose what to ask for).
func (d *Device) DeviceFeatures() uint64 { return d.t.deviceFeatures() }

// Offered reports whether the device offered feature bit f when
// Negotiate ran, taken or not.
func (d *Device) Offered(f uint64) bool { return d.offered&f == f }

// Has reports whether feature bit f was negotiated.
func (d *Device) Has(f uint64) bool { return d.features&f == f }

// Config reads width (1, 2 or 4) bytes at off of the device-specific
// configuration (the MAC address of a network card, say).
func (d *Device) Config(off, width int) uint32 { return d.t.config(off, width) }

// Fail tells the device the driver gave up.
func (d *Device) Fail() { d.t.setStatus(d.t.status() | StatusFailed) }

// Ready sets DRIVER_OK: the device may now use the queues.
func (d *Device) Ready() {
	d.t.setStatus(StatusAck | StatusDriver | StatusDriverOK | d.t.status()&StatusFeaturesOK)
}

// Status is the device status register (StatusNeedsReset, say).
func (d *Device) Status() uint8 { return d.t.status() }

// Queue sets up virtqueue i with at most max entries (a power of two;
// the device's own maximum wins when it is smaller, and the legacy
// interface cannot shrink a queue).
func (d *Device) Queue(i, max int) (*Queue, error) {
	n := d.t.queueSize(i)
	if n == 0 {
		return nil, fmt.Errorf("virtio %s: no queue %d", d.PCI.Addr(), i)
	}
	if n&(n-1) != 0 || n > 32768 {
		return nil, fmt.Errorf("virtio %s: queue %d has size %d, not a power of two up to 32768", d.PCI.Addr(), i, n)
	}
	if d.Modern && max > 0 && max&(max-1) == 0 && max < n {
		n = max
	}
	q, err := newQueue(i, n, d.Has(FeatRingEventIdx))
	if err != nil {
		return nil, fmt.Errorf("virtio %s: queue %d: %v", d.PCI.Addr(), i, err)
	}
	q.notify = func() { d.t.notify(i) }
	if err := d.t.setupQueue(i, n, q.mem.PA, q.mem.PA+uint64(q.availOff), q.mem.PA+uint64(q.usedOff)); err != nil {
		return nil, fmt.Errorf("virtio %s: queue %d: %v", d.PCI.Addr(), i, err)
	}
	d.queues = append(d.queues, q)
	return q, nil
}

// Interrupts sets up the device's interrupt for the given queues (the
// others run without one) and for configuration changes, and returns
// what to wait on. With msix, one MSI-X vector goes straight to a CPU's
// local APIC; without it, or when MSI-X cannot be set up, the
// INTx line is routed through the I/O APIC and the kernel acknowledges
// it by reading the ISR. Call it before Ready.
func (d *Device) Interrupts(msix bool, queues ...*Queue) (pci.IRQ, error) {
	if msix {
		irq, err := d.setupMSIX(queues)
		if err == nil {
			return irq, nil
		}
		// fall back to INTx
		msixErr := err
		irq, err = d.PCI.AttachINTx(int(d.t.isrAck()))
		if err != nil {
			return irq, fmt.Errorf("%v; %v", msixErr, err)
		}
		return irq, nil
	}
	return d.PCI.AttachINTx(int(d.t.isrAck()))
}

func (d *Device) setupMSIX(queues []*Queue) (pci.IRQ, error) {
	tab, err := pci.OpenMSIX(d.PCI)
	if err != nil {
		return pci.IRQ{}, err
	}
	irq, err := pci.AllocMSI()
	if err != nil {
		return pci.IRQ{}, err
	}
	tab.Set(0, irq)
	var config pci.IRQ
	// Configuration changes get entry 1 and a vector of their own where
	// the table has room, else they share entry 0 with the queues.
	entry := uint16(0)
	if tab.Len() >= 2 {
		if c, err := pci.AllocMSI(); err == nil {
			tab.Set(1, c)
			config, entry = c, 1
		}
	}
	tab.Enable(true)
	d.t.msixOn(true)
	vec := map[int]uint16{}
	for _, q := range d.queues {
		vec[q.Index] = noVector
	}
	for _, q := range queues {
		vec[q.Index] = 0
	}
	if entry == 1 && !d.t.setVectors(1, vec) {
		entry = 0 // refused: share entry 0, and give the vector back
		tab.Mask(1)
		config.Free()
	}
	if entry == 0 && !d.t.setVectors(0, vec) {
		tab.Enable(false)
		d.t.msixOn(false)
		tab.Mask(0)
		irq.Free()
		return pci.IRQ{}, fmt.Errorf("virtio %s: the device refused its MSI-X vector", d.PCI.Addr())
	}
	if entry == 1 {
		d.config, d.hasConfig = config, true
	}
	return irq, nil
}
