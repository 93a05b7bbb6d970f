package virtio

import (
	"fmt"

	"github.com/velocityos/velocity/drivers/pci"
)

// Vendor capability types (virtio 1.x, 4.1.4).
const (
	capCommon = 1
	capNotify = 2
	capISR    = 3
	capDevice = 4
)

// Common configuration registers.
const (
	comDevFeatureSel  = 0x00
	comDevFeature     = 0x04
	comDrvFeatureSel  = 0x08
	comDrvFeature     = 0x0C
	comConfigVector   = 0x10
	comNumQueues      = 0x12
	comStatus         = 0x14
	comQueueSelect    = 0x16
	comQueueSize      = 0x18
	comQueueVector    = 0x1A
	comQueueEnable    = 0x1C
	comQueueNotifyOff = 0x1E
	comQueueDesc      = 0x20
	comQueueDriver    = 0x28
	comQueueDevice    = 0x30
	comSize           = 0x38
)

// region is a structure inside a mapped BAR.
type region struct {
	bar      pci.MMIO
	off, len int
}

func (r region) ok(off, width int) bool { return off >= 0 && off+width <= r.len }

type modern struct {
	common, isr, device region
	notifyBase          region
	notifyMul           int
	notifyOff           map[int]int
}

// openModern reads the vendor capabilities and maps the BARs they name.
func openModern(d pci.Device) (*modern, error) {
	m := &modern{notifyOff: map[int]int{}}
	found := 0
	bars := map[int]pci.MMIO{}
	for _, c := range d.Capabilities() {
		if c.ID != pci.CapVendor {
			continue
		}
		typ := int(d.Read(c.Off+3, 1))
		if typ < capCommon || typ > capDevice || found&(1<<typ) != 0 {
			continue // PCI config access (5), unknown, or a second one: the first wins
		}
		barNo := int(d.Read(c.Off+4, 1))
		off := int(d.Read(c.Off+8, 4))
		n := int(d.Read(c.Off+12, 4))
		if barNo > 5 {
			continue
		}
		bar, ok := bars[barNo]
		if !ok {
			var err error
			if bar, err = d.MapBAR(barNo); err != nil {
				return nil, fmt.Errorf("modern interface: %v", err)
			}
			bars[barNo] = bar
		}
		if off < 0 || n < 0 || off+n > bar.Size || off+n < off {
			return nil, fmt.Errorf("modern interface: structure %d (%#x+%#x) outside BAR %d (%#x bytes)", typ, off, n, barNo, bar.Size)
		}
		r := region{bar: bar, off: off, len: n}
		switch typ {
		case capCommon:
			if n < comSize {
				return nil, fmt.Errorf("modern interface: common configuration of %d bytes", n)
			}
			m.common = r
		case capNotify:
			m.notifyBase = r
			m.notifyMul = int(d.Read(c.Off+16, 4))
		case capISR:
			if n < 1 {
				return nil, fmt.Errorf("modern interface: empty ISR structure")
			}
			m.isr = r
		case capDevice:
			m.device = r
		}
		found |= 1 << typ
	}
	if found&(1<<capCommon|1<<capNotify|1<<capISR) != 1<<capCommon|1<<capNotify|1<<capISR {
		return nil, fmt.Errorf("modern interface: no common, notify and ISR capabilities")
	}
	if err := d.Enable(pci.CmdMemory | pci.CmdMaster); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *modern) name() string { return "modern" }

func (m *modern) r8(off int) uint8      { return m.common.bar.Read8(m.common.off + off) }
func (m *modern) r16(off int) uint16    { return m.common.bar.Read16(m.common.off + off) }
func (m *modern) r32(off int) uint32    { return m.common.bar.Read32(m.common.off + off) }
func (m *modern) w8(off int, v uint8)   { m.common.bar.Write8(m.common.off+off, v) }
func (m *modern) w16(off int, v uint16) { m.common.bar.Write16(m.common.off+off, v) }
func (m *modern) w32(off int, v uint32) { m.common.bar.Write32(m.common.off+off, v) }
func (m *modern) w64(off int, v uint64) { m.w32(off, uint32(v)); m.w32(off+4, uint32(v>>32)) }
func (m *modern) status() uint8         { return m.r8(comStatus) }
func (m *modern) setStatus(s uint8)     { m.w8(comStatus, s) }
func (m *modern) msixOn(bool)           {}
func (m *modern) isrAck() uintptr       { return m.isr.bar.VA + uintptr(m.isr.off) }

func (m *modern) deviceFeatures() uint64 {
	m.w32(comDevFeatureSel, 0)
	lo := m.r32(comDevFeature)
	m.w32(comDevFeatureSel, 1)
	return uint64(m.r32(comDevFeature))<<32 | uint64(lo)
}

func (m *modern) setDriverFeatures(f uint64) {
	m.w32(comDrvFeatureSel, 0)
	m.w32(comDrvFeature, uint32(f))
	m.w32(comDrvFeatureSel, 1)
	m.w32(comDrvFeature, uint32(f>>32))
}

func (m *modern) queueSize(q int) int {
	if q >= int(m.r16(comNumQueues)) {
		return 0
	}
	m.w16(comQueueSelect, uint16(q))
	return int(m.r16(comQueueSize))
}

func (m *modern) setupQueue(q, size int, desc, avail, used uint64) error {
	m.w16(comQueueSelect, uint16(q))
	m.w16(comQueueSize, uint16(size))
	m.w64(comQueueDesc, desc)
	m.w64(comQueueDriver, avail)
	m.w64(comQueueDevice, used)
	off := int(m.r16(comQueueNotifyOff)) * m.notifyMul
	if !m.notifyBase.ok(off, 2) {
		return fmt.Errorf("notification address %#x outside its %#x-byte structure", off, m.notifyBase.len)
	}
	m.notifyOff[q] = off
	m.w16(comQueueEnable, 1)
	return nil
}

func (m *modern) notify(q int) {
	m.notifyBase.bar.Write16(m.notifyBase.off+m.notifyOff[q], uint16(q))
}

func (m *modern) setVectors(config uint16, queues map[int]uint16) bool {
	m.w16(comConfigVector, config)
	if m.r16(comConfigVector) != config {
		return false
	}
	for q, v := range queues {
		m.w16(comQueueSelect, uint16(q))
		m.w16(comQueueVector, v)
		if m.r16(comQueueVector) != v {
			return false
		}
	}
	return true
}

func (m *modern) config(off, width int) uint32 {
	if !m.device.ok(off, width) {
		return 0xFFFFFFFF
	}
	switch width {
	case 1:
		return uint32(m.device.bar.Read8(m.device.off + off))
	case 2:
		return uint32(m.device.bar.Read16(m.device.off + off))
	}
	return m.device.bar.Read32(m.device.off + off)
}
