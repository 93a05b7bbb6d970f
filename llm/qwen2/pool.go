package qwen2

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Pool is a set of long-lived goroutines that run a State's parallel work,
// instead of goroutines started for each matrix product. Each one first
// runs the start function given to NewPool, so that it can pin itself to a
// CPU (kernel.Pin on Velocity's reserved CPUs); the goroutine that calls
// Eval is worker 0 and is set up by the caller.
//
// A decoded token is some 170 matrix products, each split over the
// workers, so handing out work must cost microseconds, not the tens of
// microseconds of waking a parked goroutine: idle workers spin on the job
// counter for a while (spinLimit) before they park. On dedicated (pinned,
// reserved) CPUs that is what they are for; on a shared machine the spin is
// short enough not to matter.
type Pool struct {
	n       int
	gen     atomic.Uint64 // job number; a worker runs each once
	job     atomic.Pointer[func(int)]
	pending atomic.Int32 // workers still running the current job
	parked  atomic.Int32 // workers blocked on cond

	mu     sync.Mutex
	cond   *sync.Cond
	closed bool
	done   sync.WaitGroup
}

// spinLimit is how many times an idle worker checks for work before it
// parks (a few tens of microseconds).
const spinLimit = 1 << 14

// NewPool starts n-1 workers (numbered 1..n-1); start(w) runs first on
// worker w and its error, if any, stops the pool and is returned.
func NewPool(n int, start func(worker int) error) (*Pool, error) {
	if n < 1 {
		return nil, errors.New("qwen2: a pool needs at least one worker")
	}
	p := &Pool{n: n}
	p.cond = sync.NewCond(&p.mu)
	errs := make(chan error, n)
	for w := 1; w < n; w++ {
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			if start != nil {
				if err := start(w); err != nil {
					errs <- fmt.Errorf("qwen2: worker %d: %w", w, err)
					return
				}
			}
			errs <- nil
			p.work(w)
		}()
	}
	var first error
	for w := 1; w < n; w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		p.Close()
		return nil, first
	}
	return p, nil
}

func (p *Pool) work(w int) {
	var last uint64
	for {
		for spins := 0; p.gen.Load() == last; spins++ {
			if spins < spinLimit {
				continue
			}
			p.mu.Lock()
			p.parked.Add(1)
			for p.gen.Load() == last && !p.closed {
				p.cond.Wait()
			}
			p.parked.Add(-1)
			closed := p.closed
			p.mu.Unlock()
			if closed && p.gen.Load() == last {
				return
			}
		}
		last++
		(*p.job.Load())(w)
		p.pending.Add(-1)
	}
}

// Workers is the number of workers, the caller's goroutine included.
func (p *Pool) Workers() int { return p.n }

// run runs job on every worker (0 being the caller) and waits for all; a
// job must return at once on workers that have nothing to do.
func (p *Pool) run(job func(worker int)) {
	if p.n == 1 {
		job(0)
		return
	}
	p.job.Store(&job)
	p.pending.Store(int32(p.n - 1))
	p.gen.Add(1)
	if p.parked.Load() > 0 {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	}
	job(0)
	for spins := 0; p.pending.Load() != 0; spins++ {
		if spins > spinLimit {
			runtime.Gosched()
		}
	}
}

// Close stops the workers; the pool must not be in use.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.done.Wait()
}
