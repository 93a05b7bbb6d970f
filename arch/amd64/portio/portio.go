// Package portio reads and writes x86 I/O ports, for drivers written in Go
// that run on Velocity, where all code runs at CPL 0 (the PS/2 controller,
// PCI configuration space, the Bochs display's registers).
//
// On a Linux host the IN/OUT instructions fault (SIGSEGV): check
// kernel.OnVelocity before calling anything here. The assembly is in
// portio_amd64.s; every function is a leaf with no frame.
package portio

// Inb reads a byte from port.
func Inb(port uint16) uint8

// Outb writes a byte to port.
func Outb(port uint16, v uint8)

// Inw reads a 16-bit word from port.
func Inw(port uint16) uint16

// Outw writes a 16-bit word to port.
func Outw(port uint16, v uint16)

// Inl reads a 32-bit word from port.
func Inl(port uint16) uint32

// Outl writes a 32-bit word to port.
func Outl(port uint16, v uint32)
