// Command nicguest is a guest for tests/netboot's driver tests: it checks
// that loopback TCP works (with or without a network card), then waits
// until the card has seen -frames frames (delivered or dropped) or -wait
// passes, and prints the card's counters (kernel.NetStats) on stdout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/velocityos/velocity/kernel"
)

func main() {
	frames := flag.Uint64("frames", 0, "frames to wait for (delivered plus dropped on receive)")
	wait := flag.Duration("wait", 30*time.Second, "how long to wait for them")
	links := flag.Uint64("links", 0, "link status changes to wait for")
	malformed := flag.Uint64("malformed", 0, "malformed IP packets the stack must have dropped (kernel.NetStackStats) before the counters are printed")
	hostile := flag.Bool("hostile", false, "call the kernel's device services with bad arguments and print the errnos")
	flag.Parse()
	if *hostile {
		hostileCalls()
	}
	if err := loopback(); err != nil {
		fmt.Println("nicguest: loopback:", err)
		os.Exit(1)
	}
	fmt.Println("nicguest: loopback ok")
	deadline := time.Now().Add(*wait)
	for {
		st, err := kernel.NetStats()
		if errors.Is(err, kernel.ErrNoNIC) {
			if *frames == 0 || time.Now().After(deadline) {
				fmt.Println("nicguest: no network card")
				printStackStats()
				return
			}
		} else if err != nil {
			fmt.Println("nicguest:", err)
			os.Exit(1)
		} else if seen := st.RxFrames + st.RxBadUsed + st.RxRunt + st.RxOversize + st.RxBadHeader; seen >= *frames && st.LinkChanges >= *links && ipMalformed() >= *malformed || time.Now().After(deadline) {
			st.Write(os.Stdout)
			printStackStats()
			fmt.Println("nicguest: done")
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ipMalformed is the malformed IP packets the stack dropped, 0 if it
// cannot say.
func ipMalformed() uint64 {
	ss, err := kernel.NetStackStats()
	if err != nil {
		return 0
	}
	return ss.IPMalformed
}

// printStackStats prints the stack's counters (kernel.NetStackStats).
func printStackStats() {
	ss, err := kernel.NetStackStats()
	if err != nil {
		fmt.Println("nicguest: stack counters:", err)
		return
	}
	ss.Write(os.Stdout)
}

// loopback echoes one message over 127.0.0.1.
func loopback() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		return fmt.Errorf("echo %q, %v", buf, err)
	}
	return nil
}

// hostileCalls makes the kernel's device calls (runtime/vk_dev.go) with
// bad arguments, and one good one, and prints "hostile NAME: errno" for
// each, for the host test to compare with what Linux-style checking
// demands.
func hostileCalls() {
	var out [4]uint64
	p := uintptr(unsafe.Pointer(&out))
	virtio := uintptr(0x03 << 3) // 00:03.0 on QEMU's pc machine
	call := func(name string, nr, a, b, c uintptr) {
		r, _, e := syscall.RawSyscall(nr, a, b, c)
		if e != 0 {
			fmt.Printf("hostile %s: %v\n", name, e)
		} else {
			fmt.Printf("hostile %s: ok %#x\n", name, r)
		}
	}
	call("mmio-bdf", 0x5635, 0x10000, 4, p)
	call("mmio-bar6", 0x5635, virtio, 6, p)
	call("mmio-unassigned", 0x5635, virtio, 0, p)
	call("mmio-nodev", 0x5635, 0xFF<<8|31<<3, 4, p)
	call("mmio-nil", 0x5635, virtio, 4, 0)
	call("mmio-kernel", 0x5635, virtio, 4, 0xffff800000000000)
	call("mmio-good", 0x5635, virtio, 4, p)
	fmt.Printf("hostile mmio-size: %#x\n", out[1])
	va := out[0]
	call("mmio-again", 0x5635, virtio, 4, p)
	fmt.Printf("hostile mmio-same: %v\n", out[0] == va)
	call("msi-nil", 0x5636, 0, 0, 0)
	call("netstats-op", 0x5637, 7, 0, 0)
	call("netstats-nil", 0x5637, 0, 0, 64)
	// The stack's counters (ops 3 and 4): a list of addresses that is
	// not there, not whole words, or names one that is not the program's
	// or not aligned is refused, and the stack's own list stays (the
	// driver tests read its counters after these).
	list := new([2]uintptr) // on the heap: its address stays valid
	lp := uintptr(unsafe.Pointer(list))
	call("netstats-ctrs-nil", 0x5637, 3, 0, 16)
	call("netstats-ctrs-size", 0x5637, 3, lp, 12)
	call("netstats-ctrs-many", 0x5637, 3, lp, 65*8)
	*list = [2]uintptr{lp, 0xffff800000000000}
	call("netstats-ctr-kernel", 0x5637, 3, lp, 16)
	*list = [2]uintptr{lp + 4, 0}
	call("netstats-ctr-align", 0x5637, 3, lp, 16)
	call("netstats-read-nil", 0x5637, 4, 0, 64)
	call("pci-ext", 0x5630, virtio, 0x100, 4)
	call("pci-width", 0x5630, virtio, 0, 3)
	call("irq-line", 0x5633, 16, 0, 0)
	call("irq-ack", 0x5633, 11, 0xffff900000000000, 0)
	call("irqwait-handle", 0x5634, 99, 0, 0)
	// irqfd: a line must be routed first (line 10, no card behind it, so
	// it never fires), and the fd must be an eventfd.
	call("irqfd-handle", 0x5638, 99, 0, 0)
	call("irqfd-unrouted", 0x5638, 10, 0, 0)
	call("irq-route", 0x5633, 10, 0, 0)
	call("irqfd-badfd", 0x5638, 10, 999, 0)
	call("irqfd-console", 0x5638, 10, 1, 0)
	efd, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		fmt.Printf("hostile eventfd2: %v\n", e)
		return
	}
	call("irqfd-bind", 0x5638, 10, efd, 0)
	syscall.Close(int(efd)) // the binding keeps the eventfd
	call("irqfd-unbind", 0x5638, 10, ^uintptr(0), 0)
	call("irqfd-unbind-again", 0x5638, 10, ^uintptr(0), 0)
}
