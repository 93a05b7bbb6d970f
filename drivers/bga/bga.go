// Package bga drives the Bochs graphics adapter (BGA, the "VBE DISPI"
// interface) of QEMU's standard VGA and bochs-display: PCI device
// 1234:1111, programmed through the index/data I/O ports 0x1CE/0x1CF
// (standard VGA) or, where those ports do not answer (bochs-display has
// no VGA ports), through the same registers in its MMIO BAR2 at 0x500,
// with its linear framebuffer at the device's BAR0. This is how the
// canvas gets a graphics mode when nothing set one before the kernel (the
// -kernel fast path, or GRUB in text mode).
//
// It runs only on Velocity; elsewhere Find returns an error without
// touching any port. PCI configuration space goes through the kernel
// (pci.go); the adapter's own ports 0x1CE/0x1CF are written directly
// (arch/amd64/portio: Go runs at CPL 0), since the kernel's port system
// call serves only ports from 0x1000 up and nothing else drives these.
package bga

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/velocityos/velocity/arch/amd64/portio"
	"github.com/velocityos/velocity/kernel"
)

const (
	portIndex = 0x1ce
	portData  = 0x1cf

	regID       = 0
	regXRes     = 1
	regYRes     = 2
	regBPP      = 3
	regEnable   = 4
	regVirtW    = 6
	regVirtH    = 7
	regXOff     = 8
	regYOff     = 9
	regVideoMem = 0xa // video memory in 64 KiB units (QEMU)

	enabled   = 0x01
	lfbEnable = 0x40

	idMin   = 0xb0c0
	idMin32 = 0xb0c2 // first interface version with 32 bpp
	idMax   = 0xb0cf

	vendorQEMU = 0x1234
	deviceBGA  = 0x1111
)

// MaxWidth and MaxHeight bound the modes SetMode accepts (the interface's
// own limit in QEMU is 16000×12000 within video memory).
const (
	MaxWidth  = 4096
	MaxHeight = 4096
)

// ErrNotFound means there is no Bochs display on PCI.
var ErrNotFound = errors.New("bga: no Bochs display (PCI 1234:1111)")

// Device is a found adapter.
type Device struct {
	ID       uint16 // interface version (0xB0C0…)
	LFB      uint64 // physical address of the linear framebuffer (BAR0)
	VideoMem int    // bytes of video memory
	PCI      string // bus:device.function
	Regs     string // "ports" or "mmio" (how the registers are reached)
	regs     registers
}

// registers reaches the DISPI registers.
type registers interface {
	read(reg uint16) uint16
	write(reg, v uint16)
}

// portRegs: index to 0x1CE, data at 0x1CF (standard VGA).
type portRegs struct{}

func (portRegs) write(reg, v uint16) {
	portio.Outw(portIndex, reg)
	portio.Outw(portData, v)
}

func (portRegs) read(reg uint16) uint16 {
	portio.Outw(portIndex, reg)
	return portio.Inw(portData)
}

// mmioRegs: register i is the 16-bit word at 0x500 + 2i of BAR2, mapped
// uncached (kernel.MapDevice), so each access reaches the device in order.
type mmioRegs struct{ mem []byte }

const mmioDispi = 0x500

func (m mmioRegs) word(reg uint16) *uint16 {
	return (*uint16)(unsafe.Pointer(&m.mem[mmioDispi+2*int(reg)]))
}

func (m mmioRegs) read(reg uint16) uint16 { return *m.word(reg) }
func (m mmioRegs) write(reg, v uint16)    { *m.word(reg) = v }

// Mode is a set graphics mode. With Pages 2 the virtual screen is twice
// as tall as the visible one: Flip shows either half, which is how the
// canvas double-buffers in video memory (the display never shows a frame
// being written).
type Mode struct {
	Width, Height, Pitch, BPP int
	Pages                     int
}

// Find looks for the adapter on PCI and checks its interface version.
func Find() (Device, error) {
	if !kernel.OnVelocity() {
		return Device{}, errors.New("bga: I/O ports need the Velocity kernel")
	}
	devs, err := kernel.PCIDevices()
	if err != nil {
		return Device{}, fmt.Errorf("bga: PCI: %w", err)
	}
	var loc kernel.PCIDevice
	ok := false
	for _, d := range devs {
		if d.Vendor == vendorQEMU && d.Device == deviceBGA {
			loc, ok = d, true
			break
		}
	}
	if !ok {
		return Device{}, ErrNotFound
	}
	bar := loc.BAR[0]
	if bar&1 != 0 {
		return Device{}, fmt.Errorf("bga: BAR0 of %s is an I/O BAR (%#x), not memory", loc.Addr(), bar)
	}
	addr := uint64(bar &^ 0xf)
	if bar>>1&3 == 2 { // 64-bit BAR
		addr |= uint64(loc.BAR[1]) << 32
	}
	if addr == 0 {
		return Device{}, fmt.Errorf("bga: BAR0 of %s is not assigned", loc.Addr())
	}
	d := Device{LFB: addr, PCI: loc.Addr(), Regs: "ports", regs: portRegs{}}
	id := d.regs.read(regID)
	if id < idMin || id > idMax {
		// No VGA ports (bochs-display): the registers are in BAR2.
		bar2 := loc.BAR[2]
		mmio := uint64(bar2 &^ 0xf)
		if bar2&1 != 0 || mmio == 0 {
			return Device{}, fmt.Errorf("bga: %s answers on neither the DISPI ports (%#x) nor an MMIO BAR2 (%#x)", loc.Addr(), id, bar2)
		}
		mem, err := kernel.MapDevice(mmio, 4096)
		if err != nil {
			return Device{}, fmt.Errorf("bga: mapping BAR2 of %s: %w", loc.Addr(), err)
		}
		d.Regs, d.regs = "mmio", mmioRegs{mem}
		id = d.regs.read(regID)
	}
	if id < idMin32 || id > idMax {
		return Device{}, fmt.Errorf("bga: interface version %#x at %s (%s) does not do 32 bpp", id, loc.Addr(), d.Regs)
	}
	d.ID = id
	d.VideoMem = int(d.regs.read(regVideoMem)) << 16
	return d, nil
}

// SetMode programs w×h at 32 bits per pixel with the linear framebuffer
// on, and reads the registers back: the adapter clamps what it cannot do.
func (d Device) SetMode(w, h int) (Mode, error) {
	if w <= 0 || h <= 0 || w > MaxWidth || h > MaxHeight {
		return Mode{}, fmt.Errorf("bga: mode %dx%d out of range", w, h)
	}
	if d.VideoMem > 0 && w*h*4 > d.VideoMem {
		return Mode{}, fmt.Errorf("bga: %dx%dx32 needs %d bytes, the adapter has %d", w, h, w*h*4, d.VideoMem)
	}
	d.regs.write(regEnable, 0)
	d.regs.write(regXRes, uint16(w))
	d.regs.write(regYRes, uint16(h))
	d.regs.write(regBPP, 32)
	pages := 1
	if d.VideoMem >= 2*w*h*4 && 2*h <= 0xffff {
		pages = 2
	}
	d.regs.write(regVirtW, uint16(w))
	d.regs.write(regVirtH, uint16(pages*h))
	d.regs.write(regXOff, 0)
	d.regs.write(regYOff, 0)
	d.regs.write(regEnable, enabled|lfbEnable)
	m := Mode{Width: int(d.regs.read(regXRes)), Height: int(d.regs.read(regYRes)), BPP: int(d.regs.read(regBPP)), Pages: 1}
	m.Pitch = int(d.regs.read(regVirtW)) * 4
	if pages == 2 && int(d.regs.read(regVirtH)) >= 2*h {
		m.Pages = 2
	}
	if m.Width != w || m.Height != h || m.BPP != 32 || m.Pitch < 4*w {
		return m, fmt.Errorf("bga: asked for %dx%dx32, the adapter set %dx%dx%d (pitch %d)", w, h, m.Width, m.Height, m.BPP, m.Pitch)
	}
	return m, nil
}

// Flip shows page (0 or 1) of a two-page mode of height h.
func (d Device) Flip(page, h int) {
	d.regs.write(regYOff, uint16(page*h))
}
