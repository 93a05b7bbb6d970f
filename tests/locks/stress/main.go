// Command stress drives every kernel path that issue 13 takes off the big
// kernel lock at once, from GOMAXPROCS goroutines per workload, and checks
// every result:
//
//   - channel ping-pong between goroutine pairs (futex wait and wake across
//     CPUs) and a sync.Mutex counter under contention;
//   - sleeps of 0-2 ms (the timers), each checked to last at least as long
//     as asked;
//   - files in /tmp written, read back and compared, and pipe round trips
//     (the fd table, pipes);
//   - the fd table from every worker at once: blocking pipes whose ends
//     are dup'd (dup, F_DUPFD_CLOEXEC, dup3), messages through the dups
//     while the originals close, a reader blocked in read until a writer
//     on another goroutine writes, and EOF only once the last write end
//     goes;
//   - allocation: trees built and checksummed, with a forced GC now and
//     then (page faults, mmap, the garbage collector's own futexes).
//
// With -offbkl it checks instead that the calls docs/locking.md says
// avoid the kernel lock do (offbkl.go).
//
// It prints one "STRESS" line per workload and the lock counters
// (kernel.Locks) for the run, and exits 0 only if every check passed. A
// lost wake-up or a deadlock shows as a workload that stops making
// progress: a watchdog reports it and exits 2 (a kernel deadlock stops
// the watchdog too, and the test's timeout catches that).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/velocityos/velocity/kernel"
)

var (
	dur        = flag.Duration("d", 2*time.Second, "how long each workload runs")
	workers    = flag.Int("w", 0, "goroutines per workload (default GOMAXPROCS)")
	dir        = flag.String("dir", "/tmp", "directory for the file workload")
	skip       = flag.String("skip", "", "comma-separated workloads not to run (to compare with a kernel that lacks what one needs)")
	relock     = flag.Bool("relock", false, "instead of the workloads, ask the kernel to take its own lock twice (Velocity crash call 0x5601, kind 4): it must stop with the lock's name")
	offBKL     = flag.Int("offbkl", 0, "instead of the workloads, make each call docs/locking.md says avoids the kernel lock this many times and check that it did (offbkl.go)")
	nest       = flag.Int("nest", 0, "instead of the workloads, let a timer tick into a trap taken in kernel code this many times (Velocity crash call 0x5601, kind 5) and check that the trap came back whole")
	haltWake   = flag.Int("haltwake", 0, "instead of the workloads, make a CPU halt waiting for the kernel lock this many times (Velocity crash call 0x5601, kind 7) and check that the release wakes it at once (haltwake.go)")
	dyingClose = flag.Int("dyingclose", 0, "instead of the workloads, close a pipe's last write fd while another CPU holds the kernel lock this many times (Velocity crash call 0x5601, kind 7) and check that the release waits for the lock and the reader sees EOF (dyingclose.go)")
	idleIRQ    = flag.Int("idleirq", 0, "instead of the workloads, take a device interrupt in kernel code just before the CPU goes idle this many times (Velocity crash call 0x5601, kind 6) and check that the idle CPU does its work at once (idleirq.go)")
)

type workload struct {
	name     string
	run      func(id int, stop <-chan struct{}, ops *atomic.Int64) error
	ops      atomic.Int64
	lastOps  int64
	lastMove time.Time
}

func main() {
	flag.Parse()
	if *relock {
		_, _, errno := syscall.RawSyscall(0x5601, 4, 0, 0)
		fmt.Println("STRESS relock returned:", errno)
		os.Exit(1)
	}
	// The single checks that replace the workloads, each asked for by
	// a count.
	for _, c := range []struct {
		n     int
		check func(int) bool
	}{{*nest, checkNest}, {*haltWake, checkHaltWake}, {*dyingClose, checkDyingClose}, {*idleIRQ, checkIdleIRQ}, {*offBKL, checkOffBKL}} {
		if c.n > 0 {
			if !c.check(c.n) {
				os.Exit(1)
			}
			fmt.Println("STRESS ok")
			return
		}
	}
	n := *workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	fmt.Printf("STRESS start cpus=%d gomaxprocs=%d workers=%d duration=%v\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), n, *dur)
	before, lockErr := kernel.Locks()
	// The runtime's poller makes its epoll instance and eventfd at its
	// first use: have that happen before the fds are counted.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	fdsBefore := openFDs()

	ws := []*workload{
		{name: "pingpong", run: pingPong},
		{name: "mutex", run: mutexWork},
		{name: "sleep", run: sleeper},
		{name: "files", run: files},
		{name: "pipes", run: pipes},
		{name: "fds", run: fdTable},
		{name: "alloc", run: alloc},
		{name: "fdrace", run: fdRace},
	}
	for _, name := range strings.Split(*skip, ",") {
		for i, w := range ws {
			if w.name == name {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
	}
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for _, w := range ws {
		w.lastMove = start
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w.run(i, stop, &w.ops); err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s/%d: %v", w.name, i, err))
					mu.Unlock()
				}
			}()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	timer := time.NewTimer(*dur)
	watch := time.NewTicker(500 * time.Millisecond)
	const stall = 20 * time.Second
loop:
	for {
		select {
		case <-timer.C:
			close(stop)
			timer.Reset(10 * stall)
			timer.C = nil
		case <-done:
			break loop
		case now := <-watch.C:
			for _, w := range ws {
				if o := w.ops.Load(); o != w.lastOps {
					w.lastOps, w.lastMove = o, now
				} else if now.Sub(w.lastMove) > stall && !closed(done) {
					fmt.Printf("STRESS hang workload=%s ops=%d: no progress for %v (lost wake-up or deadlock)\n", w.name, o, stall)
					buf := make([]byte, 1<<20)
					os.Stdout.Write(buf[:runtime.Stack(buf, true)])
					os.Exit(2)
				}
			}
		}
	}
	elapsed := time.Since(start)
	for _, w := range ws {
		fmt.Printf("STRESS workload name=%s ops=%d\n", w.name, w.ops.Load())
	}
	if lockErr == nil {
		after, err := kernel.Locks()
		if err == nil {
			for _, l := range kernel.LocksDelta(before, after) {
				fmt.Printf("STRESS lock name=%q instances=%d acquires=%d contended=%d pct=%.3f wait_ns=%d max_ns=%d halts=%d\n",
					l.Name, l.Instances, l.Acquires, l.Contended, l.ContendedPercent(), l.Wait.Nanoseconds(), l.MaxWait.Nanoseconds(), l.Halts)
			}
		}
	}
	if n := openFDs(); n != fdsBefore {
		failures = append(failures, fmt.Sprintf("fds: %d open after the workloads, %d before", n, fdsBefore))
	}
	if sharedN != sharedWant.Load() {
		failures = append(failures, fmt.Sprintf("mutex: counter %d after %d increments", sharedN, sharedWant.Load()))
	}
	if len(failures) > 0 {
		for _, f := range failures {
			fmt.Println("STRESS FAIL", f)
		}
		os.Exit(1)
	}
	fmt.Printf("STRESS ok elapsed=%v\n", elapsed.Round(time.Millisecond))
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// pingPong bounces a counter between two goroutines over unbuffered
// channels; every value must come back incremented by exactly one.
func pingPong(id int, stop <-chan struct{}, ops *atomic.Int64) error {
	ping, pong := make(chan int), make(chan int)
	errc := make(chan error, 1)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		errc <- nil
	}()
	v := id * 1_000_000
	for !stopped(stop) {
		for i := 0; i < 50; i++ {
			ping <- v
			got := <-pong
			if got != v+1 {
				close(ping)
				return fmt.Errorf("sent %d, got back %d", v, got)
			}
			v = got
			ops.Add(1)
		}
	}
	close(ping)
	return <-errc
}

var (
	shared     sync.Mutex
	sharedN    int64
	sharedWant atomic.Int64
)

// mutexWork increments a mutex-protected counter; main checks the total
// against the increments counted once every worker has stopped.
func mutexWork(id int, stop <-chan struct{}, ops *atomic.Int64) error {
	for !stopped(stop) {
		for i := 0; i < 200; i++ {
			shared.Lock()
			sharedN++
			shared.Unlock()
		}
		sharedWant.Add(200)
		ops.Add(200)
		runtime.Gosched()
	}
	return nil
}

// sleeper sleeps for random short times; a sleep may be late, never early.
func sleeper(id int, stop <-chan struct{}, ops *atomic.Int64) error {
	r := rand.New(rand.NewSource(int64(id)))
	for !stopped(stop) {
		d := time.Duration(r.Intn(2000)) * time.Microsecond
		t0 := time.Now()
		time.Sleep(d)
		if got := time.Since(t0); got < d {
			return fmt.Errorf("slept %v, asked for %v", got, d)
		}
		ops.Add(1)
	}
	return nil
}

// files writes a file of random content, reads it back and compares.
func files(id int, stop <-chan struct{}, ops *atomic.Int64) error {
	r := rand.New(rand.NewSource(int64(id) + 100))
	name := filepath.Join(*dir, fmt.Sprintf("stress-%d", id))
	defer os.Remove(name)
	for !stopped(stop) {
		data := make([]byte, 1+r.Intn(16<<10))
		r.Read(data)
		if err := os.WriteFile(name, data, 0o644); err != nil {
			return err
		}
		got, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, data) {
			return fmt.Errorf("%s: read back %d bytes that differ from the %d written", name, len(got), len(data))
		}
		ops.Add(1)
	}
	return nil
}

// pipes sends messages through an os.Pipe to a reader goroutine and back
// through a second one.
func pipes(id int, stop <-chan struct{}, ops *atomic.Int64) error {
	ar, aw, err := os.Pipe()
	if err != nil {
		return err
	}
	br, bw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer ar.Close()
	defer br.Close()
	go func() { // echo
		buf := make([]byte, 64)
		for {
			n, err := ar.Read(buf)
			if err != nil {
				bw.Close()
				return
			}
			if _, err := bw.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64)
	for i := 0; !stopped(stop); i++ {
		msg := fmt.Sprintf("msg %d/%d", id, i)
		if _, err := aw.Write([]byte(msg)); err != nil {
			return err
		}
		got := 0
		for got < len(msg) {
			n, err := br.Read(buf[got:])
			if err != nil {
				return err
			}
			got += n
		}
		if string(buf[:got]) != msg {
			return fmt.Errorf("pipe echoed %q for %q", buf[:got], msg)
		}
		ops.Add(1)
	}
	aw.Close()
	return nil
}

// fdTable drives dup and close of pipe ends (blocking ones, so reads and
// writes sleep in the kernel) from every worker at once, checking every
// message and flag. Fixed fd numbers are this worker's own (3000+id).
func fdTable(id int, stop <-chan struct{}, ops *atomic.Int64) error {
	const fDupfdCloexec = 1030
	buf := make([]byte, 64)
	readFull := func(fd int, want string) error {
		got := 0
		for got < len(want) {
			n, err := syscall.Read(fd, buf[got:len(want)])
			if err == syscall.EINTR {
				continue // as package os does
			}
			if err != nil {
				return fmt.Errorf("read fd %d: %v", fd, err)
			}
			if n == 0 {
				return fmt.Errorf("read fd %d: EOF after %d of %d bytes", fd, got, len(want))
			}
			got += n
		}
		if string(buf[:got]) != want {
			return fmt.Errorf("fd %d read %q, want %q", fd, buf[:got], want)
		}
		return nil
	}
	for i := 0; !stopped(stop); i++ {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			return err
		}
		w2, err := syscall.Dup(p[1])
		if err != nil {
			return err
		}
		min := 100 + 8*id
		r2, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(p[0]), fDupfdCloexec, uintptr(min))
		if errno != 0 {
			return fmt.Errorf("F_DUPFD_CLOEXEC: %v", errno)
		}
		if int(r2) < min {
			return fmt.Errorf("F_DUPFD_CLOEXEC from %d gave %d", min, r2)
		}
		fl, _, _ := syscall.Syscall(syscall.SYS_FCNTL, r2, syscall.F_GETFD, 0)
		fl2, _, _ := syscall.Syscall(syscall.SYS_FCNTL, uintptr(w2), syscall.F_GETFD, 0)
		if fl != syscall.FD_CLOEXEC || fl2 != 0 {
			return fmt.Errorf("FD_CLOEXEC: F_DUPFD_CLOEXEC's fd %d, dup's %d", fl, fl2)
		}
		syscall.Close(p[1]) // the write end lives on in w2
		// A reader blocked in read, woken by a writer on another goroutine.
		msg := fmt.Sprintf("fd %d/%d", id, i)
		werr := make(chan error, 1)
		go func() {
			time.Sleep(time.Duration(i%3) * 100 * time.Microsecond)
			_, err := syscall.Write(w2, []byte(msg))
			werr <- err
		}()
		if err := readFull(p[0], msg); err != nil {
			return err
		}
		if err := <-werr; err != nil {
			return fmt.Errorf("write through dup: %v", err)
		}
		syscall.Close(p[0]) // the read end lives on in r2
		target := 3000 + id
		if err := syscall.Dup3(w2, target, syscall.O_CLOEXEC); err != nil {
			return fmt.Errorf("dup3: %v", err)
		}
		syscall.Close(w2)
		msg2 := msg + " again"
		if _, err := syscall.Write(target, []byte(msg2)); err != nil {
			return fmt.Errorf("write through dup3: %v", err)
		}
		if err := readFull(int(r2), msg2); err != nil {
			return err
		}
		syscall.Close(target) // the last write end: EOF
		if n, err := syscall.Read(int(r2), buf); n != 0 || err != nil {
			return fmt.Errorf("read after the last writer closed: %d, %v (want EOF)", n, err)
		}
		syscall.Close(int(r2))
		ops.Add(1)
	}
	return nil
}

type node struct {
	left, right *node
	v           int
	pad         []byte
}

func build(d, v int) *node {
	if d == 0 {
		return &node{v: v, pad: make([]byte, 64)}
	}
	return &node{left: build(d-1, 2*v), right: build(d-1, 2*v+1), v: v}
}

func (n *node) sum() int {
	if n.left == nil {
		return n.v
	}
	return n.v + n.left.sum() + n.right.sum()
}

// alloc builds trees whose checksum is known, and forces a GC now and
// then; a page the kernel zero-filled wrongly or a GC bug shows as a bad
// sum.
func alloc(id int, stop <-chan struct{}, ops *atomic.Int64) error {
	const depth = 12
	// Sum over a full tree whose root is 1: every node's value is its
	// index in breadth-first order, 1 .. 2^(depth+1)-1.
	m := 1<<(depth+1) - 1
	want := m * (m + 1) / 2
	var keep []*node
	for i := 0; !stopped(stop); i++ {
		t := build(depth, 1)
		if s := t.sum(); s != want {
			return fmt.Errorf("tree sum %d, want %d", s, want)
		}
		keep = append(keep, t)
		if len(keep) > 4 {
			keep = keep[1:]
		}
		big := make([]byte, 1<<20) // fresh pages from the kernel
		for j := 0; j < len(big); j += 4096 {
			if big[j] != 0 {
				return fmt.Errorf("fresh allocation not zero at %d", j)
			}
			big[j] = byte(j)
		}
		if i%8 == 7 {
			runtime.GC()
		}
		ops.Add(1)
	}
	return nil
}
