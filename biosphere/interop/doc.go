// Package interop holds the Biosphere's interoperability tests against a
// real IPFS node (kubo), run offline and on loopback by `make
// conformance` (scripts/ipfs-interop.sh builds kubo and sets
// $VELOCITY_KUBO). Without $VELOCITY_KUBO the tests skip; the host-only
// checks of the same formats with go-car as the reader are in
// biosphere/gateway and biosphere/dag and run in `make test`.
package interop
