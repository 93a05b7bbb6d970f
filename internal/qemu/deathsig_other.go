//go:build !linux

package qemu

import "os/exec"

// dieWithParent: only Linux has a parent-death signal; elsewhere QEMU can
// outlive a killed parent.
func dieWithParent(cmd *exec.Cmd) {}
