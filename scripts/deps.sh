#!/usr/bin/env bash
# Checks for the Debian packages Velocity's build, image and boot tests need,
# and installs the missing ones when run as root (CI); otherwise prints the
# exact command to run and fails.
set -euo pipefail

missing=()
need() { # need PACKAGE CHECK...: PACKAGE is missing unless every check passes
	local pkg=$1
	shift
	for check in "$@"; do
		case $check in
		/*) [ -e "$check" ] || { missing+=("$pkg"); return; } ;;
		*) command -v "$check" >/dev/null 2>&1 || { missing+=("$pkg"); return; } ;;
		esac
	done
}

need qemu-system-x86 qemu-system-x86_64
need grub-common grub-mkrescue
need xorriso xorriso
need mtools mformat
need binutils as ld
need gdb gdb
need cpio cpio
need wrk wrk # make bench: the network comparison (bench/netbench)
need grub-pc-bin /usr/lib/grub/i386-pc
need grub-efi-amd64-bin /usr/lib/grub/x86_64-efi
ovmf_found=
for f in /usr/share/OVMF/OVMF_CODE.fd /usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/ovmf/OVMF_CODE.fd /usr/share/edk2/ovmf/OVMF_CODE.fd; do
	[ -e "$f" ] && ovmf_found=1
done
[ -n "$ovmf_found" ] || missing+=(ovmf)

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
	exit 0
fi

echo "deps: missing Debian packages: ${missing[*]}" >&2
echo "deps: install them with:" >&2
echo "  sudo apt-get install -y ${missing[*]}" >&2
exit 1
