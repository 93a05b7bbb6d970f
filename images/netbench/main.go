// Command netbench is the guest side of make bench's network comparison
// (bench/netbench): the same HTTP server runs as a Velocity kernel and as
// the /init of a Linux guest, on the same QEMU, CPUs and virtio-net card,
// and the host drives both with wrk through the same port forward.
//
// As Linux's /init it first does what an init system would: loads the
// virtio-net driver from /modules (Debian builds it as modules), brings
// up lo and eth0 with QEMU user networking's 10.0.2.15/24. Inside
// Velocity the kernel and netstack have done all of that (DHCP).
//
// Endpoints:
//
//	/          a 100-byte page
//	/64k       a 64 KiB page
//	/bulk?mb=N N MiB, streamed
//	/loop?n=N&c=C&size=S   an in-guest loopback benchmark: C clients make N
//	           requests for S bytes to this server at 127.0.0.1, and it
//	           answers "NETBENCH loop rps=... p50us=... p99us=..."
//	/quit      exit
//	/debug/pprof/  net/http/pprof: in Velocity, a CPU profile of the whole
//	           kernel (bench/netbench -profile takes one over every row)
//	/debug/kernel/profile?seconds=N  the kernel's own sampling profile of
//	           every CPU at 1000 Hz, idle CPUs unsampled (kernel/profilehttp;
//	           bench/netbench -profile-kind kernel), in Velocity only
package main

import (
	"fmt"
	"io"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/kernel/profilehttp"
)

func main() {
	if os.Getpid() == 1 && os.Args[0] == "/init" {
		if err := linuxInit(); err != nil {
			fmt.Println("NETBENCH setup failed:", err)
			os.Exit(1)
		}
	}
	small := make([]byte, 100)
	for i := range small {
		small[i] = 'a' + byte(i%26)
	}
	small[len(small)-1] = '\n'
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write(small) })
	http.HandleFunc("/64k", func(w http.ResponseWriter, r *http.Request) { w.Write(big) })
	http.HandleFunc("/sized", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("size"))
		n = max(0, min(n, len(big)))
		w.Write(big[:n])
	})
	http.HandleFunc("/bulk", func(w http.ResponseWriter, r *http.Request) {
		mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		mb = max(1, min(mb, 4096))
		w.Header().Set("Content-Length", strconv.Itoa(mb<<20))
		for i := 0; i < mb*16; i++ {
			if _, err := w.Write(big); err != nil {
				return
			}
		}
	})
	http.HandleFunc("/loop", loop)
	http.Handle("/debug/kernel/profile", profilehttp.Handler())
	http.HandleFunc("/debug/kernel/counters", counters)
	http.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		w.(http.Flusher).Flush()
		go func() { time.Sleep(100 * time.Millisecond); os.Exit(0) }()
	})
	fmt.Println("NETBENCH ready")
	if err := http.ListenAndServe(":80", nil); err != nil {
		fmt.Println("NETBENCH serve:", err)
		os.Exit(1)
	}
}

// loop measures this guest's own loopback: requests per second and the
// latency percentiles of C keep-alive clients.
func loop(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, _ := strconv.Atoi(q.Get("n"))
	c, _ := strconv.Atoi(q.Get("c"))
	size, _ := strconv.Atoi(q.Get("size"))
	n, c = max(1, min(n, 1000000)), max(1, min(c, 256))
	url := fmt.Sprintf("http://127.0.0.1:80/sized?size=%d", size)
	tr := &http.Transport{MaxIdleConnsPerHost: c}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	lat := make([]time.Duration, n)
	var next int
	var mu sync.Mutex
	var failed error
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				t0 := time.Now()
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if failed != nil {
		http.Error(w, failed.Error(), http.StatusInternalServerError)
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Fprintf(w, "NETBENCH loop rps=%.0f p50us=%d p99us=%d\n", float64(n)/took.Seconds(),
		lat[n/2].Microseconds(), lat[n*99/100].Microseconds())
}

// counters serves the kernel's machine-wide counters that explain a
// row's cost (bench/netbench reads them before and after each run), one
// "name value" line each; on Linux there are none (404).
func counters(w http.ResponseWriter, r *http.Request) {
	in, err := kernel.ReadInfo()
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	var ipis, halts uint64
	var busy, halted time.Duration
	for _, c := range in.PerCPU {
		ipis, halts, busy, halted = ipis+c.IPIs, halts+c.Halts, busy+c.Busy, halted+c.Halted
	}
	fmt.Fprintf(w, "syscalls %d\nswitches %d\nipis %d\nhalts %d\nhalted_ns %d\nbusy_ns %d\n", in.Syscalls, in.Switches, ipis, halts, halted.Nanoseconds(), busy.Nanoseconds())
	fmt.Fprintf(w, "faults %d\nshootdowns %d\ntlb_refreshes %d\nticks %d\nresident_bytes %d\n", in.PageFaults, in.Shootdowns, in.TLBRefreshes, in.TimerTicks, in.Resident)
	if nic, err := kernel.NetStats(); err == nil {
		fmt.Fprintf(w, "nic.tx_frames %d\nnic.tx_notifies %d\nnic.tx_suppressed %d\nnic.rx_frames %d\nnic.rx_notifies %d\nnic.interrupts %d\nnic.rx_wait_ns %d\n",
			nic.TxFrames, nic.TxNotifies, nic.TxSuppressed, nic.RxFrames, nic.RxNotifies, nic.Interrupts, nic.RxWaitNs)
	}
	if calls, err := kernel.Syscalls(); err == nil {
		for _, c := range calls {
			if c.Name != "" {
				fmt.Fprintf(w, "calls.%s %d\ncall_ns.%s %d\n", c.Name, c.Count, c.Name, c.Time.Nanoseconds())
			}
		}
	}
}
