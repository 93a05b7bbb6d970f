/*
 * kernel.S - a tiny 64-bit test kernel for BOOT_ND.BIN.
 *
 * Checks the hand-over state (boot info magic/version, stack, CR0/CR4/EFER,
 * SSE usable, BSS zeroed), prints what the boot info says on COM1 as
 * "key=value" lines that boot_test.go matches, and exits QEMU through
 * isa-debug-exit (port 0xf4) with code 0, or 1 on a failed check.
 */
	.set COM1, 0x3F8
	.set BI_MAGIC_VALUE, 0x544F4F424F4C4556

	.text
	.code64
	.globl	_start
_start:
	rdtsc					/* first thing: for stub_cycles */
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, %r15
	movq	%rdi, %rbx			/* boot info */
	movq	%rsp, %r14

	leaq	s_hello(%rip), %rsi
	call	puts

	movabsq	$BI_MAGIC_VALUE, %rax
	cmpq	%rax, (%rbx)
	jne	bad_magic
	cmpq	$1, 8(%rbx)
	jne	bad_magic
	leaq	s_magic(%rip), %rsi
	call	puts

	/* SSE must work: this #UDs (and the test times out) if it does not. */
	xorps	%xmm0, %xmm0
	movaps	%xmm0, sse_scratch(%rip)

	leaq	s_flags(%rip), %rsi
	movq	16(%rbx), %rax
	call	put_key_hex

	leaq	s_loader(%rip), %rsi
	call	puts
	movq	144(%rbx), %rsi
	testq	%rsi, %rsi
	jz	1f
	call	puts
1:	leaq	s_close(%rip), %rsi
	call	puts

	leaq	s_cmdline(%rip), %rsi
	call	puts
	movq	24(%rbx), %rsi
	call	puts
	leaq	s_close(%rip), %rsi
	call	puts
	leaq	s_cmdlen(%rip), %rsi
	movq	32(%rbx), %rax
	call	put_key_dec

	leaq	s_mmap(%rip), %rsi
	movq	48(%rbx), %rax
	call	put_key_dec
	/* sum of usable (type 1) RAM */
	movq	40(%rbx), %rsi
	movq	48(%rbx), %rcx
	xorl	%eax, %eax
	jrcxz	3f
2:	cmpl	$1, 16(%rsi)
	jne	4f
	addq	8(%rsi), %rax
4:	addq	$24, %rsi
	loop	2b
3:	leaq	s_usable(%rip), %rsi
	call	put_key_dec

	/* RSDP copy: check the signature */
	leaq	s_rsdp(%rip), %rsi
	call	puts
	movq	56(%rbx), %rsi
	leaq	s_none(%rip), %rdx
	testq	%rsi, %rsi
	jz	5f
	leaq	s_bad(%rip), %rdx
	movabsq	$0x2052545020445352, %rax	/* "RSD PTR " */
	cmpq	%rax, (%rsi)
	jne	5f
	leaq	s_ok(%rip), %rdx
5:	movq	%rdx, %rsi
	call	puts

	leaq	s_fb(%rip), %rsi
	movq	64(%rbx), %rax
	call	put_key_hex
	leaq	s_fbw(%rip), %rsi
	movl	76(%rbx), %eax
	call	put_key_dec

	leaq	s_elf(%rip), %rsi
	movq	88(%rbx), %rax
	call	put_key_hex
	leaq	s_elfsize(%rip), %rsi
	movq	96(%rbx), %rax
	call	put_key_dec
	leaq	s_imgstart(%rip), %rsi
	movq	104(%rbx), %rax
	call	put_key_hex
	leaq	s_imgend(%rip), %rsi
	movq	112(%rbx), %rax
	call	put_key_hex
	leaq	s_stubstart(%rip), %rsi
	movq	120(%rbx), %rax
	call	put_key_hex
	leaq	s_stubend(%rip), %rsi
	movq	128(%rbx), %rax
	call	put_key_hex

	/* stack: 16-byte aligned, inside the stub */
	leaq	s_rsp(%rip), %rsi
	movq	%r14, %rax
	call	put_key_hex
	xorl	%eax, %eax
	testq	$15, %r14
	jnz	6f
	cmpq	120(%rbx), %r14
	jbe	6f
	cmpq	128(%rbx), %r14
	ja	6f
	movl	$1, %eax
6:	leaq	s_rspok(%rip), %rsi
	call	put_key_dec

	leaq	s_cr0(%rip), %rsi
	movq	%cr0, %rax
	call	put_key_hex
	leaq	s_cr4(%rip), %rsi
	movq	%cr4, %rax
	call	put_key_hex
	leaq	s_efer(%rip), %rsi
	movl	$0xC0000080, %ecx
	rdmsr
	shlq	$32, %rdx
	orq	%rdx, %rax
	call	put_key_hex

	/* BSS must be all zero */
	leaq	__bss_start(%rip), %rdi
	leaq	__bss_end(%rip), %rcx
	subq	%rdi, %rcx
	leaq	s_bss_size(%rip), %rsi
	movq	%rcx, %rax
	call	put_key_dec
	shrq	$3, %rcx
	xorl	%eax, %eax
	cld
	repe scasq
	leaq	s_bss_zero(%rip), %rsi
	je	7f
	leaq	s_bss_dirty(%rip), %rsi
7:	call	puts

	/* timings (TSC ticks): stub entry to kernel entry; one 40 MiB clear */
	leaq	s_stubcyc(%rip), %rsi
	movq	%r15, %rax
	subq	136(%rbx), %rax
	call	put_key_dec
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, %r13
	leaq	__bss_start(%rip), %rdi
	leaq	__bss_end(%rip), %rcx
	subq	%rdi, %rcx
	shrq	$3, %rcx
	xorl	%eax, %eax
	rep stosq
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	subq	%r13, %rax
	leaq	s_bsscyc(%rip), %rsi
	call	put_key_dec

	leaq	s_done(%rip), %rsi
	call	puts
	xorl	%eax, %eax
	jmp	exit

bad_magic:
	leaq	s_badmagic(%rip), %rsi
	call	puts
	movl	$1, %eax
exit:	movw	$0xF4, %dx
	outl	%eax, %dx
1:	cli
	hlt
	jmp	1b

/* put_key_dec / put_key_hex: print the string at RSI, then RAX, then '\n'. */
put_key_dec:
	call	puts
	call	put_dec
	jmp	put_nl
put_key_hex:
	call	puts
	call	put_hex
put_nl:	movb	$'\n', %al
	jmp	putc

put_dec:
	pushq	%rax
	pushq	%rbx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	subq	$32, %rsp
	leaq	31(%rsp), %rdi
	movb	$0, (%rdi)
	movl	$10, %ebx
1:	xorl	%edx, %edx
	divq	%rbx
	addb	$'0', %dl
	decq	%rdi
	movb	%dl, (%rdi)
	testq	%rax, %rax
	jnz	1b
	movq	%rdi, %rsi
	call	puts
	addq	$32, %rsp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rbx
	popq	%rax
	ret

put_hex:
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rax
	movb	$'0', %al
	call	putc
	movb	$'x', %al
	call	putc
	popq	%rdx
	movl	$16, %ecx
1:	rolq	$4, %rdx
	movl	%edx, %eax
	andl	$15, %eax
	leaq	hexdigits(%rip), %rsi
	movb	(%rsi,%rax), %al
	call	putc
	decl	%ecx
	jnz	1b
	popq	%rsi
	popq	%rdx
	popq	%rcx
	ret

puts:
	pushq	%rax
1:	movb	(%rsi), %al
	testb	%al, %al
	jz	2f
	call	putc
	incq	%rsi
	jmp	1b
2:	popq	%rax
	ret

/* putc: AL to COM1 ('\n' as CRLF); the stub has initialised the UART. */
putc:
	pushq	%rdx
	pushq	%rax
	cmpb	$'\n', %al
	jne	1f
	movb	$'\r', %al
	call	putc
1:	movw	$COM1 + 5, %dx
2:	inb	%dx, %al
	testb	$0x20, %al
	jz	2b
	popq	%rax
	movw	$COM1, %dx
	outb	%al, %dx
	popq	%rdx
	ret

	.section .rodata
hexdigits:	.ascii	"0123456789abcdef"
s_hello:	.asciz	"VELOTEST: hello\n"
s_magic:	.asciz	"magic=ok version=1\n"
s_badmagic:	.asciz	"VELOTEST: FAIL bad boot info magic/version\n"
s_flags:	.asciz	"flags="
s_loader:	.asciz	"loader=["
s_cmdline:	.asciz	"cmdline=["
s_close:	.asciz	"]\n"
s_cmdlen:	.asciz	"cmdline_len="
s_mmap:		.asciz	"mmap_count="
s_usable:	.asciz	"usable_bytes="
s_rsdp:		.asciz	"rsdp="
s_none:		.asciz	"none\n"
s_bad:		.asciz	"bad\n"
s_ok:		.asciz	"ok\n"
s_fb:		.asciz	"fb_addr="
s_fbw:		.asciz	"fb_width="
s_elf:		.asciz	"elf="
s_elfsize:	.asciz	"elf_size="
s_imgstart:	.asciz	"image_start="
s_imgend:	.asciz	"image_end="
s_stubstart:	.asciz	"stub_start="
s_stubend:	.asciz	"stub_end="
s_rsp:		.asciz	"rsp="
s_rspok:	.asciz	"rsp_ok="
s_cr0:		.asciz	"cr0="
s_cr4:		.asciz	"cr4="
s_efer:		.asciz	"efer="
s_bss_size:	.asciz	"bss_bytes="
s_bss_zero:	.asciz	"bss=zero\n"
s_bss_dirty:	.asciz	"bss=DIRTY\n"
s_stubcyc:	.asciz	"stub_cycles="
s_bsscyc:	.asciz	"bss_clear_cycles="
s_done:		.asciz	"VELOTEST: done\n"

	.data
	.balign 16
sse_scratch:	.quad	0, 0

	.bss
	.balign 4096
bss_area:	.skip	40 * 1024 * 1024
