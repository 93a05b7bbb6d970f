// Package pci finds PCI devices and gives a Go driver what it needs from
// the Velocity kernel to run one: configuration space, BARs, capabilities,
// I/O ports, uncached MMIO mappings of memory BARs, physically contiguous
// DMA memory, and interrupts (INTx through the I/O APIC, or MSI-X straight
// to a CPU's local APIC). The kernel side is runtime/vk_dev.go.
//
// Every Go program on Velocity runs at CPL 0 and could touch ports and
// physical memory itself; the kernel does these things because they need
// its state (the two-step configuration protocol must not interleave
// between CPUs, DMA frames come from its allocator, MMIO must be mapped
// uncached, and interrupts are acknowledged in trap context).
//
// It imports only the standard library, because package netstack (which
// the build vendors into a generated GOROOT, internal/build/netroot.go)
// uses it. Off Velocity every call fails with ErrNotVelocity.
package pci

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// The kernel's device services (runtime/vk_dev.go).
const (
	sysPCI     = 0x5630 // pci(bdf, off, width, val, write)
	sysIO      = 0x5631 // io(port, width, val, write)
	sysDMA     = 0x5632 // dma(pages, out *{va, pa})
	sysIRQ     = 0x5633 // irq(line, ackPort)
	sysIRQWait = 0x5634 // irqwait(handle, seen)
	sysMMIO    = 0x5635 // mmio(bdf, bar, out *{va, size})
	sysMSI     = 0x5636 // msi(out *{addr, data, handle})
	sysIRQFD   = 0x5638 // irqfd(handle, eventfd)
	sysMSIFree = 0x5639 // msifree(handle)
)

// ErrNotVelocity is returned off Velocity, where the kernel services
// do not exist.
var ErrNotVelocity = errors.New("pci: not running on Velocity")

func errnoErr(e syscall.Errno) error {
	if e == syscall.ENOSYS {
		return ErrNotVelocity
	}
	return e
}

// Device is one function on the bus.
type Device struct {
	Bus, Dev, Fn   int
	Vendor, Device uint16
	Class          uint32 // base class, subclass, programming interface
	IRQ            int    // legacy INTx line (configuration byte 0x3C)
}

// BDF is the bus/device/function number the kernel's calls take.
func (d Device) BDF() int { return d.Bus<<8 | d.Dev<<3 | d.Fn }

// Addr is bus:device.function as lspci prints it.
func (d Device) Addr() string { return fmt.Sprintf("%02x:%02x.%d", d.Bus, d.Dev, d.Fn) }

// Read reads width (1, 2 or 4) bytes at off of the configuration space.
// It returns all ones on error, as a bus read of nothing does.
func (d Device) Read(off, width int) uint32 {
	v, err := ConfigRead(d.BDF(), off, width)
	if err != nil {
		return 0xFFFFFFFF
	}
	return v
}

// Write writes width bytes at off of the configuration space.
func (d Device) Write(off, width int, v uint32) error {
	_, _, e := syscall.RawSyscall6(sysPCI, uintptr(d.BDF()), uintptr(off), uintptr(width), uintptr(v), 1, 0)
	if e != 0 {
		return errnoErr(e)
	}
	return nil
}

// ConfigRead reads configuration space of the function bdf.
func ConfigRead(bdf, off, width int) (uint32, error) {
	r, _, e := syscall.RawSyscall6(sysPCI, uintptr(bdf), uintptr(off), uintptr(width), 0, 0, 0)
	if e != 0 {
		return 0, errnoErr(e)
	}
	return uint32(r), nil
}

// Scan lists every function on buses 0-255, in bus order.
func Scan() ([]Device, error) {
	if _, err := ConfigRead(0, 0, 4); err != nil {
		return nil, err
	}
	var devs []Device
	for bus := 0; bus < 256; bus++ {
		for dev := 0; dev < 32; dev++ {
			for fn := 0; fn < 8; fn++ {
				d := Device{Bus: bus, Dev: dev, Fn: fn}
				id := d.Read(0, 4)
				if id == 0xFFFFFFFF || id == 0 {
					if fn == 0 {
						break // no device: no other functions either
					}
					continue
				}
				d.Vendor, d.Device = uint16(id), uint16(id>>16)
				d.Class = d.Read(8, 4) >> 8
				d.IRQ = int(d.Read(0x3C, 1))
				devs = append(devs, d)
				if fn == 0 && d.Read(0x0E, 1)&0x80 == 0 {
					break // single-function device
				}
			}
		}
	}
	return devs, nil
}

// Find returns the first device with this vendor and one of the device
// ids, in bus order.
func Find(devs []Device, vendor uint16, ids ...uint16) (Device, bool) {
	for _, d := range devs {
		if d.Vendor != vendor {
			continue
		}
		for _, id := range ids {
			if d.Device == id {
				return d, true
			}
		}
	}
	return Device{}, false
}

// BAR is one decoded base address register.
type BAR struct {
	IO   bool   // an I/O-port BAR; else memory
	Addr uint64 // port or physical address (0: not assigned)
	Is64 bool   // a 64-bit memory BAR (it takes this slot and the next)
}

// BAR decodes base address register i (0-5).
func (d Device) BAR(i int) (BAR, error) {
	if i < 0 || i > 5 {
		return BAR{}, fmt.Errorf("pci %s: no BAR %d", d.Addr(), i)
	}
	lo := d.Read(0x10+4*i, 4)
	if lo&1 != 0 {
		return BAR{IO: true, Addr: uint64(lo &^ 3)}, nil
	}
	b := BAR{Addr: uint64(lo &^ 15)}
	if lo>>1&3 == 2 {
		if i == 5 {
			return BAR{}, fmt.Errorf("pci %s: 64-bit BAR 5 has no upper half", d.Addr())
		}
		b.Is64 = true
		b.Addr |= uint64(d.Read(0x10+4*(i+1), 4)) << 32
	}
	return b, nil
}

// Command register bits.
const (
	CmdIO       = 1 << 0
	CmdMemory   = 1 << 1
	CmdMaster   = 1 << 2
	CmdNoINTx   = 1 << 10
	statusCaps  = 1 << 4
	capPointer  = 0x34
	maxCapChain = 48 // 256 bytes of config space hold at most 48 capabilities
)

// Enable sets bits in the command register (CmdIO, CmdMemory, CmdMaster).
func (d Device) Enable(bits uint16) error {
	cmd := d.Read(4, 2)
	return d.Write(4, 2, cmd|uint32(bits))
}

// Capability is one entry of the capability list.
type Capability struct {
	ID  uint8
	Off int // offset in configuration space
}

// Capability IDs used by drivers here.
const (
	CapMSI    = 0x05
	CapVendor = 0x09
	CapMSIX   = 0x11
)

// Capabilities walks the capability list. A list that loops or points
// outside the 256-byte header area ends the walk (it is the device's
// error; what was read before stays).
func (d Device) Capabilities() []Capability {
	return walkCaps(d.Read)
}

func walkCaps(read func(off, width int) uint32) []Capability {
	if read(6, 2)&statusCaps == 0 {
		return nil
	}
	var caps []Capability
	off := int(read(capPointer, 1) &^ 3)
	for n := 0; off >= 0x40 && off <= 0xFC && n < maxCapChain; n++ {
		v := read(off, 2)
		caps = append(caps, Capability{ID: uint8(v), Off: off})
		off = int(v>>8) &^ 3
	}
	return caps
}

// Ports is an I/O-port BAR.
type Ports struct{ Base int }

// In reads width bytes at offset off.
func (p Ports) In(off, width int) uint32 {
	r, _, _ := syscall.RawSyscall6(sysIO, uintptr(p.Base+off), uintptr(width), 0, 0, 0, 0)
	return uint32(r)
}

// Out writes width bytes at offset off.
func (p Ports) Out(off, width int, v uint32) {
	syscall.RawSyscall6(sysIO, uintptr(p.Base+off), uintptr(width), uintptr(v), 1, 0, 0)
}

// MMIO is a memory BAR mapped uncached into the address space.
type MMIO struct {
	VA   uintptr
	Size int
}

// MapBAR maps memory BAR i uncached (the kernel checks that it is one of
// this device's assigned memory BARs and learns its size). Mapping the
// same BAR again gives the same address. The driver turns on memory
// decoding itself (Enable(CmdMemory)).
func (d Device) MapBAR(i int) (MMIO, error) {
	var out [2]uint64
	_, _, e := syscall.RawSyscall(sysMMIO, uintptr(d.BDF()), uintptr(i), uintptr(unsafe.Pointer(&out)))
	if e != 0 {
		return MMIO{}, fmt.Errorf("pci %s: map BAR %d: %w", d.Addr(), i, errnoErr(e))
	}
	return MMIO{VA: uintptr(out[0]), Size: int(out[1])}, nil
}

// The accessors below are not inlined, so the compiler can never merge,
// hoist or drop a device access.

// Read8 reads one byte at off. The offset is the driver's, checked by it.
//
//go:noinline
func (m MMIO) Read8(off int) uint8 { return *(*uint8)(m.at(off, 1)) }

//go:noinline
func (m MMIO) Read16(off int) uint16 { return *(*uint16)(m.at(off, 2)) }

//go:noinline
func (m MMIO) Read32(off int) uint32 { return *(*uint32)(m.at(off, 4)) }

//go:noinline
func (m MMIO) Write8(off int, v uint8) { *(*uint8)(m.at(off, 1)) = v }

//go:noinline
func (m MMIO) Write16(off int, v uint16) { *(*uint16)(m.at(off, 2)) = v }

//go:noinline
func (m MMIO) Write32(off int, v uint32) { *(*uint32)(m.at(off, 4)) = v }

// at bounds-checks an access: an offset past the BAR is a driver bug,
// and it must fault loudly rather than touch another device.
func (m MMIO) at(off, width int) unsafe.Pointer {
	if off < 0 || off+width > m.Size || off%width != 0 {
		panic(fmt.Sprintf("pci: MMIO access at %#x (width %d) outside a %#x-byte BAR", off, width, m.Size))
	}
	p := m.VA + uintptr(off)
	return *(*unsafe.Pointer)(unsafe.Pointer(&p))
}

// DMA is physically contiguous, zeroed memory the device can address.
// The kernel never takes it back.
type DMA struct {
	VA, PA uint64
	Size   int
}

// AllocDMA allocates pages 4 KiB pages (at most 512).
func AllocDMA(pages int) (DMA, error) {
	var out [2]uint64
	_, _, e := syscall.RawSyscall(sysDMA, uintptr(pages), uintptr(unsafe.Pointer(&out)), 0)
	if e != 0 {
		return DMA{}, fmt.Errorf("DMA memory (%d pages): %w", pages, errnoErr(e))
	}
	return DMA{VA: out[0], PA: out[1], Size: pages * 4096}, nil
}

// Bytes is the memory as a slice.
func (m DMA) Bytes() []byte {
	if m.Size == 0 {
		return nil
	}
	p := uintptr(m.VA)
	return unsafe.Slice(*(**byte)(unsafe.Pointer(&p)), m.Size)
}

// IRQ is an interrupt a driver can wait for: an INTx line or an MSI-X
// vector.
type IRQ struct {
	Handle int    // what Wait takes: the INTx line, or 16+ for MSI
	MSI    bool   // an MSI/MSI-X vector
	Addr   uint64 // MSI: the message address to program
	Data   uint32 // MSI: the message data to program
	Vector int    // the CPU vector it arrives at
	CPU    int    // MSI: the CPU it is delivered to
}

// AttachINTx routes the device's INTx line through the I/O APIC
// (level-triggered). In trap context the kernel reads ackPort (0: none),
// which for virtio's ISR register lowers the line.
func (d Device) AttachINTx(ackPort int) (IRQ, error) {
	_, _, e := syscall.RawSyscall(sysIRQ, uintptr(d.IRQ), uintptr(ackPort), 0)
	if e != 0 {
		return IRQ{}, fmt.Errorf("pci %s: INTx line %d: %w", d.Addr(), d.IRQ, errnoErr(e))
	}
	return IRQ{Handle: d.IRQ, Vector: 0x20 + d.IRQ}, nil
}

// AllocMSI reserves a vector for message-signalled interrupts, on a CPU
// that the kernel option irqcpus= allows. The driver programs Addr and
// Data into the device's MSI-X table (or MSI capability).
func AllocMSI() (IRQ, error) {
	var out [4]uint64
	_, _, e := syscall.RawSyscall(sysMSI, uintptr(unsafe.Pointer(&out)), 0, 0)
	if e != 0 {
		return IRQ{}, fmt.Errorf("MSI vector: %w", errnoErr(e))
	}
	return IRQ{MSI: true, Addr: out[0], Data: uint32(out[1]), Handle: int(out[2]), Vector: int(out[1] & 0xFF), CPU: int(out[3])}, nil
}

// Free gives back an MSI vector from AllocMSI that the device will never
// send (it refused the vector, or the driver gave up on the device), so
// that the kernel's few MSI slots are not leaked. The IRQ is unusable
// afterwards: Wait on it fails with EINVAL. Freeing an INTx line is an
// error.
func (q IRQ) Free() error {
	if !q.MSI {
		return fmt.Errorf("interrupt %d: not an MSI vector", q.Handle)
	}
	if _, _, e := syscall.RawSyscall(sysMSIFree, uintptr(q.Handle), 0, 0); e != 0 {
		return fmt.Errorf("freeing MSI vector %d: %w", q.Handle, errnoErr(e))
	}
	return nil
}

// Wait sleeps until the interrupt has fired more than seen times in all
// and returns the new count. A signal's handler runs meanwhile and the
// kernel goes on waiting (SA_RESTART, as Go's handlers are).
func (q IRQ) Wait(seen uint64) (uint64, error) {
	c, _, e := syscall.Syscall(sysIRQWait, uintptr(q.Handle), uintptr(seen), 0)
	if e != 0 {
		return seen, errnoErr(e)
	}
	return uint64(c), nil
}

// EventFD returns a non-blocking eventfd that the kernel adds 1 to on
// every arrival of the interrupt, as an *os.File. Reading it (8 bytes:
// the arrivals since the last read) parks the goroutine in Go's
// netpoller, so a driver's receive goroutine sleeps as a socket reader
// does, and the thread that wakes for the interrupt goes on to run what
// the driver makes runnable; Wait instead blocks a thread in the kernel.
func (q IRQ) EventFD() (*os.File, error) {
	const efdNonblock, efdCloexec = 0x800, 0x80000
	fd, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, efdNonblock|efdCloexec, 0)
	if e != 0 {
		return nil, fmt.Errorf("eventfd2: %w", errnoErr(e))
	}
	if _, _, e := syscall.RawSyscall(sysIRQFD, uintptr(q.Handle), fd, 0); e != 0 {
		syscall.Close(int(fd))
		return nil, fmt.Errorf("binding an eventfd to interrupt %d: %w", q.Handle, errnoErr(e))
	}
	return os.NewFile(fd, fmt.Sprintf("irq%d", q.Handle)), nil
}
