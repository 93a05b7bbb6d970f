//go:build velocity

// Velocity kernel: naming the system call a kernel fault happened in.
//
// When kernel code faults, or the Go runtime dies while running kernel
// code, the register dump alone does not say which system call, with
// which arguments, led there. The calling thread's entry frame (the one
// at the top of its kernel stack) still holds it: while a system call is
// being served, that frame's vector is vkVectorSyscall and rax is the
// number (handlers write the result into rax only when they return).
// Trap context: no allocation, no locks; it only reads.

package runtime

// vkSyscallInFlight returns the entry frame of the system call the
// current thread is in, or nil.
func vkSyscallInFlight() *vkFrame {
	c := vkThisCPU()
	if c.cur == 0 || c.cur == c.idleT {
		return nil
	}
	t := vkThreadOf(c.cur)
	if t.kstackTop == 0 {
		return nil
	}
	f := vkFrameOf(t)
	if f.vector != vkVectorSyscall {
		return nil
	}
	return f
}

// vkPrintSyscallInFlight prints "during system call NAME(args...)" for
// the system call the current thread is in, if any.
func vkPrintSyscallInFlight(prefix string) {
	f := vkSyscallInFlight()
	if f == nil {
		return
	}
	vkPrint(prefix)
	vkPrint("during system call ")
	vkPrintSyscallCall(f.rax, f)
	vkPrint(" from rip ")
	vkPrintHex(f.rip)
	vkPrint("\n")
}

// vkVelocitySyscallName names Velocity's own system calls (vkSysOwnNames,
// next to their table in vk_syscall.go).
func vkVelocitySyscallName(nr uint64) string {
	if nr-vkSysOwnBase < vkSysOwnCount {
		return vkSysOwnNames[nr-vkSysOwnBase]
	}
	return ""
}

// vkPrintSyscallCall prints system call nr as "name(arg, ...)" with the
// six argument registers of its entry frame f.
func vkPrintSyscallCall(nr uint64, f *vkFrame) {
	if nr < uint64(len(vkSyscallNames)) && vkSyscallNames[nr] != "" {
		vkPrint(vkSyscallNames[nr])
	} else if name := vkVelocitySyscallName(nr); name != "" {
		vkPrint(name)
	} else {
		vkPrint("#")
		vkPrintDec(int64(nr))
	}
	vkPrint("(")
	for i, a := range [6]uint64{f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9} {
		if i > 0 {
			vkPrint(", ")
		}
		vkPrintHex(a)
	}
	vkPrint(")")
}
