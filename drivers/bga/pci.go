package bga

import (
	"fmt"

	"github.com/velocityos/velocity/arch/amd64/portio"
)

// PCI configuration space through mechanism #1 (ports 0xCF8/0xCFC). This
// is a small private reader for finding one device; a PCI package of the
// project would replace it.
const (
	pciAddr = 0xcf8
	pciData = 0xcfc
)

type pciLoc struct{ bus, dev, fn uint8 }

func (l pciLoc) String() string { return fmt.Sprintf("%02x:%02x.%d", l.bus, l.dev, l.fn) }

// read returns the 32-bit register at off (aligned down to 4).
func (l pciLoc) read(off uint8) uint32 {
	portio.Outl(pciAddr, 1<<31|uint32(l.bus)<<16|uint32(l.dev)<<11|uint32(l.fn)<<8|uint32(off&^3))
	return portio.Inl(pciData)
}

// findPCI scans every bus, device and function for vendor:device.
func findPCI(vendor, device uint16) (pciLoc, bool) {
	for bus := 0; bus < 256; bus++ {
		for dev := uint8(0); dev < 32; dev++ {
			l := pciLoc{uint8(bus), dev, 0}
			id := l.read(0)
			if id&0xffff == 0xffff {
				continue // nothing here
			}
			fns := uint8(1)
			if l.read(0x0c)>>16&0x80 != 0 { // header type: multi-function
				fns = 8
			}
			for fn := uint8(0); fn < fns; fn++ {
				l.fn = fn
				id := l.read(0)
				if uint16(id) == vendor && uint16(id>>16) == device {
					return l, true
				}
			}
		}
	}
	return pciLoc{}, false
}
