// Command smpbench is the guest program of make bench's SMP section
// (bench/smpbench). It times, inside the guest, with the guest's own
// monotonic clock:
//
//   - par: a CPU-bound workload (SHA-256 of 64 KiB blocks) split over
//     GOMAXPROCS goroutines that take blocks from a shared counter, and the
//     same work on one goroutine;
//   - pingpong: round trips between two goroutines over unbuffered channels;
//   - chan: items per second through a buffered channel, one sender and one
//     receiver;
//   - tick: the wake-up lateness of a 1 kHz periodic goroutine against its
//     nominal schedule (a time.Timer re-armed for each absolute deadline
//     start+k*1ms, so each wake-up's lateness is exact; slots already missed
//     are skipped as a time.Ticker drops ticks, and counted), p50/p99/max, (a) on an idle machine, (b) with a CPU
//     hog and nothing pinned, (c) with the ticker's thread pinned to core 0
//     and the hog's pinned to the last core (runtime.LockOSThread plus
//     sched_setaffinity through syscall.RawSyscall).
//
// It is a plain Go program with no Velocity imports, so the same static
// linux/amd64 binary is both a Velocity kernel and the /init of a Linux
// guest. Results are lines "SMPBENCH <name> key=value ..."; the runner reads
// them from the serial console. SMPBENCH_MB (environment) sets the MiB
// hashed per par run; SMPBENCH_TICKS the ticks per tick scenario.
//
// It ends the machine like images/bootbench: reboot(POWER_OFF) as PID 1
// (Linux), os.Exit(0) otherwise (Velocity's isa-debug-exit).
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	t0 := time.Now()
	mb := envInt("SMPBENCH_MB", 24)
	ticks := envInt("SMPBENCH_TICKS", 2000)
	var u syscall.Utsname
	kernel := "unknown"
	if syscall.Uname(&u) == nil {
		kernel = cstr(u.Sysname[:]) + "-" + cstr(u.Release[:])
	}
	fmt.Printf("SMPBENCH start kernel=%s numcpu=%d gomaxprocs=%d\n", kernel, runtime.NumCPU(), runtime.GOMAXPROCS(0))

	// Parallel speedup: warm up once, then three timed runs each way.
	par(1, 1)
	for i := 0; i < 3; i++ {
		d := par(runtime.GOMAXPROCS(0), mb)
		fmt.Printf("SMPBENCH par run=%d workers=%d mb=%d ns=%d\n", i, runtime.GOMAXPROCS(0), mb, d.Nanoseconds())
	}
	for i := 0; i < 3 && runtime.GOMAXPROCS(0) > 1; i++ {
		d := par(1, mb)
		fmt.Printf("SMPBENCH par1 run=%d workers=1 mb=%d ns=%d\n", i, mb, d.Nanoseconds())
	}

	n := 20000
	fmt.Printf("SMPBENCH pingpong n=%d ns=%d\n", n, pingpong(n).Nanoseconds())
	m := 200000
	fmt.Printf("SMPBENCH chan n=%d ns=%d\n", m, chanThroughput(m).Nanoseconds())

	if runtime.NumCPU() >= 2 {
		for _, mode := range []string{"idle", "hog", "pinned"} {
			tick(mode, ticks)
		}
	}
	fmt.Printf("SMPBENCH done ns=%d\n", time.Since(t0).Nanoseconds())
	if os.Getpid() == 1 {
		syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	}
	os.Exit(0)
}

// par hashes mb MiB in 64 KiB blocks on workers goroutines.
func par(workers, mb int) time.Duration {
	const block = 64 << 10
	buf := make([]byte, block)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	blocks := int64(mb) * (1 << 20) / block
	var next atomic.Int64
	var wg sync.WaitGroup
	sink := make([]byte, workers)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var acc byte
			for next.Add(1) <= blocks {
				s := sha256.Sum256(buf)
				acc ^= s[0]
			}
			sink[w] = acc
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func pingpong(n int) time.Duration {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	d := time.Since(start)
	close(ping)
	return d
}

func chanThroughput(n int) time.Duration {
	c := make(chan int, 128)
	done := make(chan int)
	go func() {
		s := 0
		for v := range c {
			s += v
		}
		done <- s
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		c <- i
	}
	close(c)
	<-done
	return time.Since(start)
}

// tick measures a 1 kHz ticker's lateness in one scenario.
func tick(mode string, n int) {
	last := runtime.NumCPU() - 1
	var stop atomic.Bool
	hogReady := make(chan string, 1)
	if mode != "idle" {
		go func() {
			info := "unpinned"
			if mode == "pinned" {
				runtime.LockOSThread()
				info = pin(last)
			}
			hogReady <- info
			x := uint64(1)
			for !stop.Load() {
				for i := 0; i < 1000; i++ {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			if x == 42 {
				println()
			}
			if mode == "pinned" {
				runtime.UnlockOSThread()
			}
		}()
	} else {
		hogReady <- "none"
	}
	hogInfo := <-hogReady

	result := make(chan string)
	go func() {
		tickInfo := "unpinned"
		if mode == "pinned" {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tickInfo = pin(0)
		}
		const period = time.Millisecond
		lat := make([]time.Duration, 0, n)
		missed := 0
		timer := time.NewTimer(time.Hour)
		start := time.Now()
		next := start
		for len(lat) < n {
			next = next.Add(period)
			timer.Reset(time.Until(next))
			<-timer.C
			now := time.Now()
			late := now.Sub(next)
			lat = append(lat, late)
			if late >= period { // skip the slots already gone, like a Ticker
				skip := late / period
				missed += int(skip)
				next = next.Add(skip * period)
			}
		}
		timer.Stop()
		total := time.Since(start)
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		result <- fmt.Sprintf("ticks=%d missed=%d p50_ns=%d p99_ns=%d max_ns=%d span_ns=%d ticker=%s hog=%s cpu=%d",
			n, missed, pct(0.50).Nanoseconds(), pct(0.99).Nanoseconds(), lat[len(lat)-1].Nanoseconds(), total.Nanoseconds(), tickInfo, hogInfo, getcpu())
	}()
	r := <-result
	stop.Store(true)
	fmt.Printf("SMPBENCH tick mode=%s %s\n", mode, r)
	time.Sleep(10 * time.Millisecond) // let the hog see stop
}

// pin binds the calling thread to cpu and says what happened.
func pin(cpu int) string {
	var mask [1]uint64
	mask[0] = 1 << uint(cpu)
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask[0])))
	if e != 0 {
		return "pin" + strconv.Itoa(cpu) + "-failed:" + e.Error()
	}
	// Give the kernel a chance to move us, then check.
	runtime.Gosched()
	return "core" + strconv.Itoa(cpu) + "(on" + strconv.Itoa(getcpu()) + ")"
}

// getcpu is the CPU the calling thread runs on; -1 if the kernel won't say.
func getcpu() int {
	var cpu uint32
	_, _, e := syscall.RawSyscall(309 /* getcpu */, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	if e != 0 {
		return -1
	}
	return int(cpu)
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

func cstr(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
