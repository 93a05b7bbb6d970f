package kernel

import (
	"fmt"
	"syscall"
)

// sysPCI reads or writes PCI configuration space (runtime/vk_dev.go): the
// kernel does the two-port access so it never interleaves with another
// CPU's.
const sysPCI = 0x5630

// PCIDevice is one function on the PCI bus.
type PCIDevice struct {
	Bus, Dev, Fn   int
	Vendor, Device uint16
	Class          uint32    // base class, subclass and programming interface
	BAR            [6]uint32 // raw base address registers (bit 0 set: I/O space)
	IRQ            int       // the legacy INTx line (configuration byte 0x3C)
}

// Addr is the device's bus:device.function, as lspci prints it.
func (d PCIDevice) Addr() string { return fmt.Sprintf("%02x:%02x.%d", d.Bus, d.Dev, d.Fn) }

// ClassName names the base class (PCI code and ID assignment).
func (d PCIDevice) ClassName() string {
	names := map[uint32]string{0x00: "unclassified", 0x01: "storage", 0x02: "network", 0x03: "display",
		0x04: "multimedia", 0x05: "memory", 0x06: "bridge", 0x07: "communication", 0x08: "system",
		0x09: "input", 0x0c: "serial bus"}
	if n, ok := names[d.Class>>16]; ok {
		return n
	}
	return "other"
}

// PCIConfigRead reads width (1, 2 or 4) bytes at off of a function's
// configuration space.
func PCIConfigRead(bus, dev, fn, off, width int) (uint32, error) {
	bdf := bus<<8 | dev<<3 | fn
	r, _, errno := syscall.RawSyscall6(sysPCI, uintptr(bdf), uintptr(off), uintptr(width), 0, 0, 0)
	if errno == syscall.ENOSYS {
		return 0, ErrNotVelocity
	}
	if errno != 0 {
		return 0, errno
	}
	return uint32(r), nil
}

// PCIDevices lists every function on every bus (configuration mechanism
// #1), in bus order.
func PCIDevices() ([]PCIDevice, error) {
	var out []PCIDevice
	for bus := 0; bus < 256; bus++ {
		for dev := 0; dev < 32; dev++ {
			for fn := 0; fn < 8; fn++ {
				id, err := PCIConfigRead(bus, dev, fn, 0, 4)
				if err != nil {
					return nil, err
				}
				if id == 0xFFFFFFFF || id == 0 {
					if fn == 0 {
						break
					}
					continue
				}
				d := PCIDevice{Bus: bus, Dev: dev, Fn: fn, Vendor: uint16(id), Device: uint16(id >> 16)}
				class, _ := PCIConfigRead(bus, dev, fn, 8, 4)
				d.Class = class >> 8
				for i := range d.BAR {
					d.BAR[i], _ = PCIConfigRead(bus, dev, fn, 0x10+4*i, 4)
				}
				irq, _ := PCIConfigRead(bus, dev, fn, 0x3C, 1)
				d.IRQ = int(irq)
				out = append(out, d)
				if fn == 0 {
					if hdr, _ := PCIConfigRead(bus, dev, fn, 0x0E, 1); hdr&0x80 == 0 {
						break // single-function device
					}
				}
			}
		}
	}
	return out, nil
}
