package boot_test

import (
	"debug/elf"
	"sort"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// fpuControlWriters are the instructions that change MXCSR, the x87
// control word or the x87 stack wholesale.
var fpuControlWriters = map[x86asm.Op]bool{
	x86asm.LDMXCSR: true, x86asm.VLDMXCSR: true, x86asm.FLDCW: true, x86asm.FNINIT: true,
	x86asm.FLDENV: true, x86asm.FRSTOR: true, x86asm.FXRSTOR: true, x86asm.FXRSTOR64: true,
	x86asm.XRSTOR: true, x86asm.XRSTOR64: true, x86asm.XRSTORS: true, x86asm.XRSTORS64: true,
	x86asm.EMMS: true,
}

// fpuSaves are the x87-encoded instructions that only store state.
var fpuSaves = map[x86asm.Op]bool{
	x86asm.FXSAVE: true, x86asm.FXSAVE64: true, x86asm.FNSTCW: true, x86asm.FNSTSW: true,
}

// fpuControlAllowed are the runtime functions that may: the exit to user
// code (restoring a thread's state), the trap taken in kernel code
// (restoring what it saved), and the boot's reset to the ABI defaults.
var fpuControlAllowed = map[string]bool{
	"runtime.vkExitToUser": true,
	"runtime.vkKernelTrap": true,
	"runtime.vkFpuInit":    true,
}

// A system call saves no vector state, and a thread that did not switch
// gets its registers back as kernel code left them (runtime/vk_fpu.go):
// that is sound only if no kernel code changes MXCSR, the x87 control word
// or the x87 stack. This reads every function of package runtime (the
// stock runtime and the kernel overlaid into it) in a built kernel and
// fails on any such instruction, or on any x87 instruction at all in the
// kernel's own vk* code, outside the three functions that restore state.
func TestKernelLeavesFPUControlAlone(t *testing.T) {
	f, err := elf.Open(get(t, demoOnce))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	text := f.Section(".text")
	if text == nil {
		t.Fatal("no .text section")
	}
	code, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].Value < syms[j].Value })
	var bad []string
	seen := map[string]bool{}
	funcs := 0
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || !strings.HasPrefix(s.Name, "runtime.") ||
			s.Value < text.Addr || s.Value+s.Size > text.Addr+uint64(len(code)) {
			continue
		}
		funcs++
		body := code[s.Value-text.Addr : s.Value-text.Addr+s.Size]
		name := strings.TrimSuffix(s.Name, ".abi0")
		kernel := strings.HasPrefix(name, "runtime.vk")
		for off := 0; off < len(body); {
			inst, err := x86asm.Decode(body[off:], 64)
			if err != nil {
				off++ // padding or data: go on at the next byte
				continue
			}
			x87 := kernel && strings.HasPrefix(inst.Op.String(), "F") && !fpuSaves[inst.Op]
			if (fpuControlWriters[inst.Op] || x87) && !fpuControlAllowed[name] {
				bad = append(bad, name+": "+inst.String())
			}
			if fpuControlAllowed[name] && fpuControlWriters[inst.Op] {
				seen[name] = true
			}
			off += inst.Len
		}
	}
	if funcs < 500 {
		t.Fatalf("only %d runtime functions found in the kernel's symbols", funcs)
	}
	for name := range fpuControlAllowed {
		if !seen[name] {
			t.Errorf("%s restores no FPU state any more: the decoder or the list is out of date", name)
		}
	}
	for _, b := range bad {
		t.Errorf("changes FPU control state outside the entry/exit assembly: %s", b)
	}
	t.Logf("%d runtime functions decoded", funcs)
}
