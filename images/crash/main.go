// Command crash fails on purpose, for the boot tests in tests/boot.
//
// Usage:
//
//	crash exit N       os.Exit(N)
//	crash nilderef     nil dereference in a goroutine: Go's panic traceback, exit 2
//	crash kernelfault  kernel.CrashKernel: a page fault in the kernel itself
//	crash kernelpanic  a Go run-time panic (index out of range) in kernel code
//	crash ud2          execute an illegal instruction (UD2): SIGILL, exit 2
//	crash jumpdata     call into a heap page (no-execute): the kernel's
//	                   exception report, then Go's SIGSEGV report, exit 2
//	crash kerneljumpdata  the kernel calls into its own data (no-execute):
//	                   a kernel exception report ends the machine
//	crash hang         never ends: one thread blocked reading a pipe, one
//	                   spinning, one asleep for an hour, and main waiting
//	                   on a channel (for the NMI dump of velocity run -timeout)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/velocityos/velocity/kernel"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fmt.Println("crash:", os.Args[1:])
	switch os.Args[1] {
	case "exit":
		if len(os.Args) != 3 {
			usage()
		}
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			usage()
		}
		os.Exit(n)
	case "nilderef":
		done := make(chan int)
		go func() {
			var p *int
			done <- *p
		}()
		<-done
	case "kernelfault":
		err := kernel.CrashKernel()
		fmt.Println("crash: CrashKernel returned:", err)
		os.Exit(1)
	case "kernelpanic":
		// Velocity's crash call (0x5601), kind 2: no wrapper in package
		// kernel, since only this test wants it.
		_, _, errno := syscall.RawSyscall(0x5601, 2, 0, 0)
		fmt.Println("crash: the crash call returned:", errno)
		os.Exit(1)
	case "ud2":
		illegalInstruction()
	case "jumpdata":
		jumpIntoData()
	case "kerneljumpdata":
		_, _, errno := syscall.RawSyscall(0x5601, 3, 0, 0) // crash kind 3
		fmt.Println("crash: the crash call returned:", errno)
		os.Exit(1)
	case "hang":
		hang()
	default:
		usage()
	}
	fmt.Println("crash: still alive")
	os.Exit(1)
}

// hang blocks forever in the ways a stuck program does, each on a thread
// of its own, so that the kernel's NMI dump shows a pipe read, a long
// sleep and a thread running Go code.
func hang() {
	var p [2]int
	if err := syscall.Pipe2(p[:], 0); err != nil {
		fmt.Println("crash: pipe2:", err)
		os.Exit(1)
	}
	started := make(chan bool, 3)
	go func() {
		runtime.LockOSThread()
		started <- true
		var b [1]byte
		syscall.Read(p[0], b[:]) // nobody writes: blocks forever
	}()
	go func() {
		runtime.LockOSThread()
		started <- true
		syscall.Nanosleep(&syscall.Timespec{Sec: 3600}, nil)
	}()
	go func() {
		runtime.LockOSThread()
		started <- true
		for x := 0; ; x++ {
			spin = x
		}
	}()
	for i := 0; i < 3; i++ {
		<-started
	}
	fmt.Println("crash: hanging")
	select {}
}

var spin int

// illegalInstruction calls a function whose code is UD2, placed in an
// executable anonymous mapping, so no assembly is needed.
func illegalInstruction() {
	code, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE|syscall.PROT_EXEC,
		syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		fmt.Println("crash: mmap:", err)
		os.Exit(1)
	}
	copy(code, []byte{0x0f, 0x0b}) // ud2
	// A func value points at a word holding the code address.
	pc := uintptr(unsafe.Pointer(&code[0]))
	fv := &pc
	f := *(*func())(unsafe.Pointer(&fv))
	f()
}

// jumpIntoData calls a RET instruction that lies in ordinary heap memory.
// Heap pages are no-execute, so the call faults on the instruction fetch;
// where they were executable, it would return and the program would say
// it is still alive.
func jumpIntoData() {
	code := make([]byte, 64)
	for i := range code {
		code[i] = 0xc3 // ret
	}
	pc := uintptr(unsafe.Pointer(&code[0]))
	fv := &pc
	f := *(*func())(unsafe.Pointer(&fv))
	f()
	fmt.Println("crash: returned from a call into the heap at", pc)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: crash exit N | nilderef | kernelfault | kernelpanic | ud2 | jumpdata | kerneljumpdata | hang")
	os.Exit(64)
}
