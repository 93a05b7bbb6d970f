//go:build velocity

// Velocity kernel: boot. rt0Velocity (vk_entry_amd64.s) calls vkBoot on
// BOOT_ND.BIN's stack; vkBoot brings the machine up, builds the first
// thread's Linux-style process stack (argc, argv, envp, auxv) and returns
// that thread's frame, which "returns" into the stock runtime's
// _rt0_amd64_linux.

package runtime

import "unsafe"

const (
	vkBootMagic  = 0x544F4F424F4C4556
	vkMaxArgs    = clMaxArgs
	vkArgBufSize = clBufSize
	vkUserStack  = 1 << 20
	bootFlagMB2  = 1
	bootFlagMB1  = 2
	bootFlagRSDP = 4
	bootFlagFB   = 8
	bootFlagCut  = 16 // BOOT_ND.BIN had to cut the command line
)

// vkArgs is the command line, split (kernel/cmdline's clArgs: words in
// buf, offsets by role) and laid out as the first thread's stack wants it.
var vkArgs struct {
	clArgs
	quiet bool
	exe   int // offset of the exe= path in buf, 0 if none
}

var vkBootNs struct {
	stub, kernel int64 // monotonic (since power-on) at stub entry and at hand-over
}

// vkBoot is the BSP's first Go code, called from rt0Velocity.
//
// No write barriers: it runs before the Go heap or any P exists, on the
// boot stub's stack.
//
//go:nowritebarrierrec
func vkBoot(info uintptr) uintptr {
	vkSerialInit()
	bi := (*vkBootInfo)(unsafe.Pointer(info))
	if info == 0 || bi.magic != vkBootMagic {
		vkFatal("no Velocity boot info: boot through BOOT_ND.BIN (see docs/boot-protocol.md)")
	}
	if bi.version != 1 {
		vkFatal("boot info version is not 1: BOOT_ND.BIN and the kernel do not match")
	}
	// Pointer stores without write barriers: neither target is Go heap
	// and the garbage collector does not exist yet.
	*(*uintptr)(unsafe.Pointer(&vkBoot0)) = info
	(*muintptr)(unsafe.Pointer(&vkKernelG.g.m)).set(&vkKernelM)
	vkCPUFeatures()
	vkImageSegments(bi) // the ELF's headers, before its module's frames are reused
	vkGuardInit(bi)     // its symbol table, likewise (vk_guard.go)
	vkRandomInit()      // before anything draws random numbers (AT_RANDOM)
	vkFSLocate(bi)
	vkFramesInit(bi)
	vkPagingInit(bi)
	vkFSInit()
	vkImageVMAs(bi)
	vkIDTInit()
	vkIdleCheck()
	c := &vkCPUs[0]
	vkCPUInit(c)
	vkLocksLive = true // vkThisCPU works from here: the frame allocator locks
	vkPICDisable()
	vkTimeInit()
	vkParseCmdline(bi)
	vkFPUSetupBSP() // after the command line (noxsave), before any AP or thread
	vkGdbInit()
	c.online = 1
	idle := vkNewIdleThread(c, vkKernelStack(vkKStackSize))
	// Switching to the BSP's idle thread starts vkIdleLoop.
	idle.ksp = idle.kstackTop - 16
	*(*uintptr)(unsafe.Pointer(idle.ksp)) = 0
	*(*uintptr)(unsafe.Pointer(idle.ksp + 8)) = vkIdleStartPC()
	vkSMPInit(bi)
	if r := vkSched.reserved; r != 0 {
		// CPU 0 always runs system work, so it is never reserved; with it
		// out, reserve= can never take every CPU.
		vkSched.reserved &= vkAllCPUs() &^ 1
		if vkSched.reserved != r {
			vkPrint("velocity: reserve= names CPU 0, which is never reserved, or CPUs that do not exist; reserving ")
			vkPrintHex(vkSched.reserved)
			vkPrint("\n")
		}
	}
	vkIRQInit()

	// The first thread: it enters the Go runtime exactly as Linux would
	// start a static executable.
	var f vkFrame
	f.rip = uint64(vkRuntimeEntryPC())
	f.rsp = uint64(vkBuildProcessStack())
	f.rflags = 0x202
	f.cs, f.ss = vkSelKernelCode, vkSelKernelData
	t := vkNewThread(&f, 0, 0)
	// Like Linux's isolcpus: reserved CPUs are not in the program's
	// default affinity (so GOMAXPROCS leaves them out); work pinned there
	// with sched_setaffinity runs there alone.
	t.affinity = ^vkSched.reserved
	vkFpuInit()
	vkFPUSave(uintptr(unsafe.Pointer(&t.fpu[0])))
	t.state = thRunning
	t.onCPU = 0
	t.lastRun = vkNanotime()
	t.sliceEnd = t.lastRun + vkQuantumNs
	c.cur = uintptr(unsafe.Pointer(t))
	c.kstackTop = t.kstackTop
	c.fpu = uintptr(unsafe.Pointer(&t.fpu[0]))
	c.userFS = 0

	vkBootNs.stub = vkCyclesToNs(bi.tscEntry)
	vkBootNs.kernel = vkNanotime()
	if !vkArgs.quiet {
		vkBanner(bi)
	}
	vkGdbBootWait(vkFrameOf(t)) // debug=wait stops here, before Go starts
	return t.kstackTop - vkFrameSize
}

func vkBanner(bi *vkBootInfo) {
	vkPrint("velocity: ")
	vkWrite(vkCPUModel())
	vkPrint(", SIMD ")
	vkPrint(vkSimdName())
	vkPrint(", ")
	vkPrintDec(int64(vkCPUCount))
	vkPrint(" CPU")
	if vkSMP.failed > 0 {
		vkPrint(" (")
		vkPrintDec(int64(vkSMP.failed))
		vkPrint(" failed to start)")
	}
	if vkSched.reserved != 0 {
		vkPrint(" (reserved mask ")
		vkPrintHex(vkSched.reserved)
		vkPrint(")")
	}
	vkPrint(", ")
	vkPrintDec(int64(vkFrames.total * vkPageSize >> 20))
	vkPrint(" MiB RAM free, TSC ")
	vkPrintDec(int64(vkClock.tscHz / 1_000_000))
	vkPrint(" MHz (")
	if vkClock.tscCPUID {
		vkPrint("CPUID 0x15")
	} else {
		vkPrint("PIT")
	}
	vkPrint("), booted by ")
	if bi.flags&bootFlagMB2 != 0 {
		vkPrint("multiboot2")
	} else {
		vkPrint("multiboot1")
	}
	vkPrint("\nvelocity: kernel ready ")
	vkPrintFixed(vkBootNs.kernel/1000, 3)
	vkPrint(" ms after power-on (stub entered at ")
	vkPrintFixed(vkBootNs.stub/1000, 3)
	vkPrint(" ms); starting Go\n")
}

// vkParseCmdline splits the kernel command line (kernel/cmdline, where
// the grammar is) and applies it: the environment and arguments for the
// first thread, the kernel's options now. Anything else is an error: a
// typo must not boot silently with the wrong settings.
func vkParseCmdline(bi *vkBootInfo) {
	a := &vkArgs
	a.argv[0] = a.clPut("/velocity")
	a.nargv = 1
	if bi.cmdline == 0 {
		vkFSAddCmdline(nil)
		return
	}
	line := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(bi.cmdline))), bi.cmdlineLen)
	if bi.flags&bootFlagCut != 0 || len(line) >= vkArgBufSize-64 {
		vkPrint("velocity: bad kernel command line: longer than 4095 bytes; refusing to boot with it cut short\n")
		vkExit(2)
	}
	vkFSAddCmdline(line)
	if msg, bad := a.clSplit(line); msg != "" {
		vkCmdlineError(msg, a.clWord(bad))
	}
	for i := 0; i < a.nopts; i++ {
		off := a.opts[i]
		tok := a.clWord(off)
		kind, val := clOption(tok)
		switch kind {
		case clOptQuiet:
			a.quiet = true
		case clOptNoXSave:
			vkNoXSave = true // FXSAVE only, AVX off (vk_fpu.go), as Linux's noxsave
		case clOptPagePoison:
			vkPoisonStart() // vk_mem.go
		case clOptReserve:
			m, ok := clParseCPUList(val, vkMaxCPU)
			if !ok {
				vkCmdlineError("reserve= needs a CPU list such as 3 or 2,3 or 2-3", tok)
			}
			vkSched.reserved = m
		case clOptIRQCPUs:
			m, ok := clParseCPUList(val, vkMaxCPU)
			if !ok {
				vkCmdlineError("irqcpus= needs a CPU list such as 0 or 0,1 or 0-1", tok)
			}
			vkIRQCPUs = m
		case clOptExe:
			// The program's path on the host: os.Args[0] and /proc/self/exe.
			if val[0] != '/' || len(tok) > vkPathMax {
				vkCmdlineError("exe= needs an absolute path", tok)
			}
			a.argv[0] = off + 4
			a.exe = off + 4
		case clOptCwd:
			if val[0] != '/' || !vkSetCwd(val) {
				vkCmdlineError("cwd= needs an absolute path", tok)
			}
		case clOptSpinSleep:
			us, ok := clParseMicros(val, vkSpinSleepLimit)
			if !ok {
				vkCmdlineError("spinsleep= needs microseconds from 0 (never spin) to 100", tok)
			}
			vkSpinSleepMax = int64(us) * 1000
		case clOptTLBRefresh:
			ms, ok := clParseMicros(val, vkTLBRefreshLimit)
			if !ok {
				vkCmdlineError("tlbrefresh= needs milliseconds from 0 (never) to 1000", tok)
			}
			vkTLBRefreshNs = int64(ms) * 1_000_000
		case clOptPackage:
			// Read from /proc/cmdline by the package that owns it.
		default:
			if !vkGdbOption(tok) { // debug, debug=wait, debugport=0xNNN
				vkCmdlineError("unknown kernel option", tok)
			}
		}
	}
}

func vkCmdlineError(msg string, tok []byte) {
	vkPrint("velocity: bad kernel command line: ")
	vkPrint(msg)
	if tok != nil {
		vkPrint(" \"")
		vkWrite(tok)
		vkPrint("\"")
	}
	vkPrint("\nvelocity: usage: [KEY=VALUE ...] [quiet] [noxsave] [pagepoison] [cwd=/dir] [exe=/path] [reserve=CPUS] [irqcpus=CPUS] [spinsleep=US] [tlbrefresh=MS] [ip=A.B.C.D/N|dhcp|off] [gw=A.B.C.D] [dns=A.B.C.D] [peers=HOST:PORT,...] [debug[=wait]] [debugport=0xNNN] [-- args ...]\n")
	vkExit(2)
}

func vkCStringLen(b []byte) int {
	for i, ch := range b {
		if ch == 0 {
			return i
		}
	}
	return len(b)
}

// vkBuildProcessStack maps the first thread's stack and lays out what
// Linux's execve leaves on it; it returns the initial stack pointer.
func vkBuildProcessStack() uintptr {
	a := &vkArgs
	// The other CPUs are up (idle): the mapping list changes under the
	// kernel lock like any mmap. The stores below fault the pages in.
	vkLock()
	base := vkSysMmap(0, vkUserStack, protRead|protWrite, mapAnonymous|0x02, -1)
	vkUnlock()
	if int64(base) < 0 {
		vkFatal("cannot map the initial stack")
	}
	top := base + vkUserStack
	// Strings and AT_RANDOM bytes at the top.
	strs := (top - uintptr(a.used) - 16) &^ 15
	copy(unsafe.Slice((*byte)(unsafe.Pointer(strs)), a.used), a.buf[:a.used])
	random := strs - 16
	for i := uintptr(0); i < 16; i += 8 {
		*(*uint64)(unsafe.Pointer(random + i)) = vkRandom64()
	}
	platform := random - 16
	copy(unsafe.Slice((*byte)(unsafe.Pointer(platform)), 7), "x86_64\x00")

	auxv := [...]uintptr{
		6, vkPageSize, // AT_PAGESZ
		17, 100, // AT_CLKTCK
		16, 0, // AT_HWCAP
		25, random, // AT_RANDOM
		15, platform, // AT_PLATFORM
		23, 0, // AT_SECURE
		33, vkVDSOBuild(), // AT_SYSINFO_EHDR: the vDSO
		11, 0, 12, 0, 13, 0, 14, 0, // AT_UID, AT_EUID, AT_GID, AT_EGID
		0, 0, // AT_NULL
	}
	words := 1 + a.nargv + 1 + a.nenv + 1 + len(auxv)
	sp := (platform - uintptr(words)*8) &^ 15
	w := unsafe.Slice((*uintptr)(unsafe.Pointer(sp)), words)
	i := 0
	w[i] = uintptr(a.nargv)
	i++
	for j := 0; j < a.nargv; j++ {
		w[i] = strs + uintptr(a.argv[j])
		i++
	}
	w[i] = 0
	i++
	for j := 0; j < a.nenv; j++ {
		w[i] = strs + uintptr(a.env[j])
		i++
	}
	w[i] = 0
	i++
	copy(w[i:], auxv[:])
	return sp
}
