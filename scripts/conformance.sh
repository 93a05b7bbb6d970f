#!/usr/bin/env bash
# make conformance: run the standard library's own tests for 45 packages
# inside the Velocity unikernel (velocity test -smp 2, one boot per package)
# and write the per-package table to docs/conformance.md. Full logs go to
# build/conformance/logs. See bench/conformance/main.go.
#
# -all (make conformance ALL=1) runs every package of go list std instead
# (not cmd/, vendor/ or internal ones), each with -short and an 8-minute
# timeout, into docs/conformance-all.md and build/conformance-all; it skips
# the Biosphere interoperability section. On a shared machine run it as
#   nice -n 19 scripts/conformance.sh -all > build/conformance-all.log 2>&1 &
#
# Flags go to the runner, e.g.
#   scripts/conformance.sh -all -pkgs os,io/fs # rerun some, merged into -all
#   scripts/conformance.sh -pkgs sort,fmt      # just these packages
#   scripts/conformance.sh -rerun-failed       # only what failed last time
#   scripts/conformance.sh -j 2                # two packages at once
# VELOCITY_ACCEL=tcg|kvm picks the accelerator.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
mkdir -p build
"$GO" build -o build/velocity ./cmd/velocity
"$GO" build -o build/conformance-runner ./bench/conformance

# --- The Biosphere: interoperability with IPFS (kubo) ----------------------
# Builds kubo once into the cache, then checks CIDs, CARs and gateways both
# ways against an offline kubo daemon on loopback (scripts/ipfs-interop.sh).
# VELOCITY_IPFS=0 skips this section.
all=0
for a in "$@"; do [ "$a" = -all ] || [ "$a" = --all ] && all=1; done
if [ "${VELOCITY_IPFS:-1}" != 0 ] && [ "$all" = 0 ]; then
	scripts/ipfs-interop.sh
fi
# --- end of the Biosphere section ------------------------------------------

exec build/conformance-runner "$@"
