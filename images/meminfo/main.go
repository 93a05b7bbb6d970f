// Command meminfo reports the physical memory in use right after boot, for
// make bench. It prints one line
//
//	MEMINFO kernel=velocity used=N total=N free=N image=N resident=N
//
// (bytes) and ends the machine like images/bootbench does.
//
// On Velocity the figures come from kernel.ReadInfo: used is MemTotal-MemFree
// of the frame allocator. As the /init of a Linux guest (kernel.ErrNotVelocity)
// it reads MemTotal and MemFree from /proc/meminfo instead, so the same
// program gives a (rough) Linux figure for comparison.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/velocityos/velocity/kernel"
)

func main() {
	if info, err := kernel.ReadInfo(); err == nil {
		fmt.Printf("MEMINFO kernel=velocity used=%d total=%d free=%d image=%d resident=%d\n",
			info.MemTotal-info.MemFree, info.MemTotal, info.MemFree, info.ImageBytes, info.Resident)
	} else if total, free, err := linuxMeminfo(); err == nil {
		fmt.Printf("MEMINFO kernel=linux used=%d total=%d free=%d\n", total-free, total, free)
	} else {
		fmt.Printf("MEMINFO error: %v\n", err)
	}
	if os.Getpid() == 1 {
		syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	}
	os.Exit(0)
}

// linuxMeminfo reads MemTotal and MemFree (bytes) from /proc/meminfo,
// mounting /proc first when it is missing (an initramfs has none).
func linuxMeminfo() (total, free uint64, err error) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		os.MkdirAll("/proc", 0o555)
		if err := syscall.Mount("proc", "/proc", "proc", 0, ""); err != nil {
			return 0, 0, fmt.Errorf("mount /proc: %w", err)
		}
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text()) // "MemTotal:  123 kB"
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "MemTotal:":
			total = v * 1024
		case "MemFree:":
			free = v * 1024
		}
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("/proc/meminfo: no MemTotal")
	}
	return total, free, s.Err()
}
