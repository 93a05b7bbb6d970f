#!/usr/bin/env bash
# make bench: boot time from QEMU start to the first line of main, Velocity
# versus a Linux guest (Debian's kernel) running the same Go program as /init,
# on the same QEMU and accelerator (bench/bootbench/main.go); then the SMP
# benchmarks, the same way (bench/smpbench/main.go).
#
# Needs the network only for the first `apt-get download` of Debian's kernel
# (cached in build/bench/linux); everything else works offline. Flags are
# passed to the runner, e.g. scripts/bench.sh -n 9; VELOCITY_ACCEL=tcg|kvm
# picks the accelerator for both guests.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
mkdir -p build

# Module table (lang/modtable): cost of one more importer of a loaded module
# (load latency of the importer's own code, heap growth, and the imported
# module's table state; goal: 0 new code pages, < 1 KiB of state).
"$GO" test -run '^$' -bench 'ExtraImporter' -benchtime 500x ./lang/modtable
# Module JIT (lang/jit): compile latency per function, and time per call of
# the interpreter, the JIT and the JIT of heal.Optimize's IR against the same
# eight kernels compiled by gc (bench/gcref); median JIT/gc vs the 1.5× goal.
"$GO" build -o build/jitbench-runner ./bench/jitbench
build/jitbench-runner
# Self-healing (heal/): eight deliberately slow modules (examples/heal)
# healed through the real loop (telemetry rule, optimizer, gate, swap);
# original vs healed vs gc (bench/gcref), median speedup vs the 3× goal and
# median healed/gc vs 1.5×.
"$GO" build -o build/healbench-runner ./bench/healbench
build/healbench-runner -dir examples/heal
# Probe overhead per instrumented call, and the floor: what one clock read
# costs on this CPU (two per call).
"$GO" test -run '^$' -bench 'Instrumented|TimestampFloor' ./lang/jit
# The JIT against the interpreter on 100,000 random programs (make test
# runs 10,000 with a fixed seed).
"$GO" test -count=1 -run TestDifferentialProgen -timeout 0 ./lang/jit -args -diff.programs 100000 -diff.timeout 0

# Live patching (patch/): the pause of one rewrite of a function entry while
# callers run, on the host (mprotect + membarrier) and in the kernel (INT3,
# IPIs on two CPUs).
"$GO" test -run '^$' -bench Swap -benchtime 2000x ./patch
build/velocity test -smp 2 -run '^$' -bench Swap -benchtime 200x ./patch

# --- The Biosphere (biosphere/): importing a 100-block module closure over
# the trustless-gateway protocol on loopback, from 1 and 3 peers and as one
# CAR, blocks/s and MB/s; the same client against kubo's gateway serving the
# same blocks when kubo is built (scripts/ipfs-interop.sh), as a ratio.
"$GO" build -o build/biospherebench-runner ./bench/biospherebench
build/biospherebench-runner
# --- end of the Biosphere section

"$GO" build -o build/bootbench-runner ./bench/bootbench
build/bootbench-runner "$@"

# On-board LLM (llm/): decode and prefill tokens/s of the engine against
# llama.cpp (npm node-llama-cpp, installed by scripts/deps-npm.sh) on the
# same Qwen2.5-0.5B-shaped random-weight files (Q8_0 and the Q4_K_M mix,
# generated once into build/llmbench), on one and two threads, best of 3,
# with the ratio and the memory-bandwidth estimate; then Tab-to-first-token
# of a scripted typing session with and without the KV prefetch
# (llm/prefetch). Flags: $LLMBENCH_FLAGS.
scripts/deps-npm.sh
"$GO" build -o build/llmbench-runner ./bench/llmbench
build/llmbench-runner ${LLMBENCH_FLAGS:-}
# The same engine inside Velocity (images/llm under QEMU, -smp 2 reserve=1):
# tokens/s of a tiny model on the reserved CPU, then the lateness of a 1 ms
# timer on the system CPU with the engine idle, generating pinned to the
# reserved CPU, and generating unpinned.
mkdir -p build/llmbench
build/velocity llm gen -o "$PWD/build/llmbench/tiny-q8_0.gguf" -type Q8_0
build/velocity run -smp 2 -fs "$PWD/build/llmbench/tiny-q8_0.gguf" \
	-append "reserve=1 -- -model $PWD/build/llmbench/tiny-q8_0.gguf -prompt \"def fib(n):\" -n 32 -wakeups ${LLM_WAKEUPS:-2000}" ./images/llm
# The console inside Velocity: images/llm -shell types a scripted session
# (three lines of code, Tab mid-line and at the end, a backspaced typo;
# then the same with prefetch off) at 100 ms per key, with the engine on
# the reserved CPU; llm stats prints Tab-to-first-token p50/p99 with and
# without prefetch, and the background work (tests/llm runs the same
# session with a smaller model).
printf '%b' 'llm prefetch on\nfunc add(a, b int) int {\t return a + b\t\025for i := 0; i < n; i+\177++ {\t\025if err != nil {\t return err\t\025llm prefetch off\nfunc add(a, b int) int {\t return a + b\t\025for i := 0; i < n; i+\177++ {\t\025if err != nil {\t return err\t\025llm stats\nexit 0\n' >build/llmbench/keys.txt
build/velocity run -smp 2 -fs "$PWD/build/llmbench/tiny-q8_0.gguf" -fs "$PWD/build/llmbench/keys.txt" \
	-append "reserve=1 -- -shell -model $PWD/build/llmbench/tiny-q8_0.gguf -type $PWD/build/llmbench/keys.txt -keydelay 100ms" ./images/llm | grep -a 'llm: \(shell\|keystrokes\|Tab\|prompt tokens\)'

# Network (issue 10): the same net/http server (images/netbench) in Velocity
# and as a Linux guest's /init (Debian's kernel and virtio-net modules), same
# QEMU, -smp 2, virtio-net behind user networking; wrk through the forward
# (100 B and 64 KiB, 1 and 16 connections: req/s, p50, p99), a bulk
# download, and the same mix over each guest's loopback, with ratios.
# Flags: $NETBENCH_FLAGS (e.g. -d 20s; -net tap, as root: a tap device with
# offloads in a network namespace the run makes and removes).
"$GO" build -o build/netbench-runner ./bench/netbench
build/netbench-runner ${NETBENCH_FLAGS:-}

# SMP: parallel speedup (-smp 2 vs -smp 1), goroutine ping-pong, channel
# throughput and pinned-vs-unpinned wake-up latency, Velocity versus the same
# program as the Linux guest's /init. See bench/smpbench/main.go; its flags
# come from $SMPBENCH_FLAGS, e.g. SMPBENCH_FLAGS='-n 3 -mb 48'.
"$GO" build -o build/smpbench-runner ./bench/smpbench
build/smpbench-runner ${SMPBENCH_FLAGS:-}

# ---- Synaptic Canvas (canvas/, docs/canvas.md) ------------------------------
# Frame time p50/p99 and layout step time for 50, 500 and 5,000 nodes, on the
# host and inside Velocity (QEMU -smp 2, Bochs display); then frame time p99
# with busy workers (the LLM's stand-in) pinned to the reserved core against
# the same workers unpinned. Flags from $CANVASBENCH_FLAGS, e.g. '-frames 120'.
"$GO" build -o build/canvasbench-runner ./bench/canvasbench
build/canvasbench-runner ${CANVASBENCH_FLAGS:-}

# ---- virtio-net driver paths (netstack/virtio.go, docs/net.md) -------------
# images/httpd with the card's modern interface and MSI-X, modern with INTx,
# legacy with MSI-X and legacy with INTx (the first driver's path, the
# baseline), booted in turn so host load hits all alike: requests/s, latency
# p50/p99, 8 MiB download MB/s, ratios to the baseline, and interrupts per
# received frame. Flags from $NICBENCH_FLAGS, e.g. '-rounds 3 -dur 8s'.
"$GO" build -o build/nicbench-runner ./bench/nicbench
build/nicbench-runner ${NICBENCH_FLAGS:-}

# System calls (issue 13): getpid, clock_gettime, futex wake with no waiter,
# futex ping-pong across CPUs, mmap+touch+munmap of 4 KiB and 2 MiB, a pipe
# round trip and a page-fault storm, Velocity versus the Linux guest at
# -smp 2 (ratio linux/velocity, target >= 1.0), and Velocity's lock
# contention counters at -smp 1, 2 and 4. See bench/sysbench/main.go; flags
# from $SYSBENCH_FLAGS, e.g. SYSBENCH_FLAGS='-n 2 -reps 7'.
"$GO" build -o build/sysbench-runner ./bench/sysbench
build/sysbench-runner ${SYSBENCH_FLAGS:-}
