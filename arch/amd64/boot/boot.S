/*
 * boot.S - BOOT_ND.BIN, the Velocity boot handover stub.
 *
 * A 32-bit ELF loaded at 1 MiB by a multiboot1 loader (QEMU -kernel, the fast
 * test path) or a multiboot2 loader (GRUB, BIOS or UEFI). It normalises what
 * the loader tells it into the boot info block of docs/boot-protocol.md,
 * loads the first module (the Go kernel, an ELF64) at its p_paddr, switches
 * to long mode and jumps to the kernel's entry point.
 *
 * Assembled with plain `as --32` (no C preprocessor), linked with link.ld.
 * Register use in the 32-bit part: EBX = loader info block, EBP = loader
 * magic until parsing is done; helpers preserve every register (pushal).
 */

/* ---- constants ---------------------------------------------------------- */
	.set MB1_MAGIC,       0x1BADB002
	.set MB1_FLAGS,       0x00000003	/* bit0 page-align modules, bit1 memory info */
	.set MB1_BOOT_MAGIC,  0x2BADB002
	.set MB2_MAGIC,       0xE85250D6
	.set MB2_BOOT_MAGIC,  0x36D76289

	.set COM1,            0x3F8
	.set EXIT_PORT,       0xF4		/* QEMU isa-debug-exit */

	.set CMDLINE_MAX,     4096		/* buffer size, incl. the NUL */
	.set NAME_MAX,        128
	.set MMAP_MAX,        128
	.set MMAP_ENT,        24		/* {base u64, length u64, type u32, pad u32} */

	/* boot info field offsets (docs/boot-protocol.md) */
	.set BI_MAGIC,        0
	.set BI_VERSION,      8
	.set BI_FLAGS,        16
	.set BI_CMDLINE,      24
	.set BI_CMDLINE_LEN,  32
	.set BI_MMAP,         40
	.set BI_MMAP_COUNT,   48
	.set BI_RSDP,         56
	.set BI_FB_ADDR,      64
	.set BI_FB_PITCH,     72
	.set BI_FB_WIDTH,     76
	.set BI_FB_HEIGHT,    80
	.set BI_FB_BPP,       84
	.set BI_ELF,          88
	.set BI_ELF_SIZE,     96
	.set BI_IMAGE_START,  104
	.set BI_IMAGE_END,    112
	.set BI_STUB_START,   120
	.set BI_STUB_END,     128
	.set BI_TSC_ENTRY,    136
	.set BI_LOADER_NAME,  144
	.set BI_AP_TRAMP,     152
	.set BI_AP_TRAMP_LEN, 160
	.set BI_SIZE,         168

	.set F_MB2,  1
	.set F_MB1,  2
	.set F_RSDP, 4
	.set F_FB,   8
	.set F_CMDLINE_TRUNC, 16

	/* GDT selectors */
	.set SEL_CODE64, 0x08
	.set SEL_DATA,   0x10
	.set SEL_CODE32, 0x18

/*
 * FAILIF cc, "text": if condition cc holds, report "BOOT_ND: text" and stop.
 * The cold path and the message live in other sections so the straight-line
 * code stays readable and the hot path has a single not-taken branch.
 */
.macro FAILIF cc, text
	j\cc	.Lfail\@
	.pushsection .text.cold, "ax"
.Lfail\@:
	movl	$.Lmsg\@, %esi
	jmp	fail
	.popsection
	.pushsection .rodata
.Lmsg\@: .asciz	"\text"
	.popsection
.endm

.macro FAIL text
	FAILIF	mp, "\text"
.endm

/* ---- loader headers: must be the first bytes of the image --------------- */
	.section .multiboot, "a"

	/* multiboot2: searched for on 8-byte boundaries in the first 32 KiB. */
	.balign 8
mb2_header:
	.long	MB2_MAGIC
	.long	0				/* architecture: i386 protected mode */
	.long	mb2_header_end - mb2_header
	.long	0x100000000 - (MB2_MAGIC + (mb2_header_end - mb2_header))
	/* Information request, flagged optional so that a loader which cannot
	 * supply a tag still boots us; GRUB sends most of these anyway. */
	.balign 8
mb2_info_req:
	.word	1, 1
	.long	mb2_info_req_end - mb2_info_req
	.long	1, 2, 3, 6, 8, 14, 15		/* cmdline, name, module, mmap, fb, ACPI */
mb2_info_req_end:
	/* Module alignment: page-aligned modules (GRUB does it anyway). */
	.balign 8
	.word	6, 0
	.long	8
	/* Framebuffer tag, optional, no preferred size: it tells GRUB under
	 * BIOS that we accept a graphics mode. GRUB's multiboot2 command then
	 * sets gfxpayload=auto, and the gfxpayload in force at boot decides:
	 * velocity image sets it after multiboot2, to text for serial-only
	 * images (VGA text, as without the tag) and WxHx32 for -gfx. */
	.balign 8
	.word	5, 1
	.long	20
	.long	0, 0, 32
	/* End tag. No EFI boot-services tag: GRUB must exit boot services and
	 * enter us in 32-bit protected mode like on BIOS. */
	.balign 8
	.word	0, 0
	.long	8
mb2_header_end:

	/* multiboot1: searched for on 4-byte boundaries in the first 8 KiB.
	 * Without flag 16 the loader uses our ELF program headers. */
	.balign 4
mb1_header:
	.long	MB1_MAGIC
	.long	MB1_FLAGS
	.long	0x100000000 - (MB1_MAGIC + MB1_FLAGS)

/* ---- 32-bit entry -------------------------------------------------------- */
	.text
	.code32
	.globl	_start
_start:
	/* EAX = loader magic, EBX = loader info. Keep the magic in EBP since
	 * RDTSC clobbers EAX; the timestamp goes straight into the boot info,
	 * which lives in .data and so is not touched by the .bss clear below. */
	movl	%eax, %ebp
	rdtsc
	movl	%eax, bootinfo + BI_TSC_ENTRY
	movl	%edx, bootinfo + BI_TSC_ENTRY + 4
	cli
	cld
	movl	$stack_top, %esp

	/* Our own GDT and segments: multiboot leaves GDTR undefined. */
	lgdt	gdt_ptr
	ljmp	$SEL_CODE32, $1f
1:	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %fs
	movl	%eax, %gs
	movl	%eax, %ss

	/* Loaders zero .bss, but do not rely on it: it holds the page tables.
	 * (Nothing is on the stack yet, so clearing it is harmless.) */
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	shrl	$2, %ecx
	xorl	%eax, %eax
	rep stosl

	call	setup_idt
	call	serial_init

	cmpl	$MB1_BOOT_MAGIC, %ebp
	je	1f
	cmpl	$MB2_BOOT_MAGIC, %ebp
	FAILIF	ne, "not started by a multiboot loader (bad magic in EAX)"
	call	parse_mb2
	jmp	2f
1:	call	parse_mb1
2:
	call	check_cpu
	cmpl	$0, bootinfo + BI_RSDP
	jne	1f
	call	scan_rsdp
1:
	cmpl	$0, bootinfo + BI_MMAP_COUNT
	FAILIF	e, "the boot loader passed no memory map"
	cmpl	$0, elf_set
	FAILIF	e, "no kernel module: load the kernel ELF as the first module (-initrd kernel.elf / module2)"

	call	check_elf
	call	place_module

	/* Hand-over values the 64-bit part needs. */
	movl	elf_addr, %eax
	movl	%eax, bootinfo + BI_ELF
	movl	elf_size, %eax
	movl	%eax, bootinfo + BI_ELF_SIZE

	call	setup_paging
	/* CR4: PAE for long mode, OSFXSR|OSXMMEXCPT so SSE works in the kernel. */
	movl	%cr4, %eax
	orl	$((1 << 5) | (1 << 9) | (1 << 10)), %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	/* EFER: LME, plus NXE when the CPU has NX (setting it otherwise #GPs). */
	movl	$0xC0000080, %ecx
	rdmsr
	orl	$(1 << 8), %eax
	orl	has_nx, %eax
	wrmsr
	/* CR0: PG|WP|MP|PE set; EM (x87 emulation), NW, CD clear. */
	movl	%cr0, %eax
	andl	$~((1 << 2) | (1 << 29) | (1 << 30)), %eax
	orl	$((1 << 31) | (1 << 16) | (1 << 1) | 1), %eax
	movl	%eax, %cr0
	/* Now in compatibility mode; a far jump to a 64-bit code segment
	 * completes the switch. */
	ljmp	$SEL_CODE64, $long_mode

/* ---- failure path -------------------------------------------------------- */
/* fail: ESI = message. Prints "BOOT_ND: <msg>" on COM1 and VGA text, exits
 * QEMU with code 3 (status 7), else halts forever with interrupts off. */
fail:
	cli
	movl	$stack_top, %esp		/* may come from an exception */
	movl	vga_base, %edi
	movl	%edi, vga_cur			/* from now on putc also writes VGA */
	testl	%edi, %edi
	jz	1f
	movl	$0x4F204F20, %eax		/* clear row 0: white on red */
	movl	$40, %ecx
	rep stosl
1:	pushl	%esi
	movl	$msg_prefix, %esi
	call	puts
	popl	%esi
	call	puts
	movl	$msg_crlf, %esi
	call	puts
	movl	$3, %eax
	movw	$EXIT_PORT, %dx
	outl	%eax, %dx
2:	cli
	hlt
	jmp	2b

/* Any CPU exception in the stub (there should be none) ends up here rather
 * than in a triple fault. */
exception:
	FAIL	"unexpected CPU exception in the boot stub"

setup_idt:
	pushal
	movl	$idt, %edi
	movl	$exception, %eax
	movl	$32, %ecx
1:	movw	%ax, (%edi)			/* offset 15:0 */
	movw	$SEL_CODE32, 2(%edi)
	movl	%eax, %edx
	movw	$0x8E00, %dx			/* present, DPL0, 32-bit interrupt gate */
	movl	%edx, 4(%edi)			/* offset 31:16 */
	addl	$8, %edi
	loop	1b
	lidt	idt_ptr
	popal
	ret

/* ---- COM1 and VGA output ------------------------------------------------- */
serial_init:
	pushal
	movw	$COM1 + 1, %dx
	xorb	%al, %al
	outb	%al, %dx			/* IER: no interrupts */
	movw	$COM1 + 3, %dx
	movb	$0x80, %al
	outb	%al, %dx			/* LCR: DLAB on */
	movw	$COM1, %dx
	movb	$1, %al
	outb	%al, %dx			/* divisor 1 = 115200 baud */
	movw	$COM1 + 1, %dx
	xorb	%al, %al
	outb	%al, %dx
	movw	$COM1 + 3, %dx
	movb	$0x03, %al
	outb	%al, %dx			/* LCR: 8N1, DLAB off */
	movw	$COM1 + 2, %dx
	movb	$0xC7, %al
	outb	%al, %dx			/* FCR: enable and clear FIFOs */
	movw	$COM1 + 4, %dx
	movb	$0x03, %al
	outb	%al, %dx			/* MCR: DTR|RTS */
	popal
	ret

/* putc: AL to COM1 (bounded wait: a missing UART reads 0xFF and cannot hang
 * us) and, if there is a text screen, to the next VGA cell. '\n' -> CRLF on
 * serial only. */
putc:
	pushal
	movb	%al, %bl
	movw	$COM1 + 5, %dx
	movl	$100000, %ecx
1:	inb	%dx, %al
	testb	$0x20, %al			/* LSR.THRE */
	jnz	2f
	pause
	loop	1b
2:	movb	%bl, %al
	movw	$COM1, %dx
	outb	%al, %dx
	cmpb	$' ', %bl
	jb	3f
	movl	vga_cur, %edi
	testl	%edi, %edi
	jz	3f
	movb	%bl, (%edi)
	movb	$0x4F, 1(%edi)
	addl	$2, %edi
	movl	%edi, vga_cur
3:	popal
	ret

/* puts: NUL-terminated string at ESI. */
puts:
	pushal
1:	lodsb
	testb	%al, %al
	jz	2f
	cmpb	$'\n', %al
	jne	3f
	movb	$'\r', %al
	call	putc
	movb	$'\n', %al
3:	call	putc
	jmp	1b
2:	popal
	ret

/* ---- loader info parsing ------------------------------------------------- */
/* Everything we keep is copied into the stub: the loader's structures may
 * lie where the kernel is about to be loaded. */

parse_mb1:
	pushal
	orl	$F_MB1, bootinfo + BI_FLAGS
	testl	$(1 << 2), (%ebx)		/* cmdline */
	jz	1f
	/* QEMU (and GRUB's multiboot1) put the kernel path first: drop it. */
	movl	16(%ebx), %esi
2:	cmpb	$' ', (%esi)
	jne	3f
	incl	%esi
	jmp	2b
3:	movb	(%esi), %al
	testb	%al, %al
	jz	5f
	cmpb	$' ', %al
	je	4f
	incl	%esi
	jmp	3b
4:	cmpb	$' ', (%esi)
	jne	5f
	incl	%esi
	jmp	4b
5:	call	save_cmdline
1:
	testl	$(1 << 9), (%ebx)		/* boot loader name */
	jz	1f
	movl	64(%ebx), %esi
	call	save_loader_name
1:
	testl	$(1 << 6), (%ebx)		/* full memory map */
	jz	3f
	movl	48(%ebx), %esi			/* mmap_addr */
	movl	44(%ebx), %edi			/* mmap_length */
	addl	%esi, %edi
2:	leal	24(%esi), %eax
	cmpl	%edi, %eax			/* whole entry inside the buffer? */
	ja	1f
	leal	4(%esi), %eax			/* {base, length} after the size field */
	movl	20(%esi), %edx			/* type */
	call	mmap_add
	movl	(%esi), %eax
	leal	4(%esi,%eax), %esi		/* size does not count itself */
	jmp	2b
3:	testl	$1, (%ebx)			/* only mem_lower/mem_upper (KiB) */
	jz	1f
	subl	$16, %esp
	movl	4(%ebx), %eax
	shll	$10, %eax
	movl	$0, (%esp)
	movl	$0, 4(%esp)
	movl	%eax, 8(%esp)
	movl	$0, 12(%esp)
	movl	%esp, %eax
	movl	$1, %edx
	call	mmap_add
	movl	8(%ebx), %eax
	shll	$10, %eax
	movl	$0x100000, (%esp)
	movl	%eax, 8(%esp)
	movl	%esp, %eax
	call	mmap_add
	addl	$16, %esp
1:
	testl	$(1 << 3), (%ebx)		/* modules */
	jz	1f
	cmpl	$0, 20(%ebx)
	je	1f
	movl	24(%ebx), %esi
	movl	(%esi), %eax
	movl	4(%esi), %edx
	call	set_module
1:
	testl	$(1 << 12), (%ebx)		/* framebuffer */
	jz	1f
	leal	88(%ebx), %esi
	call	set_fb
1:	popal
	ret

parse_mb2:
	pushal
	orl	$F_MB2, bootinfo + BI_FLAGS
	movl	(%ebx), %edi			/* total_size */
	addl	%ebx, %edi			/* end of the info block */
	leal	8(%ebx), %esi			/* first tag */
.Ltag:
	leal	8(%esi), %eax
	cmpl	%edi, %eax
	ja	.Ltags_done
	movl	(%esi), %eax			/* type */
	movl	4(%esi), %ecx			/* size */
	testl	%eax, %eax
	jz	.Ltags_done			/* end tag */
	cmpl	$8, %ecx
	jb	.Ltags_done			/* malformed: stop rather than loop */
	pushl	%esi
	cmpl	$1, %eax
	je	.Lt_cmdline
	cmpl	$2, %eax
	je	.Lt_name
	cmpl	$3, %eax
	je	.Lt_module
	cmpl	$6, %eax
	je	.Lt_mmap
	cmpl	$8, %eax
	je	.Lt_fb
	cmpl	$14, %eax
	je	.Lt_acpi_old
	cmpl	$15, %eax
	je	.Lt_acpi_new
	cmpl	$11, %eax			/* EFI 32/64-bit system table: */
	je	.Lt_efi
	cmpl	$12, %eax
	je	.Lt_efi
	jmp	.Lt_next
.Lt_efi:					/* UEFI, so no VGA text screen */
	movl	$0, vga_base
	jmp	.Lt_next
.Lt_cmdline:
	addl	$8, %esi
	call	save_cmdline
	jmp	.Lt_next
.Lt_name:
	addl	$8, %esi
	call	save_loader_name
	jmp	.Lt_next
.Lt_module:
	movl	8(%esi), %eax
	movl	12(%esi), %edx
	call	set_module
	jmp	.Lt_next
.Lt_mmap:
	movl	8(%esi), %ebp			/* entry_size */
	cmpl	$24, %ebp
	jb	.Lt_next
	leal	(%esi,%ecx), %ebx		/* end of tag */
	addl	$16, %esi
1:	leal	24(%esi), %eax
	cmpl	%ebx, %eax
	ja	.Lt_next
	movl	%esi, %eax
	movl	16(%esi), %edx
	call	mmap_add
	addl	%ebp, %esi
	jmp	1b
.Lt_fb:
	addl	$8, %esi
	call	set_fb
	jmp	.Lt_next
.Lt_acpi_old:					/* RSDP v1: 20 bytes */
	cmpl	$36, rsdp_len			/* a v2 copy wins */
	je	.Lt_next
	addl	$8, %esi
	movl	$20, %ecx
	call	save_rsdp
	jmp	.Lt_next
.Lt_acpi_new:					/* RSDP v2: 36 bytes */
	addl	$8, %esi
	movl	$36, %ecx
	call	save_rsdp
.Lt_next:
	popl	%esi
	movl	4(%esi), %ecx
	leal	7(%esi,%ecx), %esi		/* tags are 8-byte aligned */
	andl	$~7, %esi
	jmp	.Ltag
.Ltags_done:
	popal
	ret

/* save_cmdline: copy the string at ESI into cmdline_buf (truncating, with a
 * warning, past CMDLINE_MAX - 1 bytes). */
save_cmdline:
	pushal
	movl	$cmdline_buf, %edi
	movl	$CMDLINE_MAX - 1, %ecx
	call	strlcpy
	movl	%eax, bootinfo + BI_CMDLINE_LEN
	jnc	1f
	/* The kernel refuses a cut-off command line: booting with half the
	   arguments would be worse than not booting. */
	orl	$F_CMDLINE_TRUNC, bootinfo + BI_FLAGS
1:	popal
	ret

save_loader_name:
	pushal
	movl	$loader_buf, %edi
	movl	$NAME_MAX - 1, %ecx
	call	strlcpy
	movl	$loader_buf, bootinfo + BI_LOADER_NAME
	popal
	ret

/* strlcpy: copy at most ECX bytes of the string at ESI to EDI and terminate.
 * Returns EAX = bytes copied, CF set if the source was longer. */
strlcpy:
	xorl	%eax, %eax
1:	cmpl	%ecx, %eax
	je	2f
	movb	(%esi,%eax), %dl
	movb	%dl, (%edi,%eax)
	testb	%dl, %dl
	jz	3f
	incl	%eax
	jmp	1b
2:	movb	$0, (%edi,%eax)
	cmpb	$0, (%esi,%eax)
	je	3f
	stc
	ret
3:	clc
	ret

/* mmap_add: EAX -> {base u64, length u64}, EDX = type. Empty entries are
 * dropped; past MMAP_MAX entries the rest are ignored. */
mmap_add:
	pushal
	movl	%eax, %esi
	movl	8(%esi), %eax
	orl	12(%esi), %eax
	jz	1f
	movl	bootinfo + BI_MMAP_COUNT, %ecx
	cmpl	$MMAP_MAX, %ecx
	jae	1f
	imull	$MMAP_ENT, %ecx, %edi
	addl	$mmap_buf, %edi
	movl	$4, %ecx
	rep movsl
	movl	%edx, (%edi)
	movl	$0, 4(%edi)
	incl	bootinfo + BI_MMAP_COUNT
1:	popal
	ret

/* set_module: EAX = start, EDX = end of a module; only the first counts. */
set_module:
	cmpl	$0, elf_set
	jne	1f
	movl	$1, elf_set
	movl	%eax, elf_addr
	subl	%eax, %edx
	jae	2f
	xorl	%edx, %edx			/* end < start: treat as empty */
2:	movl	%edx, elf_size
1:	ret

/* set_fb: ESI -> {addr u64, pitch u32, width u32, height u32, bpp u8,
 * type u8}, the common layout of multiboot1 (offset 88) and the multiboot2
 * tag (offset 8). Only direct-RGB framebuffers are reported to the kernel;
 * EGA text (type 2) just tells us where to print errors. */
set_fb:
	pushal
	movzbl	21(%esi), %eax			/* type */
	cmpl	$2, %eax
	jne	1f
	xorl	%edx, %edx
	cmpl	$0, 4(%esi)
	jne	2f
	movl	(%esi), %edx
2:	movl	%edx, vga_base
	jmp	3f
1:	movl	$0, vga_base			/* graphics mode: no text screen */
	cmpl	$1, %eax
	jne	3f
	movl	(%esi), %eax
	movl	%eax, bootinfo + BI_FB_ADDR
	movl	4(%esi), %eax
	movl	%eax, bootinfo + BI_FB_ADDR + 4
	movl	8(%esi), %eax
	movl	%eax, bootinfo + BI_FB_PITCH
	movl	12(%esi), %eax
	movl	%eax, bootinfo + BI_FB_WIDTH
	movl	16(%esi), %eax
	movl	%eax, bootinfo + BI_FB_HEIGHT
	movzbl	20(%esi), %eax
	movl	%eax, bootinfo + BI_FB_BPP
	orl	$F_FB, bootinfo + BI_FLAGS
3:	popal
	ret

/* save_rsdp: copy ECX bytes at ESI into rsdp_buf and publish it. */
save_rsdp:
	pushal
	movl	%ecx, rsdp_len
	movl	$rsdp_buf, %edi
	rep movsb
	movl	$rsdp_buf, bootinfo + BI_RSDP
	orl	$F_RSDP, bootinfo + BI_FLAGS
	popal
	ret

/* scan_rsdp: no loader tag (multiboot1): look for "RSD PTR " on 16-byte
 * boundaries in the first KiB of the EBDA and in 0xE0000-0xFFFFF, as ACPI
 * specifies for BIOS systems. A checksum guards against stray matches. */
scan_rsdp:
	pushal
	movzwl	0x40E, %esi			/* EBDA segment from the BDA */
	shll	$4, %esi
	cmpl	$0x80000, %esi			/* sane EBDA: 512-640 KiB */
	jb	1f
	cmpl	$0xA0000, %esi
	jae	1f
	leal	1024(%esi), %edi
	call	scan_range
	jnc	2f
1:	movl	$0xE0000, %esi
	movl	$0x100000, %edi
	call	scan_range
	jc	3f
2:	movl	$20, %ecx
	cmpb	$2, 15(%esi)			/* revision >= 2: 36-byte RSDP */
	jb	4f
	movl	$36, %ecx
4:	call	save_rsdp
3:	popal
	ret

/* scan_range: ESI..EDI; returns ESI = RSDP and CF clear, or CF set. */
scan_range:
1:	cmpl	%edi, %esi
	jae	3f
	cmpl	$0x20445352, (%esi)		/* "RSD " */
	jne	2f
	cmpl	$0x20525450, 4(%esi)		/* "PTR " */
	jne	2f
	xorl	%eax, %eax
	xorl	%ecx, %ecx
4:	addb	(%esi,%ecx), %al
	incl	%ecx
	cmpl	$20, %ecx
	jb	4b
	testb	%al, %al
	jz	5f
2:	addl	$16, %esi
	jmp	1b
3:	stc
	ret
5:	clc
	ret

/* ---- CPU check ----------------------------------------------------------- */
check_cpu:
	pushal
	/* CPUID exists iff EFLAGS.ID can be toggled. */
	pushfl
	popl	%eax
	movl	%eax, %ecx
	xorl	$(1 << 21), %eax
	pushl	%eax
	popfl
	pushfl
	popl	%eax
	pushl	%ecx
	popfl
	xorl	%ecx, %eax
	testl	$(1 << 21), %eax
	FAILIF	z, "CPU has no CPUID instruction: a 64-bit (x86-64) CPU is required"
	movl	$0x80000000, %eax
	cpuid
	cmpl	$0x80000001, %eax
	FAILIF	b, "CPU does not support 64-bit long mode (x86-64)"
	movl	$0x80000001, %eax
	cpuid
	testl	$(1 << 29), %edx		/* LM */
	FAILIF	z, "CPU does not support 64-bit long mode (x86-64)"
	andl	$(1 << 20), %edx		/* NX: becomes EFER.NXE (bit 11) */
	shrl	$9, %edx
	movl	%edx, has_nx
	movl	$1, %eax
	cpuid
	testl	$(1 << 6), %edx			/* PAE */
	FAILIF	z, "CPU does not support PAE"
	popal
	ret

/* ---- kernel ELF validation ----------------------------------------------- */
/* range_usable: is [EAX, EDX) covered by type-1 memory map entries (possibly
 * several adjacent ones)? CF clear if so. Requires EDX < 4 GiB. */
range_usable:
	pushal
.Lru_again:
	cmpl	%edx, %eax
	jae	.Lru_yes
	movl	$mmap_buf, %esi
	movl	bootinfo + BI_MMAP_COUNT, %ecx
	testl	%ecx, %ecx
	jz	.Lru_no
.Lru_scan:
	cmpl	$1, 16(%esi)			/* usable RAM */
	jne	.Lru_next
	cmpl	$0, 4(%esi)			/* base >= 4 GiB */
	jne	.Lru_next
	cmpl	(%esi), %eax			/* a < base */
	jb	.Lru_next
	movl	(%esi), %edi
	movl	4(%esi), %ebp
	addl	8(%esi), %edi
	adcl	12(%esi), %ebp			/* EBP:EDI = end of the entry */
	testl	%ebp, %ebp
	jnz	.Lru_yes			/* reaches past 4 GiB, so past EDX */
	cmpl	%edi, %eax
	jae	.Lru_next
	movl	%edi, %eax			/* covered up to here; continue */
	jmp	.Lru_again
.Lru_next:
	addl	$MMAP_ENT, %esi
	loop	.Lru_scan
.Lru_no:
	popal
	stc
	ret
.Lru_yes:
	popal
	clc
	ret

/* check_elf: validate the module as an ELF64 x86-64 executable whose
 * PT_LOAD segments fit in usable RAM below 4 GiB and miss the stub; compute
 * image_start/image_end. Offsets are those of Elf64_Ehdr/Elf64_Phdr. */
check_elf:
	pushal
	movl	elf_addr, %esi
	movl	elf_size, %ecx
	cmpl	$4, %ecx
	FAILIF	b, "kernel ELF is truncated (smaller than an ELF header)"
	cmpl	$0x464C457F, (%esi)		/* "\177ELF" */
	FAILIF	ne, "kernel module is not an ELF file (bad magic)"
	cmpl	$64, %ecx
	FAILIF	b, "kernel ELF is truncated (smaller than an ELF header)"
	cmpb	$2, 4(%esi)
	FAILIF	ne, "kernel ELF is not 64-bit (ELFCLASS64 required)"
	cmpb	$1, 5(%esi)
	FAILIF	ne, "kernel ELF is not little-endian"
	cmpw	$62, 18(%esi)
	FAILIF	ne, "kernel ELF is not for x86-64 (e_machine != EM_X86_64)"
	cmpw	$2, 16(%esi)
	FAILIF	ne, "kernel ELF is not an executable (e_type != ET_EXEC)"
	movzwl	54(%esi), %ebx			/* e_phentsize */
	cmpl	$56, %ebx
	FAILIF	b, "kernel ELF has a bad program header size"
	movzwl	56(%esi), %ebp			/* e_phnum */
	testl	%ebp, %ebp
	FAILIF	z, "kernel ELF has no loadable (PT_LOAD) segments"
	cmpl	$0, 36(%esi)			/* e_phoff >= 4 GiB */
	FAILIF	ne, "kernel ELF is truncated (program headers past end of file)"
	movl	%ebx, %eax
	mull	%ebp				/* < 2^32: both are 16-bit */
	addl	32(%esi), %eax
	FAILIF	c, "kernel ELF is truncated (program headers past end of file)"
	cmpl	%ecx, %eax
	FAILIF	a, "kernel ELF is truncated (program headers past end of file)"

	movl	32(%esi), %edi
	addl	%esi, %edi			/* EDI = first program header */
	movl	$0xFFFFFFFF, img_lo
	movl	$0, img_hi
	movl	$0, nload
.Lph:
	cmpl	$1, (%edi)			/* PT_LOAD */
	jne	.Lph_next
	/* file bytes inside the file */
	movl	12(%edi), %eax
	orl	36(%edi), %eax
	FAILIF	nz, "kernel ELF is truncated (segment data past end of file)"
	movl	8(%edi), %eax			/* p_offset */
	addl	32(%edi), %eax			/* + p_filesz */
	FAILIF	c, "kernel ELF is truncated (segment data past end of file)"
	cmpl	elf_size, %eax
	FAILIF	a, "kernel ELF is truncated (segment data past end of file)"
	cmpl	$0, 44(%edi)			/* p_memsz >= 4 GiB */
	FAILIF	ne, "kernel ELF segment lies outside usable RAM"
	movl	32(%edi), %eax
	cmpl	40(%edi), %eax
	FAILIF	a, "kernel ELF segment has p_filesz > p_memsz"
	cmpl	$0, 40(%edi)
	je	.Lph_next			/* empty: nothing to load */
	/* memory range: below 4 GiB, in usable RAM, clear of the stub */
	cmpl	$0, 28(%edi)
	FAILIF	ne, "kernel ELF segment lies outside usable RAM"
	movl	24(%edi), %eax			/* p_paddr */
	movl	%eax, %edx
	addl	40(%edi), %edx			/* + p_memsz */
	FAILIF	c, "kernel ELF segment lies outside usable RAM"
	call	range_usable
	FAILIF	c, "kernel ELF segment lies outside usable RAM"
	cmpl	$__stub_end, %eax
	jae	1f
	cmpl	$__stub_start, %edx
	FAILIF	a, "kernel ELF segment overlaps the boot stub"
1:	cmpl	img_lo, %eax
	jae	2f
	movl	%eax, img_lo
2:	cmpl	img_hi, %edx
	jbe	3f
	movl	%edx, img_hi
3:	incl	nload
.Lph_next:
	addl	%ebx, %edi
	decl	%ebp
	jnz	.Lph

	cmpl	$0, nload
	FAILIF	e, "kernel ELF has no loadable (PT_LOAD) segments"
	cmpl	$0, 28(%esi)			/* e_entry below 4 GiB ... */
	FAILIF	ne, "kernel ELF entry point is outside its loaded segments"
	movl	24(%esi), %eax
	cmpl	img_lo, %eax			/* ... and inside the image */
	FAILIF	b, "kernel ELF entry point is outside its loaded segments"
	cmpl	img_hi, %eax
	FAILIF	ae, "kernel ELF entry point is outside its loaded segments"

	movl	img_lo, %eax
	andl	$~0xFFF, %eax
	movl	%eax, bootinfo + BI_IMAGE_START
	movl	img_hi, %eax
	addl	$0xFFF, %eax
	andl	$~0xFFF, %eax
	movl	%eax, bootinfo + BI_IMAGE_END
	popal
	ret

/* place_module: if the module overlaps [image_start, image_end) it would be
 * overwritten while loading, so it moves to the first page above both the
 * image and the stub. The copy itself is done in 64-bit mode (rep movsq). */
place_module:
	pushal
	movl	elf_addr, %eax
	movl	%eax, %edx
	addl	elf_size, %edx
	cmpl	bootinfo + BI_IMAGE_END, %eax
	jae	1f
	cmpl	bootinfo + BI_IMAGE_START, %edx
	jbe	1f
	movl	bootinfo + BI_IMAGE_END, %eax
	cmpl	$__stub_end, %eax
	jae	2f
	movl	$__stub_end, %eax
2:	movl	elf_size, %edx
	addl	$0xFFF, %edx
	andl	$~0xFFF, %edx			/* room for the 8-byte-rounded copy */
	addl	%eax, %edx
	FAILIF	c, "no usable RAM to move the kernel module out of its load range"
	call	range_usable
	FAILIF	c, "no usable RAM to move the kernel module out of its load range"
	movl	elf_addr, %ecx
	movl	%ecx, move_src
	movl	%eax, elf_addr
1:	popal
	ret

/* setup_paging: identity-map 0-4 GiB with 2 MiB pages: PML4[0] -> PDPT,
 * PDPT[0..3] -> four page directories of 512 entries each. */
setup_paging:
	pushal
	movl	$pdpt + 3, pml4			/* present | writable */
	movl	$pdpt, %edi
	movl	$pd + 3, %eax
	movl	$4, %ecx
1:	movl	%eax, (%edi)
	addl	$8, %edi
	addl	$4096, %eax
	loop	1b
	movl	$pd, %edi
	movl	$0x83, %eax			/* present | writable | 2 MiB page */
	movl	$2048, %ecx
2:	movl	%eax, (%edi)			/* high half stays 0 from .bss */
	addl	$8, %edi
	addl	$0x200000, %eax
	loop	2b
	popal
	ret

/* ---- 64-bit part: load the kernel and jump ------------------------------- */
/* Memory operands are RIP-relative (ELF32 cannot hold 64-bit absolute
 * relocations); immediates are 32-bit addresses: the stub lives below 2 GiB and
 * all memory below 4 GiB is identity mapped. The upper halves of registers
 * are undefined after the mode switch, so every 32-bit load below writes a
 * full register (32-bit ops zero-extend). */
	.code64
long_mode:
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	xorl	%eax, %eax
	movl	%eax, %fs
	movl	%eax, %gs
	movl	$stack_top, %esp
	cld

	/* Move the module if needed. Destination is above the source and may
	 * overlap it, so copy backwards; rounding the length up to 8 stays in
	 * the page-rounded room reserved by place_module. */
	movl	move_src(%rip), %esi
	testl	%esi, %esi
	jz	1f
	movl	elf_size(%rip), %ecx
	addq	$7, %rcx
	shrq	$3, %rcx
	jz	1f
	movl	elf_addr(%rip), %edi
	leaq	-8(%rsi,%rcx,8), %rsi
	leaq	-8(%rdi,%rcx,8), %rdi
	std
	rep movsq
	cld
1:
	/* Copy each PT_LOAD to p_paddr and zero its BSS tail, 8 bytes a go. */
	movl	elf_addr(%rip), %ebx
	movzwl	56(%rbx), %ebp			/* e_phnum */
	movzwl	54(%rbx), %r13d			/* e_phentsize */
	movq	32(%rbx), %r12
	addq	%rbx, %r12			/* first program header */
2:	cmpl	$1, (%r12)
	jne	3f
	movq	8(%r12), %rsi
	addq	%rbx, %rsi			/* file bytes */
	movq	24(%r12), %rdi			/* p_paddr */
	movq	32(%r12), %rdx			/* p_filesz */
	movq	%rdx, %rcx
	shrq	$3, %rcx
	rep movsq
	movq	%rdx, %rcx
	andq	$7, %rcx
	rep movsb
	movq	40(%r12), %rdx
	subq	32(%r12), %rdx			/* BSS = p_memsz - p_filesz */
	xorl	%eax, %eax
	movq	%rdx, %rcx
	shrq	$3, %rcx
	rep stosq
	movq	%rdx, %rcx
	andq	$7, %rcx
	rep stosb
3:	addq	%r13, %r12
	decl	%ebp
	jnz	2b

	movq	24(%rbx), %rax			/* e_entry */
	movl	$bootinfo, %edi
	movl	$stack_top, %esp		/* 16-byte aligned, see .bss */
	jmp	*%rax

/* ---- data ---------------------------------------------------------------- */
	.section .rodata
msg_prefix:	.asciz	"BOOT_ND: "
msg_crlf:	.asciz	"\n"

	.balign 8
gdt:
	.quad	0
	.quad	0x00AF9A000000FFFF		/* 0x08: 64-bit code */
	.quad	0x00CF92000000FFFF		/* 0x10: flat data, 4 GiB */
	.quad	0x00CF9A000000FFFF		/* 0x18: flat 32-bit code */
gdt_end:
	.balign 8
	.word	0				/* pad so the base is aligned */
gdt_ptr:
	.word	gdt_end - gdt - 1
	.long	gdt
	.balign 8
	.word	0
idt_ptr:
	.word	32 * 8 - 1
	.long	idt

	.data
	.balign 8
	.globl	bootinfo
bootinfo:					/* docs/boot-protocol.md */
	.long	0x4F4C4556, 0x544F4F42		/*   0 magic "VELOBOOT" */
	.long	1, 0				/*   8 version */
	.long	0, 0				/*  16 flags */
	.long	cmdline_buf, 0			/*  24 cmdline */
	.long	0, 0				/*  32 cmdline_len */
	.long	mmap_buf, 0			/*  40 mmap */
	.long	0, 0				/*  48 mmap_count */
	.long	0, 0				/*  56 rsdp */
	.long	0, 0				/*  64 fb_addr */
	.long	0, 0				/*  72 fb_pitch, fb_width */
	.long	0, 0				/*  80 fb_height, fb_bpp */
	.long	0, 0				/*  88 elf */
	.long	0, 0				/*  96 elf_size */
	.long	0, 0				/* 104 image_start */
	.long	0, 0				/* 112 image_end */
	.long	__stub_start, 0			/* 120 stub_start */
	.long	__stub_end, 0			/* 128 stub_end */
	.long	0, 0				/* 136 tsc_entry */
	.long	0, 0				/* 144 loader_name */
	.long	ap_tramp, 0			/* 152 ap_trampoline */
	.long	ap_tramp_end - ap_tramp, 0	/* 160 ap_trampoline_len */
	.if . - bootinfo != BI_SIZE
	.error	"boot info layout does not match docs/boot-protocol.md"
	.endif

vga_base:	.long	0xB8000			/* 0 = no VGA text screen */
vga_cur:	.long	0			/* VGA output only while failing */

	.bss
	.balign 4096
pml4:		.skip	4096
pdpt:		.skip	4096
pd:		.skip	4 * 4096
stack:		.skip	64 * 1024
stack_top:
idt:		.skip	32 * 8
cmdline_buf:	.skip	CMDLINE_MAX
mmap_buf:	.skip	MMAP_MAX * MMAP_ENT
rsdp_buf:	.skip	40
loader_buf:	.skip	NAME_MAX
rsdp_len:	.skip	4
elf_set:	.skip	4
elf_addr:	.skip	4
elf_size:	.skip	4
move_src:	.skip	4
img_lo:		.skip	4
img_hi:		.skip	4
nload:		.skip	4
has_nx:		.skip	4

/*
 * The application-processor trampoline. The kernel copies these bytes to
 * physical AP_TRAMP_BASE (0x8000), fills in the parameter block at the end,
 * and starts each AP with INIT-SIPI-SIPI (vector 0x08). An AP wakes in real
 * mode at 0800:0000; the trampoline takes it through protected mode into
 * long mode on the kernel's own page tables and jumps to the kernel's AP
 * entry with RDI = the parameter "cpu" and RSP = "stack". It is position
 * dependent: every address is computed for AP_TRAMP_BASE.
 */
	.set AP_TRAMP_BASE, 0x8000
	.section .rodata
	.balign 16
ap_tramp:
	.code16
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	(ap_gdtr - ap_tramp)
	movl	%cr0, %eax
	orl	$1, %eax			/* PE */
	movl	%eax, %cr0
	ljmpl	$0x08, $(ap_pm32 - ap_tramp + AP_TRAMP_BASE)
	.code32
ap_pm32:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	%cr4, %eax
	orl	$0x620, %eax			/* PAE | OSFXSR | OSXMMEXCPT */
	movl	%eax, %cr4
	movl	(ap_cr3 - ap_tramp + AP_TRAMP_BASE), %eax
	movl	%eax, %cr3
	movl	$0xC0000080, %ecx		/* EFER: what the BSP has */
	movl	(ap_efer - ap_tramp + AP_TRAMP_BASE), %eax
	xorl	%edx, %edx
	wrmsr
	movl	%cr0, %eax
	orl	$0x80010002, %eax		/* PG | WP | MP */
	andl	$~4, %eax			/* no EM: SSE must work */
	movl	%eax, %cr0
	ljmpl	$0x18, $(ap_lm64 - ap_tramp + AP_TRAMP_BASE)
	.code64
ap_lm64:
	movq	(ap_stack - ap_tramp + AP_TRAMP_BASE), %rsp
	movq	(ap_cpu - ap_tramp + AP_TRAMP_BASE), %rdi
	jmpq	*(ap_entry - ap_tramp + AP_TRAMP_BASE)
	.code32
	.balign 8
ap_gdt:
	.quad	0
	.quad	0x00CF9A000000FFFF		/* 0x08: 32-bit code */
	.quad	0x00CF92000000FFFF		/* 0x10: data */
	.quad	0x00AF9A000000FFFF		/* 0x18: 64-bit code */
ap_gdtr:
	.word	4 * 8 - 1
	.long	ap_gdt - ap_tramp + AP_TRAMP_BASE
	.balign 8
	/* Parameter block, written by the kernel: the last 40 bytes. */
ap_cr3:		.quad	0
ap_efer:	.quad	0
ap_stack:	.quad	0
ap_cpu:		.quad	0
ap_entry:	.quad	0
ap_tramp_end:
	.text
