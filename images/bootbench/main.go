// Command bootbench is the guest program of make bench: it prints one marker
// line as its very first action and then ends the machine.
//
// It is a plain Go program with no Velocity imports, so the same static
// linux/amd64 binary is both a Velocity kernel (velocity build) and the /init
// of a Linux guest's initramfs. That makes the boot-time comparison about the
// kernels, not about the programs.
//
// Ending the machine differs: as PID 1 of a Linux guest it powers off with
// reboot(LINUX_REBOOT_CMD_POWER_OFF) (an exiting init would panic the kernel);
// on Velocity that call fails with ENOSYS and os.Exit(0) ends QEMU through
// isa-debug-exit. Anywhere else (not PID 1) it just exits, so running it on a
// host, even as root, never powers the host off.
package main

import (
	"os"
	"syscall"
)

// Marker is the line make bench waits for on the serial console.
const Marker = "BOOTBENCH main"

func main() {
	os.Stdout.WriteString(Marker + "\n")
	if os.Getpid() == 1 {
		// Returns only on failure (ENOSYS on Velocity).
		syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	}
	os.Exit(0)
}
