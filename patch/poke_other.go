//go:build !(linux && amd64)

package patch

import "errors"

var errUnsupported = errors.New("patch: live patching needs linux/amd64 (a Linux host or the Velocity kernel)")

func encode(s *site, target uintptr) ([Len]byte, error) { return [Len]byte{}, errUnsupported }

func poke(s *site, b [Len]byte, emulate uintptr) error { return errUnsupported }

// SyncMode names how cores are serialised; there is none here.
func SyncMode() string { return "unsupported" }
