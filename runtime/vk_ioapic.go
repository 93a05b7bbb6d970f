//go:build velocity

// Velocity kernel: device interrupts through the I/O APIC, and console
// input.
//
// Device interrupts go to a configurable set of CPUs (kernel option
// irqcpus=, default: every CPU that is not reserved), delivered to the
// least busy of them (lowest-priority delivery, logical flat mode, which
// covers the first eight CPUs) so that reserved cores are never disturbed.
// The first device is the console: COM1's receive interrupt fills a buffer
// that read(0) drains.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkSerialVector = 0x24 // ISA IRQ 4 → vector 0x20 + 4
	lapicLDR       = 0xD0
	lapicDFR       = 0xE0
	vkConsoleBuf   = 4096
)

type vkIOAPIC struct {
	phys    uintptr
	gsiBase uint32
}

type vkOverride struct {
	valid bool
	gsi   uint32
	flags uint16
}

var (
	vkIOAPICs     [4]vkIOAPIC
	vkISAOverride [16]vkOverride
	vkIRQCPUs     uint64 // CPUs device interrupts may go to
	vkIRQPending  uint32 // an interrupt was taken where the kernel lock was not held

	vkConsole struct {
		buf        [vkConsoleBuf]byte
		head, n    int
		overflowed uint64
	}
)

func vkIOAPICReg(a *vkIOAPIC, reg uint32) *uint32 {
	base := vkDMAP + a.phys
	*(*uint32)(unsafe.Pointer(base)) = reg
	return (*uint32)(unsafe.Pointer(base + 0x10))
}

// vkIRQRoute points ISA interrupt irq at vector, for the CPUs in vkIRQCPUs.
func vkIRQRoute(irq int, vector uint32) bool {
	return vkIRQRouteMode(irq, vector, false)
}

// vkIRQRouteLevel routes a PCI INTx line: level-triggered, active high, as
// QEMU's ACPI tables describe PCI link interrupts.
func vkIRQRouteLevel(irq int, vector uint32) bool {
	return vkIRQRouteMode(irq, vector, true)
}

func vkIRQRouteMode(irq int, vector uint32, pciLevel bool) bool {
	gsi := uint32(irq)
	activeLow, level := false, pciLevel
	if o := vkISAOverride[irq]; o.valid {
		gsi = o.gsi
		activeLow = o.flags&3 == 3
		level = o.flags>>2&3 == 3
	}
	a, pin, ok := vkIOAPICPin(gsi)
	if !ok {
		return false
	}
	low := vector
	high := uint32(0)
	cpus := vkIRQCPUs & vkAllCPUs()
	if cpus&^0xFF == 0 && cpus != 0 {
		// Logical flat mode: bit i of the LDR is CPU i (set in
		// vkLAPICInit); lowest-priority delivery picks among them.
		low |= 1<<8 | 1<<11
		high = uint32(cpus) << 24
	} else {
		// More than eight CPUs: send it to the first one allowed.
		first := 0
		for cpus != 0 && cpus&(1<<first) == 0 {
			first++
		}
		high = vkCPUs[first].apicID << 24
	}
	if activeLow {
		low |= 1 << 13
	}
	if level {
		low |= 1 << 15
	}
	*vkIOAPICReg(a, 0x11+2*pin) = high
	*vkIOAPICReg(a, 0x10+2*pin) = low
	return true
}

// vkIOAPICPin finds the I/O APIC and pin of global system interrupt gsi.
func vkIOAPICPin(gsi uint32) (*vkIOAPIC, uint32, bool) {
	for i := range vkIOAPICs {
		a := &vkIOAPICs[i]
		if a.phys == 0 || gsi < a.gsiBase {
			continue
		}
		if pin := gsi - a.gsiBase; pin <= (*vkIOAPICReg(a, 1)>>16)&0xFF {
			return a, pin, true
		}
	}
	return nil, 0, false
}

// vkIOAPICEntry reads the low word of ISA or PCI interrupt irq's I/O APIC
// entry (vector, trigger mode, remote IRR, mask), for the NMI dump.
func vkIOAPICEntry(irq int) (uint32, bool) {
	gsi := uint32(irq)
	if o := vkISAOverride[irq]; o.valid {
		gsi = o.gsi
	}
	if a, pin, ok := vkIOAPICPin(gsi); ok {
		return *vkIOAPICReg(a, 0x10+2*pin), true
	}
	return 0, false
}

// vkIRQInit routes the console's receive interrupt once all CPUs are up.
func vkIRQInit() {
	if vkIRQCPUs == 0 {
		vkIRQCPUs = vkAllCPUs() &^ vkSched.reserved
	}
	if vkIRQCPUs&vkAllCPUs() == 0 {
		vkIRQCPUs = 1
	}
	if !vkIRQRoute(4, vkSerialVector) {
		return // no I/O APIC: console input is polled by the idle loop
	}
	vkOutb(vkCOM1+1, 0x01) // interrupt on received data
}

// vkSerialPoll moves received bytes into the console buffer and wakes
// readers. Like a Linux tty's defaults (ICRNL, ECHO), a carriage return
// becomes a newline and input is echoed, so a terminal behaves as users
// expect. The caller holds the kernel lock.
func vkSerialPoll() {
	vkAssertHeld(&vkBKL)
	c := &vkConsole
	got := false
	for vkInb(vkCOM1+5)&1 != 0 {
		b := vkInb(vkCOM1)
		if b == '\r' {
			b = '\n'
		}
		vkSerialPutc(b)
		got = true
		if c.n == len(c.buf) {
			c.overflowed++
			continue
		}
		c.buf[(c.head+c.n)%len(c.buf)] = b
		c.n++
	}
	if got {
		vkFutexWake(uintptr(unsafe.Pointer(c)), vkMaxThreads)
	}
}

// vkIRQWork runs device work deferred by interrupts taken without the lock.
func vkIRQWork() {
	if atomic.Load(&vkIRQPending) != 0 {
		atomic.Store(&vkIRQPending, 0)
		vkSerialPoll()
		vkDevIRQWork()
	}
}

// vkConsoleRead reads standard input: it blocks until a byte arrives and
// returns what is buffered (a line discipline is the program's business).
func vkConsoleRead(p, n uintptr, canBlock bool) uintptr {
	c := &vkConsole
	if !vkUserOK(p, n, true) {
		return vkErr(vkEFAULT)
	}
	vkSerialPoll()
	for c.n == 0 {
		if !canBlock || n == 0 {
			return vkErr(vkEAGAIN)
		}
		vkCur().waitAddr = uintptr(unsafe.Pointer(c))
		vkBlockIntr(0)
		if vkCur().pending&^vkCur().sigmask != 0 {
			return vkErr(vkERESTARTSYS) // EINTR, or read again (SA_RESTART), as a Linux tty
		}
		vkSerialPoll()
	}
	got := uintptr(0)
	for got < n && c.n > 0 {
		*(*byte)(unsafe.Pointer(p + got)) = c.buf[c.head]
		c.head = (c.head + 1) % len(c.buf)
		c.n--
		got++
	}
	return got
}
