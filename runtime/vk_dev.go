//go:build velocity

// Velocity kernel: what device drivers written in ordinary Go need. All
// Go code runs at CPL 0 in one address space, so a driver package (the
// virtio-net driver in package netstack) could touch I/O ports and
// physical memory itself; it asks the kernel instead, because these need
// the kernel's own state: the PCI configuration ports are a two-step
// protocol that must not interleave with another CPU's, DMA memory must
// come from the frame allocator, and an interrupt must be acknowledged in
// trap context, where no Go code of the driver's can run.
//
//	0x5630 pci(bdf, off, width, val, write)  PCI configuration space
//	0x5631 io(port, width, val, write)       an I/O port
//	0x5632 dma(pages, out)                   zeroed, physically contiguous
//	                                         memory; out gets {va, pa}
//	0x5633 irq(line, ackPort)                route a PCI INTx line; the
//	                                         handler reads ackPort (virtio's
//	                                         ISR, which lowers the line)
//	0x5634 irqwait(line, seen)               sleep until the line's count
//	                                         passes seen; returns the count
//
// Trap context: the interrupt handler (vkDevIRQ) runs with or without the
// kernel lock; it only reads the ack port, sets a pending bit and sends
// EOI. vkDevIRQWork, under the lock, counts and wakes.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkSysPCI     = 0x5630
	vkSysIO      = 0x5631
	vkSysDMA     = 0x5632
	vkSysIRQ     = 0x5633
	vkSysIRQWait = 0x5634

	// PCI INTx line n interrupts at vector 0x20+n, as ISA IRQ n would;
	// lines 0 (the timer's vector), 2, 3 and 4 (the serial ports) are
	// not given to devices.
	vkDevVectorBase = 0x20
	vkDevLines      = 16
	vkDMAMaxPages   = 512
)

var vkDev struct {
	pending uint32 // bit per line: interrupted, not yet counted
	routed  [vkDevLines]bool
	ack     [vkDevLines]uint16 // port read in the handler (0: none)
	count   [vkDevLines]uint64
}

func vkSysPCIConfig(bdf, off, width uintptr, val uint32, write bool) uintptr {
	if bdf > 0xFFFF || off > 0xFF || (width != 1 && width != 2 && width != 4) || off%width != 0 {
		return vkErr(vkEINVAL)
	}
	vkOutl(0xCF8, uint32(1)<<31|uint32(bdf)<<8|uint32(off)&0xFC)
	return vkPortRW(uint16(0xCFC+off&3), width, val, write)
}

// vkPortRW reads (returning the value) or writes one I/O port of width
// 1, 2 or 4 bytes.
func vkPortRW(port uint16, width uintptr, val uint32, write bool) uintptr {
	if write {
		switch width {
		case 1:
			vkOutb(port, uint8(val))
		case 2:
			vkOutw(port, uint16(val))
		default:
			vkOutl(port, val)
		}
		return 0
	}
	switch width {
	case 1:
		return uintptr(vkInb(port))
	case 2:
		return uintptr(vkInw(port))
	}
	return uintptr(vkInl(port))
}

// vkSysIOPort gives drivers the ports of their devices. The legacy ports
// the kernel itself drives (the PIC, PIT, CMOS, serial lines, PCI
// configuration, QEMU's exit device) are refused.
func vkSysIOPort(port, width uintptr, val uint32, write bool) uintptr {
	if port > 0xFFFF || (width != 1 && width != 2 && width != 4) || port < 0x1000 {
		return vkErr(vkEPERM)
	}
	return vkPortRW(uint16(port), width, val, write)
}

// vkSysDMAAlloc hands out physically contiguous zeroed frames, reachable
// through the direct map. They are never given back: drivers keep their
// rings and buffers for the life of the machine.
func vkSysDMAAlloc(pages, out uintptr) uintptr {
	if pages == 0 || pages > vkDMAMaxPages {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(out, 16, true) {
		return vkErr(vkEFAULT)
	}
	n := vkFrames.nframes
	run := uintptr(0)
	for f := uintptr(256); f < n; f++ { // above 1 MiB
		if vkFrameUsed(f) {
			run = 0
			continue
		}
		run++
		if run == pages {
			first := f + 1 - pages
			for g := first; g <= f; g++ {
				vkFrameMark(g, true)
				vkFrames.free--
			}
			pa := first * vkPageSize
			memclrNoHeapPointers(unsafe.Pointer(vkP2V(pa)), pages*vkPageSize)
			*(*[2]uint64)(unsafe.Pointer(out)) = [2]uint64{uint64(vkP2V(pa)), uint64(pa)}
			return 0
		}
	}
	return vkErr(vkENOMEM)
}

func vkSysIRQAttach(line, ack uintptr) uintptr {
	if line >= vkDevLines || line <= 4 && line != 1 || ack > 0xFFFF || (ack != 0 && ack < 0x1000) {
		return vkErr(vkEINVAL)
	}
	vkDev.ack[line] = uint16(ack)
	if !vkDev.routed[line] {
		if !vkIRQRouteLevel(int(line), vkDevVectorBase+uint32(line)) {
			return vkErr(vkENODEV)
		}
		vkDev.routed[line] = true
	}
	return 0
}

func vkSysIRQWaitLine(line uintptr, seen uint64, canBlock bool) uintptr {
	if line >= vkDevLines || !vkDev.routed[line] {
		return vkErr(vkEINVAL)
	}
	for vkDev.count[line] <= seen {
		if !canBlock {
			return vkErr(vkEAGAIN)
		}
		t := vkCur()
		t.waitAddr = uintptr(unsafe.Pointer(&vkDev.count[line]))
		vkBlock(0)
		if t.pending&^t.sigmask != 0 {
			return vkErr(vkEINTR)
		}
	}
	return uintptr(vkDev.count[line])
}

// vkDevIRQ acknowledges a device interrupt in trap context. It reports
// whether vector was a device line's.
//
//go:nosplit
//go:nowritebarrierrec
func vkDevIRQ(vector uint64) bool {
	if vector < vkDevVectorBase || vector >= vkDevVectorBase+vkDevLines {
		return false
	}
	line := uint32(vector - vkDevVectorBase)
	if !vkDev.routed[line] {
		return false // the timer, a serial port, or nothing of ours
	}
	if p := vkDev.ack[line]; p != 0 {
		vkInb(p) // virtio's ISR: reading it lowers the line
	}
	atomic.Or(&vkDev.pending, 1<<line)
	atomic.Store(&vkIRQPending, 1)
	vkEOI()
	return true
}

// vkDevIRQWork counts pending interrupts and wakes their waiters; the
// kernel lock is held.
func vkDevIRQWork() {
	p := atomic.Xchg(&vkDev.pending, 0)
	for line := 0; p != 0; line++ {
		if p&(1<<line) != 0 {
			p &^= 1 << line
			vkDev.count[line]++
			vkFutexWake(uintptr(unsafe.Pointer(&vkDev.count[line])), vkMaxThreads)
		}
	}
}
