package bga

import (
	"fmt"
	"syscall"
)

// PCI configuration space goes through the kernel (system call 0x5630,
// runtime/vk_dev.go): mechanism #1 is two port accesses (address to 0xCF8,
// data at 0xCFC) that must not interleave with another CPU's, such as the
// virtio-net driver's scan, and the kernel serialises them under its lock.
const sysPCI = 0x5630

type pciLoc struct{ bus, dev, fn uint8 }

func (l pciLoc) String() string { return fmt.Sprintf("%02x:%02x.%d", l.bus, l.dev, l.fn) }

// read returns the 32-bit register at off (a multiple of 4).
func (l pciLoc) read(off uint8) uint32 {
	bdf := uintptr(l.bus)<<8 | uintptr(l.dev)<<3 | uintptr(l.fn)
	r, _, errno := syscall.RawSyscall6(sysPCI, bdf, uintptr(off&^3), 4, 0, 0, 0)
	if errno != 0 {
		return 0xffffffff // reads as "no device"
	}
	return uint32(r)
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
