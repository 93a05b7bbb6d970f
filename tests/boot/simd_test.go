package boot_test

import (
	"strings"
	"testing"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
)

// simdTests are the tests/semantics tests about vector and x87/SSE state.
const simdTests = "^(TestSIMDMatchesCPUID|TestVectorStateSurvivesPreemption|TestFloatStateAcrossSignals|TestNilDereferenceIsAPanic|TestAsyncPreemptionOfTightLoop|TestFPUControlAcrossBlockingSyscalls|TestSignalAfterSyscallKeepsFPU)$"

// TestSIMDState boots the semantics tests about register state on two
// CPUs, once as the kernel starts by default and once with noxsave:
//
//   - by default, when the guest's CPUID offers XSAVE, AVX and AVX2 (QEMU's
//     TCG "max" model does from 7.2 on), the kernel must have enabled them
//     (CR4.OSXSAVE, XCR0 with AVX), Go must see AVX2, the boot banner must
//     say so, and YMM registers must survive preemption and signals;
//   - with noxsave the kernel falls back to FXSAVE: OSXSAVE clear, Go sees
//     no AVX, and XMM/MXCSR/x87 state must still survive.
//
// Both boots also run the checks of what system calls, which save no
// vector state, keep (fpusyscall_amd64_test.go).
//
// The consistency between CPUID, XCR0 and Go's detection is asserted
// inside the guest (TestSIMDMatchesCPUID); its log line tells this test
// what the CPU model offered.
func TestSIMDState(t *testing.T) {
	need(t, "qemu")
	for _, opt := range []string{"xsave", "noxsave"} {
		t.Run(opt, func(t *testing.T) {
			var opts []string
			if opt == "noxsave" {
				opts = append(opts, "noxsave")
			}
			cmdline, err := build.KernelCmdline(nil, append(opts, "cwd="+semDir()),
				[]string{"-test.v", "-test.run=" + simdTests, "-test.timeout=3m"})
			if err != nil {
				t.Fatal(err)
			}
			r := boot(t, qemu.Config{Kernel: get(t, semOnce), Stub: get(t, stubOnce), SMP: 2, Append: cmdline})
			r.expect(t, 0, "--- PASS: TestSIMDMatchesCPUID", "--- PASS: TestVectorStateSurvivesPreemption",
				"--- PASS: TestFloatStateAcrossSignals", "--- PASS: TestNilDereferenceIsAPanic",
				"--- PASS: TestFPUControlAcrossBlockingSyscalls", "--- PASS: TestSignalAfterSyscallKeepsFPU", "\nPASS\n")
			m := r.match(t, `simd: cpuid xsave=(\w+) avx=(\w+) avx2=(\w+) avx512f=\w+ osxsave=(\w+) xcr0=(\w+); Go HasAVX=(\w+) HasAVX2=(\w+)`)
			xsave, avx, avx2 := m[1] == "true", m[2] == "true", m[3] == "true"
			osxsave, goAVX, goAVX2 := m[4] == "true", m[6] == "true", m[7] == "true"
			banner := r.match(t, `velocity: .+, SIMD ([\w-]+), \d+ CPU`)[1]
			t.Logf("%s; banner: SIMD %s; %s", m[0], banner, r.match(t, `\d+ holders x .*`)[0])
			switch {
			case opt == "noxsave":
				if osxsave || goAVX {
					t.Errorf("with noxsave: OSXSAVE = %v, Go HasAVX = %v; want both false", osxsave, goAVX)
				}
				if banner != "SSE" {
					t.Errorf("with noxsave the banner says SIMD %s, want SSE", banner)
				}
				if !strings.Contains(r.serial, "(XMM registers)") {
					t.Errorf("the state test did not hold XMM registers:\n%s", r.serial)
				}
			case xsave && avx && avx2:
				if !osxsave || !goAVX2 {
					t.Errorf("the CPU offers XSAVE, AVX and AVX2 but OSXSAVE = %v (XCR0 %s) and Go HasAVX2 = %v", osxsave, m[5], goAVX2)
				}
				if banner != "AVX2" && banner != "AVX-512" {
					t.Errorf("the banner says SIMD %s, want AVX2 or AVX-512", banner)
				}
				if !strings.Contains(r.serial, "(YMM registers)") {
					t.Errorf("the state test did not hold YMM registers:\n%s", r.serial)
				}
			default:
				t.Logf("this QEMU CPU model offers xsave=%v avx=%v avx2=%v: only consistency was checked", xsave, avx, avx2)
			}
		})
	}
}
