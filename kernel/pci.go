package kernel

import (
	"fmt"

	"github.com/velocityos/velocity/drivers/pci"
)

// PCIDevice is one function on the PCI bus.
type PCIDevice struct {
	Bus, Dev, Fn   int
	Vendor, Device uint16
	Class          uint32    // base class, subclass and programming interface
	BAR            [6]uint32 // raw base address registers (bit 0 set: I/O space)
	IRQ            int       // the legacy INTx line (configuration byte 0x3C)
	Caps           []uint8   // capability IDs, in list order (0x05 MSI, 0x09 vendor, 0x10 PCIe, 0x11 MSI-X, ...)
}

// CapNames names the capabilities lspci users know.
func (d PCIDevice) CapNames() []string {
	names := map[uint8]string{0x01: "pm", 0x05: "msi", 0x09: "vendor", 0x10: "pcie", 0x11: "msi-x", 0x12: "sata", 0x13: "af"}
	var out []string
	for _, c := range d.Caps {
		if n, ok := names[c]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("%#02x", c))
		}
	}
	return out
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
	v, err := pci.ConfigRead(bus<<8|dev<<3|fn, off, width)
	if err == pci.ErrNotVelocity {
		return 0, ErrNotVelocity
	}
	return v, err
}

// PCIDevices lists every function on every bus, in bus order (the scan
// is package drivers/pci's, which the network driver uses too).
func PCIDevices() ([]PCIDevice, error) {
	devs, err := pci.Scan()
	if err == pci.ErrNotVelocity {
		return nil, ErrNotVelocity
	}
	if err != nil {
		return nil, err
	}
	out := make([]PCIDevice, 0, len(devs))
	for _, d := range devs {
		pd := PCIDevice{Bus: d.Bus, Dev: d.Dev, Fn: d.Fn, Vendor: d.Vendor, Device: d.Device, Class: d.Class, IRQ: d.IRQ}
		for i := range pd.BAR {
			pd.BAR[i] = d.Read(0x10+4*i, 4)
		}
		for _, c := range d.Capabilities() {
			pd.Caps = append(pd.Caps, c.ID)
		}
		out = append(out, pd)
	}
	return out, nil
}
