package netstack

import (
	"encoding/binary"
	"math"
	"sync/atomic"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Socket option levels and names (Linux values).
const (
	solSocket = 1

	soReuseAddr  = 2
	soType       = 3
	soError      = 4
	soBroadcast  = 6
	soSndBuf     = 7
	soRcvBuf     = 8
	soKeepAlive  = 9
	soLinger     = 13
	soReusePort  = 15
	soAcceptConn = 30
	soProtocol   = 38
	soRcvTimeo   = 20
	soSndTimeo   = 21
	soDomain     = 39

	tcpNoDelay   = 1
	tcpMaxSeg    = 2
	tcpCork      = 3
	tcpKeepIdle  = 4
	tcpKeepIntvl = 5
	tcpKeepCnt   = 6

	ipTOS = 1
	ipTTL = 2

	ipv6UnicastHops = 16
	ipv6V6Only      = 26
)

// timeo is a socket's SO_RCVTIMEO or SO_SNDTIMEO, which bounds how long
// a blocking call waits (see hold.wait): 0 for none, a duration in
// nanoseconds, or -1 when set with a negative tv_sec, which Linux takes as
// "do not wait" (EAGAIN at once). Linux keeps it in jiffies and reports
// it rounded up to one; Velocity keeps and reports the microseconds set.
type timeo struct{ ns atomic.Int64 }

// set reads a struct timeval as Linux's sock_set_timeout does: EINVAL if
// it is short, EDOM for tv_usec outside [0, 1e6); 0 and 0 is no timeout.
func (t *timeo) set(v []byte) syscall.Errno {
	if len(v) < 16 {
		return syscall.EINVAL
	}
	sec := int64(binary.LittleEndian.Uint64(v))
	usec := int64(binary.LittleEndian.Uint64(v[8:]))
	if usec < 0 || usec >= 1e6 {
		return syscall.EDOM
	}
	switch {
	case sec < 0:
		t.ns.Store(-1)
	case sec > math.MaxInt64/int64(time.Second)-1:
		t.ns.Store(0) // past what a duration holds: for ever, as Linux's MAX_SCHEDULE_TIMEOUT
	default:
		t.ns.Store(sec*1e9 + usec*1e3)
	}
	return 0
}

// timeval is the option as getsockopt reports it: 0 and 0 for none (and
// for "do not wait", as Linux says).
func (t *timeo) timeval() [16]byte {
	var b [16]byte
	if ns := t.ns.Load(); ns > 0 {
		binary.LittleEndian.PutUint64(b[:], uint64(ns/1e9))
		binary.LittleEndian.PutUint64(b[8:], uint64(ns%1e9/1e3))
	}
	return b
}

// duration is the option for hold.timeout.
func (t *timeo) duration() time.Duration { return time.Duration(t.ns.Load()) }

func optInt(v []byte) (int, syscall.Errno) {
	if len(v) < 4 {
		return 0, syscall.EINVAL
	}
	return int(int32(binary.LittleEndian.Uint32(v))), 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// setsockopt sets the options Go's net package and common servers use.
// Anything else is ENOPROTOOPT, which is what Linux says of an option it
// does not know: a caller is told, not ignored.
func (s *Server) setsockopt(sk *sock, level, name int, v []byte) syscall.Errno {
	ops := sk.ep.SocketOptions()
	if level == solSocket && name == soRcvTimeo {
		return sk.rcvTimeo.set(v)
	}
	if level == solSocket && name == soSndTimeo {
		return sk.sndTimeo.set(v)
	}
	if isMulticastOpt(level, name) {
		return s.setMulticast(sk, level, name, v)
	}
	if level == solSocket && name == soLinger {
		if len(v) < 8 {
			return syscall.EINVAL
		}
		on := binary.LittleEndian.Uint32(v) != 0
		secs := int32(binary.LittleEndian.Uint32(v[4:]))
		ops.SetLinger(tcpip.LingerOption{Enabled: on, Timeout: time.Duration(secs) * time.Second})
		return 0
	}
	x, e := optInt(v)
	if e != 0 {
		return e
	}
	switch level {
	case solSocket:
		switch name {
		case soReuseAddr:
			ops.SetReuseAddress(x != 0)
		case soReusePort:
			ops.SetReusePort(x != 0)
		case soKeepAlive:
			ops.SetKeepAlive(x != 0)
		case soBroadcast:
			ops.SetBroadcast(x != 0)
		case soSndBuf:
			ops.SetSendBufferSize(int64(x)*2, true) // Linux doubles it for bookkeeping
		case soRcvBuf:
			ops.SetReceiveBufferSize(int64(x)*2, true)
		case soPassCred:
			// Linux 6.16 on keeps SO_PASSCRED to the families that can
			// carry credentials (AF_UNIX, netlink, Bluetooth).
			return syscall.EOPNOTSUPP
		default:
			return syscall.ENOPROTOOPT
		}
		return 0
	case ipprotoTCP:
		if sk.proto != ipprotoTCP {
			return syscall.EOPNOTSUPP
		}
		switch name {
		case tcpNoDelay:
			ops.SetDelayOption(x == 0)
		case tcpCork:
			ops.SetCorkOption(x != 0)
		case tcpMaxSeg:
			return errno(sk.ep.SetSockOptInt(tcpip.MaxSegOption, x))
		case tcpKeepIdle, tcpKeepIntvl:
			if x < 1 || x > 32767 {
				return syscall.EINVAL
			}
			if name == tcpKeepIdle {
				o := tcpip.KeepaliveIdleOption(time.Duration(x) * time.Second)
				return errno(sk.ep.SetSockOpt(&o))
			}
			o := tcpip.KeepaliveIntervalOption(time.Duration(x) * time.Second)
			return errno(sk.ep.SetSockOpt(&o))
		case tcpKeepCnt:
			if x < 1 || x > 127 {
				return syscall.EINVAL
			}
			return errno(sk.ep.SetSockOptInt(tcpip.KeepaliveCountOption, x))
		default:
			return syscall.ENOPROTOOPT
		}
		return 0
	case ipprotoIPv6:
		if sk.family != afInet6 {
			return syscall.ENOPROTOOPT
		}
		switch name {
		case ipv6V6Only:
			ops.SetV6Only(x != 0)
			return 0
		case ipv6UnicastHops: // -1 is the default, as on Linux
			if x < -1 || x > 255 {
				return syscall.EINVAL
			}
			return errno(sk.ep.SetSockOptInt(tcpip.IPv6HopLimitOption, x))
		}
		return syscall.ENOPROTOOPT
	case ipprotoIP:
		switch name {
		case ipTOS:
			return errno(sk.ep.SetSockOptInt(tcpip.IPv4TOSOption, x))
		case ipTTL:
			return errno(sk.ep.SetSockOptInt(tcpip.IPv4TTLOption, x))
		}
		return syscall.ENOPROTOOPT
	}
	return syscall.ENOPROTOOPT
}

// getsockopt answers with an int (or struct linger), truncated to the
// caller's length as Linux does, and writes back the length used.
func (s *Server) getsockopt(sk *sock, level, name int, val, lenp uint64) syscall.Errno {
	if isMulticastOpt(level, name) {
		return s.getMulticast(sk, level, name, val, lenp)
	}
	ops := sk.ep.SocketOptions()
	var x int
	switch level {
	case solSocket:
		switch name {
		case soError:
			x = int(errno(sk.ep.LastError()))
		case soType:
			x = sk.typ
		case soDomain:
			x = sk.family
		case soProtocol:
			x = sk.proto
		case soAcceptConn:
			x = boolInt(ops.GetAcceptConn())
		case soReuseAddr:
			x = boolInt(ops.GetReuseAddress())
		case soReusePort:
			x = boolInt(ops.GetReusePort())
		case soKeepAlive:
			x = boolInt(ops.GetKeepAlive())
		case soBroadcast:
			x = boolInt(ops.GetBroadcast())
		case soSndBuf:
			x = int(ops.GetSendBufferSize())
		case soRcvBuf:
			x = int(ops.GetReceiveBufferSize())
		case soLinger:
			l := ops.GetLinger()
			var b [8]byte
			binary.LittleEndian.PutUint32(b[:], uint32(boolInt(l.Enabled)))
			binary.LittleEndian.PutUint32(b[4:], uint32(l.Timeout/time.Second))
			return putOpt(val, lenp, b[:])
		case soRcvTimeo, soSndTimeo:
			t := &sk.rcvTimeo
			if name == soSndTimeo {
				t = &sk.sndTimeo
			}
			b := t.timeval()
			return putOpt(val, lenp, b[:])
		case soPassCred: // see setsockopt
			return syscall.EOPNOTSUPP
		default:
			return syscall.ENOPROTOOPT
		}
	case ipprotoTCP:
		if sk.proto != ipprotoTCP {
			return syscall.EOPNOTSUPP
		}
		switch name {
		case tcpNoDelay:
			x = boolInt(!ops.GetDelayOption())
		case tcpCork:
			x = boolInt(ops.GetCorkOption())
		case tcpKeepIdle:
			var o tcpip.KeepaliveIdleOption
			if err := sk.ep.GetSockOpt(&o); err != nil {
				return errno(err)
			}
			x = int(time.Duration(o) / time.Second)
		case tcpKeepIntvl:
			var o tcpip.KeepaliveIntervalOption
			if err := sk.ep.GetSockOpt(&o); err != nil {
				return errno(err)
			}
			x = int(time.Duration(o) / time.Second)
		case tcpKeepCnt, tcpMaxSeg:
			opt := tcpip.KeepaliveCountOption
			if name == tcpMaxSeg {
				opt = tcpip.MaxSegOption
			}
			v, err := sk.ep.GetSockOptInt(opt)
			if err != nil {
				return errno(err)
			}
			x = v
		default:
			return syscall.ENOPROTOOPT
		}
	case ipprotoIPv6:
		if sk.family != afInet6 || name != ipv6V6Only {
			return syscall.ENOPROTOOPT
		}
		x = boolInt(ops.GetV6Only())
	default:
		return syscall.ENOPROTOOPT
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(int32(x)))
	return putOpt(val, lenp, b[:])
}

func putOpt(val, lenp uint64, b []byte) syscall.Errno {
	l := userI32(lenp)
	n := int(*l)
	if n > len(b) {
		n = len(b)
	}
	copy(user(val, n), b)
	*l = int32(n)
	return 0
}

// ioctl requests on sockets (Linux's numbers; the kernel forwards only
// these two, runtime/vk_sys_fd.go).
const (
	fionread = 0x541B // SIOCINQ
	siocoutq = 0x5411
)

// ioctlQueue answers FIONREAD (SIOCINQ: the bytes a read would find; on
// a datagram socket the size of the next datagram) and SIOCOUTQ (the
// bytes sent and not yet acknowledged, or not yet read by an AF_UNIX
// peer) with the int get gives for the matching gVisor option, written
// at arg, which the kernel has checked.
func ioctlQueue(req, arg uint64, get func(tcpip.SockOptInt) (int, syscall.Errno)) syscall.Errno {
	opt := tcpip.ReceiveQueueSizeOption
	switch req {
	case fionread:
	case siocoutq:
		opt = tcpip.SendQueueSizeOption
	default:
		return syscall.ENOTTY
	}
	v, e := get(opt)
	if e != 0 {
		return e
	}
	*userI32(arg) = int32(v)
	return 0
}
