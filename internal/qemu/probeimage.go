package qemu

import (
	"encoding/binary"
	"fmt"
)

// ProbeImage returns a tiny flat guest that QEMU (-kernel, multiboot1) and
// GRUB (multiboot2) can both load. It enters long mode the same way the
// Velocity stub does, writes msg to COM1 and exits through isa-debug-exit
// with code. Entering long mode matters: nested KVM has been seen to hang
// right there, and the accelerator probe must catch that.
//
// Layout (loaded at 1 MiB):
//
//	0x000 multiboot1 header (a.out kludge: explicit load addresses)
//	0x020 multiboot2 header with address and entry tags
//	0x100 32-bit entry       0x180 64-bit code
//	0x300 GDT, 0x310 GDTR    0x400 msg
//	0x1000-0x4000 page tables (BSS)
func ProbeImage(msg string, code byte) ([]byte, error) {
	const (
		// Page tables: pml4 = base+0x1000, pdpt = base+0x2000,
		// pd = base+0x3000, encoded in code32 below.
		base     = 0x100000
		entry    = base + 0x100
		long     = base + 0x180
		gdt      = base + 0x300
		gdtr     = base + 0x310
		msgOff   = 0x400
		fileSize = 0x1000
		bssEnd   = base + 0x4000
	)
	if len(msg) > fileSize-msgOff {
		return nil, fmt.Errorf("probe message too long (%d bytes)", len(msg))
	}
	img := make([]byte, fileSize)
	le := binary.LittleEndian
	checksum := func(sum uint32) uint32 { return -sum }
	put32 := func(off int, vs ...uint32) {
		for i, v := range vs {
			le.PutUint32(img[off+4*i:], v)
		}
	}

	// Multiboot1: magic, flags (bit 16: address fields valid), checksum,
	// header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr.
	const mb1Magic, mb1Flags = 0x1BADB002, 1 << 16
	put32(0x00, mb1Magic, mb1Flags, checksum(mb1Magic+mb1Flags),
		base, base, base+fileSize, bssEnd, entry)

	// Multiboot2: magic, arch 0 (i386), length, checksum; address tag
	// (type 2); entry tag (type 3, padded to 8); end tag.
	const mb2Magic, mb2Len = 0xE85250D6, 0x40
	put32(0x20, mb2Magic, 0, mb2Len, checksum(mb2Magic+mb2Len))
	put32(0x30, 2|0<<16, 24, base+0x20, base, base+fileSize, bssEnd)
	put32(0x48, 3|0<<16, 12, entry, 0)
	put32(0x58, 0, 8)

	// 32-bit entry: build identity page tables for the first GiB with 2 MiB
	// pages, enable PAE, EFER.LME and paging, and far-jump to 64-bit code.
	code32 := []byte{
		0xfa,                         // cli
		0xbf, 0x00, 0x10, 0x10, 0x00, // mov $pml4, %edi
		0x31, 0xc0, // xor %eax, %eax
		0xb9, 0x00, 0x0c, 0x00, 0x00, // mov $0xc00, %ecx (3 pages of dwords)
		0xf3, 0xab, // rep stosl
		0xc7, 0x05, 0x00, 0x10, 0x10, 0x00, 0x03, 0x20, 0x10, 0x00, // movl $pdpt|3, pml4
		0xc7, 0x05, 0x00, 0x20, 0x10, 0x00, 0x03, 0x30, 0x10, 0x00, // movl $pd|3, pdpt
		0xbf, 0x00, 0x30, 0x10, 0x00, // mov $pd, %edi
		0xb8, 0x83, 0x00, 0x00, 0x00, // mov $0x83, %eax (present|write|2MiB)
		0xb9, 0x00, 0x02, 0x00, 0x00, // mov $512, %ecx
		0x89, 0x07, // 1: mov %eax, (%edi)
		0x05, 0x00, 0x00, 0x20, 0x00, // add $0x200000, %eax
		0x83, 0xc7, 0x08, // add $8, %edi
		0xe2, 0xf4, // loop 1b
		0xb8, 0x00, 0x10, 0x10, 0x00, // mov $pml4, %eax
		0x0f, 0x22, 0xd8, // mov %eax, %cr3
		0x0f, 0x20, 0xe0, // mov %cr4, %eax
		0x83, 0xc8, 0x20, // or $CR4.PAE, %eax
		0x0f, 0x22, 0xe0, // mov %eax, %cr4
		0xb9, 0x80, 0x00, 0x00, 0xc0, // mov $EFER, %ecx
		0x0f, 0x32, // rdmsr
		0x0d, 0x00, 0x01, 0x00, 0x00, // or $EFER.LME, %eax
		0x0f, 0x30, // wrmsr
		0x0f, 0x20, 0xc0, // mov %cr0, %eax
		0x0d, 0x01, 0x00, 0x00, 0x80, // or $(CR0.PG|CR0.PE), %eax
		0x0f, 0x22, 0xc0, // mov %eax, %cr0
		0x0f, 0x01, 0x15, 0x10, 0x03, 0x10, 0x00, // lgdt gdtr
		0xea, 0x80, 0x01, 0x10, 0x00, 0x08, 0x00, // ljmp $0x08, $long
	}
	copy(img[entry-base:], code32)

	// 64-bit code: rep outsb msg to COM1, then write code to port 0xf4.
	n := uint32(len(msg))
	code64 := []byte{
		0x66, 0xba, 0xf8, 0x03, // mov $0x3f8, %dx
		0xbe, 0x00, 0x04, 0x10, 0x00, // mov $msg, %esi
		0xb9, byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24), // mov $len, %ecx
		0xf3, 0x6e, // rep outsb
		0x66, 0xba, 0xf4, 0x00, // mov $0xf4, %dx
		0xb0, code, // mov $code, %al
		0xee,       // out %al, %dx
		0xf4,       // 2: hlt
		0xeb, 0xfd, // jmp 2b
	}
	copy(img[long-base:], code64)

	// GDT: null descriptor and a 64-bit code segment; GDTR limit and base.
	binary.LittleEndian.PutUint64(img[gdt-base+8:], 0x00AF9A000000FFFF)
	binary.LittleEndian.PutUint16(img[gdtr-base:], 15)
	put32(gdtr-base+2, gdt)

	copy(img[msgOff:], msg)
	return img, nil
}
