// Command faults races page faults against each other and against munmap
// from every CPU at once, and checks what the kernel's lock-free fault path
// (runtime/vk_mem.go, vkHandlePageFault) promises:
//
//   - same pages: GOMAXPROCS threads, each locked to its own CPU, touch the
//     same fresh pages in the same order, so that they fault on a page at
//     the same moment. Each thread first reads its own word of the page
//     (it must be zero: the page was zero-filled and nobody else writes
//     there), writes a marker there and adds one to the page's shared
//     counter. Afterwards every page must hold every thread's marker and a
//     counter equal to the number of threads: a page filled twice (two
//     frames, one of them lost) loses writes. The kernel's count of filled
//     pages must grow by exactly the pages touched (plus what the Go
//     runtime itself faults meanwhile, a few pages at most).
//   - munmap racing faults: threads touch random pages of a mapping while
//     the main thread unmaps it. A touch that starts after munmap returned
//     must fault (a Go panic under debug.SetPanicOnFault), never reach a
//     freed frame; meanwhile the threads also fill fresh pages of a second
//     mapping, which reuse the freed frames, and check that no write
//     through a stale translation lands in them.
//   - accounting: at the end, free memory plus resident user pages is
//     back where it was after warm-up, within a small slack for new page
//     tables: the frames of the losers of a race and of unmapped pages
//     are not leaked.
//
// It prints FAULTS lines and "FAULTS ok" when every check passed, and
// exits 1 otherwise.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/velocityos/velocity/kernel"
)

var (
	rounds = flag.Int("rounds", 6, "rounds of each race")
	pages  = flag.Int("pages", 1024, "pages per mapping")
)

const pageSize = 4096

var failures atomic.Int64

func fail(format string, args ...any) {
	if failures.Add(1) <= 20 {
		fmt.Printf("FAULTS FAIL "+format+"\n", args...)
	}
}

// mmap maps n fresh pages. The mappings are not Go memory: they are
// reached through unsafe.Pointer and unmapped with the raw system call.
//
// Each is placed at an address of its own in a region nothing else maps
// (testRegion), never reused, with an unmapped page after it. Once the
// test unmaps a range, the kernel may hand it to the next mmap(nil): the
// Go runtime's (persistentalloc's chunks, where it keeps itabs, come from
// mmap(nil)), and Velocity's kernel allocates top down, so the gap just
// freed is the one it hands out. A toucher that then wrote into the range
// after munmap returned did not fault, and wrote its marker into the
// runtime's memory ("a touch after munmap returned did not fault", once
// in CI on 2026-12-06); and mapping the old range again with MAP_FIXED
// over such a chunk took an itab away (about once in 20 boots, before
// that was MAP_FIXED_NOREPLACE). The runtime's own mappings go below
// vkMmapTop, top down, and its heap above 0xc000000000, bottom up, so
// 16 TiB is far from both.
func mmap(n int) unsafe.Pointer {
	addr := nextRange
	nextRange += uintptr(n+1) * pageSize
	if !mapAt(ptrAt(addr), n) {
		fmt.Printf("FAULTS FAIL mmap: %#x is mapped already: the test's region is not its own\n", addr)
		os.Exit(1)
	}
	return ptrAt(addr)
}

// ptrAt is addr as a pointer. The memory is no Go memory (the collector
// never sees these pointers), which vet cannot know of a plain
// uintptr-to-Pointer conversion.
func ptrAt(addr uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }

// testRegion is where mmap places the test's mappings; nextRange is the
// next free address in it.
const testRegion = uintptr(16 << 40)

var nextRange = testRegion

// mapAt maps n fresh pages at addr, unless anything is mapped in that
// range: MAP_FIXED_NOREPLACE, never MAP_FIXED, which would replace what
// is there. It reports whether the range was free.
func mapAt(addr unsafe.Pointer, n int) bool {
	const mapFixedNoreplace = 0x100000
	p, _, errno := syscall.Syscall6(syscall.SYS_MMAP, uintptr(addr), uintptr(n*pageSize),
		syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|mapFixedNoreplace, ^uintptr(0), 0)
	if errno == syscall.EEXIST {
		return false
	}
	if errno != 0 || p != uintptr(addr) {
		fmt.Println("FAULTS FAIL mmap at", addr, errno)
		os.Exit(1)
	}
	return true
}

func munmap(addr unsafe.Pointer, n int) {
	if _, _, errno := syscall.Syscall(syscall.SYS_MUNMAP, uintptr(addr), uintptr(n*pageSize), 0); errno != 0 {
		fmt.Println("FAULTS FAIL munmap:", errno)
		os.Exit(1)
	}
}

// word returns the i-th 64-bit word of page p of the mapping at addr.
func word(addr unsafe.Pointer, p, i int) *uint64 {
	return (*uint64)(unsafe.Add(addr, p*pageSize+i*8))
}

func marker(round, page, thread int) uint64 {
	return uint64(round)<<40 | uint64(page)<<8 | uint64(thread) | 1<<63
}

func info() kernel.Info {
	in, err := kernel.ReadInfo()
	if err != nil {
		fmt.Println("FAULTS FAIL kernel.ReadInfo:", err)
		os.Exit(1)
	}
	return in
}

// onCPUs runs f(id) on n threads at once, each locked to its own OS thread,
// released together.
func onCPUs(n int, f func(id int)) {
	var ready, done sync.WaitGroup
	var start atomic.Bool
	ready.Add(n)
	done.Add(n)
	for id := 0; id < n; id++ {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			defer done.Done()
			ready.Done()
			for !start.Load() {
			}
			f(id)
		}()
	}
	ready.Wait()
	start.Store(true)
	done.Wait()
}

// samePages is the first race: every thread faults on the same pages.
func samePages(n int) (races uint64) {
	for r := 0; r < *rounds; r++ {
		base := mmap(*pages)
		before := info()
		onCPUs(n, func(id int) {
			for p := 0; p < *pages; p++ {
				w := word(base, p, id+1)
				if v := atomic.LoadUint64(w); v != 0 {
					fail("round %d page %d thread %d: found %#x, not a zero-filled page", r, p, id, v)
				}
				atomic.StoreUint64(w, marker(r, p, id))
				atomic.AddUint64(word(base, p, 0), 1)
			}
		})
		after := info()
		for p := 0; p < *pages; p++ {
			if c := atomic.LoadUint64(word(base, p, 0)); c != uint64(n) {
				fail("round %d page %d: counter %d, want %d (writes lost: the page was filled twice?)", r, p, c, n)
			}
			for id := 0; id < n; id++ {
				if v := atomic.LoadUint64(word(base, p, id+1)); v != marker(r, p, id) {
					fail("round %d page %d thread %d: marker %#x, want %#x (write lost)", r, p, id, v, marker(r, p, id))
				}
			}
		}
		filled := after.PageFaults - before.PageFaults
		// The Go runtime's own faults meanwhile (its heap and the
		// threads' stacks growing, most in the first round) are allowed
		// for; a page filled twice would also have lost writes above.
		if filled < uint64(*pages) || filled > uint64(*pages+64+16*n) {
			fail("round %d: the kernel filled %d pages for %d touched (each must be filled exactly once)", r, filled, *pages)
		}
		races += after.FaultRaces - before.FaultRaces
		munmap(base, *pages)
	}
	return races
}

// touch writes thread id's marker into page p of base and reports whether
// it faulted (the mapping is gone).
func touch(base unsafe.Pointer, p, id, r int, fresh bool) (faulted bool) {
	defer func() {
		if e := recover(); e != nil {
			ae, ok := e.(interface{ Addr() uintptr })
			if !ok {
				panic(e)
			}
			a := ae.Addr()
			if a < uintptr(base) || a >= uintptr(base)+uintptr(*pages)*pageSize {
				fail("round %d thread %d: fault at %#x, outside the mapping %#x", r, id, a, base)
			}
			faulted = true
		}
	}()
	w := word(base, p, id+1)
	v := atomic.LoadUint64(w)
	if v != 0 && v != marker(r, p, id) || fresh && v != 0 {
		fail("round %d thread %d page %d: found %#x (a stale write, or a frame not zeroed)", r, id, p, v)
	}
	atomic.StoreUint64(w, marker(r, p, id))
	return false
}

// munmapRace is the second race: threads touch a mapping the main thread
// unmaps, and fill a second mapping's fresh pages meanwhile.
func munmapRace(n int) (faultedAfter, touchedBefore int64) {
	debug.SetPanicOnFault(true) // for the main thread; each toucher sets its own
	for r := 0; r < *rounds; r++ {
		a := mmap(*pages)
		b := mmap(*pages)
		for p := 0; p < *pages; p += 2 {
			*word(a, p, 0) = 1 // half of a resident before the race
		}
		var unmapped atomic.Bool
		var nextB, touches atomic.Int64
		// munmap after the other threads made a random number of touches:
		// a point in the race that does not depend on how fast the
		// (emulated, shared) CPUs are.
		target := int64(rand.New(rand.NewSource(int64(r))).Intn(4 * *pages))
		onCPUs(n, func(id int) {
			if id == 0 {
				for touches.Load() < target {
				}
				munmap(a, *pages)
				unmapped.Store(true)
				return
			}
			debug.SetPanicOnFault(true)
			rng := rand.New(rand.NewSource(int64(r*64 + id)))
			for {
				gone := unmapped.Load()
				if touch(a, rng.Intn(*pages), id, r, false) {
					atomic.AddInt64(&faultedAfter, 1)
					break
				}
				if gone {
					fail("round %d thread %d: a touch after munmap returned did not fault", r, id)
					break
				}
				atomic.AddInt64(&touchedBefore, 1)
				touches.Add(1)
				if p := int(nextB.Add(1)) - 1; p < *pages {
					touch(b, p, id, r, true)
				}
			}
		})
		// Every page of b was touched by one thread at most: what it holds
		// is that thread's marker or zero, nothing else.
		for p := 0; p < *pages; p++ {
			for id := 0; id < n; id++ {
				if v := *word(b, p, id+1); v != 0 && v != marker(r, p, id) {
					fail("round %d: page %d of the second mapping holds %#x for thread %d (a write through a stale translation)", r, p, v, id)
				}
			}
		}
		// The old range, mapped afresh: zero everywhere. Nothing else
		// maps in the test's region, so it must be free.
		if !mapAt(a, *pages) {
			fail("round %d: the unmapped range %#x was mapped by someone else", r, a)
		} else {
			for p := 0; p < *pages; p++ {
				for i := 0; i < n+1; i++ {
					if v := *word(a, p, i); v != 0 {
						fail("round %d: page %d word %d of the mapping made again at the same address holds %#x", r, p, i, v)
					}
				}
			}
			munmap(a, *pages)
		}
		munmap(b, *pages)
	}
	return faultedAfter, touchedBefore
}

func main() {
	flag.Parse()
	n := runtime.GOMAXPROCS(0)
	fmt.Printf("FAULTS start cpus=%d threads=%d pages=%d rounds=%d\n", runtime.NumCPU(), n, *pages, *rounds)
	// Warm up: the runtime's own structures for n locked threads, the page
	// tables of the ranges used below.
	samePages(n)
	runtime.GC()
	base := info()

	races := samePages(n)
	fmt.Printf("FAULTS same_pages races=%d\n", races)
	after, before := munmapRace(n)
	fmt.Printf("FAULTS munmap_race faulted_after=%d touches_before=%d\n", after, before)
	if after == 0 {
		fail("no thread ever touched the mapping after munmap: the race did not happen")
	}

	runtime.GC()
	end := info()
	// Frames are either free or in use; of those in use, the user pages
	// are counted as resident. So free+resident stays put unless frames
	// went elsewhere: page tables for new ranges (a few), or frames lost
	// (a race's loser not freeing its frame, a munmap not freeing).
	const slack = 64 // pages
	fmt.Printf("FAULTS memory free_before=%d free_after=%d resident_before=%d resident_after=%d\n",
		base.MemFree, end.MemFree, base.Resident, end.Resident)
	if lost := int64(base.MemFree+base.Resident) - int64(end.MemFree+end.Resident); lost > slack*pageSize {
		fail("%d pages neither free nor resident after the races (at most %d expected for page tables): frames leaked", lost/pageSize, slack)
	}
	if failures.Load() != 0 {
		fmt.Printf("FAULTS failed checks=%d\n", failures.Load())
		os.Exit(1)
	}
	fmt.Println("FAULTS ok")
}
