//go:build velocity

// Velocity kernel: the whole-TLB refresh.
//
// QEMU's TCG translates guest addresses through a software TLB per CPU
// that starts at 256 entries and changes size only when the guest
// flushes it whole (accel/tcg/cputlb.c: tlb_mmu_resize_locked runs from
// the full flush): it doubles when more than 70% of its entries were in
// use since the last flush, and shrinks when fewer than 30% were over
// 100 ms. Linux flushes at every switch between processes, so its TLB
// grows to its working set. Velocity has one address space and flushed
// whole only to answer a TLB shootdown, so under TCG it ran on the first
// 256 entries, about 1 MiB of reach, and an access to Go's heap, a
// goroutine's stack or netstack's buffers beyond that reach took QEMU's
// slow path: a table walk and a refill (host profiles: QEMU's slow-path
// loads and TLB fills at 2.5 times the Linux guest's share). So each CPU
// flushes its TLB whole every tlbrefresh= milliseconds (default 200),
// from its timer tick.
//
// Why 200 and not more often: each flush is paid for again. QEMU empties
// the CPU's TLB and its jump cache (the table that maps a guest address
// to its translated code on every indirect jump and return), and both
// refill through its slow paths. Growing needs only a few flushes: the
// TLB can double at each, so from 256 entries to 8,192 takes five, and it
// shrinks only when fewer than 30% of its entries were used between two
// flushes, which a longer period makes rarer, not likelier. The default
// was 20 until 2026-12-07, when the same kernel booted with
// tlbrefresh=200 served 1.04x the new connections per second over tap
// (bench/netbench -against, 16 pairs, ahead in 11; host CPU per request
// 4% lower) and with tlbrefresh=1000 1.02x (10 of 16 ahead); once 200
// was the default, 1.085x against tlbrefresh=20 (12 of 16, host CPU per
// request 9% lower), and 0.98x to 1.08x on the kept-alive rows
// (docs/net.md, "Figures", *QEMU's software TLB*). Paired runs favour
// the guest booted second by 2% to 3%; taken both ways, 200 gains
// 1.06x over 20. 500 measured level with 200 both ways.
//
// What it costs elsewhere: on hardware and under KVM the flush is a CR3
// write and the refills after it, five times a second per CPU; Linux
// makes one at every switch between processes. tlbrefresh=0 turns it
// off.
//
// Rules: vkTLBRefresh runs in vkTimerTick, in trap context: nosplit, no
// allocation, no locks; it touches only this CPU's own vkCPU.

package runtime

import "internal/runtime/atomic"

// vkTLBRefreshNs is the refresh period (tlbrefresh=MS; 0: never). It is
// set while the command line is parsed, before a second CPU starts.
var vkTLBRefreshNs int64 = 200_000_000

// vkTLBRefreshLimit bounds tlbrefresh= (ms).
const vkTLBRefreshLimit = 1000

// vkTLBRefresh flushes this CPU's TLB whole if the refresh period has
// passed since it last did, and counts it.
//
//go:nosplit
func vkTLBRefresh(c *vkCPU, now int64) {
	if vkTLBRefreshNs == 0 || now-c.tlbRefreshed < vkTLBRefreshNs {
		return
	}
	c.tlbRefreshed = now
	vkWriteCR3(vkReadCR3())
	atomic.Xadd64(&c.tlbRefreshes, 1)
}
