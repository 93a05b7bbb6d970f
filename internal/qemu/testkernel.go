package qemu

import "encoding/binary"

// EchoKernel returns a minimal 64-bit kernel ELF that follows the Velocity
// boot protocol: entered in long mode with RDI pointing at the boot info, it
// writes the command line it was given and a newline to COM1, then exits
// with code. It tests the stub, GRUB images and the harness end to end
// without needing the Go kernel to work.
func EchoKernel(code byte) []byte {
	const (
		base    = 0x1000000 // 16 MiB, where Velocity kernels live
		ehSize  = 64
		phSize  = 56
		codeOff = 0x80
	)
	text := []byte{
		0x48, 0x8b, 0x77, 0x18, // mov 24(%rdi), %rsi  (boot info cmdline)
		0x48, 0x8b, 0x4f, 0x20, // mov 32(%rdi), %rcx  (cmdline_len)
		0x66, 0xba, 0xf8, 0x03, // mov $0x3f8, %dx
		0xf3, 0x6e, // rep outsb
		0xb0, 0x0a, // mov $'\n', %al
		0xee,                   // out %al, %dx
		0x66, 0xba, 0xf4, 0x00, // mov $0xf4, %dx
		0xb0, code, // mov $code, %al
		0xee,       // out %al, %dx
		0xf4,       // 1: hlt
		0xeb, 0xfd, // jmp 1b
	}
	img := make([]byte, codeOff+len(text))
	copy(img[codeOff:], text)
	le := binary.LittleEndian

	// ELF header: ELFCLASS64, little endian, ET_EXEC, EM_X86_64.
	copy(img, "\x7fELF\x02\x01\x01")
	le.PutUint16(img[16:], 2)            // e_type ET_EXEC
	le.PutUint16(img[18:], 62)           // e_machine EM_X86_64
	le.PutUint32(img[20:], 1)            // e_version
	le.PutUint64(img[24:], base+codeOff) // e_entry
	le.PutUint64(img[32:], ehSize)       // e_phoff
	le.PutUint16(img[52:], ehSize)       // e_ehsize
	le.PutUint16(img[54:], phSize)       // e_phentsize
	le.PutUint16(img[56:], 1)            // e_phnum
	le.PutUint16(img[58:], 64)           // e_shentsize (no sections)

	// One PT_LOAD, R+X, covering the whole file.
	ph := img[ehSize:]
	le.PutUint32(ph[0:], 1)                 // p_type PT_LOAD
	le.PutUint32(ph[4:], 5)                 // p_flags R|X
	le.PutUint64(ph[8:], 0)                 // p_offset
	le.PutUint64(ph[16:], base)             // p_vaddr
	le.PutUint64(ph[24:], base)             // p_paddr
	le.PutUint64(ph[32:], uint64(len(img))) // p_filesz
	le.PutUint64(ph[40:], uint64(len(img))) // p_memsz
	le.PutUint64(ph[48:], 0x1000)           // p_align
	return img
}
