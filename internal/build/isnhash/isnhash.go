// Package isnhash is SipHash-2-4, for gVisor's TCP in kernels that link
// the network stack: the build adds this file to gVisor's package tcp as
// it is (internal/build/netisn.go, with its package clause rewritten), and
// this package exists so that the file is compiled and tested on the host
// too. Nothing imports it.
//
// gVisor derives each connection's initial sequence number (RFC 6528)
// and timestamp offset (RFC 7323, section 5.4) with SHA-256 over a secret
// and the connection's addresses. What those RFCs ask for is a keyed
// pseudorandom function, and Linux uses SipHash for both
// (secure_tcp_seq, secure_tcp_ts_off): a PRF built for short inputs, a
// few dozen instructions per 8 bytes where SHA-256 runs 64 rounds over a
// 64-byte block. Under QEMU's TCG, which emulates SHA-256's vector code
// instruction by instruction, the three SHA-256 sums of a passive open
// were 2.2% of the guest's CPU under a new connection per request.
//
// Written from the SipHash paper (Aumasson and Bernstein, 2012), with its
// test vectors in the test.
package isnhash

import (
	"encoding/binary"
	"math/bits"
)

// velocitySipHash24 is SipHash-2-4 of msg under key. (Its name is unique
// in the gVisor package it is added to.)
func velocitySipHash24(key [16]byte, msg []byte) uint64 {
	k0 := binary.LittleEndian.Uint64(key[0:8])
	k1 := binary.LittleEndian.Uint64(key[8:16])
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	last := uint64(len(msg)) << 56
	for ; len(msg) >= 8; msg = msg[8:] {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		v0, v1, v2, v3 = velocitySipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = velocitySipRound(v0, v1, v2, v3)
		v0 ^= m
	}
	for i, c := range msg {
		last |= uint64(c) << (8 * i)
	}
	v3 ^= last
	v0, v1, v2, v3 = velocitySipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = velocitySipRound(v0, v1, v2, v3)
	v0 ^= last
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = velocitySipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// velocitySipRound is one SipRound.
func velocitySipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13) ^ v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16) ^ v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21) ^ v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17) ^ v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
