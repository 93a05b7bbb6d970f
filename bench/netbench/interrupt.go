package main

// Undoing a run that is interrupted.
//
// A run leaves things on the host that must not outlive it: each guest's
// QEMU, and under -net tap the network namespaces with their tap
// devices. The deferred calls in run undo them when it returns, but not
// when Ctrl-C or SIGTERM ends the process: a QEMU then kept running, its
// guest serving on a tap device in a namespace nobody removed. So each
// of them is also registered here while it exists, and a signal undoes
// what is registered, newest first, before the process exits.

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

var interrupted struct {
	sync.Mutex
	next int
	undo map[int]func()
}

// onInterrupt registers f to run if the process is interrupted, and
// returns the call that withdraws it (for when the thing is undone in
// the ordinary way).
func onInterrupt(f func()) (withdraw func()) {
	interrupted.Lock()
	defer interrupted.Unlock()
	if interrupted.undo == nil {
		interrupted.undo = map[int]func(){}
	}
	id := interrupted.next
	interrupted.next++
	interrupted.undo[id] = f
	return func() {
		interrupted.Lock()
		defer interrupted.Unlock()
		delete(interrupted.undo, id)
	}
}

// undoAll runs every registered call, newest first, once, and reports
// how many ran.
func undoAll() int {
	interrupted.Lock()
	fs := interrupted.undo
	interrupted.undo = nil
	n := interrupted.next
	interrupted.Unlock()
	ran := 0
	for id := n - 1; id >= 0; id-- {
		if f, ok := fs[id]; ok {
			f()
			ran++
		}
	}
	return ran
}

// undoOnSignal makes SIGINT and SIGTERM undo what is registered and end
// the process with the shell's code for the signal.
func undoOnSignal() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-c
		n := undoAll()
		fmt.Fprintf(os.Stderr, "netbench: %v: stopped %d guests and namespaces\n", s, n)
		code := 130
		if s == syscall.SIGTERM {
			code = 143
		}
		os.Exit(code)
	}()
}
