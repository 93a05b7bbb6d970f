package semantics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/velocityos/velocity/kernel"
)

// 10,000 goroutines alive at once, all blocked, then all released: threads,
// futexes and the scheduler under a wide fan-out.
func TestTenThousandGoroutines(t *testing.T) {
	const n = 10000
	var started, done sync.WaitGroup
	release := make(chan struct{})
	results := make(chan int, n)
	started.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			defer done.Done()
			started.Done()
			<-release
			results <- i
		}(i)
	}
	started.Wait()
	if g := runtime.NumGoroutine(); g < n {
		t.Fatalf("NumGoroutine = %d, want >= %d", g, n)
	}
	close(release)
	done.Wait()
	close(results)
	sum := 0
	for v := range results {
		sum += v
	}
	if want := n * (n - 1) / 2; sum != want {
		t.Fatalf("sum = %d, want %d", sum, want)
	}
}

func TestChannelsAndSelect(t *testing.T) {
	a, b := make(chan int), make(chan string)
	go func() {
		for i := 0; i < 100; i++ {
			a <- i
		}
		close(a)
	}()
	go func() {
		for i := 0; i < 100; i++ {
			b <- fmt.Sprint(i)
		}
		close(b)
	}()
	var na, nb int
	for a != nil || b != nil {
		select {
		case _, ok := <-a:
			if !ok {
				a = nil
				continue
			}
			na++
		case _, ok := <-b:
			if !ok {
				b = nil
				continue
			}
			nb++
		case <-time.After(10 * time.Second):
			t.Fatal("select timed out")
		}
	}
	if na != 100 || nb != 100 {
		t.Fatalf("got %d and %d values, want 100 each", na, nb)
	}
	select {
	case <-make(chan int):
		t.Fatal("received from a channel nobody sends on")
	default:
	}
}

// time.Sleep must never return early; how late it returns is reported.
func TestSleepAccuracy(t *testing.T) {
	const d = 10 * time.Millisecond
	var late []time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		time.Sleep(d)
		got := time.Since(start)
		if got < d {
			t.Fatalf("Sleep(%v) returned after %v", d, got)
		}
		late = append(late, got-d)
	}
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	t.Logf("time.Sleep(10ms) lateness: min %v, median %v, max %v", late[0], late[len(late)/2], late[len(late)-1])
	if late[len(late)/2] > time.Second {
		t.Fatalf("median lateness %v: timers are not firing", late[len(late)/2])
	}
}

func TestTimersAndTickers(t *testing.T) {
	fired := make(chan time.Time, 1)
	start := time.Now()
	time.AfterFunc(20*time.Millisecond, func() { fired <- time.Now() })
	at := <-fired
	if at.Sub(start) < 20*time.Millisecond {
		t.Fatalf("AfterFunc fired after %v", at.Sub(start))
	}
	// A tick carries roughly the time it was due: the runtime computes
	// how late the timer is from its own clock reading, and sendTime
	// subtracts that from a later time.Now(), so a thread preempted
	// between the two makes a tick look later than it was due, and the
	// next one, sent on time, can then look earlier than it (seen on a
	// one-CPU boot: tick 1 1.35 ms before tick 0). What holds whatever
	// the preemption: the i-th tick is due no earlier than (i+1) periods
	// after NewTicker, and carries no earlier a time (monotonic clock).
	start = time.Now()
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	for i := 0; i < 5; i++ {
		now := <-tk.C
		if due := start.Add(time.Duration(i+1) * 5 * time.Millisecond); now.Before(due) {
			t.Fatalf("ticker went back in time: tick %d at %v, %v before the earliest it can be due, %v", i, now, due.Sub(now), due)
		}
	}
	stopped := time.NewTimer(time.Hour)
	if !stopped.Stop() {
		t.Fatal("Stop on a pending timer reported it had fired")
	}
}

func TestTimeNow(t *testing.T) {
	now := time.Now()
	if now.Year() < 2024 {
		t.Fatalf("wall clock says %v: the RTC was not read", now)
	}
	a := time.Now()
	for i := 0; i < 1000; i++ {
		b := time.Now()
		if b.Sub(a) < 0 {
			t.Fatalf("monotonic clock went backwards: %v then %v", a, b)
		}
		a = b
	}
	t.Logf("time.Now() = %v", now)
}

// Allocate more than four times the machine's RAM with a bounded live set:
// the GC must collect and the kernel must give freed memory back.
func TestGCUnderPressure(t *testing.T) {
	ram := uint64(256 << 20) // on a host, a nominal figure
	if in, err := kernel.ReadInfo(); err == nil {
		ram = in.MemTotal
	}
	total := 4*ram + 64<<20
	const chunk = 1 << 20
	live := make([][]byte, 32) // 32 MiB live at most
	var allocated uint64
	before := readGCs()
	for i := 0; allocated < total; i++ {
		b := make([]byte, chunk)
		b[0], b[chunk-1] = byte(i), byte(i)
		live[i%len(live)] = b
		allocated += chunk
	}
	for i, b := range live {
		if b == nil || b[0] != b[chunk-1] {
			t.Fatalf("live chunk %d corrupted", i)
		}
	}
	gcs := readGCs() - before
	if gcs == 0 {
		t.Fatal("no garbage collection ran")
	}
	t.Logf("allocated %d MiB (RAM %d MiB) in %d GC cycles", allocated>>20, ram>>20, gcs)
}

func readGCs() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

func TestRuntimeGCAndFreeOSMemory(t *testing.T) {
	before := readGCs()
	runtime.GC()
	debug.FreeOSMemory()
	if readGCs() <= before {
		t.Fatal("runtime.GC did not complete a cycle")
	}
}

func TestMaps(t *testing.T) {
	m := map[string]int{}
	for i := 0; i < 100000; i++ {
		m[fmt.Sprint(i)] = i
	}
	for i := 0; i < 100000; i += 997 {
		if m[fmt.Sprint(i)] != i {
			t.Fatalf("m[%d] = %d", i, m[fmt.Sprint(i)])
		}
	}
	for i := 0; i < 50000; i++ {
		delete(m, fmt.Sprint(i))
	}
	if len(m) != 50000 {
		t.Fatalf("len = %d", len(m))
	}
}

func TestPanicRecover(t *testing.T) {
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("recovered: %v", r)
			}
		}()
		panic("boom")
	}()
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("got %v", err)
	}
}

// A nil dereference is a hardware page fault the kernel turns into SIGSEGV,
// which the runtime turns into a panic that recover can catch.
func TestNilDereferenceIsAPanic(t *testing.T) {
	errc := make(chan error)
	go func() {
		defer func() {
			r := recover()
			re, ok := r.(runtime.Error)
			if !ok {
				errc <- fmt.Errorf("recovered %v (%T), want a runtime.Error", r, r)
				return
			}
			if !strings.Contains(re.Error(), "nil pointer dereference") {
				errc <- errors.New(re.Error())
				return
			}
			errc <- nil
		}()
		var p *struct{ x [64]int }
		p.x[3] = 1
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestFmtAndArgs(t *testing.T) {
	if got := fmt.Sprintf("%05.1f|%x|%q|%v", 3.14159, 255, "hi", []int{1, 2}); got != `003.1|ff|"hi"|[1 2]` {
		t.Fatalf("Sprintf = %s", got)
	}
	if len(os.Args) == 0 || os.Args[0] == "" {
		t.Fatalf("os.Args = %q", os.Args)
	}
}

// Goroutines spread over OS threads must all make progress: several
// goroutines spin without blocking, more than there are Ps, and each must
// get to run. The deadline is generous because an emulator on a busy host
// may give the guest little CPU.
func TestPreemptionBetweenThreads(t *testing.T) {
	var wg sync.WaitGroup
	stop := make(chan struct{})
	counts := make([]atomic.Int64, 2*runtime.GOMAXPROCS(0)+2)
	for i := range counts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					counts[i].Add(1)
				}
			}
		}(i)
	}
	start := time.Now()
	all := func() bool {
		for i := range counts {
			if counts[i].Load() == 0 {
				return false
			}
		}
		return true
	}
	for !all() && time.Since(start) < 20*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if !all() {
		t.Fatalf("some goroutines never ran in 20 s: %v", counts)
	}
	t.Logf("all %d spinning goroutines ran within %v", len(counts), time.Since(start))
}

// A goroutine spinning in a loop with no function calls must not starve the
// others with GOMAXPROCS=1: only asynchronous preemption (the runtime's
// tgkill(SIGURG), delivered by the kernel as a signal) can stop it.
func TestAsyncPreemptionOfTightLoop(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop atomicBool
	done := make(chan int)
	go func() {
		n := 0
		for !stop.load() {
			n++
		}
		done <- n
	}()
	runtime.Gosched() // let the spinner take the only P
	start := time.Now()
	time.Sleep(20 * time.Millisecond) // needs the spinner preempted to return
	stop.store(true)
	if n := <-done; n == 0 {
		t.Fatal("the spinner never ran")
	}
	t.Logf("main goroutine got the CPU back after %v", time.Since(start))
}

// atomicBool is read in the spin loop without a function call (atomic.Bool
// methods would be inlined too, but this keeps the loop free of calls for
// certain).
type atomicBool struct{ v int32 }

func (b *atomicBool) load() bool { return atomic.LoadInt32(&b.v) != 0 }
func (b *atomicBool) store(v bool) {
	x := int32(0)
	if v {
		x = 1
	}
	atomic.StoreInt32(&b.v, x)
}

// Tests read testdata from their package directory: under velocity exec the
// kernel serves that directory read-only at the same path.
func TestFiles(t *testing.T) {
	b, err := os.ReadFile("testdata/hello.txt")
	if err != nil || string(b) != "hello from testdata\n" {
		t.Fatalf("ReadFile: %q, %v", b, err)
	}
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = e.IsDir()
	}
	if isDir, ok := names["testdata"]; !ok || !isDir {
		t.Fatalf("ReadDir(.) = %v, want the testdata directory", names)
	}
	if _, ok := names["semantics_test.go"]; !ok {
		t.Fatalf("ReadDir(.) = %v, want semantics_test.go", names)
	}
	fi, err := os.Stat("testdata/hello.txt")
	if err != nil || fi.Size() != int64(len(b)) || fi.IsDir() {
		t.Fatalf("Stat: %v, %v", fi, err)
	}
	f, err := os.Open("testdata/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 5)
	if n, err := f.ReadAt(buf, 6); err != nil || string(buf[:n]) != "from " {
		t.Fatalf("ReadAt: %q, %v", buf[:n], err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(len(b)) || !fi.Mode().IsRegular() {
		t.Fatalf("File.Stat (fstat): %v, %v", fi, err)
	}
	if _, err := os.Stat("testdata/missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stat of a missing file: %v", err)
	}
	if kernel.OnVelocity() {
		// The image's files are read-only wherever they are (new names
		// may still be created if the directory is under /tmp).
		if err := os.WriteFile("testdata/hello.txt", []byte("changed"), 0o644); err == nil {
			t.Fatal("overwrote a file of the image's read-only file system")
		}
	}
}

// /tmp is writable (RAM-backed on Velocity): t.TempDir, files larger than a
// page, appends, writes at offsets, holes, rename, truncate, listing and
// removal all behave as on Linux.
func TestTempFiles(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/data"
	big := make([]byte, 3*4096+123)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if err := os.WriteFile(p, big, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("XY"), 4095); err == nil {
		t.Fatal("WriteAt on an O_APPEND file succeeded") // as on Linux (os refuses it)
	}
	f.Close()
	f, err = os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("XY"), 4095); err != nil { // straddles a page boundary
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("!"), 20000); err != nil { // leaves a hole
		t.Fatal(err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 20001 {
		t.Fatalf("File.Stat (fstat) after writes: %v, %v", fi, err)
	}
	f.Close()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, big...), "tail"...)
	want[4095], want[4096] = 'X', 'Y'
	want = append(want, make([]byte, 20000-len(want))...)
	want = append(want, '!')
	if !bytes.Equal(got, want) {
		t.Fatalf("file content differs (%d bytes, want %d)", len(got), len(want))
	}
	if err := os.Mkdir(dir+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p, dir+"/sub/moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(dir+"/sub/moved", 10); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir + "/sub/moved"); err != nil || fi.Size() != 10 {
		t.Fatalf("after truncate: %v, %v", fi, err)
	}
	if err := os.Chmod(dir+"/sub/moved", 0o444); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir + "/sub/moved"); fi.Mode().Perm() != 0o444 {
		t.Fatalf("mode %v after chmod 0444", fi.Mode())
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "sub" || !ents[0].IsDir() {
		t.Fatalf("ReadDir = %v, %v; want just sub/", ents, err)
	}
	if err := os.Remove(dir + "/sub"); err == nil {
		t.Fatal("removed a directory that is not empty")
	}
	if _, err := os.OpenFile(dir+"/sub/moved", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); !errors.Is(err, os.ErrExist) {
		t.Fatalf("O_EXCL on an existing file: %v", err)
	}
	if err := os.RemoveAll(dir + "/sub"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/sub"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after RemoveAll: %v", err)
	}
}

// The usual character devices exist.
func TestDevices(t *testing.T) {
	if b, err := os.ReadFile("/dev/null"); err != nil || len(b) != 0 {
		t.Fatalf("/dev/null: %q, %v", b, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*os.File{r, w} {
		if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Fatalf("pipe Stat: %v, %v", fi, err)
		}
		f.Close()
	}
	if err := os.WriteFile("/dev/null", []byte("gone"), 0); err != nil {
		t.Fatalf("writing /dev/null: %v", err)
	}
	buf := make([]byte, 64)
	for _, dev := range []string{"/dev/zero", "/dev/urandom"} {
		f, err := os.Open(dev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(f, buf); err != nil {
			t.Fatalf("%s: %v", dev, err)
		}
		f.Close()
		zero := bytes.Count(buf, []byte{0}) == len(buf)
		if zero != (dev == "/dev/zero") {
			t.Fatalf("%s gave %x", dev, buf)
		}
	}
}
