package main

import (
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/velocityos/velocity/kernel"
)

// checkDyingClose closes the last fd of a pipe's write end, on the path
// without the kernel lock, while another CPU holds that lock, over n
// rounds. The close cannot release the pipe end then: the holder may have
// found it through its fd just before the close emptied the slot, and
// may still be using it. So the close marks it dying and waits for the
// lock (vkFilePut), and the reader blocked on the read end sees EOF only
// after the holder lets go. In each round a thread on CPU 0 holds the
// lock for 30 ms (Velocity's crash call, kind 7), a thread on CPU 1
// closes as soon as the call says it holds it, and a third goroutine
// waits in read. Every round's reader must get EOF (0 bytes), and in at
// least a quarter of the rounds (under a loaded host the closer may
// arrive after the release) the kernel must have counted the pipe end
// as dying, released only when the lock came free (kernel.Info's
// DyingFiles). A kernel that released the end at once, lock held or not,
// counted none (and the close's return time alone does not tell: the
// way back to user code may wait for the lock too).
func checkDyingClose(n int) bool {
	if runtime.NumCPU() < 2 {
		fmt.Println("STRESS dyingclose FAIL: needs two CPUs")
		return false
	}
	const hold = 30 * time.Millisecond
	before, err := kernel.ReadInfo()
	if err != nil {
		fmt.Println("STRESS dyingclose FAIL:", err)
		return false
	}
	waited := 0
	for i := 0; i < n; i++ {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			fmt.Println("STRESS dyingclose FAIL: pipe2:", err)
			return false
		}
		read := make(chan error, 1)
		go func() {
			var b [1]byte
			n, err := syscall.Read(p[0], b[:])
			if err == nil && n != 0 {
				err = fmt.Errorf("read %d bytes, want EOF", n)
			}
			read <- err
		}()
		var held uint32
		released := onCPU(0, func() error { return holdKernelLock(hold, &held) })
		closed := onCPU(1, func() error {
			waitHeld(&held)
			if err := syscall.Close(p[1]); err != nil {
				return fmt.Errorf("close: %v", err)
			}
			return nil
		})
		r, c := <-released, <-closed
		if r.IsZero() || c.IsZero() {
			return false
		}
		select {
		case err := <-read:
			if err != nil {
				fmt.Println("STRESS dyingclose FAIL: reader:", err)
				return false
			}
		case <-time.After(5 * time.Second):
			fmt.Println("STRESS dyingclose FAIL: the reader saw no EOF 5 s after the close")
			return false
		}
		syscall.Close(p[0])
		if !c.Before(r.Add(-time.Millisecond)) {
			waited++ // the close came back with the holder's release, not before it
		}
	}
	after, err := kernel.ReadInfo()
	if err != nil {
		fmt.Println("STRESS dyingclose FAIL:", err)
		return false
	}
	dying := after.DyingFiles - before.DyingFiles
	fmt.Printf("STRESS dyingclose rounds=%d dying=%d close_returned_after_release=%d\n", n, dying, waited)
	if dying < uint64(n+3)/4 {
		fmt.Printf("STRESS dyingclose FAIL: %d of %d closes left their pipe end dying for the lock\n", dying, n)
		return false
	}
	return true
}

// onCPU runs f in a new goroutine on a thread pinned to cpu (kernel.Pin)
// and sends the time f returned at, or the zero time, after printing why,
// if the pin or f failed.
func onCPU(cpu int, f func() error) <-chan time.Time {
	out := make(chan time.Time, 1)
	go func() {
		unpin, err := kernel.Pin(cpu)
		if err == nil {
			err = f()
			unpin()
		}
		if err != nil {
			fmt.Printf("STRESS dyingclose FAIL: on CPU %d: %v\n", cpu, err)
			out <- time.Time{}
			return
		}
		out <- time.Now()
	}()
	return out
}
