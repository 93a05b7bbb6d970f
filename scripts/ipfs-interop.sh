#!/usr/bin/env bash
# The Biosphere's interoperability test against a real IPFS node: builds
# kubo (the IPFS reference implementation) once into the cache (about 2
# minutes, 121 MB), then runs biosphere/interop's tests, which start an
# offline kubo daemon with its API and gateway on 127.0.0.1 only and check
# that Velocity and IPFS compute the same CIDs, import each other's CARs,
# and fetch from each other's gateways (docs/biosphere.md).
#
# `go install` refuses kubo (its go.mod has replace directives), so the
# module is downloaded and built in a writable copy of its directory.
# v0.43.x needs a replaced module the Go proxy does not serve.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
KUBO_VERSION=${KUBO_VERSION:-v0.42.0}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/velocity
bin=$cache/kubo-$KUBO_VERSION-ipfs
repo=$PWD
if [ ! -x "$bin" ]; then
	mkdir -p "$cache"
	work=$(mktemp -d)
	trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
	# Outside any module, so that the download does not touch go.mod.
	dir=$(cd "$work" && GOFLAGS=-mod=mod "$GO" mod download -json "github.com/ipfs/kubo@$KUBO_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$dir" ] || { echo "ipfs-interop: cannot download kubo $KUBO_VERSION" >&2; exit 1; }
	echo "ipfs-interop: building kubo $KUBO_VERSION (about 2 minutes) into $bin"
	cp -r "$dir" "$work/kubo"
	chmod -R u+w "$work/kubo"
	(cd "$work/kubo" && "$GO" build -o "$bin.tmp" ./cmd/ipfs)
	mv "$bin.tmp" "$bin"
fi
cd "$repo"
VELOCITY_KUBO=$bin "$GO" test -count=1 -v -run 'Kubo' ./biosphere/interop
