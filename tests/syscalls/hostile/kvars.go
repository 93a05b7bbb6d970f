package main

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// kernelVars are address ranges of Velocity's own variables (the kernel's
// tables, package runtime's vk* globals), which the host test reads from
// the kernel ELF's symbol table and passes with -kernel-vars. They lie in
// the program's image, mapped and writable, yet no system call may read
// or write them on the program's behalf: inside Velocity each is as
// hostile a pointer as one into Linux's kernel half.
var kernelVars [][2]uintptr

// afterProgramData holds the variables whose 8 bytes before are the
// program's data, not another kernel variable.
var afterProgramData = map[uintptr]bool{}

// parseKernelVars reads "ADDR:SIZE[:p],..." (hexadecimal address, decimal
// size; p: the 8 bytes before it are the program's data).
func parseKernelVars(s string) error {
	for _, f := range strings.Split(s, ",") {
		p := strings.Split(f, ":")
		if len(p) < 2 || len(p) > 3 || len(p) == 3 && p[2] != "p" {
			return fmt.Errorf("-kernel-vars: %q is not ADDR:SIZE[:p]", f)
		}
		addr, err1 := strconv.ParseUint(p[0], 0, 64)
		size, err2 := strconv.ParseUint(p[1], 10, 64)
		if err1 != nil || err2 != nil || size == 0 {
			return fmt.Errorf("-kernel-vars: %q is not ADDR:SIZE[:p]", f)
		}
		kernelVars = append(kernelVars, [2]uintptr{uintptr(addr), uintptr(addr + size)})
		afterProgramData[uintptr(addr)] = len(p) == 3
	}
	return nil
}

// kernelVarPtr is an address inside a kernel variable. (Not one just
// before it: those bytes are the program's own, often the Go runtime's,
// and a call that may write there from the start would corrupt the
// program on Linux too. checkKernelVars covers ranges running into a
// variable with a write(2), which only reads them.)
func (g *gen) kernelVarPtr() uintptr {
	v := kernelVars[g.pick(len(kernelVars))]
	return v[0] + uintptr(g.pick(int(v[1]-v[0])))
}

// checkKernelVars makes, for every kernel variable, the calls that would
// copy into it or out of it, and checks that each says EFAULT (or, for a
// write that starts in the program's memory and runs into the variable,
// that it stops where the variable starts, as Linux's write stops at the
// first byte it cannot read). Then the kernel must still work.
func checkKernelVars() {
	null, err := syscall.Open("/dev/null", syscall.O_WRONLY, 0)
	if err != nil {
		fail("open /dev/null: %v", err)
	}
	defer syscall.Close(null)
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		fail("pipe: %v", err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	refused, partial := 0, 0
	expect := func(what string, v [2]uintptr, nr uintptr, a ...uintptr) {
		if err := sc(nr, a...); err != syscall.EFAULT {
			fail("%s into the kernel variable at %#x: %s, want EFAULT", what, v[0], result(err))
		}
		refused++
	}
	for _, v := range kernelVars {
		n := min(v[1]-v[0], 64)
		if _, err := syscall.Write(p[1], make([]byte, n)); err != nil {
			fail("pipe write: %v", err)
		}
		expect("read(2) from a pipe", v, syscall.SYS_READ, uintptr(p[0]), v[0], n)
		var drain [64]byte
		syscall.Read(p[0], drain[:n])
		expect("write(2) to /dev/null", v, syscall.SYS_WRITE, uintptr(null), v[0], n)
		expect("clock_gettime(2)", v, syscall.SYS_CLOCK_GETTIME, 1, v[0])
		expect("uname(2)", v, syscall.SYS_UNAME, v[0])
		expect("getrandom(2)", v, 318, v[0], n, 0)
		expect("pipe2(2)", v, syscall.SYS_PIPE2, v[0], 0)
		expect("nanosleep(2)'s request", v, syscall.SYS_NANOSLEEP, v[0], 0)
		expect("a FUTEX_WAIT word", v, syscall.SYS_FUTEX, v[0]&^3, 0, 0, 0)
		// From 8 bytes of the program's own data into the variable.
		if afterProgramData[v[0]] {
			r, err := sc1(syscall.SYS_WRITE, uintptr(null), v[0]-8, 64)
			if err != 0 || r != 8 {
				fail("write(2) of 64 bytes from 8 bytes before the kernel variable at %#x: %d, %s; want the 8", v[0], r, result(err))
			}
			partial++
		}
	}
	alive()
	fmt.Printf("kernelvars: %d kernel variables, %d calls into them refused with EFAULT, %d writes from the program's data stopped at one\n",
		len(kernelVars), refused, partial)
}
