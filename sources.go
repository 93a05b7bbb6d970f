// Package velocity is the root of the Velocity unikernel. Its only Go
// content is the embedded copy of the kernel sources, so that the velocity
// tool carries the exact kernel it was built with and works from any
// directory, including for packages in other modules.
package velocity

import "embed"

// KernelSources holds the kernel files that internal/build overlays onto
// Go's package runtime. Whole directories are embedded so new files are
// picked up without editing this list; consumers keep only *.go and *.s
// (see internal/build.KernelFiles). kernel/gdbproto, kernel/cmdline,
// kernel/cpio, kernel/pathwalk, kernel/procpath and kernel/cmsg are
// ordinary packages that are also compiled into package runtime.
// netstack, the driver packages it imports (drivers/pci, drivers/virtio)
// and go.mod are what kernels that use package net link in
// (internal/build/netroot.go).
//
//go:embed runtime arch/amd64/*.s kernel/gdbproto/*.go kernel/cmdline/*.go kernel/cpio/*.go kernel/pathwalk/*.go kernel/procpath/*.go kernel/cmsg/*.go kernel/ksyms/*.go netstack/*.go drivers/pci/*.go drivers/virtio/*.go go.mod
var KernelSources embed.FS
