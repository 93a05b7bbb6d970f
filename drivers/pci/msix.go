package pci

import "fmt"

// MSIX is a device's MSI-X table, mapped from the BAR that holds it.
type MSIX struct {
	dev   Device
	cap   int
	table MMIO
	off   int // the table's offset in the BAR
	n     int // entries
}

// OpenMSIX finds the MSI-X capability and maps its table. Every entry
// starts masked.
func OpenMSIX(d Device) (*MSIX, error) {
	for _, c := range d.Capabilities() {
		if c.ID != CapMSIX {
			continue
		}
		ctl := d.Read(c.Off+2, 2)
		tbl := d.Read(c.Off+4, 4)
		m := &MSIX{dev: d, cap: c.Off, off: int(tbl &^ 7), n: int(ctl&0x7FF) + 1}
		bar, err := d.MapBAR(int(tbl & 7))
		if err != nil {
			return nil, err
		}
		if m.off+16*m.n > bar.Size {
			return nil, fmt.Errorf("pci %s: MSI-X table (%d entries at %#x) overruns its %#x-byte BAR", d.Addr(), m.n, m.off, bar.Size)
		}
		m.table = bar
		for i := 0; i < m.n; i++ {
			m.table.Write32(m.off+16*i+12, 1)
		}
		return m, nil
	}
	return nil, fmt.Errorf("pci %s: no MSI-X capability", d.Addr())
}

// Len is the number of table entries.
func (m *MSIX) Len() int { return m.n }

// Set points entry i at irq (from AllocMSI) and unmasks it.
func (m *MSIX) Set(i int, irq IRQ) {
	if i < 0 || i >= m.n {
		panic(fmt.Sprintf("pci: MSI-X entry %d of %d", i, m.n))
	}
	e := m.off + 16*i
	m.table.Write32(e+12, 1)
	m.table.Write32(e, uint32(irq.Addr))
	m.table.Write32(e+4, uint32(irq.Addr>>32))
	m.table.Write32(e+8, irq.Data)
	m.table.Write32(e+12, 0)
}

// Mask masks entry i, whose vector is being given back: the device may
// not send it again.
func (m *MSIX) Mask(i int) {
	if i < 0 || i >= m.n {
		panic(fmt.Sprintf("pci: MSI-X entry %d of %d", i, m.n))
	}
	m.table.Write32(m.off+16*i+12, 1)
}

// Enable turns MSI-X on (the device stops using INTx) or off.
func (m *MSIX) Enable(on bool) {
	ctl := m.dev.Read(m.cap+2, 2) &^ (1<<15 | 1<<14)
	if on {
		ctl |= 1 << 15
	}
	m.dev.Write(m.cap+2, 2, ctl)
}
