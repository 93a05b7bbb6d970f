//go:build !velocity

package netstack

// Off Velocity (the package's own tests on a Linux host) there is no
// kernel to link to: velocityKernel is never used there (init does
// nothing), and tests drive Server.direct with a stand-in kernel.

func (velocityKernel) FD(fd int32) (int32, uint64, bool, uint32, bool) { return 0, 0, false, 0, false }

func (velocityKernel) Mem(p, n uintptr) bool { return false }

func installDirect(*Server) {}
