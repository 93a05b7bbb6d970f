// Package profilehttp serves the kernel's sampling profile of every CPU
// (kernel.ProfileCPU) over HTTP as a pprof file, beside net/http/pprof.
//
// Why a second profile: Go's own (/debug/pprof/profile) samples the
// program's threads at 100 Hz through SIGPROF. The kernel's labels each
// sample with its CPU and kernel thread, samples up to
// kernel.MaxProfileHz, and sees kernel code that runs with interrupts on,
// such as a CPU spinning for a kernel lock. Most of a system call runs
// with them off: its time is counted at the instruction after the call.
// It lives in a package of its own so that importing package kernel does
// not pull net/http into every program.
package profilehttp

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/velocityos/velocity/kernel"
)

// Handler serves ?seconds= (default 5, at most 60) of samples at ?hz=
// (default 1000, at most kernel.MaxProfileHz). A profile already running
// answers 409 Conflict; outside Velocity, 500 with the kernel's error.
func Handler() http.Handler { return http.HandlerFunc(serve) }

func serve(w http.ResponseWriter, r *http.Request) {
	secs, hz := 5.0, 1000
	if v := r.URL.Query().Get("seconds"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 60 {
			http.Error(w, "seconds: want a number in (0, 60]", http.StatusBadRequest)
			return
		}
		secs = f
	}
	if v := r.URL.Query().Get("hz"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > kernel.MaxProfileHz {
			http.Error(w, fmt.Sprintf("hz: want 1..%d", kernel.MaxProfileHz), http.StatusBadRequest)
			return
		}
		hz = n
	}
	p, err := kernel.ProfileCPU(time.Duration(secs*float64(time.Second)), hz)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, kernel.ErrProfiling) {
			code = http.StatusConflict
		}
		http.Error(w, err.Error(), code)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="kernel.pprof"`)
	if err := p.Write(w); err != nil {
		fmt.Println("profilehttp: kernel profile:", err)
	}
}
