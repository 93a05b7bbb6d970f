// Package biotest builds the small module sets the Biosphere's tests
// serve, fetch and heal.
package biotest

import (
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/registry"
)

// LibSrc is a library module; UserSrc (with %s the library's CID) imports it.
const (
	LibSrc = `module lib
func Square(x int64) int64 { return x * x }
func Cube(x int64) int64 { return x * Square(x) }
func Even(n int64) bool { if n == 0 { return true }; return Odd(n - 1) }
func Odd(n int64) bool { if n == 0 { return false }; return Even(n - 1) }
`
	UserSrc = `module user
import l %q
func Main(n int64) int64 { return l.Cube(n) + l.Square(n) }
func Parity(n int64) bool { return l.Even(n) }
`
)

// Modules adds the library and the user module to s and returns their CIDs.
func Modules(t testing.TB, s registry.Store) (lib, user cid.Cid) {
	t.Helper()
	lib, _, err := registry.AddSource(s, "lib.vel", []byte(LibSrc))
	if err != nil {
		t.Fatal(err)
	}
	user, _, err = registry.AddSource(s, "user.vel", []byte(fmt.Sprintf(UserSrc, lib.String())))
	if err != nil {
		t.Fatal(err)
	}
	return lib, user
}

// Copy returns a new in-memory store (safe for concurrent use) holding
// the blocks of src.
func Copy(t testing.TB, src registry.Store) registry.Store {
	t.Helper()
	dst := registry.Synchronized(registry.NewMemStore())
	all, err := src.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		b, err := src.Get(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.Put(c, b); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
