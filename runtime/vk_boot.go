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
	vkMaxArgs    = 256
	vkArgBufSize = 8192
	vkUserStack  = 1 << 20
	bootFlagMB2  = 1
	bootFlagMB1  = 2
	bootFlagRSDP = 4
	bootFlagFB   = 8
	bootFlagCut  = 16 // BOOT_ND.BIN had to cut the command line
)

var vkArgs struct {
	buf   [vkArgBufSize]byte
	used  int
	argv  [vkMaxArgs]int // offsets into buf
	env   [vkMaxArgs]int
	nargv int
	nenv  int
	quiet bool
	exe   int // offset of the exe= path in buf, 0 if none
}

var vkBootNs struct {
	stub, kernel int64 // monotonic (since power-on) at stub entry and at hand-over
}

func vkBoot(info uintptr) uintptr {
	vkSerialInit()
	bi := (*vkBootInfo)(unsafe.Pointer(info))
	if info == 0 || bi.magic != vkBootMagic {
		vkFatal("no Velocity boot info: boot through BOOT_ND.BIN (see docs/boot-protocol.md)")
	}
	if bi.version != 1 {
		vkFatal("boot info version is not 1: BOOT_ND.BIN and the kernel do not match")
	}
	vkBoot0 = bi
	vkKernelG.g.m = &vkKernelM
	vkCPUFeatures()
	vkRandomInit() // before anything draws random numbers (AT_RANDOM)
	vkFSLocate(bi)
	vkFramesInit(bi)
	vkPagingInit(bi)
	vkFSInit()
	vkVMAAdd(uintptr(bi.imageStart)&^(2<<20-1), (uintptr(bi.imageEnd)+2<<20-1)&^(2<<20-1), vmaKernel|protRead|protWrite)
	vkVMAAdd(uintptr(bi.stubStart)&^4095, (uintptr(bi.stubEnd)+4095)&^4095, vmaKernel|protRead|protWrite)
	vkIDTInit()
	c := &vkCPUs[0]
	vkCPUInit(c)
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
	vkPrint(vkClock.calibrated)
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

// vkParseCmdline splits the kernel command line. Grammar:
//
//	[KEY=VALUE ...] [option ...] [-- arg ...]
//
// KEY=VALUE with an upper-case KEY goes to the environment, options
// configure the kernel, and everything after "--" becomes os.Args[1:].
// Double quotes group words with spaces. Anything else is an error: a typo
// must not boot silently with the wrong settings.
func vkParseCmdline(bi *vkBootInfo) {
	a := &vkArgs
	a.argv[0] = vkArgPut("/velocity")
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
	afterDashes := false
	for i := 0; i < len(line); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\n') {
			i++
		}
		if i == len(line) {
			break
		}
		start := a.used
		quoted := false
		for i < len(line) && (quoted || line[i] != ' ' && line[i] != '\t' && line[i] != '\n') {
			if line[i] == '"' {
				quoted = !quoted
			} else {
				a.buf[a.used] = line[i]
				a.used++
			}
			i++
		}
		if quoted {
			vkCmdlineError("unterminated double quote", nil)
		}
		a.buf[a.used] = 0
		a.used++
		tok := a.buf[start : a.used-1]
		switch {
		case afterDashes:
			if a.nargv == vkMaxArgs {
				vkCmdlineError("too many arguments", nil)
			}
			a.argv[a.nargv] = start
			a.nargv++
		case string(tok) == "--":
			afterDashes = true
		case vkIsEnvAssignment(tok):
			if a.nenv == vkMaxArgs {
				vkCmdlineError("too many environment variables", nil)
			}
			a.env[a.nenv] = start
			a.nenv++
		case string(tok) == "quiet":
			a.quiet = true
		case string(tok) == "noxsave":
			vkNoXSave = true // FXSAVE only, AVX off (vk_fpu.go), as Linux's noxsave
		case vkGdbOption(tok): // debug, debug=wait, debugport=0xNNN
		case len(tok) > 8 && string(tok[:8]) == "reserve=":
			m, ok := vkParseCPUList(tok[8:])
			if !ok {
				vkCmdlineError("reserve= needs a CPU list such as 3 or 2,3 or 2-3", tok)
			}
			vkSched.reserved = m
		case len(tok) > 8 && string(tok[:8]) == "irqcpus=":
			m, ok := vkParseCPUList(tok[8:])
			if !ok {
				vkCmdlineError("irqcpus= needs a CPU list such as 0 or 0,1 or 0-1", tok)
			}
			vkIRQCPUs = m
		case len(tok) > 4 && string(tok[:4]) == "exe=":
			// The program's path on the host: os.Args[0] and /proc/self/exe.
			if tok[4] != '/' || len(tok) > vkPathMax {
				vkCmdlineError("exe= needs an absolute path", tok)
			}
			a.argv[0] = start + 4
			vkArgs.exe = start + 4
		case vkIsPackageOption(tok):
			// Read from /proc/cmdline by the package that owns it.
		case len(tok) > 4 && string(tok[:4]) == "cwd=":
			if tok[4] != '/' || !vkSetCwd(tok[4:]) {
				vkCmdlineError("cwd= needs an absolute path", tok)
			}
		default:
			vkCmdlineError("unknown kernel option", tok)
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
	vkPrint("\nvelocity: usage: [KEY=VALUE ...] [quiet] [noxsave] [cwd=/dir] [exe=/path] [reserve=CPUS] [irqcpus=CPUS] [ip=A.B.C.D/N|dhcp|off] [gw=A.B.C.D] [dns=A.B.C.D] [peers=HOST:PORT,...] [debug[=wait]] [debugport=0xNNN] [-- args ...]\n")
	vkExit(2)
}

// vkParseCPUList parses "3", "1,3" or "2-5" into a CPU mask.
func vkParseCPUList(s []byte) (uint64, bool) {
	var m uint64
	for len(s) > 0 {
		lo, n := vkAtoi(s)
		if n == 0 || lo >= vkMaxCPU {
			return 0, false
		}
		s = s[n:]
		hi := lo
		if len(s) > 0 && s[0] == '-' {
			if hi, n = vkAtoi(s[1:]); n == 0 || hi >= vkMaxCPU || hi < lo {
				return 0, false
			}
			s = s[1+n:]
		}
		for i := lo; i <= hi; i++ {
			m |= 1 << i
		}
		if len(s) > 0 {
			if s[0] != ',' || len(s) == 1 {
				return 0, false
			}
			s = s[1:]
		}
	}
	return m, m != 0
}

func vkAtoi(s []byte) (int, int) {
	v, n := 0, 0
	for n < len(s) && n < 4 && s[n] >= '0' && s[n] <= '9' {
		v = v*10 + int(s[n]-'0')
		n++
	}
	return v, n
}

// vkPackageOptions are the options the kernel accepts but does not use
// itself: packages linked into the program read them from /proc/cmdline
// (netstack: ip=, gw=, dns=; biosphere: peers=). They are listed here so a
// typo in any other key still stops the boot. Each package checks its own
// values and says which one is wrong.
var vkPackageOptions = [...]string{"ip=", "gw=", "dns=", "peers="}

func vkIsPackageOption(tok []byte) bool {
	for _, k := range vkPackageOptions {
		if len(tok) >= len(k) && string(tok[:len(k)]) == k {
			return true
		}
	}
	return false
}

func vkIsEnvAssignment(tok []byte) bool {
	for i, ch := range tok {
		switch {
		case ch == '=':
			return i > 0
		case ch == '_' || ch >= 'A' && ch <= 'Z' || i > 0 && ch >= '0' && ch <= '9':
		default:
			return false
		}
	}
	return false
}

func vkArgPut(s string) int {
	a := &vkArgs
	start := a.used
	copy(a.buf[a.used:], s)
	a.used += len(s)
	a.buf[a.used] = 0
	a.used++
	return start
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
	base := vkSysMmap(0, vkUserStack, protRead|protWrite, mapAnonymous|0x02, -1)
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
