#!/bin/sh
# build.sh OUTDIR [testkernel]
#
# Builds OUTDIR/BOOT_ND.BIN from boot.S and link.ld with GNU as/ld only.
# With "testkernel", also builds OUTDIR/testkernel.elf from testdata/.
# The assembler runs in this directory on relative names so the output is
# byte-identical to what boot.Build (Go, from embedded copies) produces.
set -eu

[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [testkernel]" >&2; exit 2; }
for tool in as ld; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "build.sh: '$tool' not found: apt-get install binutils" >&2
		exit 1
	}
done
mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$(dirname "$0")"

as --32 -o "$out/boot.o" boot.S
ld -m elf_i386 -T link.ld -z max-page-size=0x1000 --build-id=none \
	-o "$out/BOOT_ND.BIN" "$out/boot.o"
rm -f "$out/boot.o"

if [ "${2:-}" = testkernel ]; then
	cd testdata
	as --64 -o "$out/testkernel.o" kernel.S
	ld -m elf_x86_64 -T kernel.ld -z max-page-size=0x1000 --build-id=none \
		-o "$out/testkernel.elf" "$out/testkernel.o"
	rm -f "$out/testkernel.o"
fi
