#!/usr/bin/env bash
# make bench: boot time from QEMU start to the first line of main, Velocity
# versus a Linux guest (Debian's kernel) running the same Go program as /init,
# on the same QEMU and accelerator. See bench/bootbench/main.go.
#
# Needs the network only for the first `apt-get download` of Debian's kernel
# (cached in build/bench/linux); everything else works offline. Flags are
# passed to the runner, e.g. scripts/bench.sh -n 9; VELOCITY_ACCEL=tcg|kvm
# picks the accelerator for both guests.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
mkdir -p build
"$GO" build -o build/bootbench-runner ./bench/bootbench
exec build/bootbench-runner "$@"
