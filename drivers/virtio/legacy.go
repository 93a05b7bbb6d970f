package virtio

import (
	"errors"
	"fmt"

	"github.com/velocityos/velocity/drivers/pci"
)

// The legacy interface: registers at the start of the I/O-port BAR 0.
const (
	legDevFeatures   = 0x00
	legGuestFeatures = 0x04
	legQueuePFN      = 0x08
	legQueueSize     = 0x0C
	legQueueSelect   = 0x0E
	legQueueNotify   = 0x10
	legStatus        = 0x12
	legISR           = 0x13
	legConfigVector  = 0x14 // with MSI-X only
	legQueueVector   = 0x16 // with MSI-X only
	legConfig        = 0x14 // device configuration without MSI-X
	legConfigMSIX    = 0x18 // ... and with it
)

type legacy struct {
	io  pci.Ports
	cfg int
}

func openLegacy(d pci.Device) (*legacy, error) {
	b, err := d.BAR(0)
	if err != nil {
		return nil, err
	}
	if !b.IO || b.Addr == 0 {
		return nil, errors.New("legacy interface: BAR 0 is not an assigned I/O BAR")
	}
	if err := d.Enable(pci.CmdIO | pci.CmdMaster); err != nil {
		return nil, err
	}
	return &legacy{io: pci.Ports{Base: int(b.Addr)}, cfg: legConfig}, nil
}

func (l *legacy) name() string               { return "legacy" }
func (l *legacy) status() uint8              { return uint8(l.io.In(legStatus, 1)) }
func (l *legacy) setStatus(s uint8)          { l.io.Out(legStatus, 1, uint32(s)) }
func (l *legacy) deviceFeatures() uint64     { return uint64(l.io.In(legDevFeatures, 4)) }
func (l *legacy) setDriverFeatures(f uint64) { l.io.Out(legGuestFeatures, 4, uint32(f)) }
func (l *legacy) notify(q int)               { l.io.Out(legQueueNotify, 2, uint32(q)) }
func (l *legacy) isrAck() uintptr            { return uintptr(l.io.Base + legISR) }

func (l *legacy) queueSize(q int) int {
	l.io.Out(legQueueSelect, 2, uint32(q))
	return int(l.io.In(legQueueSize, 2))
}

// setupQueue: the legacy layout is fixed by the size (descriptors, the
// available ring, the used ring on the next 4 KiB page); the device is
// told only the first page frame.
func (l *legacy) setupQueue(q, size int, desc, avail, used uint64) error {
	if desc&4095 != 0 || desc>>12 > 0xFFFFFFFF {
		return fmt.Errorf("ring at %#x: the legacy interface needs a page below 16 TiB", desc)
	}
	l.io.Out(legQueueSelect, 2, uint32(q))
	l.io.Out(legQueuePFN, 4, uint32(desc>>12))
	return nil
}

func (l *legacy) msixOn(on bool) {
	l.cfg = legConfig
	if on {
		l.cfg = legConfigMSIX
	}
}

func (l *legacy) setVectors(config uint16, queues map[int]uint16) bool {
	l.io.Out(legConfigVector, 2, uint32(config))
	if uint16(l.io.In(legConfigVector, 2)) != config {
		return false
	}
	for q, v := range queues {
		l.io.Out(legQueueSelect, 2, uint32(q))
		l.io.Out(legQueueVector, 2, uint32(v))
		if uint16(l.io.In(legQueueVector, 2)) != v {
			return false
		}
	}
	return true
}

func (l *legacy) config(off, width int) uint32 {
	if off < 0 || off+width > 256 {
		return 0xFFFFFFFF
	}
	return l.io.In(l.cfg+off, width)
}
