package qwen2

import (
	"errors"
	"fmt"
	"sync"
)

// Pool is a set of long-lived goroutines that run a State's parallel work,
// instead of goroutines started for each matrix product. Each one first
// runs the start function given to NewPool, so that it can pin itself to a
// CPU (kernel.Pin on Velocity's reserved CPUs); the goroutine that calls
// Eval is worker 0 and is set up by the caller.
type Pool struct {
	n    int
	jobs []chan func(int)
	wg   sync.WaitGroup // running jobs
	quit sync.WaitGroup // live workers
}

// NewPool starts n-1 workers (numbered 1..n-1); start(w) runs first on
// worker w and its error, if any, stops the pool and is returned.
func NewPool(n int, start func(worker int) error) (*Pool, error) {
	if n < 1 {
		return nil, errors.New("qwen2: a pool needs at least one worker")
	}
	p := &Pool{n: n}
	errs := make(chan error, n)
	for w := 1; w < n; w++ {
		ch := make(chan func(int))
		p.jobs = append(p.jobs, ch)
		p.quit.Add(1)
		go func() {
			defer p.quit.Done()
			if start != nil {
				if err := start(w); err != nil {
					errs <- fmt.Errorf("qwen2: worker %d: %w", w, err)
					for range ch { // drain until Close
					}
					return
				}
			}
			errs <- nil
			for job := range ch {
				job(w)
				p.wg.Done()
			}
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

// Workers is the number of workers, the caller's goroutine included.
func (p *Pool) Workers() int { return p.n }

// run runs job on workers 0..t-1 (0 being the caller) and waits for all.
func (p *Pool) run(t int, job func(worker int)) {
	p.wg.Add(t - 1)
	for w := 1; w < t; w++ {
		p.jobs[w-1] <- job
	}
	job(0)
	p.wg.Wait()
}

// Close stops the workers; the pool must not be in use.
func (p *Pool) Close() {
	for _, ch := range p.jobs {
		close(ch)
	}
	p.jobs = nil
	p.quit.Wait()
}
