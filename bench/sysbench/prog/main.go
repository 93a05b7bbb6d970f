// Command prog is the guest side of bench/sysbench: system-call
// microbenchmarks that run unchanged as a Velocity kernel and as the /init
// of a Linux guest, timed with the guest's own monotonic clock. Each
// benchmark runs SYSBENCH_REPS times (default 5) and prints every
// repetition:
//
//	SYSBENCH bench name=getpid ns=<per op> n=<ops>
//
// The calls are made with syscall.RawSyscall (so the Go scheduler adds
// nothing) except where a blocking call needs a thread of its own:
//
//   - getpid, clock_gettime (the system call, not the vDSO), futex wake
//     with no waiter;
//   - futex ping-pong: two threads pinned to CPUs 0 and 1 hand a futex word
//     back and forth (FUTEX_WAIT/FUTEX_WAKE); ns per round trip;
//   - mmap + touch + munmap of 4 KiB and of 2 MiB (every 4 KiB page
//     touched);
//   - pipe round trip: one byte over a pipe to a thread that echoes it over
//     a second pipe (blocking read and write);
//   - page-fault storm: GOMAXPROCS threads each touch every page of their
//     own 16 MiB of fresh anonymous memory; ns per fault, counting all
//     threads' faults against the wall time;
//   - epoll_wait with 1,000 idle eventfds registered and one ready
//     (level-triggered, timeout 0): what a wait costs when a server
//     holds many idle connections.
//
// On Velocity it also prints the kernel's lock counters for the whole run
// (kernel.Locks): "SYSBENCH lock name=... acquires=... contended=...".
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/velocityos/velocity/kernel"
)

const (
	futexWaitPrivate = 128
	futexWakePrivate = 129
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

var (
	reps  = envInt("SYSBENCH_REPS", 5)
	scale = envInt("SYSBENCH_SCALE", 1) // multiplies the iteration counts
)

func main() {
	fmt.Printf("SYSBENCH start numcpu=%d gomaxprocs=%d reps=%d\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), reps)
	before, lockErr := kernel.Locks()
	t0 := time.Now()

	bench("getpid", 20000, func(n int) {
		for i := 0; i < n; i++ {
			syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
		}
	})
	bench("clock_gettime", 20000, func(n int) {
		var ts syscall.Timespec
		for i := 0; i < n; i++ {
			syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0)
		}
	})
	bench("futex_wake_nowaiter", 20000, func(n int) {
		var word uint32
		for i := 0; i < n; i++ {
			syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&word)), futexWakePrivate, 1, 0, 0, 0)
		}
	})
	if runtime.NumCPU() >= 2 {
		bench("futex_pingpong", 2000, futexPingPong)
	}
	bench("mmap_touch_munmap_4k", 2000, func(n int) { mmapTouch(n, 4096) })
	bench("mmap_touch_munmap_2m", 20, func(n int) { mmapTouch(n, 2<<20) })
	bench("pipe_roundtrip", 2000, pipeRoundTrip)
	faultStorm()
	bench("epoll_wait_1000", 2000, epollWaitIdle(1000))

	if lockErr == nil {
		if after, err := kernel.Locks(); err == nil {
			for _, l := range kernel.LocksDelta(before, after) {
				fmt.Printf("SYSBENCH lock name=%s instances=%d acquires=%d contended=%d pct=%.3f wait_ns=%d\n",
					strconv.Quote(l.Name), l.Instances, l.Acquires, l.Contended, l.ContendedPercent(), l.Wait.Nanoseconds())
			}
		}
	}
	fmt.Printf("SYSBENCH done ns=%d\n", time.Since(t0).Nanoseconds())
}

// bench runs fn(n) reps times after one warm-up and prints ns per op.
func bench(name string, n int, fn func(n int)) {
	n *= scale
	fn(n / 10)
	for r := 0; r < reps; r++ {
		t := time.Now()
		fn(n)
		ns := float64(time.Since(t).Nanoseconds()) / float64(n)
		fmt.Printf("SYSBENCH bench name=%s ns=%.1f n=%d\n", name, ns, n)
	}
}

// pin locks the calling goroutine to its thread and the thread to cpu.
func pin(cpu int) error {
	runtime.LockOSThread()
	var mask [16]uint64
	mask[cpu/64] = 1 << (cpu % 64)
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
	if e != 0 {
		return e
	}
	return nil
}

func futexWait(addr *uint32, val uint32) {
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitPrivate, uintptr(val), 0, 0, 0)
}

func futexWake(addr *uint32) {
	syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakePrivate, 1, 0, 0, 0)
}

// futexPingPong: the word is 0 when it is thread A's turn and 1 for B's.
// Each side waits on the futex while it is not its turn, so every hand-off
// is a wake of a sleeping thread on the other CPU.
func futexPingPong(n int) {
	var word uint32
	var wg sync.WaitGroup
	wg.Add(2)
	side := func(cpu int, mine, next uint32) {
		defer wg.Done()
		defer runtime.UnlockOSThread()
		if err := pin(cpu); err != nil {
			fmt.Println("SYSBENCH error pin:", err)
		}
		for i := 0; i < n; i++ {
			for {
				v := atomic.LoadUint32(&word)
				if v == mine {
					break
				}
				futexWait(&word, v)
			}
			atomic.StoreUint32(&word, next)
			futexWake(&word)
		}
	}
	go side(0, 0, 1)
	go side(1, 1, 0)
	wg.Wait()
}

func mmapTouch(n, size int) {
	for i := 0; i < n; i++ {
		b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			fmt.Println("SYSBENCH error mmap:", err)
			os.Exit(1)
		}
		for j := 0; j < size; j += 4096 {
			b[j] = 1
		}
		if err := syscall.Munmap(b); err != nil {
			fmt.Println("SYSBENCH error munmap:", err)
			os.Exit(1)
		}
	}
}

// pipeRoundTrip sends one byte to an echo thread and reads it back, on
// blocking pipes (not Go's poller: raw read and write).
func pipeRoundTrip(n int) {
	var a, b [2]int
	if err := syscall.Pipe(a[:]); err != nil {
		fmt.Println("SYSBENCH error pipe:", err)
		os.Exit(1)
	}
	if err := syscall.Pipe(b[:]); err != nil {
		fmt.Println("SYSBENCH error pipe:", err)
		os.Exit(1)
	}
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		buf := make([]byte, 1)
		for i := 0; i < n; i++ {
			xfer(syscall.Read, a[0], buf)
			xfer(syscall.Write, b[1], buf)
		}
		close(done)
	}()
	runtime.LockOSThread()
	buf := []byte{7}
	for i := 0; i < n; i++ {
		xfer(syscall.Write, a[1], buf)
		xfer(syscall.Read, b[0], buf)
		if buf[0] != 7 {
			fmt.Println("SYSBENCH error pipe echo: got", buf[0])
			os.Exit(1)
		}
	}
	runtime.UnlockOSThread()
	<-done
	for _, fd := range []int{a[0], a[1], b[0], b[1]} {
		syscall.Close(fd)
	}
}

// xfer reads or writes one byte, retrying on EINTR as package os does (a
// signal such as the Go scheduler's preemption SIGURG can interrupt a
// blocking read).
func xfer(op func(int, []byte) (int, error), fd int, buf []byte) {
	for {
		k, err := op(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if k != 1 || err != nil {
			fmt.Println("SYSBENCH error pipe:", k, err)
			os.Exit(1)
		}
		return
	}
}

// faultStorm: every thread touches every page of its own fresh 16 MiB.
func faultStorm() {
	const size = 16 << 20
	procs := runtime.GOMAXPROCS(0)
	for r := 0; r < reps; r++ {
		maps := make([][]byte, procs)
		for i := range maps {
			b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
			if err != nil {
				fmt.Println("SYSBENCH error mmap:", err)
				os.Exit(1)
			}
			maps[i] = b
		}
		var wg sync.WaitGroup
		t := time.Now()
		for _, b := range maps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				for j := 0; j < len(b); j += 4096 {
					b[j] = 1
				}
			}()
		}
		wg.Wait()
		el := time.Since(t)
		faults := procs * size / 4096
		fmt.Printf("SYSBENCH bench name=fault_storm ns=%.1f n=%d threads=%d\n", float64(el.Nanoseconds())/float64(faults), faults, procs)
		for _, b := range maps {
			syscall.Munmap(b)
		}
	}
}

// epollWaitIdle registers idle eventfds and one that is ready in an
// epoll instance of its own and returns a benchmark of epoll_wait with
// timeout 0, which reports the ready one every time (level-triggered).
func epollWaitIdle(idle int) func(n int) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		panic(err)
	}
	add := func() int {
		fd, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if e != 0 {
			panic(e)
		}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
			panic(err)
		}
		return int(fd)
	}
	for range idle {
		add()
	}
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if _, err := syscall.Write(add(), one); err != nil {
		panic(err)
	}
	return func(n int) {
		var evs [8]syscall.EpollEvent
		for i := 0; i < n; i++ {
			r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), 8, 0, 0, 0)
			if e != 0 || r != 1 {
				panic(fmt.Sprintf("epoll_pwait: %d, %v; want the one ready eventfd", r, e))
			}
		}
	}
}
