package net

import (
	"bytes"
	"fmt"
	gonet "net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/velocityos/velocity/kernel"
)

// TestDatagramNamesDirect: sendto's destination and recvfrom's sender,
// which Go keeps in the calling goroutine's stack, go through the direct
// path (netstack/direct_velocity.go) from goroutines whose stacks the path
// grows first, so every name is found again after its stack moved. Each
// datagram carries its round, and must arrive at the socket named, from
// the address the sender is bound to; inside Velocity the kernel serves
// almost none of the calls.
func TestDatagramNamesDirect(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			lo := "127.0.0.1:0"
			if network == "udp6" {
				lo = "[::1]:0"
			}
			a, err := gonet.ListenPacket(network, lo)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := gonet.ListenPacket(network, lo)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ua, ub := a.(*gonet.UDPConn), b.(*gonet.UDPConn)
			ua.SetDeadline(time.Now().Add(30 * time.Second))
			ub.SetDeadline(time.Now().Add(30 * time.Second))
			aAddr, bAddr := ua.LocalAddr().(*gonet.UDPAddr).AddrPort(), ub.LocalAddr().(*gonet.UDPAddr).AddrPort()

			const rounds = 200
			sendsBefore, recvsBefore := kernelCalls(t, syscall.SYS_SENDTO), kernelCalls(t, syscall.SYS_RECVFROM)
			out, in := make([]byte, 16), make([]byte, 64) // in the heap: the direct path's condition for data
			for i := 0; i < rounds; i++ {
				if i%10 == 0 {
					runtime.GC() // new goroutines start small again, so the path grows them
				}
				msg := fmt.Appendf(out[:0], "round %d", i)
				// From a new goroutine each time: its stack is grown
				// between the call's start and the name's use.
				errc := make(chan error)
				go func() {
					_, err := ub.WriteToUDPAddrPort(msg, aAddr)
					errc <- err
				}()
				if err := <-errc; err != nil {
					t.Fatalf("round %d: send: %v", i, err)
				}
				var n int
				var from netip.AddrPort
				go func() {
					var err error
					n, from, err = ua.ReadFromUDPAddrPort(in)
					errc <- err
				}()
				if err := <-errc; err != nil {
					t.Fatalf("round %d: receive: %v", i, err)
				}
				if !bytes.Equal(in[:n], msg) {
					t.Fatalf("round %d: received %q, want %q", i, in[:n], msg)
				}
				if from != bAddr {
					t.Fatalf("round %d: received from %v, want %v", i, from, bAddr)
				}
			}
			if kernel.OnVelocity() {
				sends, recvs := kernelCalls(t, syscall.SYS_SENDTO)-sendsBefore, kernelCalls(t, syscall.SYS_RECVFROM)-recvsBefore
				t.Logf("the kernel served %d of %d sends and %d of %d receives", sends, rounds, recvs, rounds)
				if sends > rounds/10 || recvs > rounds/10 {
					t.Errorf("the kernel served %d of %d sends and %d of %d receives: the direct path declined names in the stack", sends, rounds, recvs, rounds)
				}
			}
		})
	}
}

// TestDatagramNameShortLength: a recvfrom whose address length is shorter
// than the sender's sockaddr gets it truncated and the full length back,
// and one with a zero length gets no bytes, as on Linux.
func TestDatagramNameShortLength(t *testing.T) {
	a, err := gonet.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rc, err := a.(*gonet.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	b, err := gonet.Dial("udp4", a.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	in := make([]byte, 16)
	for _, room := range []int32{0, 6, 16, 28} {
		if _, err := b.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		var sa [32]byte
		for i := range sa {
			sa[i] = 0xaa
		}
		n := room
		var r uintptr
		var errno syscall.Errno
		deadline := time.Now().Add(10 * time.Second)
		for {
			rc.Read(func(fd uintptr) bool {
				r, _, errno = syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&in[0])), uintptr(len(in)), 0,
					uintptr(unsafe.Pointer(&sa[0])), uintptr(unsafe.Pointer(&n)))
				return true
			})
			if errno != syscall.EAGAIN || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if errno != 0 || r != 1 {
			t.Fatalf("room %d: recvfrom = %d, %v", room, r, errno)
		}
		if n != 16 {
			t.Errorf("room %d: address length %d, want 16", room, n)
		}
		want := min(int(room), 16)
		if want >= 1 && sa[0] != syscall.AF_INET || want >= 5 && sa[4] != 127 {
			t.Errorf("room %d: address %v, want 127.0.0.1's sockaddr_in", room, sa[:want])
		}
		for i := want; i < len(sa); i++ {
			if sa[i] != 0xaa {
				t.Fatalf("room %d: byte %d of the address buffer written (%v)", room, i, sa)
			}
		}
	}
}
