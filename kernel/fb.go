package kernel

import (
	"errors"
	"syscall"
	"unsafe"
)

const sysFB = 0x5620 // runtime/vk_fb.go

// ErrNoFramebuffer is returned when the loader set no graphics mode.
var ErrNoFramebuffer = errors.New("kernel: the boot loader set no graphics mode (no framebuffer)")

// Framebuffer is the geometry of a linear framebuffer.
type Framebuffer struct {
	Phys          uint64 // physical address
	Pitch         int    // bytes per row
	Width, Height int    // pixels
	BPP           int    // bits per pixel
}

// rawFB mirrors vkFBInfo in runtime/vk_fb.go.
type rawFB struct{ Addr, Pitch, Width, Height, BPP uint64 }

// BootFramebuffer returns the framebuffer the boot loader set up (GRUB's
// gfxpayload, or UEFI GOP), from the multiboot2 framebuffer tag.
func BootFramebuffer() (Framebuffer, error) {
	var r rawFB
	_, _, errno := syscall.RawSyscall(sysFB, 0, uintptr(unsafe.Pointer(&r)), unsafe.Sizeof(r))
	switch errno {
	case 0:
	case syscall.ENOSYS:
		return Framebuffer{}, ErrNotVelocity
	case syscall.ENODEV:
		return Framebuffer{}, ErrNoFramebuffer
	default:
		return Framebuffer{}, errno
	}
	return Framebuffer{Phys: r.Addr, Pitch: int(r.Pitch), Width: int(r.Width), Height: int(r.Height), BPP: int(r.BPP)}, nil
}

// MapDevice maps size bytes of device memory at physical address phys
// (a framebuffer) uncached into the address space and returns them. The
// kernel refuses RAM (EPERM) and maps a range once: mapping it again
// returns the same memory. The mapping lasts as long as the program.
func MapDevice(phys uint64, size int) ([]byte, error) {
	if size <= 0 {
		return nil, syscall.EINVAL
	}
	va, _, errno := syscall.RawSyscall(sysFB, 1, uintptr(phys), uintptr(size))
	switch errno {
	case 0:
	case syscall.ENOSYS:
		return nil, ErrNotVelocity
	default:
		return nil, errno
	}
	// The memory is not Go's: the GC neither scans nor moves it.
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&va))), size), nil
}
