package net

import (
	"crypto/sha256"
	"fmt"
	"io"
	gonet "net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// patternReader yields n bytes of a 64 KiB pattern, repeated, without
// holding them: the upload's source must not be what keeps memory up.
// It copies whole slices (a byte loop over 1 GiB takes minutes under TCG).
type patternReader struct{ off, left int64 }

var pattern = func() []byte {
	p := make([]byte, 64<<10)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}()

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], pattern[r.off%int64(len(pattern)):])
		n += c
		r.off += int64(c)
	}
	r.left -= int64(n)
	return n, nil
}

// TestStreamingUpload posts a large body through net/http over loopback
// and checks that it streams: the server hashes it as it arrives, and
// the heap never grows by more than a small fraction of it. Short mode
// (make test) sends 16 MiB; the long run (make conformance) 1 GiB, more
// than the guest's RAM.
func TestStreamingUpload(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 16 << 20
	}
	want := sha256.New()
	if _, err := io.Copy(want, &patternReader{left: size}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
	ln, err := gonet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base := m.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	start := time.Now()
	req, err := http.NewRequest("POST", "http://"+ln.Addr().String()+"/upload", &patternReader{left: size})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	resp, err := (&http.Client{Timeout: 20 * time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	close(stop)
	<-sampled
	if w := fmt.Sprintf("%d %x", size, want.Sum(nil)); string(got) != w {
		t.Fatalf("the server saw %q, want %q", got, w)
	}
	grew := int64(peak.Load()) - int64(base)
	if limit := int64(64 << 20); grew > limit {
		t.Errorf("the heap grew by %d MiB during a %d MiB upload (limit %d MiB): the body is held, not streamed", grew>>20, size>>20, limit>>20)
	}
	t.Logf("%d MiB uploaded in %v (%.1f MB/s); heap in use %d MiB at the start, peak %d MiB", size>>20, took.Round(time.Millisecond),
		float64(size)/took.Seconds()/1e6, base>>20, peak.Load()>>20)
}
