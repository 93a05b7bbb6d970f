// Command httpd is Velocity's network demo: an HTTP server with a page of
// live kernel statistics and net/http/pprof, run inside the unikernel and
// reached from the host through a port forward:
//
//	velocity run -hostfwd tcp:8080-:80 ./images/httpd
//	curl http://127.0.0.1:8080/
//
// It also serves what the network tests need: /big?size=N streams N
// deterministic bytes, /upload answers with the length and SHA-256 of what
// was posted (streamed, never held), /debug/kernel/profile?seconds=N
// samples every CPU with the kernel's own profiler, /quit ends the machine
// with status 0, and -get URL makes it a client that prints a page and
// exits.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/kernel/profilehttp"
)

var start = time.Now()

// pattern is what /big repeats: deterministic, so a client can check it.
var pattern = func() []byte {
	b := make([]byte, 64<<10)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

func stats(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(w, "Velocity httpd: up %v, %d goroutines, heap %d KiB, %d GCs\n",
		time.Since(start).Round(time.Millisecond), runtime.NumGoroutine(), m.HeapAlloc>>10, m.NumGC)
	info, err := kernel.ReadInfo()
	if err != nil {
		fmt.Fprintf(w, "kernel: %v\n", err)
		return
	}
	fmt.Fprintf(w, "kernel: %d CPUs, %d MiB free of %d MiB, %d syscalls, %d page faults, %d context switches, %d threads\n",
		info.CPUs, info.MemFree>>20, info.MemTotal>>20, info.Syscalls, info.PageFaults, info.Switches, info.Threads)
	for i, c := range info.PerCPU {
		fmt.Fprintf(w, "cpu%d: busy %v, %d syscalls, %d IPIs sent, halted %d times for %v\n", i, c.Busy.Round(time.Millisecond), c.Syscalls, c.IPIs, c.Halts, c.Halted.Round(time.Millisecond))
	}
	if st, err := kernel.NetStats(); err == nil {
		st.Write(w)
	}
	if ss, err := kernel.NetStackStats(); err == nil {
		ss.Write(w)
	}
	if calls, err := kernel.Syscalls(); err == nil {
		fmt.Fprintf(w, "system calls since boot, the most made first (count, kernel CPU time):")
		for i, c := range calls {
			if i == 12 {
				break
			}
			fmt.Fprintf(w, " %s %d %v;", c.Name, c.Count, c.Time.Round(time.Microsecond))
		}
		fmt.Fprintln(w)
	}
	if locks, err := kernel.Locks(); err == nil {
		fmt.Fprintf(w, "kernel locks (acquired, contended, wait):")
		for _, l := range locks {
			if l.Acquires > 0 {
				fmt.Fprintf(w, " %s %d %.1f%% %v;", l.Name, l.Acquires, l.ContendedPercent(), l.Wait.Round(time.Microsecond))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "you are %s\n", r.RemoteAddr)
}

func big(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil || n < 0 || n > 1<<30 {
		http.Error(w, "size: want 0..1073741824", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	for n > 0 {
		c := int64(len(pattern))
		if c > n {
			c = n
		}
		if _, err := w.Write(pattern[:c]); err != nil {
			return
		}
		n -= c
	}
}

func upload(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%d %x\n", n, h.Sum(nil))
}

func main() {
	addr := flag.String("addr", ":80", "address to serve on")
	get := flag.String("get", "", "client mode: fetch this URL, print it and exit")
	flag.Parse()
	if *get != "" {
		os.Exit(client(*get))
	}
	http.HandleFunc("/", stats)
	http.HandleFunc("/big", big)
	http.HandleFunc("/upload", upload)
	http.Handle("/debug/kernel/profile", profilehttp.Handler())
	http.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		w.(http.Flusher).Flush()
		go func() { time.Sleep(100 * time.Millisecond); os.Exit(0) }()
	})
	fmt.Printf("httpd: serving on %s\n", *addr)
	if err := http.ListenAndServe(*addr, nil); err != nil {
		fmt.Println("httpd:", err)
		os.Exit(1)
	}
}

// client fetches url, retrying while the peer is not up yet.
func client(url string) int {
	c := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			fmt.Printf("httpd client: %s %s\n%s", url, resp.Status, b)
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Println("httpd client:", err)
			return 1
		}
		time.Sleep(time.Second)
	}
}
